import Credentials
import Ledger
import LedgerStore
import Testing

@testable import API

/// An API over a `StubLedger` with the service role's token, and ways to send requests and read answers.
struct RouteHarness {
    let ledger = StubLedger()
    let api: TallyAPI
    let service: String

    init(spool: RequestSpool? = nil) {
        api = TallyAPI(ledger: ledger, passwordHasher: .fastForTests, spool: spool)
        service = ledger.authorization(for: .service)
    }

    func send(
        _ method: String, _ path: String, _ body: String = "", query: String = "", key: String? = nil,
        as authorization: String? = nil
    ) -> HTTPResponse {
        api.handle(
            HTTPRequest(
                method: method, path: path, query: query, idempotencyKey: key,
                authorization: authorization ?? service, body: Array(body.utf8), requestID: "rid",
                clientAddress: "10.0.0.1"))
    }

    func post(_ path: String, _ body: String = "", key: String? = nil, as authorization: String? = nil)
        -> HTTPResponse
    {
        send("POST", path, body, key: key, as: authorization)
    }

    func get(_ path: String, query: String = "", as authorization: String? = nil) -> HTTPResponse {
        send("GET", path, query: query, as: authorization)
    }

    /// The answer's top-level members by name.
    func members(_ response: HTTPResponse) throws -> [String: JSONValue] {
        guard case .object(let members) = try JSONParser.parse(Array(response.body.utf8)) else { return [:] }
        return Dictionary(members, uniquingKeysWith: { first, _ in first })
    }

    /// The names of the answer's top-level members, in order.
    func names(_ response: HTTPResponse) throws -> [String] {
        guard case .object(let members) = try JSONParser.parse(Array(response.body.utf8)) else { return [] }
        return members.map(\.0)
    }

    /// An error answer's code, field and message.
    func error(_ response: HTTPResponse) -> (code: String, field: String?, message: String) {
        guard case .object(let error)? = try? members(response)["error"] else {
            Issue.record("not an error: \(response.status) \(response.body)")
            return ("", nil, "")
        }
        let members = Dictionary(error, uniquingKeysWith: { first, _ in first })
        guard case .string(let code)? = members["code"], case .string(let message)? = members["message"] else {
            return ("", nil, "")
        }
        if case .string(let field)? = members["field"] { return (code, field, message) }
        return (code, nil, message)
    }
}
