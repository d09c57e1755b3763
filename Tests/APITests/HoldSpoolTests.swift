import Ledger
import LedgerStore
import Postgres
import Testing

@testable import API

@Suite("Holds, captures, voids and reversals while the database is down: spooled and replayed")
struct HoldSpoolTests {
    let scratch: ScratchSpool
    let harness: RouteHarness
    var ledger: StubLedger { harness.ledger }
    static let down = PostgresError(kind: .connection, message: "connection refused")

    init() throws {
        scratch = try ScratchSpool()
        harness = RouteHarness(spool: scratch.spool)
    }

    /// A user's token that the database accepted once (a hold of theirs placed) before it went down.
    func knownUser(_ id: Int64) -> String {
        let token = ledger.authorization(for: .user(id: id))
        #expect(
            harness.post(
                "/api/holds", #"{"from_user_id":\#(id),"to_user_id":99,"amount":"1","expires_in":60}"#, as: token
            ).status == 201)
        return token
    }

    func waiting() throws -> [SpooledRequest] {
        try scratch.spool.pending().compactMap(\.request)
    }

    func replay() throws -> [String] {
        ledger.failure = nil
        var results: [String] = []
        _ = try SpoolReplayer(api: harness.api, spool: scratch.spool).replayPending { _, result in
            results.append("\(result)")
        }
        return results
    }

    @Test("keyed holds, captures, voids and reversals are answered 202, stored compactly and replayed once each")
    func keyedRequestsAreSpooledAndReplayed() throws {
        let ada = knownUser(1)
        let bo = knownUser(2)
        ledger.movementsByID[7] = Movement(
            id: 7, kind: .transfer, debitUserID: 2, creditUserID: 1, amount: Money(minorUnits: 500),
            debitBalanceAfter: .zero, creditBalanceAfter: .zero, memo: nil, createdAt: 0)
        ledger.failure = Self.down
        let requests: [(path: String, body: String, key: String, as: String)] = [
            ("/api/holds", #"{"expires_in": 30, "amount": 2.5, "to_user_id": 2, "from_user_id": 1}"#, "h", ada),
            ("/api/holds/3/capture", #"{"amount": "1"}"#, "c", bo),
            ("/api/holds/3/void", "", "v", ada),
            ("/api/transfers/7/reversals", #"{"memo": "sorry"}"#, "r", ada),
        ]
        for request in requests {
            let response = harness.post(request.path, request.body, key: request.key, as: request.as)
            #expect(response.status == 202, "\(request.path)")
            #expect(response.body == #"{"status":"pending","idempotency_key":"\#(request.key)"}"#)
        }
        let stored = try waiting()
        #expect(stored.map(\.path) == requests.map(\.path))
        #expect(
            stored.map { String(decoding: $0.body, as: UTF8.self) } == [
                #"{"from_user_id":1,"to_user_id":2,"amount":"2.50","expires_in":30}"#, #"{"amount":"1.00"}"#, "{}",
                #"{"memo":"sorry"}"#,
            ])
        // The hold placed while the database was down is 3 when replayed: its payee captures it, and its payer's
        // void comes too late.
        #expect(
            try replay() == [
                "applied(status: 201)", "applied(status: 200)", #"refused(code: "hold_not_pending")"#,
                "applied(status: 201)",
            ])
        #expect(ledger.holdCalls.last?.expiresIn == 30 && ledger.holdCalls.last?.key?.key == "h")
        #expect(ledger.captureCalls.last?.amount?.minorUnits == 100 && ledger.captureCalls.last?.key?.key == "c")
        #expect(ledger.voidCalls.last?.key?.key == "v")
        #expect(ledger.reversalCalls.last?.memo == "sorry" && ledger.reversalCalls.last?.key?.key == "r")
        // The ledger gets the fingerprint a live request gets.
        let live = try #require(try MovementCommand.parse(.createHold, body: Array(requests[0].body.utf8)))
        #expect(ledger.holdCalls.last?.key?.fingerprint == live.fingerprint.joined(separator: "\u{1F}"))
        #expect(try waiting().isEmpty)
    }

    @Test("a hold on another's account is refused at once while the database is down, and nothing is stored")
    func anothersHoldIsNotSpooled() throws {
        let ada = knownUser(1)
        ledger.failure = Self.down
        let response = harness.post(
            "/api/holds", #"{"from_user_id":2,"to_user_id":1,"amount":"1","expires_in":60}"#, key: "x", as: ada)
        #expect(response.status == 403)
        let bad = harness.post("/api/holds/1/capture", #"{"amount":"0"}"#, key: "y", as: ada)
        #expect(bad.status == 422)
        #expect(try waiting().isEmpty)
    }

    @Test("without an Idempotency-Key a hold while the database is down is 503, and nothing is stored")
    func unkeyedHoldsAreNotSpooled() throws {
        let ada = knownUser(1)
        ledger.failure = Self.down
        #expect(harness.post("/api/holds/1/void", as: ada).status == 503)
        #expect(try waiting().isEmpty)
    }
}
