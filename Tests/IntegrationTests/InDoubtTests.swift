import Credentials
import Foundation
import Ledger
import LedgerStore
import Postgres
import Testing

/// A movement's answer arrived but the confirmation of its commit did not: the session ended without a word
/// from the server (an immediate shutdown, a crash), simulated by `CuttingProxy`. The ledger asks the database
/// whether the movement is there before it answers either way.
@Suite("Movements whose commit was never confirmed, against a real PostgreSQL")
struct InDoubtTests {
    /// A ledger whose sessions go through `proxy`, with one session already open (its set-up statements are
    /// not what the proxy is to cut) and two users.
    func setUp(_ database: TestDatabase, _ proxy: CuttingProxy) throws -> (PostgresLedger, Int64, Int64) {
        let ledger = PostgresLedger(conninfo: database.conninfo + proxy.conninfoOverride)
        return (ledger, try ledger.newUserID(minorUnits: 1000), try ledger.newUserID())
    }

    func balance(_ database: TestDatabase, _ user: Int64) throws -> String? {
        try database.scalar("SELECT balance FROM users WHERE id = $1", [String(user)])
    }

    @Test("a transfer that committed while its confirmation was cut off is answered as applied")
    func committedTransferIsApplied() throws {
        try TestDatabase.with { database in
            let proxy = try CuttingProxy(serverConninfo: try TestDatabase.serverConninfo)
            let (ledger, alice, bob) = try setUp(database, proxy)
            proxy.arm()
            let receipt = try ledger.move(
                .transfer, debitUserID: alice, creditUserID: bob, amount: Money(minorUnits: 300), memo: "cut off",
                idempotency: nil, requestID: "r1")
            guard case .applied(let movement) = receipt.result else {
                Issue.record("not applied: \(receipt.result)")
                return
            }
            #expect(movement.debitBalanceAfter == Money(minorUnits: 700))
            #expect(try database.scalar("SELECT count(*) FROM movements WHERE id = $1", [String(movement.id)]) == "1")
            #expect(try balance(database, alice) == "700")
            #expect(ledger.reconnects == 1)  // the session was cut: the answer came from asking again
        }
    }

    @Test("a transfer whose commit failed while its answer was cut off is a failure, and nothing moved")
    func rolledBackTransferIsAFailure() throws {
        try TestDatabase.with { database in
            try database.connection().execute(
                script: """
                    CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$
                    BEGIN RAISE EXCEPTION 'refused at commit'; END $$;
                    CREATE CONSTRAINT TRIGGER refuse_at_commit AFTER INSERT ON movements
                    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (NEW.memo = 'refused at commit')
                    EXECUTE FUNCTION refuse();
                    """)
            let proxy = try CuttingProxy(serverConninfo: try TestDatabase.serverConninfo)
            let (ledger, alice, bob) = try setUp(database, proxy)
            proxy.arm()
            do {
                _ = try ledger.move(
                    .transfer, debitUserID: alice, creditUserID: bob, amount: Money(minorUnits: 300),
                    memo: "refused at commit", idempotency: nil, requestID: "r1")
                Issue.record("a transfer that did not commit was answered")
            } catch let error as PostgresError {
                #expect(error.isUnavailable)  // the API's 503: nothing was applied
            }
            #expect(try database.scalar("SELECT count(*) FROM movements WHERE memo = 'refused at commit'") == "0")
            #expect(try balance(database, alice) == "1000")
            #expect(ledger.reconnects == 1)
        }
    }

    @Test("a deposit whose COMMIT answer was cut off is answered as applied")
    func committedDepositIsApplied() throws {
        try TestDatabase.with { database in
            let proxy = try CuttingProxy(serverConninfo: try TestDatabase.serverConninfo)
            let (ledger, alice, _) = try setUp(database, proxy)
            // A deposit is two round trips: BEGIN and the rules' context (two CommandCompletes), then the event
            // and COMMIT. The cut comes after the event's answer: COMMIT has run, its answer never arrives.
            proxy.arm(cuttingAfterCommandComplete: 3)
            let receipt = try ledger.recordCashEvent(
                .deposit, tokenHash: TestDatabase.serviceToken.hash, actingUserID: alice, userID: alice,
                amount: Money(minorUnits: 50), memo: "cut off", t: nil, rules: AlertRules(), idempotency: nil,
                requestID: "r1")
            guard case .applied(let cash) = receipt.result else {
                Issue.record("not applied: \(receipt.result)")
                return
            }
            #expect(cash.movement.creditBalanceAfter == Money(minorUnits: 1050))
            #expect(try balance(database, alice) == "1050")
            #expect(ledger.reconnects == 1)
        }
    }

    @Test("a pipeline statement whose sync point the session ended before keeps its answer as unconfirmed rows")
    func pipelineCutBeforeSyncCarriesTheAnswer() throws {
        let proxy = try CuttingProxy(serverConninfo: try TestDatabase.serverConninfo)
        let connection = try Connection(conninfo: try TestDatabase.serverConninfo + proxy.conninfoOverride)
        // As a contended movement's pipeline: a first transaction confirmed by its sync point, then the movement,
        // whose answer arrives but not its sync point's.
        proxy.arm(cuttingAfterCommandComplete: 2)
        let outcomes = try connection.pipelineOutcomes([
            .sql("SELECT 1 AS one"), .sync, .sql("SELECT 2 AS two"), .sync, .sql("SELECT 3 AS three"),
        ])
        #expect(try outcomes[0].get().first?["one"] == "1")
        guard case .failure(let error) = outcomes[1] else {
            Issue.record("a statement whose commit was not confirmed succeeded")
            return
        }
        #expect(error.unconfirmed?.rows?.first?["two"] == "2")
        guard case .failure(let later) = outcomes[2] else {
            Issue.record("a statement after the cut succeeded")
            return
        }
        // Sent, and the session ended before it answered: in doubt too, with nothing to show.
        #expect(later.unconfirmed != nil && later.unconfirmed?.rows == nil)
        #expect(!connection.isHealthy)
    }

    @Test("pipeline statements whose answers were all lost are in doubt, the one the connection broke under too")
    func pipelineWithNoAnswerIsInDoubt() throws {
        let proxy = try CuttingProxy(serverConninfo: try TestDatabase.serverConninfo)
        let connection = try Connection(conninfo: try TestDatabase.serverConninfo + proxy.conninfoOverride)
        // As a contended movement's pipeline to a host that was killed: nothing of it comes back.
        proxy.arm(cuttingAfterCommandComplete: 2, withholdingAnswer: true)
        let outcomes = try connection.pipelineOutcomes([.sql("SELECT 1 AS one"), .sync, .sql("SELECT 2 AS two")])
        #expect(outcomes.count == 2)
        for outcome in outcomes {
            guard case .failure(let error) = outcome else {
                Issue.record("a statement whose answer was lost succeeded")
                continue
            }
            #expect(error.unconfirmed != nil && error.unconfirmed?.rows == nil)
        }
        #expect(!connection.isHealthy)
    }

    @Test("a keyed transfer that committed while its whole answer was lost is answered once, under its key")
    func committedUnansweredKeyedTransferIsAppliedOnce() throws {
        try TestDatabase.with { database in
            let proxy = try CuttingProxy(serverConninfo: try TestDatabase.serverConninfo)
            let (ledger, alice, bob) = try setUp(database, proxy)
            proxy.arm(withholdingAnswer: true)
            let receipt = try ledger.move(
                .transfer, debitUserID: alice, creditUserID: bob, amount: Money(minorUnits: 300), memo: "unanswered",
                idempotency: IdempotencyContext(key: "unanswered-1", fingerprint: "f1"), requestID: "r1")
            guard case .applied(let movement) = receipt.result else {
                Issue.record("not applied: \(receipt.result)")
                return
            }
            #expect(movement.debitBalanceAfter == Money(minorUnits: 700))
            #expect(try database.scalar("SELECT count(*) FROM movements WHERE memo = 'unanswered'") == "1")
            #expect(try balance(database, alice) == "700")
        }
    }

    @Test("a transfer without a key whose whole answer was lost is of unknown outcome, not a failure")
    func unansweredUnkeyedTransferIsUnknown() throws {
        try TestDatabase.with { database in
            let proxy = try CuttingProxy(serverConninfo: try TestDatabase.serverConninfo)
            let (ledger, alice, bob) = try setUp(database, proxy)
            proxy.arm(withholdingAnswer: true)
            #expect(throws: OutcomeUnknown.self) {
                try ledger.move(
                    .transfer, debitUserID: alice, creditUserID: bob, amount: Money(minorUnits: 300),
                    memo: "unanswered", idempotency: nil, requestID: "r1")
            }
            #expect(try balance(database, alice) == "700")  // it did commit: a 503 "nothing happened" would lie
        }
    }

    @Test("a transfer whose commit the database cannot confirm within the patience is of unknown outcome")
    func unconfirmableTransferIsUnknown() throws {
        try TestDatabase.with { database in
            let proxy = try CuttingProxy(serverConninfo: try TestDatabase.serverConninfo)
            let (ledger, alice, bob) = try setUp(database, proxy)
            proxy.arm()
            proxy.refuseConnections(true)  // the database "stays down"
            #expect(throws: OutcomeUnknown.self) {
                try ledger.move(
                    .transfer, debitUserID: alice, creditUserID: bob, amount: Money(minorUnits: 300),
                    memo: "unknown", idempotency: nil, requestID: "r1")
            }
            // It did commit: which is why the answer could be neither "applied" nor "nothing was applied".
            #expect(try balance(database, alice) == "700")
        }
    }
}
