import Credentials
import Glibc
import Ledger
import LedgerStore
import Postgres
import Testing

@testable import API

/// A spool in a fresh directory under /tmp, removed with its files when the test ends.
final class ScratchSpool {
    let directory: String
    let spool: RequestSpool

    init(quota: SpoolQuota = .standard) throws {
        var template = Array("/tmp/tally-api-spool.XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw APIError.internalError }
        directory = String(cString: made)
        spool = try RequestSpool(directory: directory, maximumBytes: 64 << 20, quota: quota)
    }

    deinit {
        for name in ["spool", "offset", "known-tokens", "replay.lock"] { unlink(directory + "/" + name) }
        rmdir(directory)
    }
}

@Suite("What the spool takes while the database is down")
struct SpoolAdmissionTests {
    let ledger = StubLedger()
    let scratch: ScratchSpool
    let api: TallyAPI
    let service: String
    static let down = PostgresError(kind: .connection, message: "connection refused")

    init() throws {
        scratch = try ScratchSpool(
            quota: SpoolQuota(
                requestsPerToken: 2, bytesPerToken: 1 << 20, requestsPerAddress: 3, bytesPerAddress: 1 << 20))
        api = TallyAPI(ledger: ledger, passwordHasher: .fastForTests, spool: scratch.spool)
        service = ledger.authorization(for: .service)
    }

    func post(
        _ path: String, _ body: String, key: String?, as authorization: String, from address: String = "10.0.0.1"
    ) -> HTTPResponse {
        api.handle(
            HTTPRequest(
                method: "POST", path: path, idempotencyKey: key, authorization: authorization, body: Array(body.utf8),
                requestID: "rid", clientAddress: address))
    }

    func transfer(_ from: Int64, _ to: Int64, key: String?, as authorization: String, from address: String = "10.0.0.1")
        -> HTTPResponse
    {
        post(
            "/api/transfers", #"{"from_user_id":\#(from),"to_user_id":\#(to),"amount":"1.00"}"#, key: key,
            as: authorization, from: address)
    }

    /// A user's token that the database accepted once (a transfer of theirs applied) before it went down.
    func knownUser(_ id: Int64) -> String {
        let token = ledger.authorization(for: .user(id: id))
        ledger.failure = nil
        #expect(transfer(id, 99, key: nil, as: token).status == 201)
        return token
    }

    func waiting() throws -> [SpooledRequest] {
        try scratch.spool.pending().compactMap(\.request)
    }

    @Test("a token the database never accepted before the outage is answered 503, and nothing is stored")
    func unknownTokensAreNotSpooled() throws {
        let issuedButUnseen = ledger.authorization(for: .user(id: 1))
        let neverIssued = "Bearer tly_" + String(repeating: "A", count: 43)
        ledger.failure = Self.down
        for token in [issuedButUnseen, neverIssued, service] {
            let response = transfer(1, 2, key: "k-\(token.suffix(6))", as: token)
            #expect(response.status == 503)
            #expect(response.headers.contains { $0 == ("Retry-After", "1") })
        }
        #expect(try waiting().isEmpty)
    }

    @Test("a known token's padded request is stored as its parsed command, and replays with the same fingerprint")
    func paddedBodiesAreStoredCompactly() throws {
        let ada = knownUser(1)
        let body =
            #"{"from_user_id": 1, "to_user_id": 2, "amount":"#
            + String(repeating: " ", count: 60_000) + #"1.5, "memo": "caf\u00e9 \"ok\""}"#
        ledger.failure = Self.down
        #expect(post("/api/transfers", body, key: "p1", as: ada).status == 202)
        let stored = try #require(try waiting().first)
        #expect(stored.encoded().count < 300)
        #expect(
            String(decoding: stored.body, as: UTF8.self)
                == #"{"from_user_id":1,"to_user_id":2,"amount":"1.50","memo":"café \"ok\""}"#)
        #expect(stored.path == "/api/transfers" && stored.clientAddress == "10.0.0.1" && !stored.isService)

        ledger.failure = nil
        _ = try SpoolReplayer(api: api, spool: scratch.spool).replayPending { _, _ in }
        let replayed = try #require(ledger.moveCalls.last?.key)
        #expect(replayed.key == "p1" && replayed.fingerprint == stored.fingerprint)
        // The same request sent live, written another way, has the same fingerprint: a client that repeats it
        // after the outage is answered the stored outcome, never idempotency_key_reused.
        let live = post(
            "/api/transfers", #"{"memo":"café \"ok\"","amount":1.50,"to_user_id":2,"from_user_id":1}"#, key: "p2",
            as: ada)
        #expect(live.status == 201)
        #expect(ledger.moveCalls.last?.key?.fingerprint == stored.fingerprint)
    }

    @Test("a known token is spooled only for what its caller may do")
    func knownUsersKeepTheirRights() throws {
        let ada = knownUser(1)
        ledger.failure = Self.down
        #expect(transfer(2, 1, key: "theirs", as: ada).status == 403)
        #expect(post("/api/users/2/deposits", #"{"amount":"1"}"#, key: "dep", as: ada).status == 403)
        #expect(
            post("/api/event", #"{"type":"deposit","amount":"1","user_id":1,"t":5}"#, key: "ev", as: ada).status
                == 403)
        #expect(post("/api/users/1/deposits", #"{"amount":"1"}"#, key: "own", as: ada).status == 202)
        #expect(try waiting().map(\.idempotencyKey) == ["own"])
    }

    @Test("a token found revoked, or logged out, is no longer spooled")
    func revokedTokensAreForgotten() throws {
        let ada = knownUser(1)
        let bea = knownUser(2)
        ledger.tokens.removeValue(forKey: try #require(BearerToken(authorizationHeader: ada)).hash)
        #expect(transfer(1, 2, key: nil, as: ada).status == 401)
        #expect(api.handle(HTTPRequest(method: "POST", path: "/api/auth/logout", authorization: bea)).status == 200)
        ledger.failure = Self.down
        #expect(transfer(1, 2, key: "a", as: ada).status == 503)
        #expect(transfer(2, 1, key: "b", as: bea).status == 503)
    }

    @Test("a log-in, a read or a movement makes a token known; the service role's is known the same way")
    func everyAcceptedUseTeaches() throws {
        ledger.users[5] = User(id: 5, name: "Eve", username: "eve", balance: .zero, createdAt: 0)
        ledger.passwordHashes["eve"] = try PasswordHasher.fastForTests.hash("correct horse battery")
        let login = api.handle(
            HTTPRequest(
                method: "POST", path: "/api/auth/login",
                body: Array(#"{"username":"eve","password":"correct horse battery"}"#.utf8)))
        #expect(login.status == 200)
        let token = try #require(login.body.split(separator: "\"").first { $0.hasPrefix("tly_") })
        let reader = ledger.authorization(for: .user(id: 6))
        ledger.users[6] = User(id: 6, name: "Fay", balance: .zero, createdAt: 0)
        #expect(get("/api/users/6", as: reader).status == 200)
        #expect(get("/api/me", as: service).status == 200)
        ledger.failure = Self.down
        #expect(transfer(5, 1, key: "eve", as: "Bearer \(token)").status == 202)
        #expect(transfer(6, 1, key: "fay", as: reader).status == 202)
        #expect(transfer(3, 1, key: "svc", as: service).status == 202)
        #expect(try waiting().map(\.isService) == [false, false, true])
    }

    func get(_ path: String, as authorization: String) -> HTTPResponse {
        api.handle(HTTPRequest(method: "GET", path: path, authorization: authorization))
    }

    @Test("one token, and one client address, hold at most their quota; the service role is not capped")
    func quotasPerTokenAndAddress() throws {
        let ada = knownUser(1)
        let bea = knownUser(2)
        let cid = knownUser(3)
        #expect(get("/api/me", as: service).status == 200)
        ledger.failure = Self.down
        #expect(transfer(1, 9, key: "a1", as: ada).status == 202)
        #expect(transfer(1, 9, key: "a2", as: ada).status == 202)
        let overToken = transfer(1, 9, key: "a3", as: ada)
        #expect(overToken.status == 429)
        #expect(try error(overToken) == "rate_limited")
        #expect(overToken.headers.contains { $0 == ("Retry-After", "5") })
        #expect(overToken.body.contains("this token"))
        // A request already waiting is answered as such, whatever the quota.
        #expect(transfer(1, 9, key: "a1", as: ada).status == 202)
        #expect(transfer(2, 9, key: "b1", as: bea).status == 202)
        let overAddress = transfer(2, 9, key: "b2", as: bea)
        #expect(overAddress.status == 429 && overAddress.body.contains("this client address"))
        #expect(transfer(2, 9, key: "b2", as: bea, from: "10.0.0.2").status == 202)
        #expect(transfer(3, 9, key: "c1", as: cid, from: "10.0.0.2").status == 202)
        for number in 1...5 { #expect(transfer(1, 9, key: "s\(number)", as: service).status == 202) }
        #expect(try waiting().count == 10)
    }

    func error(_ response: HTTPResponse) throws -> String {
        guard case .object(let top) = try JSONParser.parse(Array(response.body.utf8)),
            case .object(let members)? = top.first(where: { $0.0 == "error" })?.1,
            case .string(let code)? = members.first(where: { $0.0 == "code" })?.1
        else { return "" }
        return code
    }

    @Test("every command written compactly reads back as the same command")
    func compactBodiesRoundTrip() throws {
        let commands: [(Endpoint, MovementCommand)] = [
            (.createTransfer, .transfer(from: 1, to: 2, amount: Money(minorUnits: 5), memo: nil)),
            (.createTransfer, .transfer(from: 3, to: 4, amount: Money(minorUnits: .max), memo: "\u{2028}\\\"😀")),
            (.deposit(userID: 7), .cash(.deposit, userID: 7, amount: Money(minorUnits: 100), memo: "", t: 9)),
            (.withdraw(userID: 8), .cash(.withdrawal, userID: 8, amount: Money(minorUnits: 1), memo: nil, t: nil)),
            (.event, .event(.withdrawal, userID: 9, amount: Money(minorUnits: 250), t: 0)),
        ]
        for (endpoint, command) in commands {
            let read = try #require(try MovementCommand.parse(endpoint, body: command.compactBody))
            #expect(read.fingerprint == command.fingerprint)
            #expect(try Router.route(method: "POST", path: command.path) == endpoint)
        }
    }

    @Test("a record of a spool written before this version is still read")
    func versionOneRecordsAreRead() throws {
        var payload: [UInt8] = [1] + [UInt8](repeating: 0, count: 8)
        for field in [
            [UInt8](repeating: 7, count: 32), Array("k".utf8), Array("f".utf8), Array("POST".utf8),
            Array("/api/transfers".utf8), Array("rid".utf8), Array("{}".utf8),
        ] {
            payload += [UInt8(field.count), 0, 0, 0] + field
        }
        let read = try #require(SpooledRequest(decoding: payload))
        #expect(read.idempotencyKey == "k" && read.clientAddress == "" && !read.isService)
        #expect(SpooledRequest(decoding: read.encoded()) == read)
    }
}
