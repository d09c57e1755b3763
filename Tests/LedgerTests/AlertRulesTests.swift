import Ledger
import Testing

@Suite("Alert rules at and around each boundary")
struct AlertRulesTests {
    let rules = AlertRules()

    static func money(_ minor: Int64) -> Money { Money(minorUnits: minor) }
    static func total(_ minor: Int64) -> MoneyTotal { MoneyTotal(money(minor)) }
    static func deposit(_ minor: Int64, t: Int64 = 100) -> CashEvent {
        CashEvent(kind: .deposit, amount: money(minor), t: t)
    }
    static func withdrawal(_ minor: Int64, t: Int64 = 100) -> CashEvent {
        CashEvent(kind: .withdrawal, amount: money(minor), t: t)
    }

    struct Case: CustomTestStringConvertible, Sendable {
        let name: String
        let event: CashEvent
        let history: CashHistory
        let codes: [Int]
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        // 1100: a withdrawal of more than 100.00
        Case(
            name: "withdrawal of exactly 100.00 raises nothing", event: withdrawal(100_00), history: .init(), codes: []),
        Case(name: "withdrawal of 100.01 raises 1100", event: withdrawal(100_01), history: .init(), codes: [1100]),
        Case(name: "withdrawal of 99.99 raises nothing", event: withdrawal(99_99), history: .init(), codes: []),
        Case(name: "deposit of 1000.00 does not raise 1100", event: deposit(1000_00), history: .init(), codes: [123]),
        // 30: the last 3 movements, this one included, are withdrawals
        Case(
            name: "third withdrawal in a row raises 30", event: withdrawal(1),
            history: .init(recentKinds: [.withdrawal, .withdrawal]), codes: [30]),
        Case(
            name: "two withdrawals in a row raise nothing", event: withdrawal(1),
            history: .init(recentKinds: [.withdrawal]), codes: []),
        Case(
            name: "a deposit between breaks the run", event: withdrawal(1),
            history: .init(recentKinds: [.withdrawal, .deposit, .withdrawal]), codes: []),
        Case(
            name: "fourth withdrawal in a row raises 30 again", event: withdrawal(1),
            history: .init(recentKinds: [.withdrawal, .withdrawal, .withdrawal]), codes: [30]),
        Case(
            name: "a deposit after withdrawals does not raise 30", event: deposit(1),
            history: .init(recentKinds: [.withdrawal, .withdrawal]), codes: []),
        // 300: the last 3 deposits, this one included, each larger than the one before
        Case(
            name: "three increasing deposits raise 300", event: deposit(3_00),
            history: .init(recentKinds: [.deposit, .deposit], recentDepositAmounts: [money(2_00), money(1_00)]),
            codes: [300]),
        Case(
            name: "an equal deposit is not larger", event: deposit(2_00),
            history: .init(recentKinds: [.deposit, .deposit], recentDepositAmounts: [money(2_00), money(1_00)]),
            codes: []),
        Case(
            name: "larger by one cent is larger", event: deposit(2_01),
            history: .init(recentDepositAmounts: [money(2_00), money(1_99)]), codes: [300]),
        Case(
            name: "withdrawals between deposits do not matter", event: deposit(3_00),
            history: .init(
                recentKinds: [.withdrawal, .deposit, .withdrawal, .deposit],
                recentDepositAmounts: [money(2_00), money(1_00)]), codes: [300]),
        Case(
            name: "only two deposits so far raise nothing", event: deposit(3_00),
            history: .init(recentDepositAmounts: [money(1_00)]), codes: []),
        Case(
            name: "decreasing then increasing is not three increasing", event: deposit(3_00),
            history: .init(recentDepositAmounts: [money(1_00), money(2_00)]), codes: []),
        // 123: deposits in the window (t - 30, t] sum to more than 200.00
        Case(
            name: "a deposit of exactly 200.00 alone raises nothing", event: deposit(200_00), history: .init(),
            codes: []),
        Case(name: "a deposit of 200.01 alone raises 123", event: deposit(200_01), history: .init(), codes: [123]),
        Case(
            name: "earlier deposits in the window count", event: deposit(100_00),
            history: .init(depositsInWindow: total(100_01)), codes: [123]),
        Case(
            name: "reaching exactly 200.00 raises nothing", event: deposit(100_00),
            history: .init(depositsInWindow: total(100_00)), codes: []),
        Case(
            name: "a withdrawal while the window holds over 200.00 raises 123", event: withdrawal(1),
            history: .init(depositsInWindow: total(200_01)), codes: [123]),
        // Several at once, ascending
        Case(
            name: "a large third withdrawal raises 30 and 1100", event: withdrawal(150_00),
            history: .init(recentKinds: [.withdrawal, .withdrawal]), codes: [30, 1100]),
        Case(
            name: "a large increasing deposit raises 123 and 300", event: deposit(250_00),
            history: .init(recentDepositAmounts: [money(2_00), money(1_00)]), codes: [123, 300]),
        Case(
            name: "a large third withdrawal with a full window raises 30, 123 and 1100", event: withdrawal(100_01),
            history: .init(recentKinds: [.withdrawal, .withdrawal], depositsInWindow: total(300_00)),
            codes: [30, 123, 1100]),
    ]

    @Test("each rule at and around its boundary", arguments: cases)
    func rule(_ example: Case) {
        #expect(rules.codes(for: example.event, after: example.history) == example.codes)
    }

    @Test("the window is the 30 seconds up to and including t: (t - 30, t]")
    func windowBounds() {
        #expect(rules.windowStart(endingAt: 100) == 71)
        #expect(rules.windowStart(endingAt: 0) == -29)
    }

    @Test("thresholds are configuration")
    func thresholdsAreConfigurable() {
        var thresholds = AlertThresholds()
        thresholds.largeWithdrawal = Money(minorUnits: 50_00)
        thresholds.consecutiveWithdrawals = 2
        thresholds.increasingDeposits = 2
        thresholds.windowTotal = Money(minorUnits: 10_00)
        let custom = AlertRules(thresholds: thresholds)
        #expect(custom.codes(for: Self.withdrawal(50_01), after: .init(recentKinds: [.withdrawal])) == [30, 1100])
        #expect(
            custom.codes(for: Self.deposit(10_01), after: .init(recentDepositAmounts: [Money(minorUnits: 1)])) == [
                123, 300,
            ])
    }

    @Test("deposits of the largest amount in the window never wrap around: the sum is exact")
    func windowSumNeverWraps() {
        let largest = Int64.max
        // Earlier deposits already past Int64 (deposits and withdrawals of the largest amount in turn).
        let crowded = CashHistory(depositsInWindow: MoneyTotal(minorUnits: 2 * Int128(largest)))
        #expect(rules.codes(for: Self.deposit(largest), after: crowded) == [123])
        #expect(rules.codes(for: Self.withdrawal(1), after: crowded) == [123])
        // One earlier deposit of the largest amount and another: the old Int64 sum wrapped to -2 and raised nothing.
        let one = CashHistory(depositsInWindow: MoneyTotal(Self.money(largest)))
        #expect(rules.codes(for: Self.deposit(largest), after: one) == [123])
        // The largest threshold is passed only by a sum beyond it.
        var thresholds = AlertThresholds()
        thresholds.windowTotal = Self.money(largest)
        let strict = AlertRules(thresholds: thresholds)
        #expect(strict.codes(for: Self.deposit(largest), after: .init()) == [])
        #expect(strict.codes(for: Self.deposit(1), after: one) == [123])
    }
}
