import Credentials
import Ledger
import LedgerStore
import Testing

@testable import API

@Suite("POST /api/batches read and answered, over a stub ledger")
struct BatchTests {
    let ledger = StubLedger()
    let api: TallyAPI
    let service: String

    init() {
        api = TallyAPI(ledger: ledger, passwordHasher: .fastForTests)
        service = ledger.authorization(for: .service)
    }

    func post(_ body: String, as authorization: String? = nil) -> HTTPResponse {
        api.handle(
            HTTPRequest(
                method: "POST", path: "/api/batches", authorization: authorization ?? service, body: Array(body.utf8),
                requestID: "rid"))
    }

    @Test(
        "bad input is refused with the item's index in its field before the ledger is asked",
        arguments: [
            (#"{"movements": []}"#, "movements"),
            (#"{"atomic": 1, "movements": []}"#, "atomic"),
            (#"{"movements": [{"type": "transfer", "from_user_id": 1, "to_user_id": 2}]}"#, "movements[0].amount"),
            (
                #"{"movements": [{"type": "deposit", "user_id": 1, "amount": 1}, {"type": "gift", "amount": 1}]}"#,
                "movements[1].type"
            ),
            (
                #"{"movements": [{"type": "deposit", "user_id": 1, "amount": 1, "to_user_id": 2}]}"#,
                "movements[0].to_user_id"
            ),
            (#"{"movements": [[1]]}"#, "movements[0]"),
            (#"{"movements": [{"type": "deposit", "user_id": 1, "amount": 1}], "extra": 1}"#, "extra"),
            (
                #"{"movements": [{"type": "deposit", "user_id": 1, "amount": 1, "idempotency_key": ""}]}"#,
                "movements[0].idempotency_key"
            ),
        ])
    func badInput(body: String, field: String) throws {
        let response = post(body)
        #expect(response.status == 422)
        #expect(response.body.contains(#""field":"\#(field)""#))
        #expect(ledger.moveCalls.isEmpty)
    }

    @Test("more than a thousand items are refused; a thousand are taken")
    func itemLimit() {
        let item = #"{"type": "transfer", "from_user_id": 1, "to_user_id": 2, "amount": "0.01"}"#
        let tooMany = post(#"{"movements": ["# + Array(repeating: item, count: 1001).joined(separator: ",") + "]}")
        #expect(tooMany.status == 422)
        let enough = post(#"{"movements": ["# + Array(repeating: item, count: 1000).joined(separator: ",") + "]}")
        #expect(enough.status == 201)
        #expect(ledger.moveCalls.count == 1000)
    }

    @Test("an atomic refusal answers the item's own status and code with its index")
    func atomicRefusal() throws {
        let user = ledger.authorization(for: .user(id: 7))
        let response = post(
            #"{"movements": [{"type": "transfer", "from_user_id": 7, "to_user_id": 2, "amount": 1},"#
                + #"{"type": "transfer", "from_user_id": 8, "to_user_id": 7, "amount": 1}]}"#, as: user)
        #expect(response.status == 403)
        #expect(response.body.contains(#""code":"forbidden""#))
        #expect(response.body.contains(#""index":1"#))
    }

    @Test("item by item, each result says how its item ended, with the batch's id")
    func itemByItem() {
        let user = ledger.authorization(for: .user(id: 7))
        let response = post(
            #"{"atomic": false, "movements": [{"type": "transfer", "from_user_id": 7, "to_user_id": 2, "amount": 1},"#
                + #"{"type": "withdrawal", "user_id": 8, "amount": 1}]}"#, as: user)
        #expect(response.status == 200)
        #expect(response.body.contains(#""index":0,"status":"applied""#))
        #expect(response.body.contains(#""index":1,"status":"refused","error":{"code":"forbidden""#))
    }

    @Test("the body limit is 4 MiB for batches and 64 KiB elsewhere")
    func bodyLimits() {
        #expect(TallyAPI.maximumBodyBytes(path: "/api/batches") == 4 * 1024 * 1024)
        #expect(TallyAPI.maximumBodyBytes(path: "/api/transfers") == 64 * 1024)
        #expect(TallyAPI.maximumBodyBytes(path: nil) == 64 * 1024)
    }
}
