import Credentials
import Ledger
import LedgerStore

extension TallyAPI {
    /// POST /api/transfers (from the caller's own account, any account for the service role, to anyone's),
    /// POST /api/users/{id}/deposits and .../withdrawals (the caller's own account; they count for the alert
    /// rules like an event, at their optional `t`), POST /api/event (the service role's), and the holds' and
    /// reversals' POSTs (whose parties the ledger checks in the same transaction).
    func moveMoney(_ endpoint: Endpoint, _ request: HTTPRequest) throws -> HTTPResponse {
        let (parsed, token) = try parsingAuthenticated(request, requiringService: endpoint == .event) {
            try MovementCommand.parse(endpoint, body: request.body)
        }
        guard let command = parsed else { throw APIError.notFound("There is no API endpoint at \(request.path).") }
        let idempotency = try idempotencyContext(request, fingerprint: command.fingerprint)
        let (response, settlement) = try perform(
            command, tokenHash: token.hash, idempotency: idempotency, requestID: request.requestID)
        noteMovement(settlement, tokenHash: token.hash)
        return response
    }

    /// A transfer or a reversal, with the reversals made of it and what is left to reverse, to the service role or
    /// to either of its two parties (each seeing only their own balance). Another's transfer is 404 like a missing
    /// id or a deposit's: a 403 would tell which ids are transfers.
    func getTransfer(_ request: HTTPRequest, id: Int64) throws -> HTTPResponse {
        let caller = try authenticate(request).caller
        guard let reversible = try ledger.reversibleTransfer(id: id),
            caller.mayActOn(reversible.movement.debitUserID) || caller.mayActOn(reversible.movement.creditUserID)
        else {
            throw APIError.notFound("There is no transfer with id \(id).")
        }
        return HTTPResponse(status: 200, json: Representation.reversibleTransfer(reversible, shownTo: caller))
    }

    func listTransactions(_ request: HTTPRequest) throws -> HTTPResponse {
        try requireService(authenticate(request).caller)
        let paging = try Paging(query: QueryString(request.query))
        let movements = try ledger.movements(beforeID: paging.continuation ?? Int64.max, limit: paging.limit + 1)
        return HTTPResponse(status: 200, json: paging.page(movements, id: \.id, render: Representation.feedEntry))
    }
}
