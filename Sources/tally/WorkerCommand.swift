import API
import ArgumentParser
import FastCGI
import Glibc
import Ledger
import LedgerStore
import Postgres

/// `tally worker`: started by the supervisor with the listening socket as fd 0; serves requests
/// through the API over one database connection. Its options are read once, before the first request.
struct WorkerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker", abstract: "One worker of the pool (started by `tally serve`).", shouldDisplay: false)

    // The supervisor passes what `serve` read; a worker reads no environment of its own but the database's and
    // the alerts' (the same values `serve` passed on).
    static let retryAttempts = Setting<Int>("retry-attempts", default: RetryPolicy().maxAttempts)
    static let maxRequests = Setting<Int>("max-requests", default: 0)
    static let idempotencyRetention = Setting<Int>("idempotency-retention", default: 86_400)
    static let purgeInterval = Setting<Int>("purge-interval", default: Int(KeyPurge.defaultInterval))
    static let tokenTTL = Setting<Int>("token-ttl", default: 86_400)
    static let spoolMaximumBytes = Setting<Int>("spool-max-bytes", default: 64 << 20)
    static let scoreboardEntry = Setting<Int>("scoreboard-entry", default: nil)
    static let inDoubtPatience = Setting<Double>(seconds: "in-doubt-patience", environment: nil, default: 3)

    @OptionGroup var database: DatabaseOption
    @OptionGroup var alerts: AlertOptions
    @Option(parsing: .unconditional) var pool = "tally"
    @Option(parsing: .unconditional) var listenAddress = "-"
    @Option(parsing: .unconditional) var batchListenAddress = ""
    @Option(parsing: .unconditional) var logFile: String?
    @Option(parsing: .unconditional) var retryAttempts: String?
    @Option(parsing: .unconditional) var inDoubtPatience: String?
    @Option(parsing: .unconditional) var maxRequests: String?
    @Option(parsing: .unconditional) var idempotencyRetention: String?
    @Option(parsing: .unconditional) var purgeInterval: String?
    @Option(parsing: .unconditional) var tokenTTL: String?
    @Option(parsing: .unconditional) var spool: String?
    @Option(name: .customLong("spool-max-bytes"), parsing: .unconditional) var spoolMaximumBytes: String?
    @Option(parsing: .unconditional) var workerSlot = "?"
    @Option(parsing: .unconditional) var supervisorPid: String?
    @Option(parsing: .unconditional) var scoreboardEntry: String?

    func run() throws {
        // A database that accepts connections but never answers must not hang a worker: give up after 2 s
        // (unless the operator chose otherwise).
        setenv("PGCONNECT_TIMEOUT", "2", 0)
        DeadlineCancel.armOnSignal()
        if let logFile { try LogFile.open(logFile) }
        let retry = RetryPolicy(maxAttempts: try Self.retryAttempts.value(retryAttempts)!)
        let ledger = PostgresLedger(
            conninfo: database.conninfo, retryPolicy: retry,
            inDoubtPatience: try Self.inDoubtPatience.value(inDoubtPatience)!)
        let spool = try spool.map { directory in
            try RequestSpool(directory: directory, maximumBytes: try Self.spoolMaximumBytes.value(spoolMaximumBytes)!)
        }
        let api = TallyAPI(
            ledger: ledger, tokenLifetimeSeconds: try Self.tokenTTL.value(tokenTTL)!,
            alertRules: AlertRules(thresholds: try alerts.thresholds()), spool: spool)
        let score = Scoreboard.attach().flatMap {
            WorkerScore(scoreboard: $0, entry: (try? Self.scoreboardEntry.value(scoreboardEntry)) ?? -1)
        }
        let handler = RequestHandler(
            api: api, ledger: ledger, score: score,
            report: PoolReport(
                pool: pool, listen: listenAddress, batchListen: batchListenAddress,
                routeLabels: TallyAPI.routeTemplates + RequestHandler.poolRoutes),
            slot: workerSlot,
            keyRetentionSeconds: try Self.idempotencyRetention.value(idempotencyRetention)!,
            purgeIntervalSeconds: try Self.purgeInterval.value(purgeInterval)!)
        let worker = Worker { TallyAPI.maximumBodyBytes(path: FastCGIParameters.text($0.documentURI)) }
        worker.run(
            maximumRequests: try Self.maxRequests.value(maxRequests)!, score: score,
            supervisor: supervisorPid.flatMap { pid_t($0) }
        ) { request in
            handler.handle(request)
        } afterResponse: {
            handler.maintain()
        }
    }
}
