import Ledger
import LedgerStore

extension TallyAPI {
    /// A transfer from the caller's own account (any account, for the service role) to anyone's.
    func createTransfer(_ request: HTTPRequest) throws -> HTTPResponse {
        let ((from, to, amount, memo), token) = try parsingAuthenticated(request) {
            var body = try RequestBody(request.body)
            let from = try body.id("from_user_id")
            let to = try body.id("to_user_id")
            let amount = try body.requiredAmount("amount")
            let memo = try body.string("memo")
            try body.finish()
            try checkMemo(memo)
            guard from != to else {
                throw APIError.validation(
                    "to_user_id", "to_user_id must differ from from_user_id: a transfer needs two users.")
            }
            return (from, to, amount, memo)
        }
        let idempotency = try idempotencyContext(
            request, fingerprint: ["transfer", String(from), String(to), String(amount.minorUnits), memoPart(memo)])
        let receipt = try ledger.move(
            .transfer, tokenHash: token.hash, actingUserID: from, debitUserID: from, creditUserID: to,
            amount: amount, memo: memo, idempotency: idempotency, requestID: request.requestID)
        return try respond(receipt, status: 201, render: Representation.transfer)
    }

    /// A deposit from the outside world, or a withdrawal to it, on the caller's own account. It counts for
    /// the alert rules like an event, at its optional `t` (default: now).
    func moveCash(_ request: HTTPRequest, kind: CashEvent.Kind, userID: Int64) throws -> HTTPResponse {
        let ((amount, memo, t), token) = try parsingAuthenticated(request) {
            var body = try RequestBody(request.body)
            let amount = try body.requiredAmount("amount")
            let memo = try body.string("memo")
            let t = try body.seconds("t")
            try body.finish()
            try checkMemo(memo)
            return (amount, memo, t)
        }
        let idempotency = try idempotencyContext(
            request,
            fingerprint: [
                kind.movementKind.rawValue, String(userID), String(amount.minorUnits), memoPart(memo),
                t.map(String.init) ?? "-",
            ])
        let receipt = try ledger.recordCashEvent(
            kind, tokenHash: token.hash, actingUserID: userID, userID: userID,
            amount: amount, memo: memo, t: t, rules: alertRules, idempotency: idempotency, requestID: request.requestID)
        return try respond(receipt, status: 201, render: Representation.cashMovement)
    }

    /// A transfer, to the service role or to either of its two parties.
    func getTransfer(_ request: HTTPRequest, id: Int64) throws -> HTTPResponse {
        let caller = try authenticate(request).caller
        guard let movement = try ledger.movement(id: id), movement.kind == .transfer else {
            throw APIError.notFound("There is no transfer with id \(id).")
        }
        guard caller.mayActOn(movement.debitUserID) || caller.mayActOn(movement.creditUserID) else {
            throw APIError.forbidden("You may read only transfers you paid or received.")
        }
        return HTTPResponse(status: 200, json: Representation.transfer(movement))
    }

    func listTransactions(_ request: HTTPRequest) throws -> HTTPResponse {
        try requireService(authenticate(request).caller)
        let paging = try Paging(query: QueryString(request.query))
        let movements = try ledger.movements(beforeID: paging.continuation ?? Int64.max, limit: paging.limit + 1)
        return HTTPResponse(status: 200, json: paging.page(movements, id: \.id, render: Representation.feedEntry))
    }

    func checkMemo(_ memo: String?) throws {
        guard let memo else { return }
        do {
            try TextRules.checkMemo(memo)
        } catch {
            throw APIError.validation("memo", "memo \(error.explanation).")
        }
    }

    /// Tells an absent memo from an empty one in a fingerprint.
    func memoPart(_ memo: String?) -> String {
        memo.map { "m" + $0 } ?? "-"
    }
}
