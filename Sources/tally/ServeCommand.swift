import API
import FastCGI
import Glibc
import LedgerStore
import Postgres

/// `tally serve`: checks the schema, opens the socket and runs the supervisor.
enum ServeCommand {
    static func run(_ options: Options) throws -> Int32 {
        let workers = try options.integer("workers", environment: "TALLY_WORKERS", default: defaultWorkerCount())
        guard workers >= 1, workers <= 1024 else { throw UsageError(message: "--workers must be 1 to 1024") }
        let timeouts = Supervisor.Timeouts(
            stop: try options.seconds("stop-timeout", environment: "TALLY_STOP_TIMEOUT", default: 3),
            drain: try options.seconds("drain-timeout", environment: "TALLY_DRAIN_TIMEOUT", default: 30),
            request: try options.seconds("request-timeout", environment: "TALLY_REQUEST_TIMEOUT", default: 20),
            slowRequest: try options.seconds("slow-request", environment: "TALLY_SLOW_REQUEST", default: 1))
        let logFile = options.value("log-file", environment: "TALLY_LOG_FILE")

        let spool = try spoolSettings(options)
        do {
            try checkSchema(options.database)
        } catch let error as PostgresError where error.isUnavailable && spool != nil {
            // With a spool the pool is useful while the database is down (a restart during an outage must not
            // leave what is spooled unreplayed): start, and let the workers answer as the database allows.
            Log.event("warning", "the database is unreachable (\(error.message)); starting with the spool on")
        }

        // Keep fds 0-3 taken, so that the listening socket and the scoreboard are never one of them by accident.
        while true {
            let descriptor = open("/dev/null", O_RDONLY)
            if descriptor > 3 || descriptor < 0 {
                if descriptor > 3 { close(descriptor) }
                break
            }
        }
        if let logFile { try LogFile.open(logFile) }
        let listener = try openListener(options)
        let scoreboard = try Scoreboard.create(entryCount: 2 * workers + 8)

        let pool = options.value("pool", environment: "TALLY_POOL", default: "tally")!
        var workerArguments = [
            "tally", "worker", "--database", options.database, "--pool", pool, "--listen-address", listener.address,
        ]
        if let logFile { workerArguments += ["--log-file", logFile] }
        for name in ["retry-attempts", "max-requests", "idempotency-retention"] {
            if let value = options.value(name) { workerArguments += ["--\(name)", value] }
        }
        if let ttl = options.value("token-ttl", environment: "TALLY_TOKEN_TTL") {
            workerArguments += ["--token-ttl", ttl]
        }
        if options.value("purge-interval", environment: "TALLY_PURGE_INTERVAL") != nil {
            // Checked here, not in every worker.
            let interval = try options.integer("purge-interval", environment: "TALLY_PURGE_INTERVAL", default: 60)
            workerArguments += ["--purge-interval", String(interval)]
        }
        _ = try options.alertThresholds()  // refuse bad thresholds here, not in every worker
        var alertArguments: [String] = []
        for (name, environment) in Options.alertOptions {
            if let value = options.value(name, environment: environment) { alertArguments += ["--\(name)", value] }
        }
        workerArguments += alertArguments
        // Store and forward: the workers store into the spool, one companion process replays it.
        var replayer: Supervisor.WorkerCommand?
        if let spool {
            workerArguments += ["--spool", spool.directory, "--spool-max-bytes", String(spool.maximumBytes)]
            var replayArguments = ["tally", "replay", "--database", options.database, "--spool", spool.directory]
            if let logFile { replayArguments += ["--log-file", logFile] }
            if let value = options.value("retry-attempts") { replayArguments += ["--retry-attempts", value] }
            replayer = .init(executable: executablePath(), arguments: replayArguments + alertArguments)
        }
        let supervisor = Supervisor(
            listener: listener, workerCount: workers,
            command: .init(executable: executablePath(), arguments: workerArguments), companion: replayer,
            scoreboard: scoreboard,
            timeouts: timeouts, log: { level, message in Log.event(level, message) })
        return supervisor.run()
    }

    /// `--listen HOST:PORT` (TCP) or `--socket PATH` (a unix socket, the default way): exactly one.
    private static func openListener(_ options: Options) throws -> any Listener {
        // The command line wins over the environment: `--listen` ignores a TALLY_SOCKET, and the reverse.
        let onCommandLine = options.isGiven("listen") || options.isGiven("socket")
        let tcpAddress =
            onCommandLine ? options.value("listen") : options.value("listen", environment: "TALLY_LISTEN")
        let socketPath =
            onCommandLine ? options.value("socket") : options.value("socket", environment: "TALLY_SOCKET")
        switch (tcpAddress, socketPath) {
        case (let address?, nil):
            return try TCPListener(address: address)
        case (nil, let path?):
            let modeText = options.value("socket-mode", environment: "TALLY_SOCKET_MODE", default: "0660")!
            guard let mode = mode_t(modeText, radix: 8), mode <= 0o777 else {
                throw UsageError(message: "--socket-mode takes octal, such as 0660")
            }
            let group = options.value("socket-group", environment: "TALLY_SOCKET_GROUP", default: "www-data")!
            let owner = options.value("socket-owner", environment: "TALLY_SOCKET_OWNER")
            return try UnixSocketListener(
                path: path, mode: mode, owner: owner, group: group.isEmpty ? nil : group)
        case (.some, .some):
            throw UsageError(message: "give --listen HOST:PORT or --socket PATH, not both")
        case (nil, nil):
            throw UsageError(
                message: "serve needs --socket PATH (or TALLY_SOCKET) or --listen HOST:PORT (or TALLY_LISTEN)")
        }
    }

    /// `--spool DIR` (or TALLY_SPOOL) turns store and forward on; `--spool-max-bytes` (TALLY_SPOOL_MAX_BYTES,
    /// default 64 MiB) caps the spool file. The directory is made and opened here, so that a bad one stops the
    /// pool at start rather than failing in every worker.
    static func spoolSettings(_ options: Options) throws -> (directory: String, maximumBytes: Int)? {
        guard let directory = options.value("spool", environment: "TALLY_SPOOL"), !directory.isEmpty else {
            return nil
        }
        let maximumBytes = try options.integer(
            "spool-max-bytes", environment: "TALLY_SPOOL_MAX_BYTES", default: 64 << 20)
        guard maximumBytes >= 1024 else { throw UsageError(message: "--spool-max-bytes must be at least 1024") }
        do {
            _ = try RequestSpool(directory: directory, maximumBytes: maximumBytes)
        } catch {
            throw UsageError(message: "--spool \(directory): \(error)")
        }
        return (directory, maximumBytes)
    }

    /// Four workers per core, at least eight: a worker waits on PostgreSQL (the commit's fsync above all) for
    /// most of a request. The bench's scaling table chose it (docs/performance.md, the `scaling` scenario).
    static func defaultWorkerCount() -> Int {
        max(8, 4 * Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
    }

    private static func checkSchema(_ conninfo: String) throws {
        let connection = try Connection(conninfo: conninfo)
        let version = try Migrator(connection: connection).currentVersion()
        guard version >= Migration.latestVersion else {
            throw UsageError(
                message: "the database schema is at version \(version) and this build needs "
                    + "\(Migration.latestVersion): run `tally migrate` first")
        }
    }

    private static func executablePath() -> String {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let length = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard length > 0 else { return CommandLine.arguments[0] }
        return String(decoding: buffer[..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
