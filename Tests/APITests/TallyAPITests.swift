import Credentials
import Ledger
import LedgerStore
import Postgres
import Testing

@testable import API

@Suite("The API as a function from request to response")
struct TallyAPITests {
    let ledger = StubLedger()
    let api: TallyAPI
    let service: String

    init() {
        api = TallyAPI(ledger: ledger, passwordHasher: .fastForTests)
        service = ledger.authorization(for: .service)
    }

    func post(_ path: String, _ body: String, key: String? = nil, as authorization: String? = nil) -> HTTPResponse {
        api.handle(
            HTTPRequest(
                method: "POST", path: path, idempotencyKey: key, authorization: authorization ?? service,
                body: Array(body.utf8), requestID: "rid"))
    }

    func get(_ path: String, query: String = "", as authorization: String? = nil) -> HTTPResponse {
        api.handle(HTTPRequest(method: "GET", path: path, query: query, authorization: authorization ?? service))
    }

    func error(_ response: HTTPResponse) throws -> (code: String, field: String?) {
        guard case .object(let top) = try JSONParser.parse(Array(response.body.utf8)),
            case .object(let members)? = top.first(where: { $0.0 == "error" })?.1
        else { throw APIError.internalError }
        let code = members.first { $0.0 == "code" }?.1
        let field = members.first { $0.0 == "field" }?.1
        guard case .string(let codeText)? = code else { throw APIError.internalError }
        if case .string(let fieldText)? = field { return (codeText, fieldText) }
        return (codeText, nil)
    }

    @Test("a transfer with an exact number amount reaches the ledger in minor units")
    func transferReachesLedger() {
        let response = post("/api/transfers", #"{"from_user_id": 1, "to_user_id": 2, "amount": 0.29}"#)
        #expect(response.status == 201)
        #expect(ledger.moveCalls.count == 1)
        #expect(ledger.moveCalls.first?.amount.minorUnits == 29)
        #expect(response.body.contains(#""amount":"0.29","amount_minor":29"#))
    }

    @Test(
        "bad transfer bodies are refused before the ledger is asked",
        arguments: [
            (#"not json"#, "malformed_json", nil), (#"[1]"#, "malformed_json", nil), (#""str""#, "malformed_json", nil),
            (#"{"to_user_id":2,"amount":"1"}"#, "validation_failed", "from_user_id"),
            (#"{"from_user_id":"1","to_user_id":2,"amount":"1"}"#, "validation_failed", "from_user_id"),
            (#"{"from_user_id":1.5,"to_user_id":2,"amount":"1"}"#, "validation_failed", "from_user_id"),
            (#"{"from_user_id":1,"to_user_id":1,"amount":"1"}"#, "validation_failed", "to_user_id"),
            (#"{"from_user_id":1,"to_user_id":2,"amount":"0"}"#, "validation_failed", "amount"),
            (#"{"from_user_id":1,"to_user_id":2,"amount":-1}"#, "validation_failed", "amount"),
            (#"{"from_user_id":1,"to_user_id":2,"amount":"1.001"}"#, "validation_failed", "amount"),
            (#"{"from_user_id":1,"to_user_id":2,"amount":1e2}"#, "validation_failed", "amount"),
            (#"{"from_user_id":1,"to_user_id":2,"amount":true}"#, "validation_failed", "amount"),
            (#"{"from_user_id":1,"to_user_id":2,"amount":null}"#, "validation_failed", "amount"),
            (#"{"from_user_id":1,"to_user_id":2,"amount":"92233720368547758.08"}"#, "validation_failed", "amount"),
            (#"{"from_user_id":1,"to_user_id":2,"amount":"1","extra":1}"#, "validation_failed", "extra"),
            (#"{"from_user_id":1,"to_user_id":2,"amount":"1","memo":5}"#, "validation_failed", "memo"),
            (#"{"from_user_id":1,"to_user_id":2,"amount":"1","amount":"2"}"#, "validation_failed", "amount"),
        ] as [(String, String, String?)])
    func refusesBadTransfers(body: String, code: String, field: String?) throws {
        let response = post("/api/transfers", body)
        #expect(response.status == (code == "malformed_json" ? 400 : 422))
        let error = try error(response)
        #expect(error.code == code && error.field == field)
        #expect(ledger.moveCalls.isEmpty)
    }

    @Test("user names are checked: required, not blank, at most 200 characters, no NUL")
    func checksNames() throws {
        for body in [
            #"{}"#, #"{"name":""}"#, #"{"name":"   "}"#, #"{"name":"a\u0000b"}"#,
            "{\"name\":\"\(String(repeating: "x", count: 201))\"}", #"{"name":7}"#,
        ] {
            let response = post("/api/users", body)
            #expect(response.status == 422)
            #expect(try error(response).field == "name")
        }
        #expect(post("/api/users", #"{"name":"<b>Zoë</b>","initial_balance":0}"#).status == 201)
        #expect(ledger.users.count == 1)
    }

    @Test("a refusal maps to its status and code; insufficient funds states the balance")
    func mapsRefusals() throws {
        ledger.nextMoveResult = .refused(.insufficientFunds(balance: Money(minorUnits: 500)))
        let short = post("/api/users/1/withdrawals", #"{"amount":"10"}"#)
        #expect(short.status == 409)
        #expect(try error(short).code == "insufficient_funds")
        #expect(short.body.contains("5.00"))
        ledger.nextMoveResult = .refused(.userNotFound(id: 9))
        #expect(post("/api/users/9/deposits", #"{"amount":"10"}"#).status == 404)
        ledger.nextMoveResult = .keyReused
        let reused = post("/api/users/9/deposits", #"{"amount":"10"}"#, key: "k")
        #expect(reused.status == 422)
        #expect(try error(reused).code == "idempotency_key_reused")
    }

    @Test("a replay carries Idempotency-Replayed: true")
    func marksReplays() {
        ledger.nextMoveIsReplay = true
        let response = post("/api/users/1/deposits", #"{"amount":"10"}"#, key: "k")
        #expect(response.headers.contains { $0.name == "Idempotency-Replayed" && $0.value == "true" })
    }

    @Test("the same request gives the same fingerprint; another amount gives another")
    func fingerprintsRequests() {
        _ = post("/api/users/1/deposits", #"{"amount":"10"}"#, key: "k")
        _ = post("/api/users/1/deposits", #"{"amount":10.00}"#, key: "k")
        _ = post("/api/users/1/deposits", #"{"amount":"10.01"}"#, key: "k")
        let prints = ledger.moveCalls.map { $0.key?.fingerprint }
        #expect(prints[0] == prints[1] && prints[0] != prints[2])
    }

    @Test("an Idempotency-Key over 255 characters is refused")
    func refusesLongKeys() throws {
        let response = post("/api/users/1/deposits", #"{"amount":"1"}"#, key: String(repeating: "k", count: 256))
        #expect(response.status == 422)
        #expect(try error(response).field == "Idempotency-Key")
        #expect(ledger.moveCalls.isEmpty)
    }

    @Test("an Idempotency-Key's length is in code points: 128 flags are 256 of them")
    func keyLengthCountsCodePoints() throws {
        let response = post("/api/users/1/deposits", #"{"amount":"1"}"#, key: String(repeating: "🇫🇷", count: 128))
        #expect(response.status == 422)
        #expect(try error(response).field == "Idempotency-Key")
        #expect(ledger.moveCalls.isEmpty)
    }

    @Test("an Idempotency-Key that was not UTF-8 (repaired to U+FFFD on the way in) is refused, not merged")
    func refusesRepairedKeys() throws {
        let repaired = String(decoding: [0x6B, 0xFF], as: UTF8.self)
        let response = post("/api/users/1/deposits", #"{"amount":"1"}"#, key: repaired)
        #expect(response.status == 422)
        #expect(try error(response).field == "Idempotency-Key")
        #expect(ledger.moveCalls.isEmpty)
    }

    @Test("database trouble is a 503 with Retry-After, never a 500")
    func databaseTroubleIs503() throws {
        ledger.failure = PostgresError(kind: .connection, message: "refused")
        let down = post("/api/users", #"{"name":"A"}"#)
        #expect(down.status == 503)
        #expect(try error(down).code == "unavailable")
        #expect(down.headers.contains { $0.name == "Retry-After" })
        ledger.failure = RetriesExhausted(
            attempts: 10, lastError: PostgresError(kind: .server, sqlState: "40001", message: "x"))
        #expect(post("/api/users", #"{"name":"A"}"#).status == 503)
    }

    @Test("a movement of unknown outcome is a 503 that says so; Retry-After only when a repeat is safe (a key)")
    func outcomeUnknownIs503WithoutBlindRetry() throws {
        ledger.failure = OutcomeUnknown(
            cause: PostgresError(kind: .connection, message: "server closed the connection unexpectedly"))
        let body = #"{"from_user_id":1,"to_user_id":2,"amount":"1.00"}"#
        let unkeyed = post("/api/transfers", body)
        #expect(unkeyed.status == 503)
        #expect(try error(unkeyed).code == "outcome_unknown")
        #expect(unkeyed.body.contains("may or may not have been applied"))
        #expect(!unkeyed.headers.contains { $0.name == "Retry-After" })
        let keyed = post("/api/transfers", body, key: "k1")
        #expect(keyed.status == 503)
        #expect(try error(keyed).code == "outcome_unknown")
        #expect(keyed.headers.contains { $0.name == "Retry-After" })
    }

    @Test("a value the database refuses (a CHECK, a domain, a length) is a 422 that applied nothing, not a 500")
    func databaseRefusedValueIs422() throws {
        for sqlState in ["23514", "23502", "22001", "22003", "22021"] {
            ledger.failure = PostgresError(
                kind: .server, sqlState: sqlState, message: "value for domain memo violates check constraint")
            let response = post("/api/transfers", #"{"from_user_id":1,"to_user_id":2,"amount":"1.00"}"#)
            #expect(response.status == 422, "SQLSTATE \(sqlState)")
            #expect(try error(response).code == "validation_failed")
            #expect(response.logNote?.contains(sqlState) == true)
        }
        // Not every server error is the request's fault.
        ledger.failure = PostgresError(kind: .server, sqlState: "42P01", message: "relation does not exist")
        #expect(post("/api/transfers", #"{"from_user_id":1,"to_user_id":2,"amount":"1.00"}"#).status == 500)
    }

    @Test("a fault on the database's side (disk, memory, a missing file, an internal error) is a 503, not a 500")
    func databaseFaultIs503() throws {
        for sqlState in ["53100", "53200", "58P01", "58030", "XX000", "XX001"] {
            ledger.failure = PostgresError(
                kind: .server, sqlState: sqlState, message: "could not access status of transaction 2703065")
            let response = post("/api/transfers", #"{"from_user_id":1,"to_user_id":2,"amount":"1.00"}"#)
            #expect(response.status == 503, "SQLSTATE \(sqlState)")
            #expect(try error(response).code == "unavailable")
            #expect(response.headers.contains { $0.name == "Retry-After" })
        }
        // A statement the server refused as wrong (here: an undefined column) is our bug: it stays a 500.
        ledger.failure = PostgresError(kind: .server, sqlState: "42703", message: "column does not exist")
        #expect(post("/api/users", #"{"name":"A"}"#).status == 500)
    }

    @Test("a spooled request whose replay meets a database fault stays pending, as when the database is down")
    func replayDefersDatabaseFaults() {
        let spooled = SpooledRequest(
            acceptedAt: 0, tokenHash: ledger.tokens.keys.first!, idempotencyKey: "k1", fingerprint: "",
            method: "POST", path: "/api/transfers", requestID: "rid",
            body: Array(#"{"from_user_id":1,"to_user_id":2,"amount":"1.00"}"#.utf8))
        for failure in [
            PostgresError(kind: .server, sqlState: "53100", message: "could not extend file: No space left on device"),
            PostgresError(kind: .server, sqlState: "XX000", message: "could not access status of transaction"),
            PostgresError(kind: .connection, message: "server closed the connection unexpectedly"),
        ] {
            ledger.failure = failure
            guard case .unavailable = api.replay(spooled) else {
                Issue.record("\(failure) did not leave the request pending")
                continue
            }
        }
        // A statement the server refused as wrong is not the database's trouble: replaying it again will not help.
        ledger.failure = PostgresError(kind: .server, sqlState: "42703", message: "column does not exist")
        guard case .failed = api.replay(spooled) else {
            Issue.record("an undefined column was not a failed replay")
            return
        }
        ledger.failure = nil
        guard case .applied(status: 201) = api.replay(spooled) else {
            Issue.record("the replay did not apply once the database was fine")
            return
        }
    }

    @Test("health says whether the database answers")
    func healthReportsDatabase() {
        #expect(api.handle(HTTPRequest(method: "GET", path: "/api/health")).status == 200)
        ledger.databaseUp = false
        let response = api.handle(HTTPRequest(method: "GET", path: "/api/health"))
        #expect(response.status == 503 && response.body.contains(#""database":"down""#))
    }

    @Test("limit must be 1 to 100 and cursors must be ones the API gave out")
    func checksPaging() throws {
        for query in [
            "limit=0", "limit=101", "limit=abc", "cursor=zzz", "cursor=" + Base64URL.encode(Array("x:1".utf8)),
        ] {
            let response = get("/api/users", query: query)
            #expect(response.status == 422)
        }
        for id in 1...3 { ledger.users[Int64(id)] = User(id: Int64(id), name: "u", balance: .zero, createdAt: 0) }
        let first = get("/api/users", query: "limit=2")
        #expect(first.status == 200 && first.body.contains(#""next_cursor":""#))
        let cursor = Cursor.encode(2)
        let second = get("/api/users", query: "limit=2&cursor=\(cursor)")
        #expect(second.body.contains(#""id":3"#) && second.body.contains(#""next_cursor":null"#))
    }

    @Test("timestamps are RFC 3339 UTC with milliseconds")
    func formatsTimestamps() {
        #expect(Timestamp.rfc3339(microsecondsSince1970: 0) == "1970-01-01T00:00:00.000Z")
        #expect(Timestamp.rfc3339(microsecondsSince1970: 1_700_000_000_123_456) == "2023-11-14T22:13:20.123Z")
        #expect(Timestamp.rfc3339(microsecondsSince1970: 1_795_430_400_005_999) == "2026-11-23T10:40:00.005Z")
        #expect(Timestamp.rfc3339(microsecondsSince1970: 253_402_300_799_999_999) == "9999-12-31T23:59:59.999Z")
        // The log line's form appends the same text to what is already there.
        var line = Array("at ".utf8)
        Timestamp.write(microsecondsSince1970: 1_700_000_000_123_456, to: &line)
        #expect(String(decoding: line, as: UTF8.self) == "at 2023-11-14T22:13:20.123Z")
    }
}
