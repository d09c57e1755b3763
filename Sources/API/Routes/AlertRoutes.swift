import Ledger
import LedgerStore

extension TallyAPI {
    /// POST /api/event: the activity-event contract of the services Tally replaces. The service role posts a
    /// user's deposit or withdrawal and learns which alerts it raised; the money moves in the same transaction.
    func postEvent(_ request: HTTPRequest) throws -> HTTPResponse {
        let ((kind, amount, userID, t), token) = try parsingAuthenticated(request, requiringService: true) {
            var body = try RequestBody(request.body)
            let kind: CashEvent.Kind
            switch try body.string("type") {
            case "deposit": kind = .deposit
            case "withdraw": kind = .withdrawal
            case nil: throw APIError.validation("type", "type is required: \"deposit\" or \"withdraw\".")
            case let other?:
                throw APIError.validation(
                    "type", "type must be \"deposit\" or \"withdraw\", not \"\(other.prefix(40))\".")
            }
            let amount = try body.requiredAmount("amount")
            let userID = try body.id("user_id")
            guard let t = try body.seconds("t") else { throw APIError.validation("t", "t is required.") }
            try body.finish()
            return (kind, amount, userID, t)
        }
        let idempotency = try idempotencyContext(
            request,
            fingerprint: [
                "event", kind == .deposit ? "deposit" : "withdraw", String(userID), String(amount.minorUnits),
                String(t),
            ])
        let receipt = try ledger.recordCashEvent(
            kind, tokenHash: token.hash, actingUserID: nil, userID: userID, amount: amount, memo: nil, t: t,
            rules: alertRules, idempotency: idempotency, requestID: request.requestID)
        return try respond(receipt, status: 200) { cash in
            .object([
                ("alert", .bool(!cash.alertCodes.isEmpty)),
                ("alert_codes", .array(cash.alertCodes.map(JSONValue.integer))),
                ("user_id", .integer(userID)),
            ])
        }
    }

    /// The alerts, newest first: everyone's for the service role, or one user's for that user.
    func listAlerts(_ request: HTTPRequest, userID: Int64?) throws -> HTTPResponse {
        let caller = try authenticate(request).caller
        if let userID {
            try requireAccess(caller, to: userID)
        } else {
            try requireService(caller)
        }
        let paging = try Paging(query: QueryString(request.query))
        if let userID, try ledger.user(id: userID) == nil { throw APIError.userNotFound(userID) }
        let alerts = try ledger.alerts(
            ofUser: userID, beforeID: paging.continuation ?? Int64.max, limit: paging.limit + 1)
        return HTTPResponse(status: 200, json: paging.page(alerts, id: \.id, render: Representation.alert))
    }
}
