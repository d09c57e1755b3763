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
        DeadlineCancel.armOnSignal()
        if let logFile = options.value("log-file") { try LogFile.open(logFile) }
        let retry = RetryPolicy(maxAttempts: try options.integer("retry-attempts", default: RetryPolicy().maxAttempts))
        let ledger = PostgresLedger(conninfo: options.database, retryPolicy: retry)
        let spool = try options.value("spool").map {
            try RequestSpool(directory: $0, maximumBytes: try options.integer("spool-max-bytes", default: 64 << 20))
        }
        let api = TallyAPI(
            ledger: ledger, tokenLifetimeSeconds: try options.integer("token-ttl", default: 86_400),
            alertRules: AlertRules(thresholds: try options.alertThresholds()), spool: spool)
        let score = Scoreboard.attach().flatMap {
            WorkerScore(scoreboard: $0, entry: (try? options.integer("scoreboard-entry", default: -1)) ?? -1)
        }
        let handler = RequestHandler(
            api: api, ledger: ledger, score: score,
            report: PoolReport(
                pool: options.value("pool", default: "tally")!,
                listen: options.value("listen-address", default: "-")!,
                routeLabels: TallyAPI.routeTemplates + RequestHandler.poolRoutes),
            slot: options.value("worker-slot", default: "?")!,
            keyRetentionSeconds: try options.integer("idempotency-retention", default: 86_400),
            purgeIntervalSeconds: try options.integer("purge-interval", default: Int(KeyPurge.defaultInterval)))
        let worker = Worker(maximumBodyBytes: TallyAPI.maximumBodyBytes)
        let supervisor = options.value("supervisor-pid").flatMap { pid_t($0) }
        worker.run(
            maximumRequests: try options.integer("max-requests", default: 0), score: score, supervisor: supervisor
        ) { request in
            handler.handle(request)
        } afterResponse: {
            handler.maintain()
        }
    }
}
