import Testing

@testable import API

@Suite("Routing")
struct RouterTests {
    @Test("each documented path and method finds its endpoint")
    func routesEndpoints() throws {
        #expect(try Router.route(method: "GET", path: "/api/health") == .health)
        #expect(try Router.route(method: "GET", path: "/api/users") == .listUsers)
        #expect(try Router.route(method: "POST", path: "/api/users") == .createUser)
        #expect(try Router.route(method: "GET", path: "/api/users/7") == .getUser(7))
        #expect(try Router.route(method: "POST", path: "/api/users/7/deposits") == .deposit(userID: 7))
        #expect(try Router.route(method: "POST", path: "/api/users/7/withdrawals") == .withdraw(userID: 7))
        #expect(try Router.route(method: "GET", path: "/api/users/7/transactions") == .userTransactions(userID: 7))
        #expect(try Router.route(method: "POST", path: "/api/transfers") == .createTransfer)
        #expect(try Router.route(method: "GET", path: "/api/transfers/3") == .getTransfer(3))
        #expect(try Router.route(method: "GET", path: "/api/transactions") == .listTransactions)
    }

    @Test("the holds', reversals' and limits' paths find their endpoints; each path names its other methods")
    func routesHoldsReversalsAndLimits() throws {
        #expect(try Router.route(method: "POST", path: "/api/holds") == .createHold)
        #expect(try Router.route(method: "GET", path: "/api/holds/4") == .getHold(4))
        #expect(try Router.route(method: "POST", path: "/api/holds/4/capture") == .captureHold(holdID: 4))
        #expect(try Router.route(method: "POST", path: "/api/holds/4/void") == .voidHold(holdID: 4))
        #expect(try Router.route(method: "GET", path: "/api/users/7/holds") == .userHolds(userID: 7))
        #expect(try Router.route(method: "POST", path: "/api/transfers/3/reversals") == .reverseTransfer(transferID: 3))
        #expect(try Router.route(method: "PATCH", path: "/api/users/7") == .changeLimits(userID: 7))
        for (method, path, allowed) in [
            ("GET", "/api/holds", "POST"), ("POST", "/api/holds/4", "GET"), ("GET", "/api/holds/4/capture", "POST"),
            ("GET", "/api/transfers/3/reversals", "POST"), ("POST", "/api/users/7/holds", "GET"),
        ] {
            let error = try? #require(throws: APIError.self) { try Router.route(method: method, path: path) }
            #expect(error?.status == 405 && error?.headers.first?.value == allowed, "\(method) \(path)")
        }
        for path in ["/api/holds/0", "/api/holds/04/void", "/api/holds/4/settle", "/api/transfers/3/refunds"] {
            let error = try? #require(throws: APIError.self) { try Router.route(method: "POST", path: path) }
            #expect(error?.status == 404, "\(path)")
        }
        #expect(Endpoint.createHold.movesMoney && Endpoint.captureHold(holdID: 1).movesMoney)
        #expect(Endpoint.voidHold(holdID: 1).movesMoney && Endpoint.reverseTransfer(transferID: 1).movesMoney)
        #expect(!Endpoint.changeLimits(userID: 1).movesMoney && !Endpoint.getHold(1).movesMoney)
        #expect(Set(TallyAPI.routeTemplates).count == TallyAPI.routeTemplates.count)
        #expect(TallyAPI.routeTemplates.contains("PATCH /api/users/{id}"))
    }

    @Test("another spelling of a path is 404: an empty segment, a trailing slash, an encoded slash")
    func nonCanonicalPathsAre404() {
        for path in [
            "/api/auth/login/", "/api/auth//login", "//api/auth/login", "/api//users", "/api/users/7/",
            "/api/users/7//deposits", "/api/", "/api/health/", "api/health",
        ] {
            let error = try? #require(throws: APIError.self) { try Router.route(method: "POST", path: path) }
            #expect(error?.status == 404 && error?.code == "not_found", "\(path)")
        }
    }

    @Test("a path nginx normalised from what the client sent is 404: merged slashes, dot segments, %2F")
    func normalisedSpellingsAre404() {
        let sent = [
            "/api/auth//login", "/api/auth/%2Flogin", "/api/auth%2Flogin", "/api/auth%2flogin?x=1",
            "/api/auth/./login", "/api/x/../auth/login", "/api/auth/%2E/login", "/api/auth/login%",
            "/api/auth/login%2", "/api/auth/login%zz",
        ]
        for requestURI in sent {
            let error = try? #require(throws: APIError.self) {
                try Router.route(method: "POST", path: "/api/auth/login", requestURI: requestURI)
            }
            #expect(error?.status == 404 && error?.code == "not_found", "\(requestURI)")
        }
    }

    @Test("the path as sent, encoded or not, routes when it decodes to the path itself")
    func sentSpellingsThatDecodeToThePathRoute() throws {
        #expect(try Router.route(method: "POST", path: "/api/auth/login", requestURI: "/api/auth/login") == .login)
        #expect(
            try Router.route(method: "POST", path: "/api/auth/login", requestURI: "/api/auth/login?next=%2F") == .login)
        #expect(try Router.route(method: "POST", path: "/api/auth/login", requestURI: "/api/auth/%6Cogin") == .login)
        #expect(
            try Router.route(method: "GET", path: "/api/requests/a b", requestURI: "/api/requests/a%20b")
                == .requestStatus(key: "a b"))
        #expect(
            try Router.route(method: "GET", path: "/api/requests/é", requestURI: "/api/requests/%C3%A9")
                == .requestStatus(key: "é"))
    }

    @Test("an unknown path is 404 not_found")
    func unknownPathIs404() {
        for path in ["/api", "/api/nope", "/api/users/7/nope", "/api/users/7/deposits/1", "/other"] {
            #expect(throws: APIError.self) { try Router.route(method: "GET", path: path) }
            let error = try? #require(throws: APIError.self) { try Router.route(method: "GET", path: path) }
            #expect(error?.status == 404 && error?.code == "not_found")
        }
    }

    @Test("an id that is not a positive integer is 404")
    func badIdsAre404() throws {
        for id in [
            "abc", "0", "-1", "1.5", "99999999999999999999", "+5", "05", "007", "5 ", " 5", "5a", "0x5",
            "9223372036854775808", "٥",
        ] {
            let error = try? #require(throws: APIError.self) {
                try Router.route(method: "GET", path: "/api/users/\(id)")
            }
            #expect(error?.status == 404)
            let transfer = try? #require(throws: APIError.self) {
                try Router.route(method: "GET", path: "/api/transfers/\(id)")
            }
            #expect(transfer?.status == 404)
            let deposit = try? #require(throws: APIError.self) {
                try Router.route(method: "POST", path: "/api/users/\(id)/deposits")
            }
            #expect(deposit?.status == 404)
        }
        #expect(try Router.route(method: "GET", path: "/api/users/9223372036854775807") == .getUser(.max))
        #expect(try Router.route(method: "GET", path: "/api/transfers/10") == .getTransfer(10))
    }

    @Test("a known path with the wrong method is 405 with Allow")
    func wrongMethodIs405() {
        let error = try? #require(throws: APIError.self) { try Router.route(method: "DELETE", path: "/api/users") }
        #expect(error?.status == 405 && error?.code == "method_not_allowed")
        #expect(error?.headers.first { $0.name == "Allow" }?.value == "GET, POST")
        let onTransfer = try? #require(throws: APIError.self) {
            try Router.route(method: "GET", path: "/api/transfers")
        }
        #expect(onTransfer?.status == 405)
    }
}
