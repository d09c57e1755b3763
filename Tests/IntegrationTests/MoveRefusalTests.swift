import Ledger
import LedgerStore
import Postgres
import Testing

/// tally_move updates the lower id first and puts it back when the other side refuses: whichever side refuses,
/// and in whichever order the two are updated, a refusal says why as before and leaves nothing changed.
@Suite("Refused movements in PostgreSQL", .serialized)
struct MoveRefusalTests {
    struct Failed: Error {}

    func transfer(
        _ ledger: PostgresLedger, _ from: Int64, _ to: Int64, _ minorUnits: Int64, key: String? = nil
    ) throws -> Receipt<Movement> {
        try ledger.move(
            .transfer, debitUserID: from, creditUserID: to, amount: Money(minorUnits: minorUnits), memo: nil,
            idempotency: key.map { IdempotencyContext(key: $0, fingerprint: "transfer|\(from)|\(to)|\(minorUnits)") },
            requestID: "r-\(key ?? "none")")
    }

    /// Balances and the number of transfers, to compare before and after a refusal.
    func state(_ database: TestDatabase, _ ids: [Int64]) throws -> [String?] {
        try ids.map { try database.scalar("SELECT balance FROM users WHERE id = $1", [String($0)]) }
            + [database.scalar("SELECT count(*) FROM movements WHERE kind = 'transfer'")]
    }

    @Test("the higher id refusing after the lower one was debited leaves both as they were")
    func creditRefusesAfterDebit() throws {
        try TestDatabase.with { database in
            let ledger = database.ledger()
            let payer = try ledger.newUserID(name: "Payer", minorUnits: 500)
            let rich = try ledger.newUserID(name: "Rich", minorUnits: .max)
            let before = try state(database, [payer, rich])
            #expect(
                try transfer(ledger, payer, rich, 1).result.refusal == .balanceLimit(balance: Money(minorUnits: .max)))
            #expect(try transfer(ledger, payer, 999_999, 1).result.refusal == .userNotFound(id: 999_999))
            #expect(try state(database, [payer, rich]) == before)
        }
    }

    @Test("the higher id refusing after the lower one was credited leaves both as they were")
    func debitRefusesAfterCredit() throws {
        try TestDatabase.with { database in
            let ledger = database.ledger()
            let payee = try ledger.newUserID(name: "Payee", minorUnits: 0)
            let payer = try ledger.newUserID(name: "Payer", minorUnits: 500)
            let before = try state(database, [payee, payer])
            #expect(
                try transfer(ledger, payer, payee, 501).result.refusal
                    == .insufficientFunds(balance: Money(minorUnits: 500)))
            #expect(try state(database, [payee, payer]) == before)
            #expect(try applied(transfer(ledger, payer, payee, 500)).debitBalanceAfter == .zero)
        }
    }

    @Test("with two reasons to refuse, the one version 2 named first is named")
    func refusalsKeepTheirOrder() throws {
        try TestDatabase.with { database in
            let ledger = database.ledger()
            let poor = try ledger.newUserID(name: "Poor", minorUnits: 1)
            let rich = try ledger.newUserID(name: "Rich", minorUnits: .max)
            // An unknown payee outranks the payer's short balance, whichever id is lower.
            #expect(try transfer(ledger, poor, 999_999, 2).result.refusal == .userNotFound(id: 999_999))
            #expect(try transfer(ledger, poor, -5, 2).result.refusal == .userNotFound(id: -5))
            // A short balance outranks the payee's limit.
            #expect(
                try transfer(ledger, poor, rich, 2).result.refusal == .insufficientFunds(balance: Money(minorUnits: 1)))
        }
    }

    @Test("a keyed refusal is stored as a refusal with no movement, and an applied key names its movement")
    func keyRecordsTheOutcome() throws {
        try TestDatabase.with { database in
            let ledger = database.ledger()
            let payer = try ledger.newUserID(name: "Payer", minorUnits: 500)
            let payee = try ledger.newUserID(name: "Payee", minorUnits: 0)
            let refused = try transfer(ledger, payer, payee, 501, key: "short")
            #expect(refused.result.refusal == .insufficientFunds(balance: Money(minorUnits: 500)))
            #expect(
                try database.scalar(
                    "SELECT outcome || ' ' || detail || ' ' || (result_id IS NULL) FROM idempotency_keys WHERE key = 'short'"
                )
                    == "insufficient_funds 500 true")
            let movement = try applied(transfer(ledger, payer, payee, 200, key: "paid"))
            #expect(
                try database.scalar("SELECT outcome || ' ' || result_id FROM idempotency_keys WHERE key = 'paid'")
                    == "applied \(movement.id)")
            let replay = try transfer(ledger, payer, payee, 200, key: "paid")
            #expect(replay.isReplay && replay.requestID == "r-paid")
            guard case .applied(let replayed) = replay.result else { throw Failed() }
            #expect(replayed == movement)
            #expect(try Verifier(connection: try database.connection()).verify().isClean)
        }
    }

    @Test("the function itself still refuses the same user on both sides, which the API never sends")
    func sameUserOnBothSidesFails() throws {
        try TestDatabase.with { database in
            let ledger = database.ledger()
            let ada = try ledger.newUserID(name: "Ada", minorUnits: 500)
            let error = try #require(throws: PostgresError.self) { try transfer(ledger, ada, ada, 1) }
            #expect(error.sqlState == "23514")
            #expect(try database.scalar("SELECT balance FROM users WHERE id = $1", [String(ada)]) == "500")
        }
    }

    func applied(_ receipt: Receipt<Movement>) throws -> Movement {
        guard case .applied(let movement) = receipt.result else {
            Issue.record("expected the movement to apply, got \(receipt.result)")
            throw Failed()
        }
        return movement
    }
}
