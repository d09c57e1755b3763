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
        #expect(try Router.route(method: "GET", path: "/api/users/7/") == .getUser(7))
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
    func badIdsAre404() {
        for id in ["abc", "0", "-1", "1.5", "99999999999999999999"] {
            let error = try? #require(throws: APIError.self) {
                try Router.route(method: "GET", path: "/api/users/\(id)")
            }
            #expect(error?.status == 404)
        }
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
