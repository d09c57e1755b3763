import Credentials
import Ledger
import LedgerStore

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
        return Authenticated(caller: try authenticated(lookUpCaller(ofTokenHash: token.hash)), token: token)
    }

    /// The database's word on whom `tokenHash` stands for (nil: nobody live), remembered by this worker and,
    /// with a spool, noted in its known tokens.
    private func lookUpCaller(ofTokenHash tokenHash: [UInt8]) throws -> Caller? {
        let caller = try caller(of: tokenHash)
        if let caller { knownCallers.remember(caller, forTokenHash: tokenHash) }
        return caller
    }

    /// Whom an answer about a movement the token `tokenHash` was just authorised for is shown to: this worker's
    /// memory of the token, else the database's word. When neither can say (the token was revoked since, or the
    /// database went away after the commit), the acting user, whom a user's token must stand for: that shows no
    /// more than any caller allowed to make the movement may see, and never turns an applied movement into an error.
    func viewer(ofTokenHash tokenHash: [UInt8], acting actingUserID: Int64) -> Caller {
        if let known = knownCallers[tokenHash] { return known }
        return (try? lookUpCaller(ofTokenHash: tokenHash)).flatMap { $0 } ?? .user(id: actingUserID)
    }

    /// The live caller of `tokenHash` (nil: none), for a decision taken before the ledger is asked. A token this
    /// worker knows as the service role's is taken at its word (the ledger still checks that it is live, in the
    /// movement's transaction); any other is asked of the database, so that a dead token is still a 401.
    func liveCaller(ofTokenHash tokenHash: [UInt8]) throws -> Caller? {
        if knownCallers[tokenHash] == .service { return .service }
        return try lookUpCaller(ofTokenHash: tokenHash)
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
