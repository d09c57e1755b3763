import Ledger
import LedgerStore
import Testing

@testable import API

@Suite("Reversals: POST /api/transfers/{id}/reversals and what GET /api/transfers/{id} says of them")
struct ReversalRoutesTests {
    let harness = RouteHarness()
    var ledger: StubLedger { harness.ledger }

    /// Transfer 7: 10.00 from user 1 to user 2; deposit 8 to user 1.
    init() {
        ledger.movementsByID[7] = Movement(
            id: 7, kind: .transfer, debitUserID: 1, creditUserID: 2, amount: Money(minorUnits: 1000),
            debitBalanceAfter: .zero, creditBalanceAfter: Money(minorUnits: 1000), memo: "rent",
            createdAt: 1_700_000_000_000_000)
        ledger.movementsByID[8] = Movement(
            id: 8, kind: .deposit, debitUserID: 0, creditUserID: 1, amount: Money(minorUnits: 500),
            debitBalanceAfter: nil, creditBalanceAfter: Money(minorUnits: 500), memo: nil, createdAt: 0)
    }

    func transfer(_ response: HTTPResponse) throws -> [String: JSONValue] {
        try harness.members(response)
    }

    @Test("a reversal without a body reverses what is left: 201, kind reversal, from the payee to the payer")
    func reversalAnswersTheMovement() throws {
        let response = harness.post("/api/transfers/7/reversals")
        #expect(response.status == 201)
        #expect(ledger.reversalCalls.first?.amount == nil && ledger.reversalCalls.first?.memo == nil)
        let reversal = try transfer(response)
        #expect(reversal["kind"] == .string("reversal") && reversal["reversal_of"] == .integer(7))
        #expect(reversal["from_user_id"] == .integer(2) && reversal["to_user_id"] == .integer(1))
        #expect(reversal["amount"] == .string("10.00") && reversal["hold_id"] == .null)
    }

    @Test("an amount and a memo reach the ledger; bad ones are 422 naming the field")
    func reversalBodies() throws {
        #expect(harness.post("/api/transfers/7/reversals", #"{"amount":"2.50","memo":"refund"}"#).status == 201)
        let call = try #require(ledger.reversalCalls.first)
        #expect(call.amount?.minorUnits == 250 && call.memo == "refund")
        for (body, field) in [
            (#"{"amount":"0"}"#, "amount"), (#"{"amount":"1.001"}"#, "amount"), (#"{"memo":7}"#, "memo"),
            (#"{"reason":"x"}"#, "reason"),
        ] {
            let response = harness.post("/api/transfers/7/reversals", body)
            #expect(response.status == 422 && harness.error(response).field == field, "\(body)")
        }
        #expect(ledger.reversalCalls.count == 1)
    }

    @Test("reversals past the transfer's amount are 409 reversal_exceeds_transfer saying what is left")
    func reversalsAddUpToTheTransferAtMost() throws {
        #expect(harness.post("/api/transfers/7/reversals", #"{"amount":"6.66"}"#).status == 201)
        let over = harness.error(harness.post("/api/transfers/7/reversals", #"{"amount":"3.35"}"#))
        #expect(over.code == "reversal_exceeds_transfer" && over.message.contains("3.34"))
        #expect(harness.post("/api/transfers/7/reversals", #"{"amount":"3.34"}"#).status == 201)
        let none = harness.error(harness.post("/api/transfers/7/reversals"))
        #expect(none.code == "reversal_exceeds_transfer" && none.message.contains("0.00"))
    }

    @Test("a reversal of a reversal or of a deposit is 409 not_reversible naming the movement")
    func onlyTransfersAreReversed() throws {
        let reversal = try transfer(harness.post("/api/transfers/7/reversals", #"{"amount":"1.00"}"#))
        guard case .number(let id)? = reversal["id"] else { throw APIError.internalError }
        let again = harness.post("/api/transfers/\(id)/reversals")
        #expect(again.status == 409)
        let error = harness.error(again)
        #expect(error.code == "not_reversible" && error.message.hasPrefix("movement \(id) is a reversal"))
        #expect(harness.error(harness.post("/api/transfers/8/reversals")).message.hasPrefix("movement 8 is a deposit"))
    }

    @Test("the payee may reverse, the payer gets 403, anyone else 404")
    func rolesOfAReversal() throws {
        let payer = ledger.authorization(for: .user(id: 1))
        let payee = ledger.authorization(for: .user(id: 2))
        let stranger = ledger.authorization(for: .user(id: 3))
        #expect(harness.post("/api/transfers/7/reversals", as: payer).status == 403)
        #expect(harness.post("/api/transfers/7/reversals", as: stranger).status == 404)
        let response = harness.post("/api/transfers/7/reversals", #"{"amount":"1.00"}"#, as: payee)
        #expect(response.status == 201)
        // The payee sees their own balance after it, not the payer's.
        let shown = try transfer(response)
        #expect(shown["from_balance"] == .string("0.00") && shown["to_balance"] == .null)
    }

    @Test("GET /api/transfers/{id} lists its reversals oldest first and what is left")
    func transferShowsItsReversals() throws {
        let empty = try transfer(harness.get("/api/transfers/7"))
        #expect(empty["reversals"] == .array([]) && empty["unreversed_amount"] == .string("10.00"))
        #expect(empty["unreversed_amount_minor"] == .integer(1000))
        #expect(harness.post("/api/transfers/7/reversals", #"{"amount":"1.00","memo":"a"}"#).status == 201)
        #expect(harness.post("/api/transfers/7/reversals", #"{"amount":"2.00"}"#).status == 201)
        let shown = try transfer(harness.get("/api/transfers/7"))
        #expect(shown["unreversed_amount"] == .string("7.00") && shown["unreversed_amount_minor"] == .integer(700))
        guard case .array(let reversals)? = shown["reversals"], reversals.count == 2,
            case .object(let first) = reversals[0]
        else {
            Issue.record("reversals: \(String(describing: shown["reversals"]))")
            return
        }
        #expect(first.map(\.0) == ["id", "amount", "amount_minor", "memo", "created_at"])
        #expect(first.first { $0.0 == "memo" }?.1 == .string("a"))
    }

    @Test("GET /api/transfers/{id} serves a reversal, with no reversals and nothing left; a deposit is 404")
    func aReversalIsServedAsATransfer() throws {
        let reversal = try transfer(harness.post("/api/transfers/7/reversals", #"{"amount":"1.00"}"#))
        guard case .number(let id)? = reversal["id"] else { throw APIError.internalError }
        let shown = try transfer(harness.get("/api/transfers/\(id)"))
        #expect(shown["kind"] == .string("reversal") && shown["reversal_of"] == .integer(7))
        #expect(shown["reversals"] == .array([]) && shown["unreversed_amount"] == .null)
        #expect(shown["unreversed_amount_minor"] == .null)
        #expect(harness.get("/api/transfers/8").status == 404)
    }

    @Test("a reversal's key fingerprints the transfer, the amount and the memo")
    func reversalFingerprints() {
        for body in [#"{"amount":"1.00"}"#, #"{"amount":1}"#, #"{"amount":"1.00","memo":""}"#, ""] {
            _ = harness.post("/api/transfers/7/reversals", body, key: "r")
        }
        let prints = ledger.reversalCalls.map { $0.key?.fingerprint ?? "" }
        #expect(prints.count == 4 && prints[0] == prints[1] && Set(prints).count == 3)
    }

    @Test("history rows name a reversal's side (reversal_in, reversal_out) and its links; the feed its links")
    func historyShowsReversals() {
        let reversal = Movement(
            id: 9, kind: .reversal, debitUserID: 2, creditUserID: 1, amount: Money(minorUnits: 100),
            debitBalanceAfter: Money(minorUnits: 900), creditBalanceAfter: Money(minorUnits: 100), memo: nil,
            createdAt: 0, reversalOf: 7)
        let payer = Representation.entry(reversal, for: 1).serialized()
        let payee = Representation.entry(reversal, for: 2).serialized()
        #expect(payer.contains(#""kind":"reversal_in""#) && payee.contains(#""kind":"reversal_out""#))
        #expect(payer.hasSuffix(#""hold_id":null,"reversal_of":7}"#))
        #expect(Representation.feedEntry(reversal).serialized().hasSuffix(#""hold_id":null,"reversal_of":7}"#))
        var linked = reversal
        linked.reversalOf = nil
        linked.holdID = 3
        #expect(Representation.cashMovement(linked).serialized().hasSuffix(#""hold_id":3,"reversal_of":null}"#))
    }
}
