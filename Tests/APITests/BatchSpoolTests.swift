import Ledger
import LedgerStore
import Postgres
import Spool
import Testing

@testable import API

@Suite("A keyed batch while the database is down")
struct BatchSpoolTests {
    let ledger = StubLedger()
    let scratch: ScratchSpool
    let api: TallyAPI
    let service: String

    init() throws {
        scratch = try ScratchSpool()
        api = TallyAPI(ledger: ledger, passwordHasher: .fastForTests, spool: scratch.spool)
        service = ledger.authorization(for: .service)
    }

    func post(_ path: String, _ body: String, key: String?, as authorization: String) -> HTTPResponse {
        api.handle(
            HTTPRequest(
                method: "POST", path: path, idempotencyKey: key, authorization: authorization, body: Array(body.utf8),
                requestID: "rid", clientAddress: "10.0.0.1"))
    }

    func batch(_ items: [String], atomic: Bool = true, key: String?, as authorization: String) -> HTTPResponse {
        post(
            "/api/batches", #"{"atomic": \#(atomic), "movements": [\#(items.joined(separator: ", "))]}"#, key: key,
            as: authorization)
    }

    static func transfer(_ from: Int64, _ to: Int64, _ amount: String = "\"1.00\"", extra: String = "") -> String {
        #"{"type": "transfer", "from_user_id": \#(from), "to_user_id": \#(to), "amount": \#(amount)\#(extra)}"#
    }

    /// A user's token that the database accepted once before it went down; the database is down after.
    func knownUserWhileDown(_ id: Int64) -> String {
        let token = ledger.authorization(for: .user(id: id))
        #expect(
            post("/api/transfers", #"{"from_user_id":\#(id),"to_user_id":99,"amount":"1"}"#, key: nil, as: token)
                .status == 201)
        return token
    }

    func serviceKnownWhileDown() -> String {
        #expect(api.handle(HTTPRequest(method: "GET", path: "/api/me", authorization: service)).status == 200)
        ledger.failure = BatchSpoolTests.down
        return service
    }

    static let down = PostgresError(kind: .connection, message: "connection refused")

    func waiting() throws -> [SpooledRequest] {
        try scratch.spool.pending().compactMap(\.request)
    }

    func replay() throws -> [ReplayResult] {
        ledger.failure = nil
        var results: [ReplayResult] = []
        _ = try SpoolReplayer(api: api, spool: scratch.spool).replayPending { _, result in results.append(result) }
        return results
    }

    func json(_ response: HTTPResponse) throws -> JSONValue {
        try JSONParser.parse(Array(response.body.utf8))
    }

    func member(_ value: JSONValue, _ path: String...) -> JSONValue? {
        path.reduce(value as JSONValue?) { current, name in
            guard case .object(let members)? = current else { return nil }
            return members.first { $0.0 == name }?.1
        }
    }

    func requestStatus(_ key: String, as authorization: String) -> HTTPResponse {
        api.handle(HTTPRequest(method: "GET", path: "/api/requests/\(key)", authorization: authorization))
    }

    @Test("a keyed batch is stored compactly, answered 202 like a movement, and replayed through applyBatch once")
    func keyedBatchIsSpooledAndReplayed() throws {
        let ada = knownUserWhileDown(1)
        ledger.failure = Self.down
        let items = [
            Self.transfer(1, 2, "1.5", extra: #", "memo": "caf\u00e9 <ok>", "idempotency_key": "i1""#),
            #"{"amount": 2, "user_id": 1, "type": "deposit"}"#,
        ]
        let first = batch(items, key: "b1", as: ada)
        #expect(first.status == 202)
        #expect(first.body == #"{"status":"pending","idempotency_key":"b1"}"#)
        let stored = try #require(try waiting().first)
        #expect(stored.path == "/api/batches" && stored.method == "POST")
        #expect(
            String(decoding: stored.body, as: UTF8.self)
                == #"{"atomic":true,"movements":[{"type":"transfer","from_user_id":1,"to_user_id":2,"#
                + #""amount":"1.50","memo":"café \u003cok\u003e","idempotency_key":"i1"},"#
                + #"{"type":"deposit","user_id":1,"amount":"2.00"}]}"#)

        // The same batch again, written another way: answered as pending, stored once.
        let rewritten = [
            #"{"idempotency_key": "i1", "memo": "café <ok>", "amount": "1.50", "to_user_id": 2, "from_user_id": 1,"#
                + #" "type": "transfer"}"#,
            #"{"type": "deposit", "user_id": 1, "amount": "2.00"}"#,
        ]
        let again = batch(rewritten, key: "b1", as: ada)
        #expect(again.status == 202 && again.body == first.body)
        #expect(again.headers.contains { $0 == ("Idempotency-Replayed", "true") })
        // The same key for another batch, or for a single movement: refused, nothing stored.
        #expect(batch([Self.transfer(1, 3)], key: "b1", as: ada).status == 422)
        #expect(
            post("/api/transfers", #"{"from_user_id":1,"to_user_id":2,"amount":"1"}"#, key: "b1", as: ada)
                .status == 422)
        #expect(try waiting().count == 1)
        #expect(member(try json(requestStatus("b1", as: ada)), "status") == .string("pending"))

        #expect(try replay().map { "\($0)" } == ["applied(status: 201)"])
        let call = try #require(ledger.batchCalls.last)
        #expect(call.atomic && call.items == 2 && call.key?.key == "b1")
        // The ledger gets the fingerprint a live batch gets, so a repeat after the outcome is its replay.
        let live = try BatchCommand.parse(body: Array(#"{"movements": [\#(items.joined(separator: ","))]}"#.utf8))
        #expect(call.key?.fingerprint == live.fingerprint.joined(separator: "\u{1F}"))
        let outcome = try json(requestStatus("b1", as: ada))
        #expect(member(outcome, "status") == .string("applied") && member(outcome, "batch_id") == .integer(1))
        #expect(try waiting().isEmpty)
    }

    @Test("a batch without an Idempotency-Key is answered 503, and nothing is stored")
    func unkeyedBatchesAreNotSpooled() throws {
        let ada = knownUserWhileDown(1)
        ledger.failure = Self.down
        let response = batch([Self.transfer(1, 2)], key: nil, as: ada)
        #expect(response.status == 503)
        #expect(try waiting().isEmpty)
    }

    @Test("a malformed batch is refused at once with the item's field, and nothing is stored")
    func malformedBatchesAreRefusedAtOnce() throws {
        let ada = knownUserWhileDown(1)
        ledger.failure = Self.down
        let badAmount = batch([Self.transfer(1, 2), Self.transfer(1, 3, "\"1.001\"")], key: "m1", as: ada)
        #expect(badAmount.status == 422)
        #expect(member(try json(badAmount), "error", "field") == .string("movements[1].amount"))
        #expect(member(try json(badAmount), "error", "index") == .integer(1))
        #expect(batch([], key: "m2", as: ada).status == 422)
        #expect(batch([#"{"type": "refund", "user_id": 1, "amount": "1"}"#], key: "m3", as: ada).status == 422)
        #expect(
            batch(
                [
                    Self.transfer(1, 2, extra: #", "idempotency_key": "x""#),
                    Self.transfer(1, 3, extra: #", "idempotency_key": "x""#),
                ], key: "m4", as: ada
            ).status
                == 422)
        #expect(try waiting().isEmpty)
    }

    @Test("an atomic batch with an item its caller may not ask for is refused at once, with that item's index")
    func atomicBatchesKeepTheCallersRights() throws {
        let ada = knownUserWhileDown(1)
        ledger.failure = Self.down
        let theirs = batch([Self.transfer(1, 2), Self.transfer(2, 1)], key: "f1", as: ada)
        #expect(theirs.status == 403)
        #expect(member(try json(theirs), "error", "code") == .string("forbidden"))
        #expect(member(try json(theirs), "error", "index") == .integer(1))
        let eventTime = batch(
            [#"{"type": "deposit", "user_id": 1, "amount": "1", "t": 5}"#], key: "f2", as: ada)
        // As live: a user's event time is 422 on the item's t.
        #expect(eventTime.status == 422)
        #expect(member(try json(eventTime), "error", "field") == .string("movements[0].t"))
        #expect(try waiting().isEmpty)
    }

    @Test("a non-atomic batch is stored whole; an item its caller may not ask for is refused at replay, as live")
    func itemByItemBatchesRefuseItemsAtReplay() throws {
        let ada = knownUserWhileDown(1)
        ledger.failure = Self.down
        #expect(batch([Self.transfer(1, 2), Self.transfer(2, 1)], atomic: false, key: "n1", as: ada).status == 202)
        #expect(try replay().map { "\($0)" } == ["applied(status: 200)"])
        let record = try #require(ledger.batches[1])
        #expect(!record.atomic && record.items.count == 2)
        #expect(record.items[0].movement != nil && record.items[1] == .refused(.forbidden))
    }

    @Test("an atomic batch refused at replay is refused whole, and its refusal is what the key shows")
    func atomicBatchesRefusedAtReplayAreRefusedWhole() throws {
        let ada = knownUserWhileDown(1)
        ledger.failure = Self.down
        #expect(batch([Self.transfer(1, 2), Self.transfer(1, 3)], key: "r1", as: ada).status == 202)
        ledger.nextMoveResult = .refused(.insufficientFunds(balance: .zero))
        #expect(try replay().map { "\($0)" } == [#"refused(code: "insufficient_funds")"#])
        #expect(ledger.batches.isEmpty)
        let outcome = try json(requestStatus("r1", as: ada))
        #expect(member(outcome, "status") == .string("refused"))
        #expect(member(outcome, "error", "code") == .string("insufficient_funds"))
    }

    @Test("a batch counts as one request and its record's bytes: 1,000 short transfers fit a token, long memos not")
    func batchesCountTheirRecordsBytes() throws {
        let ada = knownUserWhileDown(1)
        ledger.failure = Self.down
        let short = (0..<1000).map { Self.transfer(1, Int64(2 + $0)) }
        #expect(batch(short, key: "q1", as: ada).status == 202)
        let stored = try #require(try waiting().first).encoded().count
        #expect(stored < 100_000)
        let memo = #", "memo": "\#(String(repeating: "m", count: 300))""#
        let long = (0..<1000).map { Self.transfer(1, Int64(2 + $0), extra: memo) }
        let over = batch(long, key: "q2", as: ada)
        #expect(over.status == 429)
        #expect(over.headers.contains { $0 == ("Retry-After", "5") })
        #expect(over.body.contains("this request alone is larger than this token may have waiting"))
        #expect(try waiting().count == 1)
    }

    @Test("the service role's largest batch fits one record, past the 1 MiB that records held before")
    func theLargestBatchFitsOneRecord() throws {
        let token = serviceKnownWhileDown()
        let memo = #", "memo": "\#(String(repeating: "<", count: 500))""#
        let items = (0..<1000).map { #"{"type": "deposit", "user_id": \#($0 + 1), "amount": "1"\#(memo)}"# }
        #expect(batch(items, atomic: false, key: "big", as: token).status == 202)
        let stored = try #require(try waiting().first)
        #expect(stored.encoded().count > 3_000_000)
        #expect(try BatchCommand.parse(body: stored.body).items.count == 1000)
    }

    @Test("every batch written compactly reads back as the same batch")
    func compactBatchesRoundTrip() throws {
        let bodies = [
            #"{"movements": [{"type": "transfer", "from_user_id": 3, "to_user_id": 4, "amount": 0.01}]}"#,
            #"{"atomic": false, "movements": [{"type": "withdrawal", "user_id": 8, "amount": "1", "memo": "","#
                + #" "t": 9, "idempotency_key": "\u2028\\\"😀"}, {"type": "deposit", "user_id": 7, "#
                + #""amount": "92233720368547758.07", "memo": "x"}]}"#,
        ]
        for body in bodies {
            let command = try BatchCommand.parse(body: Array(body.utf8))
            let read = try BatchCommand.parse(body: command.compactBody)
            #expect(read.fingerprint == command.fingerprint && read.atomic == command.atomic)
            #expect(read.compactBody == command.compactBody)
        }
    }
}
