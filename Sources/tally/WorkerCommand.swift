import API
import FastCGI
import Glibc
import Ledger
import LedgerStore
import Postgres

/// `tally worker`: started by the supervisor with the listening socket as fd 0; serves requests
/// through the API over one database connection.
enum WorkerCommand {
    static func run(_ options: Options) throws -> Never {
        // A database that accepts connections but never answers must not hang a worker: give up after 2 s
        // (unless the operator chose otherwise).
        setenv("PGCONNECT_TIMEOUT", "2", 0)
        let retry = RetryPolicy(maxAttempts: try options.integer("retry-attempts", default: 10))
        let slot = options.value("worker-slot", default: "?")!
        let ledger = PostgresLedger(conninfo: options.database, retryPolicy: retry)
        let api = TallyAPI(
            ledger: ledger, tokenLifetimeSeconds: try options.integer("token-ttl", default: 86_400),
            alertRules: AlertRules(thresholds: try options.alertThresholds()))
        let worker = Worker(maximumBodyBytes: TallyAPI.maximumBodyBytes)
        let keyRetention = try options.integer("idempotency-retention", default: 86_400)
        var keyPurge = KeyPurgeSchedule(start: monotonicSeconds())
        worker.run(maximumRequests: try options.integer("max-requests", default: 0)) { request in
            let started = monotonicSeconds()
            if keyPurge.isDue(at: started) {
                _ = try? ledger.purgeIdempotencyKeys(olderThanSeconds: keyRetention)
            }
            let retriesBefore = ledger.serializationRetries
            let httpRequest = HTTPRequest(
                method: request.parameter("REQUEST_METHOD") ?? "GET",
                path: request.parameter("DOCUMENT_URI") ?? request.parameter("SCRIPT_NAME") ?? "/",
                query: request.parameter("QUERY_STRING") ?? "",
                idempotencyKey: request.parameter("HTTP_IDEMPOTENCY_KEY"),
                authorization: request.parameter("HTTP_AUTHORIZATION"),
                body: request.body,
                requestID: request.parameter("REQUEST_ID") ?? "-")
            let response: HTTPResponse
            if request.isBodyTooLarge {
                response = api.tooLarge(httpRequest)
            } else if request.isBodyShort {
                response = api.shortBody(httpRequest)
            } else {
                response = api.handle(httpRequest)
            }
            var fields: [(String, JSONValue)] = [
                ("level", .string(response.logNote == nil ? "info" : "error")),
                ("request_id", .string(httpRequest.requestID)),
                ("method", .string(httpRequest.method)),
                ("path", .string(httpRequest.path)),
                ("status", .number(String(response.status))),
                ("duration_ms", .number(String(format3((monotonicSeconds() - started) * 1000)))),
                ("retries", .number(String(ledger.serializationRetries - retriesBefore))),
                ("worker", .string(slot)),
            ]
            if let note = response.logNote { fields.append(("note", .string(note))) }
            Log.line(fields)
            return FastCGIResponse(
                status: response.status, reason: response.reason, headers: response.headers, body: response.body)
        }
    }

    /// When this worker next deletes expired idempotency keys: every ten minutes or so, at a random
    /// offset per worker so that the pool's workers do not all purge at once.
    struct KeyPurgeSchedule {
        private var next: Double

        init(start: Double) {
            next = start + Double.random(in: 0...600)
        }

        mutating func isDue(at time: Double) -> Bool {
            guard time >= next else { return false }
            next = time + 600 + Double.random(in: 0...60)
            return true
        }
    }

    private static func monotonicSeconds() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
    }

    private static func format3(_ value: Double) -> String {
        let thousandths = Int((value * 1000).rounded())
        let fraction = thousandths % 1000
        return "\(thousandths / 1000).\(fraction < 10 ? "00" : fraction < 100 ? "0" : "")\(fraction)"
    }
}
