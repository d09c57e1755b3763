import Ledger
import LedgerStore

extension TallyAPI {
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
