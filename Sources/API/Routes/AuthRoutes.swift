import Credentials
import Ledger
import LedgerStore

extension TallyAPI {
    func register(_ request: HTTPRequest) throws -> HTTPResponse {
        var body = try RequestBody(request.body)
        let username = try body.requiredString("username")
        let password = try body.requiredString("password")
        let name = try body.string("name") ?? username
        try body.finish()
        let credentials = try newCredentials(username: username, password: password)
        try checkName(name)
        let receipt = try ledger.createUser(
            name: name, initialBalance: .zero, credentials: credentials, idempotency: nil, requestID: request.requestID)
        return try respond(receipt, status: 201, render: Representation.user)
    }

    /// Checks a username and password and hashes the password (argon2id).
    func newCredentials(username: String, password: String) throws -> NewCredentials {
        do {
            try AccountRules.checkUsername(username)
        } catch {
            throw APIError.validation("username", "username \(error.explanation).")
        }
        do {
            try AccountRules.checkPassword(password)
        } catch {
            throw APIError.validation("password", "password \(error.explanation).")
        }
        return NewCredentials(username: username, passwordHash: try passwordHasher.hash(password))
    }

    func login(_ request: HTTPRequest) throws -> HTTPResponse {
        var body = try RequestBody(request.body)
        let username = try body.requiredString("username")
        let password = try body.requiredString("password")
        try body.finish()
        // Over-long input is refused before any hashing, so it cannot be used to burn CPU.
        guard username.utf8.count <= 256, !username.utf8.contains(0) else {
            throw APIError.validation("username", "username is too long or holds a NUL character.")
        }
        guard password.count <= AccountRules.passwordLengths.upperBound, !password.utf8.contains(0) else {
            throw APIError.validation("password", "password is longer than 256 characters or holds a NUL character.")
        }
        let decoy = decoyPasswordHash
        let state = try ledger.loginState(username: username)
        // A locked username is refused before the password is checked: the refusal costs no argon2 work, and
        // says nothing about the password (the right one is refused as well).
        guard state.lockedForSeconds == 0 else { throw APIError.usernameLocked(seconds: state.lockedForSeconds) }
        let stored = state.credentials
        // An unknown username costs the same argon2 work as a wrong password: no enumeration by timing.
        let matches = passwordHasher.verify(password, against: stored?.passwordHash ?? decoy)
        guard let stored, matches else {
            // Unknown usernames count too: otherwise the limit would tell which ones exist.
            try ledger.recordFailedLogin(username: username, limits: loginLimits)
            throw APIError(status: 401, code: "invalid_credentials", message: "The username or password is wrong.")
        }
        // Only a username with failures on record costs a statement more; most log-ins have none.
        if state.hasFailures { try ledger.clearFailedLogins(username: username) }
        let token = BearerToken.generate()
        let expiresAt = try ledger.issueToken(
            hash: token.hash, for: .user(id: stored.user.id), lifetimeSeconds: tokenLifetimeSeconds)
        noteIssued(token.hash, caller: .user(id: stored.user.id), expiresAtMicroseconds: expiresAt)
        return HTTPResponse(
            status: 200,
            json: .object([
                ("token", .string(token.text)),
                ("token_type", .string("Bearer")),
                ("expires_at", expiresAt.map { .string(Timestamp.rfc3339(microsecondsSince1970: $0)) } ?? .null),
                ("user", Representation.user(stored.user)),
            ]))
    }

    func logout(_ request: HTTPRequest) throws -> HTTPResponse {
        let token = try presentedToken(request)
        let revoked = try ledger.revokeToken(hash: token.hash)
        noteRevoked(token.hash)
        guard revoked else {
            throw APIError.unauthorized("The bearer token is unknown, expired or already revoked.")
        }
        return HTTPResponse(status: 200, json: .object([("status", .string("logged_out"))]))
    }

    func me(_ request: HTTPRequest) throws -> HTTPResponse {
        let caller = try authenticate(request).caller
        guard case .user(let id) = caller else {
            return HTTPResponse(status: 200, json: .object([("role", .string("service"))]))
        }
        guard let user = try ledger.user(id: id) else { throw APIError.userNotFound(id) }
        guard case .object(let members) = Representation.user(user) else { throw APIError.internalError }
        return HTTPResponse(status: 200, json: .object(members + [("role", .string("user"))]))
    }
}
