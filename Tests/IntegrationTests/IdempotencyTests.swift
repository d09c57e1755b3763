import Ledger
import LedgerStore
import Postgres
import Testing

@Suite("Idempotency keys in PostgreSQL", .serialized)
struct IdempotencyTests {
    func setUp(_ database: TestDatabase, balance: String) throws -> (PostgresLedger, Int64, Int64) {
        let ledger = database.ledger()
        func create(_ name: String, _ amount: String) throws -> Int64 {
            guard
                case .applied(let user) = try ledger.createUser(
                    name: name, initialBalance: try Money(parsing: amount), idempotency: nil, requestID: "setup"
                ).result
            else { throw Failed() }
            return user.id
        }
        return (ledger, try create("Ada", balance), try create("Bob", "0"))
    }

    struct Failed: Error {}

    func pay(
        _ ledger: PostgresLedger, _ from: Int64, _ to: Int64, _ minor: Int64, key: String, fingerprint: String,
        requestID: String
    ) throws -> Receipt<Movement> {
        try ledger.move(
            .transfer, debitUserID: from, creditUserID: to, amount: Money(minorUnits: minor), memo: nil,
            idempotency: IdempotencyContext(key: key, fingerprint: fingerprint), requestID: requestID)
    }

    @Test("a repeat with the same key and request returns the first outcome and moves money once")
    func replayMovesMoneyOnce() throws {
        try TestDatabase.with { database in
            let (ledger, ada, bob) = try setUp(database, balance: "10")
            let first = try pay(ledger, ada, bob, 300, key: "k-1", fingerprint: "f", requestID: "r1")
            let second = try pay(ledger, ada, bob, 300, key: "k-1", fingerprint: "f", requestID: "r2")
            guard case .applied(let a) = first.result, case .applied(let b) = second.result else {
                Issue.record("both should be applied outcomes")
                return
            }
            #expect(a == b && !first.isReplay && second.isReplay)
            #expect(try ledger.user(id: ada)?.balance.minorUnits == 700)
            #expect(try database.scalar("SELECT count(*) FROM movements WHERE kind = 'transfer'") == "1")
        }
    }

    @Test("a refusal a replay stores under its key reads back as itself, a user's event time included")
    func storedRefusalsReadBack() throws {
        try TestDatabase.with { database in
            let ledger = database.ledger()
            let tokenHash = (0..<32).map { _ in UInt8.random(in: 0...255) }
            _ = try ledger.issueToken(hash: tokenHash, for: .service, lifetimeSeconds: nil)
            let refusals: [Refusal] = [.forbidden, .tNotIncreasing(last: 9), .eventTimeNotAllowed]
            for (index, refusal) in refusals.enumerated() {
                let key = "stored-\(index)"
                try ledger.recordRefusal(
                    refusal, tokenHash: tokenHash, idempotency: IdempotencyContext(key: key, fingerprint: "f"),
                    requestID: "r")
                #expect(try ledger.requestOutcome(caller: .service, key: key) == .refused(refusal))
            }
        }
    }

    @Test("the same key with a different request is refused and moves nothing")
    func reuseIsRefused() throws {
        try TestDatabase.with { database in
            let (ledger, ada, bob) = try setUp(database, balance: "10")
            _ = try pay(ledger, ada, bob, 300, key: "k-2", fingerprint: "f", requestID: "r1")
            let reused = try pay(ledger, ada, bob, 400, key: "k-2", fingerprint: "other", requestID: "r2")
            guard case .keyReused = reused.result else {
                Issue.record("expected keyReused, got \(reused.result)")
                return
            }
            #expect(try ledger.user(id: ada)?.balance.minorUnits == 700)
        }
    }

    @Test("a refusal is replayed as a refusal even after the money has arrived")
    func refusalIsReplayed() throws {
        try TestDatabase.with { database in
            let (ledger, ada, bob) = try setUp(database, balance: "1")
            let first = try pay(ledger, ada, bob, 500, key: "k-3", fingerprint: "f", requestID: "r1")
            #expect(first.result.refusal == .insufficientFunds(balance: Money(minorUnits: 100)))
            _ = try ledger.move(
                .deposit, debitUserID: 0, creditUserID: ada, amount: Money(minorUnits: 1000), memo: nil,
                idempotency: nil, requestID: "r")
            let again = try pay(ledger, ada, bob, 500, key: "k-3", fingerprint: "f", requestID: "r2")
            #expect(again.result.refusal == .insufficientFunds(balance: Money(minorUnits: 100)))
            #expect(again.isReplay && again.requestID == "r1")
            #expect(try ledger.user(id: ada)?.balance.minorUnits == 1100)
        }
    }

    @Test("creating a user twice under one key creates one user and replays the first balance")
    func createUserReplay() throws {
        try TestDatabase.with { database in
            let ledger = database.ledger()
            let context = IdempotencyContext(key: "new-user", fingerprint: "create|Ada|500")
            let first = try ledger.createUser(
                name: "Ada", initialBalance: Money(minorUnits: 500), idempotency: context, requestID: "r1")
            let second = try ledger.createUser(
                name: "Ada", initialBalance: Money(minorUnits: 500), idempotency: context, requestID: "r2")
            guard case .applied(let a) = first.result, case .applied(let b) = second.result else {
                Issue.record("both should be applied")
                return
            }
            #expect(a == b && second.isReplay)
            #expect(try database.scalar("SELECT count(*) FROM users WHERE NOT is_system") == "1")
        }
    }
}

@Suite("Idempotency key retention", .serialized)
struct IdempotencyRetentionTests {
    @Test("keys older than the retention are purged; younger ones stay and still replay")
    func purgesOnlyExpiredKeys() throws {
        try TestDatabase.with { database in
            let ledger = database.ledger()
            for key in ["old-1", "old-2", "young"] {
                _ = try ledger.createUser(
                    name: key, initialBalance: .zero, idempotency: IdempotencyContext(key: key, fingerprint: key),
                    requestID: "r")
            }
            try database.connection().query(
                "UPDATE idempotency_keys SET created_at = now() - interval '25 hours' WHERE key LIKE 'old-%'")
            #expect(try ledger.purgeIdempotencyKeys(olderThanSeconds: 86_400) == 2)
            #expect(try database.scalar("SELECT string_agg(key, ',') FROM idempotency_keys") == "young")
            let replay = try ledger.createUser(
                name: "young", initialBalance: .zero,
                idempotency: IdempotencyContext(key: "young", fingerprint: "young"),
                requestID: "r2")
            #expect(replay.isReplay)
        }
    }

    @Test("a worker's purge turn empties a backlog of expired keys in batches, then waits about a minute")
    func purgeTurnEmptiesBacklog() throws {
        try TestDatabase.with { database in
            let ledger = database.ledger()
            try database.connection().query(
                """
                INSERT INTO idempotency_keys (owner, key, fingerprint, outcome, request_id, created_at)
                SELECT 0, 'expired-' || g, '\\x00', 'applied', 'r', now() - interval '2 days'
                FROM generate_series(1, 2500) AS g
                """)
            _ = try ledger.createUser(
                name: "fresh", initialBalance: .zero, idempotency: IdempotencyContext(key: "fresh", fingerprint: "f"),
                requestID: "r")
            var clock = 1000.0
            var purge = KeyPurge(retentionSeconds: 86_400, start: clock)
            clock += KeyPurge.defaultInterval  // the first turn comes within one interval of the start
            #expect(purge.runIfDue(ledger, now: { clock }) == KeyPurge.Purged(keys: 2500))
            #expect(try database.scalar("SELECT string_agg(key, ',') FROM idempotency_keys") == "fresh")
            try database.connection().query(
                "UPDATE idempotency_keys SET created_at = now() - interval '2 days' WHERE key = 'fresh'")
            clock += KeyPurge.defaultInterval / 2
            #expect(purge.runIfDue(ledger, now: { clock }) == nil, "not its turn yet")
            clock += KeyPurge.defaultInterval * 1.1
            #expect(purge.runIfDue(ledger, now: { clock })?.keys == 1)
        }
    }
}
