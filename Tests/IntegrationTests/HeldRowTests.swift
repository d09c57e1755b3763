import Credentials
import Foundation
import Ledger
import LedgerStore
import Postgres
import Testing

/// A movement whose account row another session holds gives up waiting inside its SERIALIZABLE transaction
/// after the movement functions' lock_timeout (migration 7), waits for the row in a READ COMMITTED transaction
/// of its own, which holds no predicate locks, and then applies once the row is free.
@Suite("Movements behind a held row", .serialized)
struct HeldRowTests {
    /// Holds `heldUser`'s row in another session, runs `movement` on a thread of its own, and checks that the
    /// movement's session ends up waiting for the row in the READ COMMITTED wait with no predicate locks, not
    /// inside the movement function (which would wait for the session's lock_timeout, 5 s, keeping its
    /// predicate locks); then frees the row and returns what `movement` returned, and how long it took.
    func behindHeldRow<Value>(
        _ database: TestDatabase, heldUser: Int64, _ movement: @escaping @Sendable () throws -> Value
    ) throws -> (Value, seconds: Double) {
        let holder = try database.connection()
        try holder.execute(script: "BEGIN; SELECT FROM users WHERE id = \(heldUser) FOR UPDATE")
        let done = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var outcome: Result<Value, any Error>?
        let started = Date()
        Thread.detachNewThread {
            outcome = Result { try movement() }
            done.signal()
        }
        let observer = try database.connection()
        let waitingPID = {
            try observer.query(
                """
                SELECT pid FROM pg_stat_activity
                WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%FOR NO KEY UPDATE%'
                """
            ).values.first?.first ?? nil
        }
        #expect(try eventually(within: 3) { try waitingPID() != nil })
        if let pid = try waitingPID() {
            let predicateLocks =
                try observer.query(
                    "SELECT count(*) FROM pg_locks WHERE pid = $1::int AND mode = 'SIReadLock'", [pid]
                ).values.first?.first ?? nil
            #expect(predicateLocks == "0")
        }
        Thread.sleep(forTimeInterval: 0.3)
        try holder.execute(script: "COMMIT")
        #expect(done.wait(timeout: .now() + 10) == .success)
        return (try #require(outcome).get(), Date().timeIntervalSince(started))
    }

    @Test("a transfer behind a row held for a second waits outside SERIALIZABLE, then applies once")
    func transferWaitsForHeldRow() throws {
        try TestDatabase.with { database in
            let setup = database.ledger()
            let payer = try setup.newUserID(minorUnits: 1_000)
            let payee = try setup.newUserID(minorUnits: 0)
            let (receipt, seconds) = try behindHeldRow(database, heldUser: payee) {
                try database.ledger().move(
                    .transfer, debitUserID: payer, creditUserID: payee, amount: Money(minorUnits: 250),
                    memo: "behind a held row", idempotency: IdempotencyContext(key: "held-1", fingerprint: "f"),
                    requestID: "held")
            }
            guard case .applied(let movement) = receipt.result else {
                Issue.record("the transfer was not applied: \(receipt.result)")
                return
            }
            #expect(movement.amount == Money(minorUnits: 250))
            #expect(seconds >= 0.5)
            #expect(try database.scalar("SELECT count(*) FROM movements WHERE memo = 'behind a held row'") == "1")
            #expect(try database.scalar("SELECT balance FROM users WHERE id = $1", [String(payee)]) == "250")
            #expect(try database.scalar("SELECT balance FROM users WHERE id = $1", [String(payer)]) == "750")
        }
    }

    @Test("a deposit event behind its user's held row waits outside SERIALIZABLE, then applies once")
    func depositEventWaitsForHeldRow() throws {
        try TestDatabase.with { database in
            let user = try database.ledger().newUserID(minorUnits: 100)
            let (receipt, seconds) = try behindHeldRow(database, heldUser: user) {
                try database.ledger().recordCashEvent(
                    .deposit, tokenHash: TestDatabase.serviceToken.hash, actingUserID: nil, userID: user,
                    amount: Money(minorUnits: 40), memo: "behind a held row", t: 1, rules: AlertRules(),
                    idempotency: nil, requestID: "held")
            }
            guard case .applied = receipt.result else {
                Issue.record("the deposit was not applied: \(receipt.result)")
                return
            }
            #expect(seconds >= 0.5)
            #expect(try database.scalar("SELECT count(*) FROM cash_events WHERE user_id = $1", [String(user)]) == "1")
            #expect(try database.scalar("SELECT balance FROM users WHERE id = $1", [String(user)]) == "140")
        }
    }
}
