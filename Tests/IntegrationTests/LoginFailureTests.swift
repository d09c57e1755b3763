import Dispatch
import Ledger
import LedgerStore
import Postgres
import Synchronization
import Testing

@Suite("Failed log-ins lock a username in PostgreSQL", .serialized)
struct LoginFailureTests {
    let limits = LoginLimits()

    /// Ends the username's current lock now, as the clock would; the count of locks stays.
    func expireLock(_ database: TestDatabase, _ username: String) throws {
        _ = try database.connection().query(
            "UPDATE login_failures SET locked_until = now() WHERE username_key = lower($1)", [username])
    }

    @Test("ten failures in a minute lock a username for 60 s, and each further lock doubles up to 15 minutes")
    func locksDoubleUpToTheLongest() throws {
        try TestDatabase.with { database in
            let ledger = database.ledger()
            for expected in [60, 120, 240, 480, 900, 900] {
                for _ in 1..<limits.failuresBeforeLock {
                    #expect(try ledger.recordFailedLogin(username: "Nobody.Known", limits: limits) == 0)
                }
                let locked = try ledger.recordFailedLogin(username: "NOBODY.known", limits: limits)
                #expect((expected - 1)...expected ~= locked)
                let state = try ledger.loginState(username: "nobody.known")
                #expect(state.credentials == nil && state.hasFailures)
                #expect((expected - 1)...expected ~= state.lockedForSeconds)
                try expireLock(database, "nobody.known")
                #expect(try ledger.loginState(username: "nobody.known").lockedForSeconds == 0)
            }
            try ledger.clearFailedLogins(username: "NOBODY.KNOWN")
            let cleared = try ledger.loginState(username: "nobody.known")
            #expect(!cleared.hasFailures && cleared.lockedForSeconds == 0)
        }
    }

    @Test("failures outside the minute's window start the count again")
    func oldFailuresFallOutOfTheWindow() throws {
        try TestDatabase.with { database in
            let ledger = database.ledger()
            for _ in 1..<limits.failuresBeforeLock { try ledger.recordFailedLogin(username: "ada", limits: limits) }
            _ = try database.connection().query(
                "UPDATE login_failures SET window_started_at = now() - interval '61 seconds'", [])
            #expect(try ledger.recordFailedLogin(username: "ada", limits: limits) == 0)
            #expect(try database.scalar("SELECT failures FROM login_failures WHERE username_key = 'ada'") == "1")
        }
    }

    @Test("failures of one username from many connections at once are all counted, none fails to serialize")
    func concurrentFailuresAllCount() throws {
        try TestDatabase.with { database in
            let conninfo = database.conninfo
            let refused = Atomic<Int>(0)
            let many = LoginLimits(failuresBeforeLock: 1000)
            DispatchQueue.concurrentPerform(iterations: 6) { _ in
                let ledger = PostgresLedger(conninfo: conninfo, retryPolicy: RetryPolicy(maxAttempts: 1))
                for _ in 0..<20 {
                    if (try? ledger.recordFailedLogin(username: "target", limits: many)) == nil {
                        refused.add(1, ordering: .relaxed)
                    }
                }
            }
            let counted = try database.scalar("SELECT failures FROM login_failures WHERE username_key = 'target'")
            #expect(refused.load(ordering: .relaxed) == 0 && counted == "120")
        }
    }

    @Test("a record without a failure for an hour is forgotten, and deleted by later failures")
    func staleRecordsGo() throws {
        try TestDatabase.with { database in
            let ledger = database.ledger()
            for name in ["old.one", "old.two"] {
                for _ in 1...limits.failuresBeforeLock { try ledger.recordFailedLogin(username: name, limits: limits) }
            }
            _ = try database.connection().query(
                "UPDATE login_failures SET last_failed_at = now() - interval '2 hours', locked_until = NULL", [])
            // Its own stale record starts afresh: no lock is remembered.
            #expect(try ledger.recordFailedLogin(username: "old.one", limits: limits) == 0)
            #expect(try database.scalar("SELECT lockouts FROM login_failures WHERE username_key = 'old.one'") == "0")
            #expect(try database.scalar("SELECT count(*) FROM login_failures WHERE username_key = 'old.two'") == "0")
        }
    }
}
