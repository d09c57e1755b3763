import Credentials
import Ledger

/// The caller behind a request's bearer token.
struct Authenticated {
    let caller: Caller
    let token: BearerToken
}

extension TallyAPI {
    /// The request's token in a valid form, or 401 without asking the database.
    func presentedToken(_ request: HTTPRequest) throws(APIError) -> BearerToken {
        guard let token = BearerToken(authorizationHeader: request.authorization) else {
            throw .unauthorized()
        }
        return token
    }

    /// The caller of a request whose token is live, or 401.
    func authenticate(_ request: HTTPRequest) throws -> Authenticated {
        let token = try presentedToken(request)
        return Authenticated(caller: try authenticated(caller(of: token.hash)), token: token)
    }

    /// The caller a presented token was found to stand for; 401 when it stands for nobody.
    func authenticated(_ caller: Caller?) throws(APIError) -> Caller {
        guard let caller else {
            throw .unauthorized("The bearer token is unknown, expired or revoked: log in again.")
        }
        return caller
    }

    /// 403 unless the caller may act on `userID`'s account.
    func requireAccess(_ caller: Caller, to userID: Int64) throws(APIError) {
        guard caller.mayActOn(userID) else {
            throw .forbidden("You may act only on your own account (user \(userID) is someone else's).")
        }
    }

    /// Why a caller without the service role is refused an endpoint that needs it.
    static let serviceOnly = "Only the service role may do this."

    func requireService(_ caller: Caller) throws(APIError) {
        guard caller.isService else { throw .forbidden(Self.serviceOnly) }
    }

    /// Runs `parse` on a request whose money movement is authorised inside the ledger's transaction.
    /// When the request is malformed, the token is checked first, so a caller without a live token learns
    /// nothing but 401, and one without the role an endpoint needs nothing but 403.
    func parsingAuthenticated<Value>(
        _ request: HTTPRequest, requiringService: Bool = false, _ parse: () throws -> Value
    ) throws -> (Value, BearerToken) {
        let token = try presentedToken(request)
        do {
            return (try parse(), token)
        } catch let error as APIError {
            let caller = try authenticate(request).caller
            if requiringService { try requireService(caller) }
            throw error
        }
    }
}
