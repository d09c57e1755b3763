import Credentials
import Ledger
import LedgerStore

extension TallyAPI {
    /// The service role creates a user with an initial balance, and log-in credentials when given.
    func createUser(_ request: HTTPRequest) throws -> HTTPResponse {
        try requireService(authenticate(request).caller)
        var body = try RequestBody(request.body)
        guard let name = try body.string("name") else { throw APIError.validation("name", "name is required.") }
        let initialBalance = try body.amount("initial_balance", allowingZero: true) ?? .zero
        let username = try body.string("username")
        let password = try body.string("password")
        try body.finish()
        try checkName(name)
        guard (username == nil) == (password == nil) else {
            throw APIError.validation(
                username == nil ? "username" : "password", "username and password go together: give both or neither.")
        }
        let idempotency = try idempotencyContext(
            request, fingerprint: ["create_user", name, String(initialBalance.minorUnits), username ?? "-"])
        let credentials = try username.map { try newCredentials(username: $0, password: password ?? "") }
        let receipt = try ledger.createUser(
            name: name, initialBalance: initialBalance, credentials: credentials, idempotency: idempotency,
            requestID: request.requestID)
        // A password never enters a fingerprint; a repeat is the same request only if its password is the
        // one the first request set.
        if receipt.isReplay, let username, let password,
            let stored = try ledger.credentials(username: username),
            !passwordHasher.verify(password, against: stored.passwordHash)
        {
            return try respond(
                Receipt<User>(result: .keyReused, isReplay: false, requestID: request.requestID), status: 201,
                render: Representation.user)
        }
        return try respond(receipt, status: 201, render: Representation.user)
    }

    func checkName(_ name: String) throws {
        do {
            try TextRules.checkName(name)
        } catch {
            throw APIError.validation("name", "name \(error.explanation).")
        }
    }

    func getUser(_ request: HTTPRequest, id: Int64) throws -> HTTPResponse {
        let tokenHash = try presentedToken(request).hash
        let view = try ledger.userView(id, tokenHash: tokenHash, history: nil)
        noteCaller(view.caller, of: tokenHash)
        try requireAccess(try authenticated(view.caller), to: id)
        guard let user = view.user else { throw APIError.userNotFound(id) }
        return HTTPResponse(status: 200, json: Representation.user(user))
    }

    /// All users by id, or those whose name contains the query's `name` (the dashboard's search).
    func listUsers(_ request: HTTPRequest) throws -> HTTPResponse {
        try requireService(authenticate(request).caller)
        let query = QueryString(request.query)
        let paging = try Paging(query: query)
        let name = query["name"].flatMap { $0.isEmpty ? nil : $0 }
        if let name {
            guard name.count <= TextRules.maximumNameLength, !name.utf8.contains(0) else {
                throw APIError.validation(
                    "name", "name must be at most \(TextRules.maximumNameLength) characters, without NUL.")
            }
        }
        let users = try ledger.users(afterID: paging.continuation ?? 0, nameContaining: name, limit: paging.limit + 1)
        return HTTPResponse(status: 200, json: paging.page(users, id: \.id, render: Representation.user))
    }

    /// The caller, the user and the page are read in one round trip; what may be shown is decided after, in the
    /// order of before: 401, 403, a bad page (422), 404.
    func userTransactions(_ request: HTTPRequest, userID: Int64) throws -> HTTPResponse {
        let token = try presentedToken(request)
        let paging = Result { try Paging(query: QueryString(request.query)) }
        let page = (try? paging.get()).map { HistoryPage(beforeID: $0.continuation ?? Int64.max, limit: $0.limit + 1) }
        let view = try ledger.userView(userID, tokenHash: token.hash, history: page)
        noteCaller(view.caller, of: token.hash)
        try requireAccess(try authenticated(view.caller), to: userID)
        let validPaging = try paging.get()
        guard view.user != nil else { throw APIError.userNotFound(userID) }
        return HTTPResponse(
            status: 200, json: validPaging.page(view.movements, id: \.id) { Representation.entry($0, for: userID) })
    }
}

extension APIError {
    static func userNotFound(_ id: Int64) -> APIError {
        .notFound("There is no user with id \(id).")
    }
}
