import LedgerStore
import Postgres

/// `tally serve`'s options with their environment variables and defaults: the one place they are declared
/// (docs/operations.md's Configuration table is checked against what `tally serve --help` shows of them).
enum ServeSettings {
    static let socket = Setting<String>("socket", environment: "TALLY_SOCKET", shown: "(this or --listen)")
    static let socketMode = Setting<String>("socket-mode", environment: "TALLY_SOCKET_MODE", default: "0660")
    static let socketOwner = Setting<String>(
        "socket-owner", environment: "TALLY_SOCKET_OWNER", shown: "the pool's user")
    static let socketGroup = Setting<String>("socket-group", environment: "TALLY_SOCKET_GROUP", default: "www-data")
    static let listen = Setting<String>("listen", environment: "TALLY_LISTEN", shown: "(this or --socket)")
    static let workers = Setting<Int>(
        "workers", environment: "TALLY_WORKERS", computedDefault: ServeCommand.defaultWorkerCount,
        shown: "4 × cores, at least 8")
    static let batchWorkers = Setting<Int>("batch-workers", environment: "TALLY_BATCH_WORKERS", default: 2)
    static let batchSocket = Setting<String>(
        "batch-socket", environment: "TALLY_BATCH_SOCKET", shown: "beside --socket, NAME-batches.sock")
    static let batchListen = Setting<String>(
        "batch-listen", environment: "TALLY_BATCH_LISTEN", shown: "with --listen, the next port")
    static let requestTimeout = Setting<Double>(
        seconds: "request-timeout", environment: "TALLY_REQUEST_TIMEOUT", default: 20)
    /// How long a request whose commit went unconfirmed waits for the database to say whether it committed: a
    /// restart takes a second or two; a failover to a replica (see docs/operations.md#high-availability) longer.
    static let inDoubtPatience = Setting<Double>(
        seconds: "in-doubt-patience", environment: "TALLY_IN_DOUBT_PATIENCE", default: 3)
    static let slowRequest = Setting<Double>(seconds: "slow-request", environment: "TALLY_SLOW_REQUEST", default: 1)
    static let stopTimeout = Setting<Double>(seconds: "stop-timeout", environment: "TALLY_STOP_TIMEOUT", default: 3)
    static let drainTimeout = Setting<Double>(
        seconds: "drain-timeout", environment: "TALLY_DRAIN_TIMEOUT", default: 30)
    static let logFile = Setting<String>("log-file", environment: "TALLY_LOG_FILE", shown: "stderr")
    static let pool = Setting<String>("pool", environment: "TALLY_POOL", default: "tally")
    // These three are the command line's only.
    static let retryAttempts = Setting<Int>("retry-attempts", default: RetryPolicy().maxAttempts)
    static let maxRequests = Setting<Int>("max-requests", default: 0, shown: "0 (never)")
    static let idempotencyRetention = Setting<Int>("idempotency-retention", default: 86_400)
    static let purgeInterval = Setting<Int>(
        "purge-interval", environment: "TALLY_PURGE_INTERVAL", default: Int(KeyPurge.defaultInterval))
    static let tokenTTL = Setting<Int>("token-ttl", environment: "TALLY_TOKEN_TTL", default: 86_400)
    static let spool = Setting<String>("spool", environment: "TALLY_SPOOL", shown: "(off)")
    static let spoolMaximumBytes = Setting<Int>(
        "spool-max-bytes", environment: "TALLY_SPOOL_MAX_BYTES", default: 64 << 20)
}
