import Ledger
import Testing

@Suite("How a movement looks from each side")
struct MovementTests {
    func movement(_ kind: MovementKind, debit: Int64, credit: Int64) -> Movement {
        Movement(
            id: 9, kind: kind, debitUserID: debit, creditUserID: credit, amount: Money(minorUnits: 500),
            debitBalanceAfter: debit == 0 ? nil : Money(minorUnits: 100),
            creditBalanceAfter: credit == 0 ? nil : Money(minorUnits: 700), memo: nil, createdAt: 0)
    }

    @Test("a transfer is out for the payer and in for the payee, each with their own balance")
    func transferSides() {
        let transfer = movement(.transfer, debit: 1, credit: 2)
        let payer = transfer.entry(for: 1)
        #expect(payer.kind == .transferOut && payer.counterparty == 2 && payer.balanceAfter?.minorUnits == 100)
        let payee = transfer.entry(for: 2)
        #expect(payee.kind == .transferIn && payee.counterparty == 1 && payee.balanceAfter?.minorUnits == 700)
    }

    @Test("deposits and withdrawals have no counterparty")
    func cashHasNoCounterparty() {
        let deposit = movement(.deposit, debit: 0, credit: 3).entry(for: 3)
        #expect(deposit.kind == .deposit && deposit.counterparty == nil && deposit.balanceAfter?.minorUnits == 700)
        let withdrawal = movement(.withdrawal, debit: 3, credit: 0).entry(for: 3)
        #expect(withdrawal.kind == .withdrawal && withdrawal.counterparty == nil)
        #expect(withdrawal.balanceAfter?.minorUnits == 100)
    }
}
