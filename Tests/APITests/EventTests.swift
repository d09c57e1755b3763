import Credentials
import Ledger
import Testing

@testable import API

@Suite("POST /api/event: the activity-event contract")
struct EventTests {
    let ledger = StubLedger()
    let api: TallyAPI
    let service: String

    init() {
        api = TallyAPI(ledger: ledger, passwordHasher: .fastForTests)
        service = ledger.authorization(for: .service)
        ledger.users[1] = User(id: 1, name: "Ada", balance: Money(minorUnits: 1000_00), createdAt: 0)
    }

    func post(_ body: String, as authorization: String? = nil) -> HTTPResponse {
        api.handle(
            HTTPRequest(
                method: "POST", path: "/api/event", authorization: authorization ?? service, body: Array(body.utf8)))
    }

    @Test("the answer has exactly the contract's shape")
    func contractShape() {
        let response = post(#"{"type": "withdraw", "amount": "142.00", "user_id": 1, "t": 10}"#)
        #expect(response.status == 200)
        #expect(response.body == #"{"alert":true,"alert_codes":[1100],"user_id":1}"#)
        let quiet = post(#"{"type": "deposit", "amount": 42, "user_id": 1, "t": 11}"#)
        #expect(quiet.body == #"{"alert":false,"alert_codes":[],"user_id":1}"#)
        #expect(ledger.eventTimes == [10, 11])
    }

    @Test(
        "malformed events are 422 naming the field",
        arguments: [
            (#"{"type":"transfer","amount":"1","user_id":1,"t":1}"#, "type"),
            (#"{"amount":"1","user_id":1,"t":1}"#, "type"),
            (#"{"type":"deposit","user_id":1,"t":1}"#, "amount"),
            (#"{"type":"deposit","amount":"1.001","user_id":1,"t":1}"#, "amount"),
            (#"{"type":"deposit","amount":"1e2","user_id":1,"t":1}"#, "amount"),
            (#"{"type":"deposit","amount":"1","t":1}"#, "user_id"),
            (#"{"type":"deposit","amount":"1","user_id":1}"#, "t"),
            (#"{"type":"deposit","amount":"1","user_id":1,"t":-1}"#, "t"),
            (#"{"type":"deposit","amount":"1","user_id":1,"t":1.5}"#, "t"),
            (#"{"type":"deposit","amount":"1","user_id":1,"t":"10"}"#, "t"),
            (#"{"type":"deposit","amount":"1","user_id":1,"t":1,"extra":true}"#, "extra"),
        ])
    func refusesMalformedEvents(body: String, field: String) {
        let response = post(body)
        #expect(response.status == 422)
        #expect(response.body.contains(#""field":"\#(field)""#), "\(response.body)")
        #expect(ledger.moveCalls.isEmpty)
    }

    @Test("posting events is the service role's")
    func serviceOnly() {
        let ada = ledger.authorization(for: .user(id: 1))
        let refused = post(#"{"type":"deposit","amount":"1","user_id":1,"t":1}"#, as: ada)
        #expect(refused.status == 403)
        // The reason is the role, though user 1 is the caller's own account.
        #expect(refused.body.contains(#""message":"Only the service role may do this.""#), "\(refused.body)")
        #expect(post(#"{"type":"deposit","amount":"1","user_id":1,"t":1}"#, as: "").status == 401)
    }

    @Test("a spooled event from a user's token is refused on replay, and the refusal is kept under its key")
    func replayedUserEventIsRefusedAndRecorded() throws {
        let ada = ledger.authorization(for: .user(id: 1))
        let tokenHash = try #require(BearerToken(authorizationHeader: ada)).hash
        let spooled = SpooledRequest(
            acceptedAt: 0, tokenHash: tokenHash, idempotencyKey: "e1", fingerprint: "", method: "POST",
            path: "/api/event", requestID: "rid",
            body: Array(#"{"type":"deposit","amount":"1","user_id":1,"t":1}"#.utf8))
        guard case .refused(code: "forbidden") = api.replay(spooled) else {
            Issue.record("the replay was not refused as forbidden")
            return
        }
        #expect(ledger.recordedRefusals.map(\.key) == ["e1"])
        #expect(ledger.moveCalls.isEmpty)
    }

    @Test("a deposit through its endpoint may carry t, and answers with its alert codes")
    func depositEndpointTakesT() {
        let response = api.handle(
            HTTPRequest(
                method: "POST", path: "/api/users/1/deposits", authorization: service,
                body: Array(#"{"amount":"250.00","t":77}"#.utf8)))
        #expect(response.status == 201 && response.body.contains(#""alert_codes":[123]"#))
        #expect(ledger.eventTimes == [77])
    }
}
