import Credentials
import Ledger
import LedgerStore
import Postgres

/// The ledger's HTTP API: a plain function from request to response, over a `LedgerOperations`.
package final class TallyAPI {
    /// Bodies above this are refused (nginx refuses them first; this guards a pool reached directly).
    package static let maximumBodyBytes = 64 * 1024
    /// A batch's body may be larger: what `BatchCommand.maximumItems` items of the longest kind need (see there).
    package static let maximumBatchBodyBytes = 4 * 1024 * 1024

    /// The largest body a request to `path` may have.
    package static func maximumBodyBytes(path: String?) -> Int {
        path == "/api/batches" ? maximumBatchBodyBytes : maximumBodyBytes
    }
    static let maximumIdempotencyKeyLength = 255

    let ledger: any LedgerOperations
    let passwordHasher: PasswordHasher
    /// How long a log-in token lives.
    let tokenLifetimeSeconds: Int
    /// Verified against when a username does not exist, at the cost of a real password check.
    /// A worker makes it at its first log-in, whatever the username (so both paths still cost the same), not
    /// at start: sixteen workers hashing at once would slow the pool's first second.
    lazy var decoyPasswordHash: String = passwordHasher.decoyHash()
    let alertRules: AlertRules
    /// When failed log-ins lock a username.
    let loginLimits: LoginLimits
    /// Where money-moving requests with an Idempotency-Key wait while the database is down; nil: they get 503.
    let spool: RequestSpool?
    /// Whom the tokens this worker has seen stand for: what a transfer's answer may show, without a round trip.
    var knownCallers = KnownCallers()

    package init(
        ledger: any LedgerOperations, passwordHasher: PasswordHasher = PasswordHasher(),
        tokenLifetimeSeconds: Int = 86_400,
        alertRules: AlertRules = AlertRules(), spool: RequestSpool? = nil, loginLimits: LoginLimits = LoginLimits()
    ) {
        self.ledger = ledger
        self.loginLimits = loginLimits
        self.spool = spool
        self.alertRules = alertRules
        self.passwordHasher = passwordHasher
        self.tokenLifetimeSeconds = tokenLifetimeSeconds
    }

    /// Every route's label for the pool's metrics (`HTTPResponse.route` is one of them, or nil).
    package static let routeTemplates: [String] = Endpoint.examples.map(\.template)

    /// Answers one request. Never throws: every failure becomes a JSON error response, and failures that
    /// are not the client's are described in `HTTPResponse.logNote` for the request log.
    package func handle(_ request: HTTPRequest) -> HTTPResponse {
        var endpoint: Endpoint?
        var response = answer(request, endpoint: &endpoint)
        response.route = endpoint?.template
        return response
    }

    private func answer(_ request: HTTPRequest, endpoint: inout Endpoint?) -> HTTPResponse {
        do {
            guard request.body.count <= Self.maximumBodyBytes(path: request.path) else {
                throw Self.payloadTooLarge(request)
            }
            let routed = try Router.route(method: request.method, path: request.path, requestURI: request.requestURI)
            endpoint = routed
            do {
                return try dispatch(routed, request)
            } catch let error as PostgresError where error.isUnavailable && spool != nil && routed.movesMoney {
                return try store(request, endpoint: routed, unavailable: error)
            }
        } catch let error as APIError {
            return error.response(requestID: request.requestID)
        } catch let error as OutcomeUnknown {
            return APIError.outcomeUnknown(keyed: request.idempotencyKey != nil)
                .response(requestID: request.requestID, logNote: "\(error)")
        } catch let error as RetriesExhausted {
            return APIError.unavailable(
                "The ledger is busy with conflicting requests; nothing was applied. Retry shortly."
            ).response(
                requestID: request.requestID,
                logNote: "retries exhausted after \(error.attempts) attempts: \(error.lastError.message)")
        } catch let error as PostgresError where error.isUnavailable {
            return APIError.unavailable("The database is unavailable; nothing was applied. Retry shortly.")
                .response(requestID: request.requestID, logNote: "database unavailable: \(error.message)")
        } catch let error as PostgresError where error.isServerFault {
            return APIError.unavailable(
                "The database could not complete the request; nothing was applied. Retry shortly."
            ).response(requestID: request.requestID, logNote: "database fault: \(error)")
        } catch let error as PostgresError where error.isValueRefused {
            // Input that passed the API's checks but not the database's: still the request's, not a 500.
            return APIError.validation(
                nil, "The ledger refused a value in this request (out of range or too long); nothing was applied."
            ).response(requestID: request.requestID, logNote: "database refused a value: \(error)")
        } catch {
            return APIError.internalError.response(requestID: request.requestID, logNote: "internal error: \(error)")
        }
    }

    private func dispatch(_ endpoint: Endpoint, _ request: HTTPRequest) throws -> HTTPResponse {
        switch endpoint {
        case .health: health(request)
        case .ping: HTTPResponse(status: 200, json: .object([("status", .string("pong"))]))
        case .register: try register(request)
        case .login: try login(request)
        case .logout: try logout(request)
        case .me: try me(request)
        case .listUsers: try listUsers(request)
        case .createUser: try createUser(request)
        case .getUser(let id): try getUser(request, id: id)
        case .deposit, .withdraw, .createTransfer, .event, .createHold, .captureHold, .voidHold, .reverseTransfer:
            try moveMoney(endpoint, request)
        case .changeLimits(let userID): try changeLimits(request, userID: userID)
        case .getHold(let id): try getHold(request, id: id)
        case .userHolds(let userID): try userHolds(request, userID: userID)
        case .userTransactions(let userID): try userTransactions(request, userID: userID)
        case .getTransfer(let id): try getTransfer(request, id: id)
        case .createBatch: try createBatch(request)
        case .getBatch(let id): try getBatch(request, id: id)
        case .listTransactions: try listTransactions(request)
        case .listAlerts: try listAlerts(request, userID: nil)
        case .userAlerts(let userID): try listAlerts(request, userID: userID)
        case .stats: try stats(request)
        case .requestStatus(let key): try requestStatus(request, key: key)
        }
    }

    func health(_ request: HTTPRequest) -> HTTPResponse {
        if ledger.isDatabaseUp() {
            return HTTPResponse(status: 200, json: .object([("status", .string("ok")), ("database", .string("up"))]))
        }
        return HTTPResponse(
            status: 503, json: .object([("status", .string("unavailable")), ("database", .string("down"))]),
            headers: [("Retry-After", "1")])
    }

    /// The request's idempotency key with a fingerprint of what it asks, or nil when it carries no key.
    func idempotencyContext(_ request: HTTPRequest, fingerprint parts: [String]) throws(APIError)
        -> IdempotencyContext?
    {
        guard let key = request.idempotencyKey else { return nil }
        return try Self.idempotencyContext(
            key: key, field: "Idempotency-Key", named: "Idempotency-Key header", fingerprint: parts)
    }

    /// An idempotency key (the header's, or a batch item's `idempotency_key`: `field`, called `name` in messages)
    /// checked, with a fingerprint of what it asks.
    static func idempotencyContext(key: String, field: String, named name: String, fingerprint parts: [String])
        throws(APIError) -> IdempotencyContext
    {
        guard !key.isEmpty, key.unicodeScalars.count <= maximumIdempotencyKeyLength, !key.utf8.contains(0) else {
            throw .validation(field, "The \(name) must be 1 to \(maximumIdempotencyKeyLength) characters.")
        }
        // Header bytes that are not UTF-8 reach here repaired, each bad sequence as U+FFFD: two different keys
        // would become one. Refused instead (and with them the rare key that holds U+FFFD itself).
        guard !key.unicodeScalars.contains("\u{FFFD}") else {
            throw .validation(field, "The \(name) must be UTF-8 text.")
        }
        // Unit separators keep the parts apart whatever text they hold.
        return IdempotencyContext(key: key, fingerprint: parts.joined(separator: "\u{1F}"))
    }

    /// The response for what a money-moving operation ended as; `explain` says why a refusal was one.
    func respond<Value>(
        _ receipt: Receipt<Value>, status: Int, explaining explain: (Refusal) -> APIError = { APIError.refusal($0) },
        render: (Value) -> JSONValue
    ) throws -> HTTPResponse {
        var response: HTTPResponse
        switch receipt.result {
        case .applied(let value):
            response = HTTPResponse(status: status, json: render(value))
        case .refused(let refusal):
            response = explain(refusal).response(requestID: receipt.requestID)
        case .keyReused:
            response = APIError.keyReused().response(requestID: receipt.requestID)
        }
        if receipt.isReplay {
            response.headers.append(("Idempotency-Replayed", "true"))
        }
        return response
    }
}

extension APIError {
    /// Why the ledger refused a movement. `quotingRecipient`: whether the caller may read the credited account's
    /// balance (the service role, or a deposit to the caller's own account); a user paying someone else learns
    /// only that the recipient's balance would go past the limit, not what it is.
    static func refusal(_ refusal: Refusal, quotingRecipient: Bool = false) -> APIError {
        switch refusal {
        case .userNotFound(let id):
            .userNotFound(id)
        case .insufficientFunds(let balance):
            APIError(
                status: 409, code: "insufficient_funds",
                message: "Insufficient funds: the available balance is \(balance); nothing was moved.", field: "amount")
        case .balanceLimit(let balance) where quotingRecipient:
            .validation("amount", "amount would take the balance of \(balance) past the largest balance Tally holds.")
        case .balanceLimit:
            .validation(
                "amount",
                "amount would take the recipient's balance past the largest balance Tally holds; nothing was moved.")
        case .unauthorized:
            .unauthorized("The bearer token is unknown, expired or revoked: log in again.")
        case .forbidden:
            .forbidden("You may move money only from your own account.")
        case .tNotIncreasing(let last):
            .validation("t", "t must be greater than this user's last event time, \(last).")
        case .eventTimeNotAllowed:
            .validation("t", "Only the service role supplies event times: leave t out and the server's clock decides.")
        case .usernameTaken:
            APIError(
                status: 409, code: "username_taken", message: "That username is taken; choose another.",
                field: "username")
        case .limitExceeded(let remaining):
            APIError(
                status: 409, code: "limit_exceeded",
                message: "The daily debit limit allows \(remaining) more today; nothing was moved.", field: "amount")
        case .creditLimitInUse(let least):
            APIError(
                status: 409, code: "credit_limit_in_use",
                message:
                    "The balance and pending holds already use more credit: the least credit_limit now is \(least).",
                field: "credit_limit")
        case .unknownTimeZone:
            .validation("time_zone", "time_zone must be an IANA time zone name, such as \"Europe/Paris\" or \"UTC\".")
        case .holdNotFound(let id):
            .notFound("There is no hold with id \(id).")
        case .holdExpired, .holdNotPending(status: .expired):
            // A hold found expired is refused as hold_expired whether or not the ledger had yet marked it so.
            APIError(
                status: 409, code: "hold_expired",
                message: "The hold expired before this request: its money is available to the payer again.")
        case .holdNotPending(let status):
            APIError(
                status: 409, code: "hold_not_pending",
                message: "The hold is \(status.rawValue): it can no longer be captured or voided.")
        case .captureExceedsHold(let held):
            APIError(
                status: 422, code: "capture_exceeds_hold",
                message: "amount is more than the hold holds (\(held)); nothing was moved.", field: "amount")
        case .transferNotFound(let id):
            .notFound("There is no transfer with id \(id).")
        case .notReversible(let kind):
            APIError(
                status: 409, code: "not_reversible",
                message: kind == .reversal
                    ? "This movement is a reversal: reverse the transfer it reverses instead."
                    : "Only transfers can be reversed; this movement is a \(kind.rawValue).")
        case .payerShort(let ofDailyLimit):
            APIError(
                status: 409, code: ofDailyLimit ? "limit_exceeded" : "insufficient_funds",
                message: ofDailyLimit
                    ? "The payer's daily debit limit does not allow this capture today; nothing was moved."
                    : "The payer's available balance is short of this capture; nothing was moved.",
                field: "amount")
        case .reversalExceedsTransfer(let left):
            APIError(
                status: 409, code: "reversal_exceeds_transfer",
                message: "The transfer has \(left) left to reverse; nothing was moved.", field: "amount")
        }
    }
}

extension TallyAPI {
    /// The answer when CONTENT_LENGTH is above the limit: the body is not read.
    package func tooLarge(_ request: HTTPRequest) -> HTTPResponse {
        Self.payloadTooLarge(request).response(requestID: request.requestID)
    }

    private static func payloadTooLarge(_ request: HTTPRequest) -> APIError {
        let limit = maximumBodyBytes(path: request.path)
        let size = limit >= 1024 * 1024 ? "\(limit / (1024 * 1024)) MiB" : "\(limit / 1024) KiB"
        return APIError(
            status: 413, code: "payload_too_large", message: "The request body is larger than \(size).")
    }

    /// The answer when the body ended before CONTENT_LENGTH: nothing is applied from half a request.
    package func shortBody(_ request: HTTPRequest) -> HTTPResponse {
        APIError(
            status: 400, code: "incomplete_body",
            message: "The request body ended before the length it announced; nothing was applied."
        ).response(requestID: request.requestID)
    }
}
