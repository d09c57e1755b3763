import Credentials
import Foundation
import Ledger
import Testing

@testable import API

extension PasswordHasher {
    /// Cheap parameters: the tests check behaviour, not the cost.
    static var fastForTests: PasswordHasher {
        var hasher = PasswordHasher()
        hasher.memoryKiB = 64
        hasher.iterations = 1
        return hasher
    }
}

@Suite("Authentication and who may do what")
struct AuthTests {
    let ledger = StubLedger()
    let api: TallyAPI
    let service: String
    let ada: String
    let adaID: Int64 = 1

    init() {
        api = TallyAPI(ledger: ledger, passwordHasher: .fastForTests, tokenLifetimeSeconds: 60)
        ledger.users[1] = User(id: 1, name: "Ada", username: "ada", balance: Money(minorUnits: 1000), createdAt: 0)
        ledger.users[2] = User(id: 2, name: "Bob", username: "bob", balance: .zero, createdAt: 0)
        service = ledger.authorization(for: .service)
        ada = ledger.authorization(for: .user(id: 1))
    }

    func call(_ method: String, _ path: String, _ body: String = "", as authorization: String?) -> HTTPResponse {
        api.handle(HTTPRequest(method: method, path: path, authorization: authorization, body: Array(body.utf8)))
    }

    func code(_ response: HTTPResponse) -> String? {
        guard case .object(let top)? = try? JSONParser.parse(Array(response.body.utf8)),
            case .object(let members)? = top.first(where: { $0.0 == "error" })?.1,
            case .string(let code)? = members.first(where: { $0.0 == "code" })?.1
        else { return nil }
        return code
    }

    static let protectedRequests: [(String, String, String)] = [
        ("GET", "/api/me", ""), ("GET", "/api/users", ""), ("POST", "/api/users", #"{"name":"x"}"#),
        ("GET", "/api/users/1", ""), ("GET", "/api/users/1/transactions", ""), ("GET", "/api/transactions", ""),
        ("GET", "/api/transfers/1", ""), ("POST", "/api/transfers", #"{"from_user_id":1,"to_user_id":2,"amount":"1"}"#),
        ("POST", "/api/users/1/deposits", #"{"amount":"1"}"#), ("POST", "/api/users/1/withdrawals", #"{"amount":"1"}"#),
        ("POST", "/api/transfers", "not json"), ("POST", "/api/auth/logout", ""),
    ]

    @Test("every endpoint but health, register and login needs a live bearer token", arguments: protectedRequests)
    func protectedEndpointsNeedAToken(method: String, path: String, body: String) {
        for authorization in [
            nil, "", "Bearer", "Basic YWRhOnB3", "Bearer not-a-token", "Bearer tly_short",
            "Bearer " + BearerToken.generate().text,
        ] as [String?] {
            let response = call(method, path, body, as: authorization)
            #expect(response.status == 401, "\(method) \(path) with \(authorization ?? "no header")")
            #expect(code(response) == "unauthorized")
            #expect(response.headers.contains { $0.name == "WWW-Authenticate" && $0.value.hasPrefix("Bearer") })
        }
        #expect(ledger.moveCalls.isEmpty)
    }

    @Test("a user reads only their own account; the service role reads any")
    func usersReadOnlyTheirOwn() {
        #expect(call("GET", "/api/users/1", as: ada).status == 200)
        #expect(call("GET", "/api/users/1/transactions", as: ada).status == 200)
        #expect(call("GET", "/api/users/2", as: ada).status == 403)
        #expect(call("GET", "/api/users/2/transactions", as: ada).status == 403)
        #expect(call("GET", "/api/users/2", as: service).status == 200)
    }

    @Test("only the service role lists users, reads the global feed and creates users")
    func serviceOnlyEndpoints() {
        for (method, path, body) in [
            ("GET", "/api/users", ""), ("GET", "/api/transactions", ""),
            ("POST", "/api/users", #"{"name":"Eve","initial_balance":"1000000"}"#),
        ] {
            let refused = call(method, path, body, as: ada)
            #expect(refused.status == 403 && code(refused) == "forbidden", "\(method) \(path)")
            #expect(call(method, path, body, as: service).status == (method == "POST" ? 201 : 200))
        }
    }

    @Test("a user moves money only from their own account; crediting anyone needs no consent")
    func usersMoveOnlyTheirOwnMoney() {
        #expect(
            call("POST", "/api/transfers", #"{"from_user_id":1,"to_user_id":2,"amount":"1"}"#, as: ada).status == 201)
        let stolen = call("POST", "/api/transfers", #"{"from_user_id":2,"to_user_id":1,"amount":"1"}"#, as: ada)
        #expect(stolen.status == 403 && code(stolen) == "forbidden")
        #expect(call("POST", "/api/users/1/deposits", #"{"amount":"1"}"#, as: ada).status == 201)
        #expect(call("POST", "/api/users/2/withdrawals", #"{"amount":"1"}"#, as: ada).status == 403)
        #expect(call("POST", "/api/users/2/deposits", #"{"amount":"1"}"#, as: ada).status == 403)
        #expect(
            call("POST", "/api/transfers", #"{"from_user_id":2,"to_user_id":1,"amount":"1"}"#, as: service).status
                == 201)
        #expect(ledger.moveCalls.map(\.debit) == [1, 0, 2])
    }

    @Test("register, log in, use the token, log out, and the token stops working")
    func tokenLifecycle() throws {
        let registered = call(
            "POST", "/api/auth/register", #"{"username":"Zoe.K","password":"correct horse","name":"Zoë"}"#, as: nil)
        #expect(registered.status == 201 && registered.body.contains(#""balance":"0.00""#))
        #expect(!registered.body.contains("correct horse") && !registered.body.contains("argon2"))
        let login = call("POST", "/api/auth/login", #"{"username":"zoe.k","password":"correct horse"}"#, as: nil)
        #expect(login.status == 200)
        guard case .object(let members) = try JSONParser.parse(Array(login.body.utf8)),
            case .string(let token)? = members.first(where: { $0.0 == "token" })?.1
        else {
            Issue.record("no token in \(login.body)")
            return
        }
        #expect(members.contains { $0.0 == "expires_at" })
        let me = call("GET", "/api/me", as: "Bearer \(token)")
        #expect(me.status == 200 && me.body.contains(#""name":"Zoë""#))
        #expect(call("POST", "/api/auth/logout", as: "Bearer \(token)").status == 200)
        #expect(call("GET", "/api/me", as: "Bearer \(token)").status == 401)
    }

    @Test("a wrong password and an unknown username get the same answer")
    func noUserEnumeration() {
        _ = call("POST", "/api/auth/register", #"{"username":"carol","password":"a long password"}"#, as: nil)
        let wrongPassword = call(
            "POST", "/api/auth/login", #"{"username":"carol","password":"not the password"}"#, as: nil)
        let unknownUser = call(
            "POST", "/api/auth/login", #"{"username":"nobody","password":"a long password"}"#, as: nil)
        #expect(wrongPassword.status == 401 && unknownUser.status == 401)
        #expect(code(wrongPassword) == "invalid_credentials" && code(unknownUser) == "invalid_credentials")
        #expect(wrongPassword.body.replacingRequestID() == unknownUser.body.replacingRequestID())
    }

    @Test("usernames are unique ignoring case, and malformed credentials are 422")
    func registrationRules() {
        #expect(
            call("POST", "/api/auth/register", #"{"username":"dave","password":"0123456789"}"#, as: nil).status == 201)
        let taken = call("POST", "/api/auth/register", #"{"username":"DAVE","password":"0123456789"}"#, as: nil)
        #expect(taken.status == 409 && code(taken) == "username_taken")
        for body in [
            #"{"username":"ab","password":"0123456789"}"#, #"{"username":"has space","password":"0123456789"}"#,
            #"{"username":"dävid","password":"0123456789"}"#, #"{"username":"erin","password":"short"}"#,
            "{\"username\":\"erin\",\"password\":\"\(String(repeating: "p", count: 257))\"}",
            #"{"username":"erin"}"#, #"{"username":5,"password":"0123456789"}"#,
            #"{"username":"erin","password":"0123456789","role":"service"}"#,
        ] {
            let response = call("POST", "/api/auth/register", body, as: nil)
            #expect(response.status == 422, "\(body)")
        }
        let longLogin = call(
            "POST", "/api/auth/login", "{\"username\":\"erin\",\"password\":\"\(String(repeating: "p", count: 300))\"}",
            as: nil)
        #expect(longLogin.status == 422)
    }

    /// Found by schemathesis: a short password holding NUL was refused as "at most 256 characters".
    @Test("a log-in password with a NUL character is refused with 422 naming the password and saying why")
    func logInPasswordWithNULIsRefusedSayingWhy() {
        let response = call(
            "POST", "/api/auth/login", #"{"username":"ada","password":"correct\u0000horse"}"#, as: nil)
        #expect(response.status == 422 && code(response) == "validation_failed")
        #expect(response.body.contains(#""field":"password""#) && response.body.contains("NUL character"))
    }

    @Test("a user's token never grants the service role")
    func userTokenIsNotService() {
        let me = call("GET", "/api/me", as: ada)
        #expect(me.body.contains(#""role":"user""#))
        #expect(call("GET", "/api/me", as: service).body.contains(#""role":"service""#))
    }
}

extension String {
    /// The body up to its request id, which differs between any two requests.
    func replacingRequestID() -> String {
        components(separatedBy: #""request_id":""#)[0]
    }
}

@Suite("Failed log-ins lock a username")
struct LoginLockTests {
    let ledger = StubLedger()
    let api: TallyAPI

    init() {
        api = TallyAPI(ledger: ledger, passwordHasher: .fastForTests, tokenLifetimeSeconds: 60)
        _ = logIn("ada.l", "correct horse", at: "register")
    }

    func logIn(_ username: String, _ password: String, at path: String = "login") -> HTTPResponse {
        api.handle(
            HTTPRequest(
                method: "POST", path: "/api/auth/\(path)",
                body: Array(#"{"username":"\#(username)","password":"\#(password)"}"#.utf8)))
    }

    @Test("after ten failures the username answers 429 with Retry-After, even to the right password")
    func tenFailuresLockTheUsername() {
        for _ in 1...10 { #expect(logIn("ADA.L", "wrong password").status == 401) }
        #expect(ledger.failedLogins["ada.l"] == 10)
        let locked = logIn("ada.l", "correct horse")
        #expect(locked.status == 429 && locked.body.contains(#""code":"rate_limited""#))
        #expect(locked.headers.contains { $0.name == "Retry-After" && $0.value == "60" })
        // Refused before the password was looked at: the right and a wrong one get the same answer, uncounted.
        let wrong = logIn("ada.l", "wrong password")
        #expect(wrong.status == 429 && wrong.body == locked.body)
        #expect(ledger.failedLogins["ada.l"] == 10)
    }

    @Test("an unknown username is counted and locked like a known one")
    func unknownUsernamesCount() {
        for _ in 1...10 { #expect(logIn("nobody.here", "any password").status == 401) }
        #expect(logIn("nobody.here", "any password").status == 429)
    }

    @Test("a success clears the failures; a log-in without failures on record costs no clearing")
    func successClearsFailures() {
        #expect(logIn("ada.l", "correct horse").status == 200)
        #expect(ledger.clearedLogins.isEmpty)
        for _ in 1...3 { _ = logIn("ada.l", "wrong password") }
        #expect(logIn("ada.l", "correct horse").status == 200)
        #expect(ledger.clearedLogins == ["ada.l"] && ledger.failedLogins["ada.l"] == nil)
    }

    @Test("a malformed log-in counts as no failure")
    func malformedLogInsAreNotCounted() {
        _ = logIn("ada.l", String(repeating: "p", count: 300))
        #expect(ledger.failedLogins.isEmpty)
    }
}
