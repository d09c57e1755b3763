import Glibc
import Postgres
import Testing

@Suite("Pipelines with sync points, against a real PostgreSQL")
struct PipelineTests {
    @Test("statements after a sync point run even when one before it failed, each with its own outcome")
    func syncPointsSeparateFailures() throws {
        let connection = try Connection(conninfo: try TestDatabase.serverConninfo)
        let outcomes = try connection.pipelineOutcomes([
            .sql("SELECT 1 AS one"), .sync, .sql("SELECT 1 / 0"), .sql("SELECT 3"), .sync, .sql("SELECT 2 AS two"),
        ])
        #expect(outcomes.count == 4)
        #expect(try outcomes[0].get().first?["one"] == "1")
        #expect(throws: PostgresError.self) { try outcomes[1].get() }
        #expect(throws: PostgresError.self) { try outcomes[2].get() }  // skipped: same transaction as the error
        #expect(try outcomes[3].get().first?["two"] == "2")
        #expect(connection.isHealthy)
    }

    @Test("a statement whose transaction fails to commit at the sync point is a failure, not its answer")
    func commitFailureAtSyncPoint() throws {
        let connection = try Connection(conninfo: try TestDatabase.serverConninfo)
        try connection.execute(script: "CREATE TEMP TABLE once (x int UNIQUE DEFERRABLE INITIALLY DEFERRED)")
        let outcomes = try connection.pipelineOutcomes([
            .sql("INSERT INTO once VALUES (1), (1) RETURNING x"), .sync, .sql("SELECT count(*) AS n FROM once"),
        ])
        #expect(throws: PostgresError.self) { try outcomes[0].get() }
        if case .failure(let error) = outcomes[0] { #expect(error.sqlState == "23505") }
        #expect(try outcomes[1].get().first?["n"] == "0")
        #expect(connection.isHealthy)
    }

    @Test("a connection that breaks after a sync point keeps what was confirmed before it, and fails the rest")
    func breakAfterSyncKeepsConfirmedOutcomes() throws {
        let connection = try Connection(conninfo: try TestDatabase.serverConninfo)
        let outcomes = try connection.pipelineOutcomes([
            .sql("SELECT 1 AS one"), .sync, .sql("SELECT pg_terminate_backend(pg_backend_pid())"), .sql("SELECT 3"),
        ])
        #expect(outcomes.count == 3)
        #expect(try outcomes[0].get().first?["one"] == "1")
        for outcome in outcomes.dropFirst() {
            guard case .failure(let error) = outcome else {
                Issue.record("a statement after the break succeeded")
                continue
            }
            #expect(error.kind == .connection || error.sqlState == "57P01")
        }
        #expect(!connection.isHealthy)
    }

    @Test("a connection that breaks after a COMMIT has answered keeps the transaction's outcomes: it committed")
    func breakAfterCommitKeepsTheTransaction() throws {
        try TestDatabase.with { database in
            let connection = try database.connection()
            try connection.execute(script: "CREATE TABLE marks (x int)")
            // The server ends the session after COMMIT, before the sync point: what `pg_ctl stop -m fast` does to
            // a session that is between two messages.
            let outcomes = try connection.pipelineOutcomes([
                .sql("BEGIN"), .sql("INSERT INTO marks VALUES (7) RETURNING x"), .commit,
                .sql("SELECT pg_terminate_backend(pg_backend_pid())"), .sql("SELECT 3"),
            ])
            #expect(outcomes.count == 5)
            #expect(try outcomes[1].get().first?["x"] == "7")
            #expect(throws: Never.self) { try outcomes[2].get() }
            for outcome in outcomes.dropFirst(3) {
                guard case .failure = outcome else {
                    Issue.record("a statement after the break succeeded")
                    continue
                }
            }
            #expect(!connection.isHealthy)
            #expect(try database.scalar("SELECT count(*) FROM marks WHERE x = 7") == "1")
        }
    }

    @Test("a COMMIT that PostgreSQL answers with ROLLBACK (a statement before it failed) is a failure")
    func commitOfAFailedTransactionIsAFailure() throws {
        let connection = try Connection(conninfo: try TestDatabase.serverConninfo)
        #expect(throws: PostgresError.self) { try connection.pipeline([.sql("BEGIN"), .sql("SELECT 1 / 0")]) }
        let outcomes = try connection.pipelineOutcomes([.commit])
        guard case .failure(let error) = outcomes.first else {
            Issue.record("COMMIT of a failed transaction succeeded")
            return
        }
        #expect(error.sqlState == "25P02")
        #expect(connection.isHealthy)
    }

    @Test("each statement after a sync point gets a new snapshot: a lock taken before it is held when it starts")
    func eachSyncStartsANewTransaction() throws {
        let connection = try Connection(conninfo: try TestDatabase.serverConninfo)
        let outcomes = try connection.pipelineOutcomes([
            .sql("SELECT txid_current() AS id"), .sync, .sql("SELECT txid_current() AS id"),
        ])
        #expect(try outcomes[0].get().first?["id"] != outcomes[1].get().first?["id"])
    }

    @Test("many pipelines in a row stay in step with their results")
    func staysInStep() throws {
        let connection = try Connection(conninfo: try TestDatabase.serverConninfo)
        for round in 0..<300 {
            let outcomes = try connection.pipelineOutcomes([
                .sql("SELECT pg_advisory_lock($1)", [String(round)]), .sync,
                .sql("SELECT $1::int AS round", [String(round)]), .sync,
                .sql("SELECT pg_advisory_unlock_all()"),
            ])
            #expect(try outcomes[1].get().first?["round"] == String(round))
        }
        #expect(try connection.query("SELECT 42 AS answer").first?["answer"] == "42")
    }
}

@Suite("A connection the server closed while it sat idle")
struct IdleConnectionTests {
    @Test("is noticed before it is used again")
    func noticedBeforeUse() throws {
        let connection = try Connection(conninfo: try TestDatabase.serverConninfo)
        let pid = try #require(try connection.query("SELECT pg_backend_pid() AS pid").first?["pid"])
        #expect(connection.survivedIdle())
        let admin = try Connection(conninfo: try TestDatabase.serverConninfo)
        _ = try admin.query("SELECT pg_terminate_backend($1::int)", [pid])
        usleep(200_000)  // the backend's goodbye arrives
        #expect(!connection.survivedIdle())  // at the first asking
        #expect(try admin.query("SELECT 1 AS one").first?["one"] == "1")
    }
}
