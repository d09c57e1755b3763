import Ledger
import LedgerStore

extension TallyAPI {
    func createUser(_ request: HTTPRequest) throws -> HTTPResponse {
        var body = try RequestBody(request.body)
        guard let name = try body.string("name") else { throw APIError.validation("name", "name is required.") }
        let initialBalance = try body.amount("initial_balance", allowingZero: true) ?? .zero
        try body.finish()
        do {
            try TextRules.checkName(name)
        } catch {
            throw APIError.validation("name", "name \(error.explanation).")
        }
        let idempotency = try idempotencyContext(
            request, fingerprint: ["create_user", name, String(initialBalance.minorUnits)])
        let receipt = try ledger.createUser(
            name: name, initialBalance: initialBalance, idempotency: idempotency, requestID: request.requestID)
        return try respond(receipt, status: 201, render: Representation.user)
    }

    func getUser(_ id: Int64) throws -> HTTPResponse {
        guard let user = try ledger.user(id: id) else { throw APIError.userNotFound(id) }
        return HTTPResponse(status: 200, json: Representation.user(user))
    }

    func listUsers(_ request: HTTPRequest) throws -> HTTPResponse {
        let paging = try Paging(query: QueryString(request.query))
        let users = try ledger.users(afterID: paging.continuation ?? 0, limit: paging.limit + 1)
        return HTTPResponse(status: 200, json: paging.page(users, id: \.id, render: Representation.user))
    }

    func userTransactions(_ request: HTTPRequest, userID: Int64) throws -> HTTPResponse {
        let paging = try Paging(query: QueryString(request.query))
        guard try ledger.user(id: userID) != nil else { throw APIError.userNotFound(userID) }
        let movements = try ledger.movements(
            ofUser: userID, beforeID: paging.continuation ?? Int64.max, limit: paging.limit + 1)
        return HTTPResponse(
            status: 200, json: paging.page(movements, id: \.id) { Representation.entry($0, for: userID) })
    }
}

extension APIError {
    static func userNotFound(_ id: Int64) -> APIError {
        .notFound("There is no user with id \(id).")
    }
}
