import Foundation
import Postgres
import Testing

@testable import LedgerStore

/// The pipeline a contended movement runs (PostgresLedger.lockedSteps): its account locks taken in a READ
/// COMMITTED transaction, then the movement in a SERIALIZABLE one of its own, then the locks let go.
@Suite("Per-account locks around a contended movement", .serialized)
struct LockedStepsTests {
    static let isolation = PipelineStep.sql("SELECT current_setting('transaction_isolation') AS level")

    func serializableSession() throws -> Connection {
        let connection = try Connection(conninfo: try TestDatabase.serverConninfo)
        try connection.execute(script: "SET default_transaction_isolation = 'serializable'")
        for statement in [Statement.lockAccount, .lockAccounts, .unlockAccounts] {
            try connection.prepare(statement.rawValue, statement.sql)
        }
        return connection
    }

    func advisoryLocks(of connection: Connection, seenBy observer: Connection) throws -> String? {
        let pid = try connection.query("SELECT pg_backend_pid() AS pid").first?["pid"] ?? nil
        return try observer.query(
            "SELECT count(*) AS n FROM pg_locks WHERE locktype = 'advisory' AND pid = $1::int", [pid]
        ).first?["n"] ?? nil
    }

    @Test("the steps wait for the locks, then run SERIALIZABLE; no lock is left held")
    func locksThenSerializableSteps() throws {
        let session = try serializableSession()
        let other = try Connection(conninfo: try TestDatabase.serverConninfo)
        try other.execute(script: "SELECT pg_advisory_lock(7101)")
        let done = DispatchSemaphore(value: 0)
        nonisolated(unsafe) let waiter = session  // used by the thread alone until it signals
        nonisolated(unsafe) var outcomes: [Result<Rows, PostgresError>] = []
        Thread.detachNewThread {
            outcomes =
                (try? waiter.pipelineOutcomes(
                    PostgresLedger.lockedSteps(
                        accounts: [7102, 7101], [Self.isolation])))
                ?? []
            done.signal()
        }
        // It queues for the lock that the other session holds.
        let observer = try Connection(conninfo: try TestDatabase.serverConninfo)
        #expect(
            try eventually(within: 3) {
                try observer.query(
                    "SELECT count(*) AS n FROM pg_stat_activity WHERE wait_event = 'advisory' AND query LIKE '%pg_advisory_lock%'"
                ).first?["n"] == "1"
            })
        try other.execute(script: "SELECT pg_advisory_unlock_all()")
        #expect(done.wait(timeout: .now() + 5) == .success)
        #expect(outcomes.count == 5)
        if outcomes.count == 5 {
            #expect((try? outcomes[1].get()) != nil)
            #expect(try outcomes[PostgresLedger.lockedStepsFirstOutcome].get().first?["level"] == "serializable")
        }
        #expect(try advisoryLocks(of: session, seenBy: observer) == "0")
    }

    @Test("a lock that times out is rolled back, and the steps still run SERIALIZABLE with no lock left held")
    func failedLockStillRunsTheSteps() throws {
        let session = try serializableSession()
        try session.execute(script: "SET lock_timeout = '100ms'")
        let other = try Connection(conninfo: try TestDatabase.serverConninfo)
        try other.execute(script: "SELECT pg_advisory_lock(7202)")
        defer { _ = try? other.execute(script: "SELECT pg_advisory_unlock_all()") }
        // 7201 is granted, then 7202 times out: the statement fails with the first lock already taken.
        let outcomes = try session.pipelineOutcomes(
            PostgresLedger.lockedSteps(accounts: [7201, 7202], [Self.isolation]))
        #expect(outcomes.count == 5)
        if case .failure(let error) = outcomes[1] {
            #expect(error.sqlState == "55P03")
        } else {
            Issue.record("the lock did not time out")
        }
        #expect(try outcomes[PostgresLedger.lockedStepsFirstOutcome].get().first?["level"] == "serializable")
        let observer = try Connection(conninfo: try TestDatabase.serverConninfo)
        #expect(try advisoryLocks(of: session, seenBy: observer) == "0")
        #expect(try session.query("SELECT 1 AS one").first?["one"] == "1")
        #expect(session.isHealthy)
    }
}
