import Ledger
import LedgerStore

extension TallyAPI {
    /// GET /api/holds/{id}: to the service role, the payer or the payee; to anyone else 404, like a hold that
    /// does not exist (a 403 would tell which ids are holds).
    func getHold(_ request: HTTPRequest, id: Int64) throws -> HTTPResponse {
        let caller = try authenticate(request).caller
        guard let hold = try ledger.hold(id: id), caller.mayActOn(hold.payerUserID) || caller.mayActOn(hold.payeeUserID)
        else {
            throw APIError.notFound("There is no hold with id \(id).")
        }
        return HTTPResponse(status: 200, json: Representation.hold(hold))
    }

    /// GET /api/users/{id}/holds: the holds the user pays or is paid by, newest first, paged; only those with the
    /// query's `status` (as of now) when it is given. To the user and the service role (others 403).
    func userHolds(_ request: HTTPRequest, userID: Int64) throws -> HTTPResponse {
        let caller = try authenticate(request).caller
        try requireAccess(caller, to: userID)
        let query = QueryString(request.query)
        let paging = try Paging(query: query)
        var status: Hold.Status?
        if let text = query["status"] {
            guard let known = Hold.Status(rawValue: text) else {
                let names = Hold.Status.allCases.map(\.rawValue).joined(separator: ", ")
                throw APIError.validation("status", "status must be one of \(names), not \"\(text.prefix(40))\".")
            }
            status = known
        }
        // A user's own account exists (their token stands for it); the service role may ask for any id.
        if caller.isService, try ledger.user(id: userID) == nil { throw APIError.userNotFound(userID) }
        let holds = try ledger.holds(
            ofUser: userID, status: status, beforeID: paging.continuation ?? Int64.max, limit: paging.limit + 1)
        return HTTPResponse(status: 200, json: paging.page(holds, id: \.id, render: Representation.hold))
    }
}
