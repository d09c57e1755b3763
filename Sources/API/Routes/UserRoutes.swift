import Credentials
import Ledger
import LedgerStore

extension TallyAPI {
    /// The service role creates a user with an initial balance, log-in credentials when given, and limits when
    /// given (a credit limit, a daily debit limit, the time zone the day is counted in).
    func createUser(_ request: HTTPRequest) throws -> HTTPResponse {
        try requireService(authenticate(request).caller)
        var body = try RequestBody(request.body)
        guard let name = try body.string("name") else { throw APIError.validation("name", "name is required.") }
        let initialBalance = try body.amount("initial_balance", allowingZero: true) ?? .zero
        let username = try body.string("username")
        let password = try body.string("password")
        let change = try Self.limitsChange(&body, nullMeansAbsent: true)
        try body.finish()
        try checkName(name)
        guard (username == nil) == (password == nil) else {
            throw APIError.validation(
                username == nil ? "username" : "password", "username and password go together: give both or neither.")
        }
        var limits = AccountLimits()
        if let credit = change.creditLimit { limits.creditLimit = credit }
        if let daily = change.dailyDebitLimit { limits.dailyDebitLimit = daily }
        if let zone = change.timeZone { limits.timeZone = zone }
        var fingerprint = ["create_user", name, String(initialBalance.minorUnits), username ?? "-"]
        // Limits enter the fingerprint only when given: a key used before limits existed still matches its request.
        if limits != AccountLimits() {
            fingerprint += [
                String(limits.creditLimit.minorUnits), MovementCommand.amountPart(limits.dailyDebitLimit),
                limits.timeZone,
            ]
        }
        let idempotency = try idempotencyContext(request, fingerprint: fingerprint)
        let credentials = try username.map { try newCredentials(username: $0, password: password ?? "") }
        let receipt = try ledger.createUser(
            name: name, initialBalance: initialBalance, credentials: credentials, limits: limits,
            idempotency: idempotency, requestID: request.requestID)
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

    /// PATCH /api/users/{id}: the service role changes a user's credit limit, daily debit limit (null removes it)
    /// or time zone; at least one. No Idempotency-Key: setting a limit twice leaves it as once.
    func changeLimits(_ request: HTTPRequest, userID: Int64) throws -> HTTPResponse {
        try requireService(authenticate(request).caller)
        var body = try RequestBody(request.body)
        let change = try Self.limitsChange(&body, nullMeansAbsent: false)
        try body.finish()
        guard !change.isEmpty else {
            throw APIError.validation(
                "body", "Give at least one of credit_limit, daily_debit_limit (null removes it) and time_zone.")
        }
        let receipt = try ledger.changeLimits(ofUser: userID, change, requestID: request.requestID)
        return try respond(receipt, status: 200, render: Representation.user)
    }

    /// The limits fields of a user's creation or change: `credit_limit` (0 or more), `daily_debit_limit` (more
    /// than 0, or null for none) and `time_zone` (its form only: whether PostgreSQL knows it is the ledger's word).
    /// `nullMeansAbsent` (a creation, where null is the same as leaving a member out): a null `credit_limit` or
    /// `time_zone` is the default; else (a change, where null removes the daily limit) it is refused.
    private static func limitsChange(_ body: inout RequestBody, nullMeansAbsent: Bool) throws(APIError)
        -> LimitsChange
    {
        var change = LimitsChange()
        switch try body.nullableAmount("credit_limit", allowingZero: true) {
        case .some(.some(let credit)):
            guard credit >= .zero else { throw APIError.validation("credit_limit", "credit_limit must be 0 or more.") }
            change.creditLimit = credit
        case .some(.none) where !nullMeansAbsent:
            throw APIError.validation("credit_limit", "credit_limit must be an amount, 0 or more (0: no overdraft).")
        default:
            break
        }
        change.dailyDebitLimit = try body.nullableAmount("daily_debit_limit")
        switch try body.nullableString("time_zone") {
        case .some(.some(let zone)):
            guard isTimeZoneName(zone) else { throw APIError.refusal(.unknownTimeZone) }
            change.timeZone = zone
        case .some(.none) where !nullMeansAbsent:
            throw APIError.refusal(.unknownTimeZone)
        default:
            break
        }
        return change
    }

    /// The form of an IANA time zone name ("UTC", "Europe/Paris", "America/Argentina/Buenos_Aires",
    /// "Etc/GMT+5"): ASCII letters, digits and `/_+-`, at most 64 characters.
    private static func isTimeZoneName(_ name: String) -> Bool {
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/_+-".utf8)
        return (1...64).contains(name.utf8.count) && name.utf8.allSatisfy(allowed.contains)
            && name.utf8.first.map { $0 != UInt8(ascii: "/") } == true
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
