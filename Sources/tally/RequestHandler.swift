import API
import FastCGI
import Glibc
import LedgerStore
import SystemSupport

/// One worker's answer to each request: the pool's own pages (/api/status, /api/metrics) or the ledger API;
/// then the request log line and the worker's counters in the pool's scoreboard.
final class RequestHandler {
    /// Routes the pool answers itself, from the scoreboard; the API answers every other path.
    static let poolRoutes = ["GET /api/status", "GET /api/metrics"]

    private let api: TallyAPI
    private let ledger: PostgresLedger
    private let score: WorkerScore?
    private let report: PoolReport
    private let slot: String
    private var keyPurge: KeyPurge
    /// The ledger's counters when last added to the scoreboard.
    private var counted = LedgerCounts()

    init(
        api: TallyAPI, ledger: PostgresLedger, score: WorkerScore?, report: PoolReport, slot: String,
        keyRetentionSeconds: Int, purgeIntervalSeconds: Int = Int(KeyPurge.defaultInterval)
    ) {
        self.api = api
        self.ledger = ledger
        self.score = score
        self.report = report
        self.slot = slot
        self.keyPurge = KeyPurge(
            retentionSeconds: keyRetentionSeconds, start: MonotonicClock.seconds(),
            interval: Double(purgeIntervalSeconds))
    }

    func handle(_ request: FastCGIRequest) -> FastCGIResponse {
        let started = MonotonicClock.microseconds()
        let retriesBefore = ledger.serializationRetries
        let parameters = request.parameters
        let text = FastCGIParameters.text
        let httpRequest = HTTPRequest(
            method: text(parameters.requestMethod) ?? "GET",
            path: text(parameters.documentURI) ?? text(parameters.scriptName) ?? "/",
            query: text(parameters.queryString) ?? "",
            idempotencyKey: text(parameters.idempotencyKey),
            authorization: text(parameters.authorization),
            body: request.body,
            requestID: text(parameters.requestID) ?? "-",
            clientAddress: text(parameters.remoteAddress) ?? "",
            requestURI: text(parameters.requestURI))
        var contentType = "application/json"
        let response: HTTPResponse
        if request.isBodyTooLarge {
            response = api.tooLarge(httpRequest)
        } else if request.isBodyShort {
            response = api.shortBody(httpRequest)
        } else if let page = poolPage(httpRequest) {
            (response, contentType) = page
        } else {
            response = api.handle(httpRequest)
        }
        addLedgerCounts()
        Log.request(
            level: response.logNote == nil ? .info : .error, requestID: httpRequest.requestID,
            method: httpRequest.method, path: httpRequest.path, status: response.status,
            durationMicroseconds: MonotonicClock.microseconds() - started,
            retries: ledger.serializationRetries - retriesBefore, worker: slot, note: response.logNote)
        return FastCGIResponse(
            status: response.status, reason: response.reason, headers: response.headers, body: response.body,
            contentType: contentType, route: report.routeIndex(response.route))
    }

    /// Work between requests, once the last answer has gone out: the worker's turn at purging expired keys
    /// and ended tokens.
    func maintain() {
        // Most responses are not a turn: then nothing ran, and there is nothing to count.
        guard let purged = keyPurge.runIfDue(ledger, now: MonotonicClock.seconds) else { return }
        addLedgerCounts()
        if purged.keys > 0 {
            Log.event(
                .info, "purged \(purged.keys) idempotency keys past their retention", [("worker", .string(slot))])
        }
        if purged.tokens > 0 {
            Log.event(
                .info, "purged \(purged.tokens) tokens that ended more than \(KeyPurge.tokenGraceSeconds) s ago",
                [("worker", .string(slot))])
        }
    }

    /// /api/status (JSON) and /api/metrics (Prometheus text): the whole pool's figures. nginx lets only
    /// localhost reach them.
    private func poolPage(_ request: HTTPRequest) -> (HTTPResponse, contentType: String)? {
        let isStatus = request.path == "/api/status"
        guard isStatus || request.path == "/api/metrics" else { return nil }
        var response: HTTPResponse
        var contentType = "application/json"
        if request.method != "GET" {
            response = APIError.methodNotAllowed(request.method, allowed: ["GET"]).response(
                requestID: request.requestID)
        } else if let scoreboard = score?.scoreboard {
            if isStatus {
                response = HTTPResponse(
                    status: 200, body: report.statusJSON(scoreboard.snapshot(), now: Int64(time(nil))))
            } else {
                response = HTTPResponse(status: 200, body: report.metricsText(scoreboard.snapshot()))
                contentType = "text/plain; version=0.0.4; charset=utf-8"
            }
        } else {
            response = APIError.unavailable("This worker was started without the pool's scoreboard.")
                .response(requestID: request.requestID)
        }
        response.route = isStatus ? Self.poolRoutes[0] : Self.poolRoutes[1]
        return (response, contentType)
    }

    /// Adds what the ledger counted during the request to the worker's scoreboard entry.
    private func addLedgerCounts() {
        guard let score else { return }
        let now = LedgerCounts(ledger)
        score.add(.serializationRetries, now.retries - counted.retries)
        score.add(.retriesExhausted, now.exhausted - counted.exhausted)
        score.add(.databaseReconnects, now.reconnects - counted.reconnects)
        score.add(.movements, now.movements - counted.movements)
        counted = now
    }

    private struct LedgerCounts {
        var retries = 0, exhausted = 0, reconnects = 0, movements = 0

        init() {}

        init(_ ledger: PostgresLedger) {
            retries = ledger.serializationRetries
            exhausted = ledger.retriesExhausted
            reconnects = ledger.reconnects
            movements = ledger.movementsApplied
        }
    }
}
