/// An error answered to the client: an HTTP status, a stable machine-readable code, a message a person
/// can act on, and the field it concerns when there is one.
package struct APIError: Error, CustomStringConvertible, Sendable {
    package let status: Int
    package let code: String
    package let message: String
    package private(set) var field: String?
    /// The batch item it concerns (POST /api/batches), when one is to blame.
    package private(set) var index: Int?
    package var headers: [(name: String, value: String)] = []

    package init(status: Int, code: String, message: String, field: String? = nil) {
        self.status = status
        self.code = code
        self.message = message
        self.field = field
    }

    /// As a log line would say it: "422 validation_failed (amount): The amount must ...".
    package var description: String {
        "\(status) \(code)\(field.map { " (\($0))" } ?? ""): \(message)"
    }

    static func malformedJSON(_ reason: String) -> APIError {
        APIError(status: 400, code: "malformed_json", message: "The request body is not a JSON object: \(reason).")
    }

    /// 422 for input the rules refuse; `field` names it when one field is to blame.
    static func validation(_ field: String?, _ message: String) -> APIError {
        APIError(status: 422, code: "validation_failed", message: message, field: field)
    }

    /// 422 for an idempotency key used before for a different request: the request's header
    /// (`Idempotency-Key`) or a batch item's `idempotency_key`.
    static func keyReused(field: String = "Idempotency-Key") -> APIError {
        APIError(
            status: 422, code: "idempotency_key_reused",
            message: "This \(field) was already used for a different request; use a new key.", field: field)
    }

    static func notFound(_ message: String) -> APIError {
        APIError(status: 404, code: "not_found", message: message)
    }

    package static func methodNotAllowed(_ method: String, allowed: [String]) -> APIError {
        var error = APIError(
            status: 405, code: "method_not_allowed",
            message: "\(method) is not allowed here; use \(allowed.joined(separator: " or ")).")
        error.headers = [("Allow", allowed.joined(separator: ", "))]
        return error
    }

    package static func unavailable(_ message: String) -> APIError {
        var error = APIError(status: 503, code: "unavailable", message: message)
        error.headers = [("Retry-After", "1")]
        return error
    }

    /// 503 for a request the database may or may not have applied (`OutcomeUnknown`). No Retry-After: sent again
    /// without an Idempotency-Key, it could be applied twice.
    static func outcomeUnknown(keyed: Bool) -> APIError {
        let next =
            keyed
            ? "Sending it again with the same Idempotency-Key is safe: that answers its outcome, or applies it once."
            : "Look for it in the account's transactions before sending it again."
        var error = APIError(
            status: 503, code: "outcome_unknown",
            message: "The database stopped after this request was made and before it confirmed the commit, and has "
                + "not answered since: it may or may not have been applied. \(next)")
        if keyed { error.headers = [("Retry-After", "1")] }
        return error
    }

    /// 401 with the challenge RFC 6750 asks for.
    static func unauthorized(
        _ message: String =
            "A valid bearer token is required: log in with POST /api/auth/login and send Authorization: Bearer <token>."
    ) -> APIError {
        var error = APIError(status: 401, code: "unauthorized", message: message)
        error.headers = [("WWW-Authenticate", "Bearer realm=\"tally\"")]
        return error
    }

    /// 429 for a username locked by failed log-ins (`LoginLimits`), with the seconds left as Retry-After.
    static func usernameLocked(seconds: Int) -> APIError {
        var error = APIError(
            status: 429, code: "rate_limited",
            message: "Too many failed log-ins for this username: log-ins for it are refused for \(seconds) s.")
        error.headers = [("Retry-After", String(seconds))]
        return error
    }

    static func forbidden(_ message: String) -> APIError {
        APIError(status: 403, code: "forbidden", message: message)
    }

    static let internalError = APIError(
        status: 500, code: "internal_error", message: "Something went wrong on our side; it has been logged.")

    /// The response, carrying `logNote` for the request's log line (not sent to the client).
    func response(requestID: String, logNote: String) -> HTTPResponse {
        var response = response(requestID: requestID)
        response.logNote = logNote
        return response
    }

    /// The same error about item `index` of a batch: its field is named within the item
    /// (`movements[3].amount`); invalid input about no one field names the item itself (`movements[3]`).
    func atItem(_ index: Int) -> APIError {
        var error = self
        error.index = index
        error.field =
            if let field { "movements[\(index)].\(field)" } else if code == "validation_failed" {
                "movements[\(index)]"
            } else { nil }
        return error
    }

    /// The error's members: code, message, and the field and index when there are.
    var members: [(String, JSONValue)] {
        var members: [(String, JSONValue)] = [("code", .string(code)), ("message", .string(message))]
        if let field { members.append(("field", .string(field))) }
        if let index { members.append(("index", .integer(index))) }
        return members
    }

    /// The response for this error, carrying the request id so a person can quote it.
    package func response(requestID: String) -> HTTPResponse {
        HTTPResponse(
            status: status, json: .object([("error", .object(members + [("request_id", .string(requestID))]))]),
            headers: headers)
    }
}
