import Ledger
import LedgerStore
import Testing

@testable import API

@Suite("Holds: place, read, list, capture and void")
struct HoldRoutesTests {
    let harness = RouteHarness()
    var ledger: StubLedger { harness.ledger }

    static let holdMembers = [
        "id", "from_user_id", "to_user_id", "amount", "amount_minor", "memo", "status", "created_at", "expires_at",
        "captured_amount", "captured_amount_minor", "transfer_id", "settled_at",
    ]

    func place(
        _ from: Int64 = 1, _ to: Int64 = 2, amount: String = #""4.00""#, extra: String = "",
        key: String? = nil, as authorization: String? = nil
    ) -> HTTPResponse {
        harness.post(
            "/api/holds",
            #"{"from_user_id":\#(from),"to_user_id":\#(to),"amount":\#(amount),"expires_in":60\#(extra)}"#,
            key: key, as: authorization)
    }

    @Test("a hold reaches the ledger with its parsed fields and is answered 201 with every member, pending")
    func placingAHoldAnswersTheHold() throws {
        let response = place(amount: "4.5", extra: #","memo":"order 66""#)
        #expect(response.status == 201)
        #expect(try harness.names(response) == Self.holdMembers)
        let call = try #require(ledger.holdCalls.first)
        #expect(call.payer == 1 && call.payee == 2 && call.amount.minorUnits == 450 && call.memo == "order 66")
        #expect(call.expiresIn == 60)
        let hold = try harness.members(response)
        #expect(hold["status"] == .string("pending") && hold["amount"] == .string("4.50"))
        #expect(hold["amount_minor"] == .integer(450))
        #expect(hold["created_at"] == .string("2023-11-14T22:13:20.000Z"))
        #expect(hold["expires_at"] == .string("2023-11-14T22:14:20.000Z"))
        for absent in ["captured_amount", "captured_amount_minor", "transfer_id", "settled_at"] {
            #expect(hold[absent] == .null, "\(absent)")
        }
        // Read back, it is the same.
        #expect(harness.get("/api/holds/1").body == response.body)
    }

    @Test(
        "expires_in is a JSON integer from 1 to 2592000 seconds, and required",
        arguments: ["0", "-1", "2592001", #""60""#, "1.5", "60.0", "6e1", "true", "null", nil] as [String?])
    func expiresInIsCheckedBeforeTheLedger(expiresIn: String?) throws {
        let member = expiresIn.map { #","expires_in":\#($0)"# } ?? ""
        let response = harness.post("/api/holds", #"{"from_user_id":1,"to_user_id":2,"amount":"1.00"\#(member)}"#)
        #expect(response.status == 422)
        let error = harness.error(response)
        #expect(error.code == "validation_failed" && error.field == "expires_in")
        #expect(ledger.holdCalls.isEmpty)
    }

    @Test("a hold of one second and one of thirty days are taken")
    func expiresInBoundsAreTaken() {
        for seconds in [1, 2_592_000] {
            let body = #"{"from_user_id":1,"to_user_id":2,"amount":"1.00","expires_in":\#(seconds)}"#
            #expect(harness.post("/api/holds", body).status == 201)
        }
        #expect(ledger.holdCalls.map(\.expiresIn) == [1, 2_592_000])
    }

    @Test(
        "bad hold bodies name their field and reach no ledger",
        arguments: [
            (#"{"from_user_id":1,"to_user_id":1,"amount":"1","expires_in":5}"#, "to_user_id"),
            (#"{"from_user_id":1,"to_user_id":2,"amount":"0","expires_in":5}"#, "amount"),
            (#"{"from_user_id":1,"to_user_id":2,"amount":"1.001","expires_in":5}"#, "amount"),
            (#"{"from_user_id":1,"to_user_id":2,"expires_in":5}"#, "amount"),
            (#"{"to_user_id":2,"amount":"1","expires_in":5}"#, "from_user_id"),
            (#"{"from_user_id":1,"to_user_id":2,"amount":"1","expires_in":5,"colour":"red"}"#, "colour"),
            (#"{"from_user_id":1,"to_user_id":2,"amount":"1","expires_in":5,"memo":5}"#, "memo"),
        ])
    func badHoldsAreRefused(body: String, field: String) throws {
        let response = harness.post("/api/holds", body)
        #expect(response.status == 422)
        #expect(harness.error(response).field == field)
        #expect(ledger.holdCalls.isEmpty)
    }

    @Test("a user may place a hold only on their own account: 403 for another's")
    func holdOnAnothersAccountIsForbidden() throws {
        let alice = ledger.authorization(for: .user(id: 1))
        #expect(place(1, 2, as: alice).status == 201)
        let response = place(3, 2, as: alice)
        #expect(response.status == 403)
        #expect(harness.error(response).code == "forbidden")
    }

    @Test("a short payer is 409 insufficient_funds quoting the available balance")
    func shortPayerIsRefused() throws {
        ledger.nextHoldResult = .refused(.insufficientFunds(balance: Money(minorUnits: 1000)))
        let error = harness.error(place(amount: #""10.01""#))
        #expect(error.code == "insufficient_funds" && error.message.contains("10.00"))
    }

    @Test("a capture without a body, with {} and with an amount reaches the ledger as all or that much")
    func captureBodiesAreOptional() throws {
        for _ in 0..<3 { #expect(place().status == 201) }
        #expect(harness.post("/api/holds/1/capture").status == 200)
        #expect(harness.post("/api/holds/2/capture", " {} ").status == 200)
        #expect(harness.post("/api/holds/3/capture", #"{"amount": 1.25}"#).status == 200)
        #expect(ledger.captureCalls.map { $0.amount?.minorUnits } == [nil, nil, 125])
    }

    @Test("a capture answers the captured hold with its transfer, which names the hold")
    func captureAnswersHoldAndTransfer() throws {
        #expect(place(extra: #","memo":"m""#).status == 201)
        let response = harness.post("/api/holds/1/capture", #"{"amount":"1.50"}"#)
        #expect(response.status == 200)
        #expect(try harness.names(response) == Self.holdMembers + ["transfer"])
        let hold = try harness.members(response)
        #expect(hold["status"] == .string("captured") && hold["captured_amount"] == .string("1.50"))
        #expect(hold["captured_amount_minor"] == .integer(150) && hold["transfer_id"] == .integer(100))
        #expect(hold["settled_at"] == .string("2023-11-14T22:13:21.000Z"))
        guard case .object(let transfer)? = hold["transfer"] else {
            Issue.record("no transfer")
            return
        }
        let members = Dictionary(transfer, uniquingKeysWith: { first, _ in first })
        #expect(members["kind"] == .string("transfer") && members["hold_id"] == .integer(1))
        #expect(members["reversal_of"] == .null && members["amount_minor"] == .integer(150))
    }

    @Test("bad capture and void bodies are 422 naming the field, malformed ones 400")
    func badCaptureBodiesAreRefused() throws {
        #expect(place().status == 201)
        for (body, field) in [
            (#"{"amount":"0"}"#, "amount"), (#"{"amount":"-1.00"}"#, "amount"), (#"{"amount":"ten"}"#, "amount"),
            (#"{"amount":"1.00","colour":"red"}"#, "colour"),
        ] {
            let response = harness.post("/api/holds/1/capture", body)
            #expect(response.status == 422 && (harness.error(response).field) == field, "\(body)")
        }
        #expect(harness.error(harness.post("/api/holds/1/void", #"{"amount":"1"}"#)).field == "amount")
        #expect(harness.post("/api/holds/1/void", "[]").status == 400)
        #expect(ledger.captureCalls.isEmpty && ledger.voidCalls.isEmpty)
    }

    @Test("capturing more than held is 422 capture_exceeds_hold on amount")
    func captureOfMoreThanHeldIsRefused() throws {
        #expect(place(amount: #""5.00""#).status == 201)
        let error = harness.error(harness.post("/api/holds/1/capture", #"{"amount":"5.01"}"#))
        #expect(error.code == "capture_exceeds_hold" && error.field == "amount" && error.message.contains("5.00"))
    }

    @Test("a settled hold is 409 hold_not_pending, naming the hold and its status")
    func settledHoldsCannotChange() throws {
        #expect(place().status == 201)
        #expect(harness.post("/api/holds/1/void").status == 200)
        let response = harness.post("/api/holds/1/capture")
        #expect(response.status == 409)
        let error = harness.error(response)
        #expect(error.code == "hold_not_pending" && error.message.hasPrefix("hold 1 is voided"))
        #expect(harness.error(harness.post("/api/holds/1/void")).message.hasPrefix("hold 1 is voided"))
    }

    @Test("an expired hold is 409 hold_expired to a capture and a void")
    func expiredHoldsAreRefused() throws {
        ledger.holdsByID[4] = Hold(
            id: 4, payerUserID: 1, payeeUserID: 2, amount: Money(minorUnits: 100), memo: nil, status: .expired,
            createdAt: 0, expiresAt: 1_000_000, settledAt: 1_000_000)
        for path in ["/api/holds/4/capture", "/api/holds/4/void"] {
            let response = harness.post(path)
            #expect(response.status == 409 && (harness.error(response).code) == "hold_expired", "\(path)")
        }
        #expect(try harness.members(harness.get("/api/holds/4"))["settled_at"] == .string("1970-01-01T00:00:01.000Z"))
    }

    @Test("a hold the ledger found already expired is 409 hold_expired, as one that expired just now")
    func expiredBeforeIsHoldExpired() {
        ledger.nextCaptureResult = .refused(.holdNotPending(status: .expired))
        let error = harness.error(harness.post("/api/holds/1/capture"))
        #expect(error.code == "hold_expired")
        ledger.nextHoldResult = .refused(.holdNotPending(status: .expired))
        #expect(harness.error(harness.post("/api/holds/1/void")).code == "hold_expired")
        ledger.outcomes["late"] = .refused(.holdNotPending(status: .expired))
        #expect(harness.get("/api/requests/late").body.contains(#""code":"hold_expired""#))
    }

    @Test("the payer may not capture (403); the payee captures; a stranger gets 404 for every hold route")
    func rolesOfACapture() throws {
        let payer = ledger.authorization(for: .user(id: 1))
        let payee = ledger.authorization(for: .user(id: 2))
        let stranger = ledger.authorization(for: .user(id: 3))
        #expect(place(as: payer).status == 201)
        #expect(harness.post("/api/holds/1/capture", as: payer).status == 403)
        for response in [
            harness.get("/api/holds/1", as: stranger), harness.post("/api/holds/1/capture", as: stranger),
            harness.post("/api/holds/1/void", as: stranger),
        ] {
            #expect(response.status == 404 && (harness.error(response).code) == "not_found")
        }
        #expect(harness.get("/api/holds/1", as: payer).status == 200)
        #expect(harness.get("/api/holds/1", as: payee).status == 200)
        // The payee sees their own balance after the capture, not the payer's.
        let transfer = try harness.members(harness.post("/api/holds/1/capture", as: payee))["transfer"]
        guard case .object(let members)? = transfer else { throw APIError.internalError }
        let shown = Dictionary(members, uniquingKeysWith: { first, _ in first })
        #expect(shown["from_balance"] == .null && shown["to_balance"] == .string("4.00"))
    }

    @Test("a payee's capture refused for the payer's short balance does not say the payer's balance")
    func payeeLearnsNothingOfThePayersBalance() throws {
        // The store words the payee's refusal without the payer's figures; the service role's carries them.
        let payee = ledger.authorization(for: .user(id: 2))
        ledger.nextCaptureResult = .refused(.payerShort(ofDailyLimit: false))
        let error = harness.error(harness.post("/api/holds/1/capture", as: payee))
        #expect(error.code == "insufficient_funds" && error.message.contains("payer's available balance is short"))
        ledger.nextCaptureResult = .refused(.insufficientFunds(balance: Money(minorUnits: 1234)))
        #expect(harness.error(harness.post("/api/holds/1/capture")).message.contains("12.34"))
    }

    @Test("a payee's capture refused for the payer's daily limit does not say what is left of it")
    func payeeLearnsNothingOfThePayersDailyLimit() {
        let payee = ledger.authorization(for: .user(id: 2))
        ledger.nextCaptureResult = .refused(.payerShort(ofDailyLimit: true))
        let error = harness.error(harness.post("/api/holds/1/capture", as: payee))
        #expect(
            error.code == "limit_exceeded" && error.field == "amount" && error.message.contains("daily debit limit"))
        ledger.nextCaptureResult = .refused(.limitExceeded(remaining: Money(minorUnits: 4321)))
        #expect(harness.error(harness.post("/api/holds/1/capture")).message.contains("43.21"))
    }

    @Test("a user's holds are listed newest first, filtered by status, paged; a bad status is 422")
    func listingHolds() throws {
        for id in Int64(1)...3 { ledger.users[id] = User(id: id, name: "u\(id)", balance: .zero, createdAt: 0) }
        for _ in 0..<3 { #expect(place().status == 201) }
        #expect(place(2, 3).status == 201)
        #expect(harness.post("/api/holds/2/void").status == 200)
        let listed = harness.get("/api/users/1/holds", query: "limit=2")
        let page = try harness.members(listed)
        guard case .array(let items)? = page["items"], case .string? = page["next_cursor"] else {
            Issue.record("not a page: \(listed.body)")
            return
        }
        #expect(items.count == 2)
        #expect(ledger.holdListCalls.last?.limit == 3 && ledger.holdListCalls.last?.status == nil)
        let voided = try harness.members(harness.get("/api/users/2/holds", query: "status=voided"))
        guard case .array(let only)? = voided["items"] else { throw APIError.internalError }
        #expect(only.count == 1 && voided["next_cursor"] == .null)
        let bad = harness.get("/api/users/1/holds", query: "status=settled")
        #expect(bad.status == 422 && (harness.error(bad).field) == "status")
        #expect(harness.get("/api/users/99/holds").status == 404)
    }

    @Test("a user lists their own holds only: another's are 403")
    func listingAnothersHoldsIsForbidden() {
        let alice = ledger.authorization(for: .user(id: 1))
        #expect(harness.get("/api/users/1/holds", as: alice).status == 200)
        #expect(harness.get("/api/users/2/holds", as: alice).status == 403)
        #expect(harness.get("/api/users/2/holds", as: "Bearer nonsense").status == 401)
    }

    @Test("a hold's key carries a fingerprint of what it asks: a repeat matches, a change does not")
    func holdFingerprints() throws {
        #expect(place(key: "k1").status == 201)
        #expect(place(key: "k1").status == 201)
        #expect(place(amount: #""4.01""#, key: "k1").status == 201)
        #expect(harness.post("/api/holds/1/capture", key: "c").status == 200)
        let prints = ledger.holdCalls.map { $0.key?.fingerprint }
        #expect(prints[0] == prints[1] && prints[0] != prints[2])
        #expect(ledger.captureCalls.first?.key?.key == "c")
        #expect(harness.post("/api/holds/1/void", key: "").status == 422)
    }

    @Test("a hold's key answers GET /api/requests/{key} with the hold's id")
    func requestStatusNamesTheHold() throws {
        #expect(place(key: "mine").status == 201)
        let outcome = try harness.members(harness.get("/api/requests/mine"))
        #expect(outcome["status"] == .string("applied") && outcome["hold_id"] == .integer(1))
    }
}
