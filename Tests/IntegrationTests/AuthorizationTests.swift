import Credentials
import Foundation
import Ledger
import LedgerStore
import Postgres
import Testing

@Suite("Tokens and rights in PostgreSQL", .serialized)
struct AuthorizationTests {
    func user(_ ledger: PostgresLedger, _ username: String, balance: Int64 = 1000) throws -> User {
        let receipt = try ledger.createUser(
            name: username, initialBalance: Money(minorUnits: balance),
            credentials: NewCredentials(username: username, passwordHash: "$argon2id$not-checked-here"),
            idempotency: nil, requestID: "t")
        guard case .applied(let user) = receipt.result else { throw Failed() }
        return user
    }

    struct Failed: Error {}

    func login(_ ledger: PostgresLedger, _ user: User, seconds: Int? = 3600) throws -> BearerToken {
        let token = BearerToken.generate()
        _ = try ledger.issueToken(hash: token.hash, for: .user(id: user.id), lifetimeSeconds: seconds)
        return token
    }

    func pay(
        _ ledger: PostgresLedger, _ token: BearerToken, from: User, to: User, minor: Int64 = 100,
        key: String? = nil
    ) throws -> Receipt<Movement> {
        try ledger.move(
            .transfer, tokenHash: token.hash, actingUserID: from.id, debitUserID: from.id, creditUserID: to.id,
            amount: Money(minorUnits: minor), memo: nil,
            idempotency: key.map { IdempotencyContext(key: $0, fingerprint: "f\(minor)") }, requestID: "t")
    }

    @Test("a live token names its caller; an expired or revoked one names nobody")
    func tokenLifecycle() throws {
        try TestDatabase.with { database in
            let ledger = database.ledger()
            let ada = try user(ledger, "ada")
            let token = try login(ledger, ada)
            #expect(try ledger.caller(tokenHash: token.hash) == .user(id: ada.id))
            #expect(try ledger.revokeToken(hash: token.hash))
            #expect(try ledger.caller(tokenHash: token.hash) == nil)
            #expect(try !ledger.revokeToken(hash: token.hash))
            let brief = try login(ledger, ada, seconds: 1)
            #expect(try ledger.caller(tokenHash: brief.hash) == .user(id: ada.id))
            Thread.sleep(forTimeInterval: 1.2)
            #expect(try ledger.caller(tokenHash: brief.hash) == nil)
            #expect(try ledger.caller(tokenHash: TestDatabase.serviceToken.hash) == .service)
        }
    }

    @Test("a live token's caller comes with its expiry, as issued; a revoked one is not live")
    func liveTokenHasExpiry() throws {
        try TestDatabase.with { database in
            let ledger = database.ledger()
            let ada = try user(ledger, "ada")
            let token = BearerToken.generate()
            let expiry = try ledger.issueToken(hash: token.hash, for: .user(id: ada.id), lifetimeSeconds: 600)
            #expect(
                try ledger.liveToken(hash: token.hash)
                    == LiveToken(caller: .user(id: ada.id), expiresAtMicroseconds: expiry))
            #expect(
                try ledger.liveToken(hash: TestDatabase.serviceToken.hash)
                    == LiveToken(caller: .service, expiresAtMicroseconds: nil))
            #expect(try ledger.revokeToken(hash: token.hash))
            #expect(try ledger.liveToken(hash: token.hash) == nil)
        }
    }

    @Test("tokens that ended over a day ago are purged; live ones and those that ended lately stay")
    func endedTokensArePurged() throws {
        try TestDatabase.with { database in
            let ledger = database.ledger()
            let ada = try user(ledger, "ada")
            var tokens: [String: BearerToken] = [:]
            for name in ["live", "expired-long-ago", "revoked-long-ago", "expired-lately", "revoked-lately"] {
                tokens[name] = try login(ledger, ada)
            }
            let ended: [(String, String)] = [
                ("expired-long-ago", "expires_at = now() - interval '25 hours'"),
                ("revoked-long-ago", "revoked_at = now() - interval '25 hours'"),
                ("expired-lately", "expires_at = now() - interval '23 hours'"),
                ("revoked-lately", "revoked_at = now() - interval '23 hours'"),
            ]
            for (name, change) in ended {
                try database.connection().query(
                    "UPDATE tokens SET \(change) WHERE hash = $1", ["\\x" + tokens[name]!.hash.hexadecimal])
            }
            var clock = 1000.0
            var purge = KeyPurge(retentionSeconds: 86_400, start: clock)
            clock += KeyPurge.defaultInterval
            #expect(purge.runIfDue(ledger, now: { clock }) == KeyPurge.Purged(keys: 0, tokens: 2))
            for (name, token) in tokens {
                let kept = try database.scalar(
                    "SELECT count(*) FROM tokens WHERE hash = $1", ["\\x" + token.hash.hexadecimal])
                #expect(kept == (name.hasSuffix("long-ago") ? "0" : "1"), "\(name)")
            }
            #expect(try ledger.caller(tokenHash: tokens["live"]!.hash) == .user(id: ada.id))
            #expect(try ledger.caller(tokenHash: TestDatabase.serviceToken.hash) == .service)
            #expect(try ledger.purgeEndedTokens(endedMoreThanSeconds: KeyPurge.tokenGraceSeconds) == 0)
        }
    }

    @Test("the movement checks the token and the right to debit in the same transaction")
    func movementChecksRights() throws {
        try TestDatabase.with { database in
            let ledger = database.ledger()
            let ada = try user(ledger, "ada")
            let bob = try user(ledger, "bob")
            let adaToken = try login(ledger, ada)
            guard case .applied = try pay(ledger, adaToken, from: ada, to: bob).result else {
                Issue.record("Ada may pay Bob")
                return
            }
            #expect(try pay(ledger, adaToken, from: bob, to: ada).result.refusal == .forbidden)
            let stranger = BearerToken.generate()
            #expect(try pay(ledger, stranger, from: ada, to: bob).result.refusal == .unauthorized)
            _ = try ledger.revokeToken(hash: adaToken.hash)
            #expect(try pay(ledger, adaToken, from: ada, to: bob).result.refusal == .unauthorized)
            #expect(try ledger.user(id: ada.id)?.balance.minorUnits == 900)
            #expect(try ledger.user(id: bob.id)?.balance.minorUnits == 1100)
        }
    }

    @Test("idempotency keys belong to their caller: the same key from two users is two requests")
    func keysAreScopedToTheCaller() throws {
        try TestDatabase.with { database in
            let ledger = database.ledger()
            let ada = try user(ledger, "ada")
            let bob = try user(ledger, "bob")
            let first = try pay(ledger, try login(ledger, ada), from: ada, to: bob, key: "same-key")
            let second = try pay(ledger, try login(ledger, bob), from: bob, to: ada, key: "same-key")
            #expect(!first.isReplay && !second.isReplay)
            #expect(try database.scalar("SELECT count(*) FROM movements WHERE kind = 'transfer'") == "2")
        }
    }

    @Test("usernames are unique ignoring case")
    func usernamesAreUnique() throws {
        try TestDatabase.with { database in
            let ledger = database.ledger()
            _ = try user(ledger, "Ada.L")
            let again = try ledger.createUser(
                name: "x", initialBalance: .zero,
                credentials: NewCredentials(username: "ada.l", passwordHash: "h"), idempotency: nil, requestID: "t")
            #expect(again.result.refusal == .usernameTaken)
            #expect(try ledger.credentials(username: "ADA.L")?.user.username == "Ada.L")
            #expect(try ledger.credentials(username: "nobody") == nil)
        }
    }
}

@Suite("Parameters", .serialized)
struct ParameterTests {
    @Test("a NUL in a parameter is refused, never sent shortened")
    func nulIsRefused() throws {
        try TestDatabase.with { database in
            let error = try #require(throws: PostgresError.self) {
                try database.connection().query("SELECT $1::text AS value", ["ada\u{0}anything"])
            }
            #expect(error.sqlState == "22021")
            #expect(throws: PostgresError.self) { try database.ledger().credentials(username: "ada\u{0}x") }
        }
    }
}
