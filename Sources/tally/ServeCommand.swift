import API
import ArgumentParser
import FastCGI
import Glibc
import LedgerStore
import Postgres
import SystemSupport

/// `tally serve`: checks the schema, opens the socket and runs the supervisor.
struct ServeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the FastCGI pool: a supervisor and its workers, each with one PostgreSQL connection.",
        discussion: """
            Each option may also come from the environment variable named beside it: the command line first, \
            then the environment, then the default. SIGTERM stops the pool, SIGQUIT drains it, SIGUSR1 \
            reopens the log file (docs/operations.md).
            """)
    typealias S = ServeSettings

    @Option(
        parsing: .unconditional,
        help: S.socket.help(
            "the FastCGI unix socket; a live pool's socket is refused, a stale one replaced", valueName: "PATH"))
    var socket: String?
    @Option(parsing: .unconditional, help: S.socketMode.help("its mode, in octal", valueName: "MODE"))
    var socketMode: String?
    @Option(parsing: .unconditional, help: S.socketOwner.help("its owner", valueName: "USER"))
    var socketOwner: String?
    @Option(parsing: .unconditional, help: S.socketGroup.help("its group; empty: the pool's", valueName: "GROUP"))
    var socketGroup: String?
    @Option(
        parsing: .unconditional,
        help: S.listen.help("FastCGI over TCP: HOST:PORT, or a bare PORT (127.0.0.1)", valueName: "ADDRESS"))
    var listen: String?
    @Option(
        parsing: .unconditional,
        help: S.workers.help("worker processes (each one PostgreSQL connection), 1 to 1024", valueName: "N"))
    var workers: String?
    @Option(
        parsing: .unconditional,
        help: S.batchWorkers.help(
            "workers of the batch lane, which alone take POST /api/batches on a socket of their own; 0: no lane",
            valueName: "N"))
    var batchWorkers: String?
    @Option(
        parsing: .unconditional,
        help: S.batchSocket.help(
            "the batch lane's unix socket (mode, owner and group as --socket's)", valueName: "PATH"))
    var batchSocket: String?
    @Option(
        parsing: .unconditional, help: S.batchListen.help("the batch lane over TCP: HOST:PORT", valueName: "ADDRESS"))
    var batchListen: String?
    @Option(
        parsing: .unconditional,
        help: S.requestTimeout.help("a longer request has its worker killed and replaced; 0: off", valueName: "S"))
    var requestTimeout: String?
    @Option(
        parsing: .unconditional,
        help: S.inDoubtPatience.help(
            "how long a request whose commit went unconfirmed waits for the database's word on it", valueName: "S"))
    var inDoubtPatience: String?
    @Option(
        parsing: .unconditional,
        help: S.slowRequest.help("a longer request is logged once as slow; 0: off", valueName: "S"))
    var slowRequest: String?
    @Option(
        parsing: .unconditional,
        help: S.stopTimeout.help("SIGTERM/SIGINT: how long requests in flight may take", valueName: "S"))
    var stopTimeout: String?
    @Option(parsing: .unconditional, help: S.drainTimeout.help("SIGQUIT: the same, for a drain", valueName: "S"))
    var drainTimeout: String?
    @Option(parsing: .unconditional, help: S.logFile.help("the pool's JSON log; SIGUSR1 reopens it", valueName: "PATH"))
    var logFile: String?
    @Option(parsing: .unconditional, help: S.pool.help("the pool's name on /api/status", valueName: "NAME"))
    var pool: String?
    @OptionGroup var database: DatabaseOption
    @Option(
        parsing: .unconditional,
        help: S.retryAttempts.help("attempts for a transaction that fails to serialize", valueName: "N"))
    var retryAttempts: String?
    @Option(parsing: .unconditional, help: S.maxRequests.help("recycle a worker after N requests", valueName: "N"))
    var maxRequests: String?
    @Option(
        parsing: .unconditional,
        help: S.idempotencyRetention.help("seconds an idempotency key is kept (at least)", valueName: "S"))
    var idempotencyRetention: String?
    @Option(
        parsing: .unconditional,
        help: S.purgeInterval.help("how often each worker purges expired keys and tokens", valueName: "S"))
    var purgeInterval: String?
    @Option(parsing: .unconditional, help: S.tokenTTL.help("seconds a log-in token lives", valueName: "S"))
    var tokenTTL: String?
    @OptionGroup var alerts: AlertOptions
    @Option(
        parsing: .unconditional,
        help: S.spool.help("store and forward while the database is down, in this folder", valueName: "DIR"))
    var spool: String?
    @Option(
        name: .customLong("spool-max-bytes"), parsing: .unconditional,
        help: S.spoolMaximumBytes.help("the spool file's largest size; beyond it, 503", valueName: "N"))
    var spoolMaximumBytes: String?

    func run() throws {
        guard let workers = try S.workers.value(workers), workers >= 1, workers <= 1024 else {
            throw UsageError(message: "--workers must be 1 to 1024")
        }
        guard let batchWorkers = try S.batchWorkers.value(batchWorkers), batchWorkers <= 1024 else {
            throw UsageError(message: "--batch-workers must be 0 to 1024")
        }
        let timeouts = Supervisor.Timeouts(
            stop: try S.stopTimeout.value(stopTimeout)!, drain: try S.drainTimeout.value(drainTimeout)!,
            request: try S.requestTimeout.value(requestTimeout)!, slowRequest: try S.slowRequest.value(slowRequest)!)
        let logFile = S.logFile.string(logFile)
        // Checked here, not in every worker: a value a worker cannot read would stop each one at start.
        let workerSettings = try workerArguments()
        _ = try alerts.thresholds()

        let spool = try spoolSettings()
        do {
            try checkSchema(database.conninfo)
        } catch let error as PostgresError where error.isUnavailable && spool != nil {
            // With a spool the pool is useful while the database is down (a restart during an outage must not
            // leave what is spooled unreplayed): start, and let the workers answer as the database allows.
            Log.event(.warning, "the database is unreachable (\(error.message)); starting with the spool on")
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
        let listener = try openListener()
        var lanes = [Supervisor.Lane(.main, listener: listener, workerCount: workers)]
        if batchWorkers > 0 {
            lanes.append(.init(.batches, listener: try openBatchListener(beside: listener), workerCount: batchWorkers))
        }
        let scoreboard = try Scoreboard.create(entryCount: 2 * (workers + batchWorkers) + 8)

        var workerArguments = [
            "tally", "worker", "--database", database.conninfo, "--pool", S.pool.string(pool)!,
            "--listen-address", listener.address,
        ]
        if lanes.count > 1 { workerArguments += ["--batch-listen-address", lanes[1].listener.address] }
        if let logFile { workerArguments += ["--log-file", logFile] }
        workerArguments += workerSettings + alerts.arguments
        // Store and forward: the workers store into the spool, one companion process replays it.
        var replayer: Supervisor.WorkerCommand?
        if let spool {
            workerArguments += ["--spool", spool.directory, "--spool-max-bytes", String(spool.maximumBytes)]
            var replayArguments = ["tally", "replay", "--database", database.conninfo, "--spool", spool.directory]
            if let logFile { replayArguments += ["--log-file", logFile] }
            if let retryAttempts { replayArguments += ["--retry-attempts", retryAttempts] }
            replayArguments += try inDoubtPatienceArguments()
            replayer = .init(executable: Self.executablePath(), arguments: replayArguments + alerts.arguments)
        }
        let supervisor = Supervisor(
            lanes: lanes,
            command: .init(executable: Self.executablePath(), arguments: workerArguments), companion: replayer,
            scoreboard: scoreboard,
            timeouts: timeouts, log: { level, message in Log.event(level, message) })
        let status = supervisor.run()
        if status != 0 { throw ExitCode(status) }
    }

    /// The options the workers take as `serve` was given them (each read here first, so that a bad one stops
    /// `serve`): those of the command line only, and those with an environment variable, from either.
    private func workerArguments() throws(UsageError) -> [String] {
        var arguments: [String] = []
        func pass(_ setting: Setting<Int>, _ given: String?) throws(UsageError) {
            guard let text = setting.text(given) else { return }
            arguments += ["--\(setting.name)", String(try setting.parse(text, "--\(setting.name)"))]
        }
        try pass(S.retryAttempts, retryAttempts)
        try pass(S.maxRequests, maxRequests)
        try pass(S.idempotencyRetention, idempotencyRetention)
        try pass(S.tokenTTL, tokenTTL)
        try pass(S.purgeInterval, purgeInterval)
        return arguments + (try inDoubtPatienceArguments())
    }

    /// `--in-doubt-patience S` for the workers and the replayer, when it was set.
    private func inDoubtPatienceArguments() throws(UsageError) -> [String] {
        guard let text = S.inDoubtPatience.text(inDoubtPatience) else { return [] }
        return ["--in-doubt-patience", String(try S.inDoubtPatience.parse(text, "--in-doubt-patience"))]
    }

    /// `--listen HOST:PORT` (TCP) or `--socket PATH` (a unix socket, the default way): exactly one.
    private func openListener() throws -> any Listener {
        // The command line wins over the environment: `--listen` ignores a TALLY_SOCKET, and the reverse.
        let onCommandLine = listen != nil || socket != nil
        let tcpAddress = onCommandLine ? listen : S.listen.string(nil)
        let socketPath = onCommandLine ? socket : S.socket.string(nil)
        switch (tcpAddress, socketPath) {
        case (let address?, nil):
            return try TCPListener(address: address)
        case (nil, let path?):
            return try unixListener(path: path)
        case (.some, .some):
            throw UsageError(message: "give --listen HOST:PORT or --socket PATH, not both")
        case (nil, nil):
            throw UsageError(
                message: "serve needs --socket PATH (or TALLY_SOCKET) or --listen HOST:PORT (or TALLY_LISTEN)")
        }
    }

    /// The batch lane's socket: `--batch-listen HOST:PORT` or `--batch-socket PATH`, else beside the main one
    /// (`tally.sock` gives `tally-batches.sock`, with the same mode, owner and group, so that nginx reaches it;
    /// `--listen 127.0.0.1:9000` gives 127.0.0.1:9001).
    private func openBatchListener(beside main: any Listener) throws -> any Listener {
        let onCommandLine = batchListen != nil || batchSocket != nil
        let tcpAddress = onCommandLine ? batchListen : S.batchListen.string(nil)
        let socketPath = onCommandLine ? batchSocket : S.batchSocket.string(nil)
        switch (tcpAddress, socketPath) {
        case (let address?, nil):
            return try TCPListener(address: address)
        case (nil, let path?):
            return try unixListener(path: path)
        case (.some, .some):
            throw UsageError(message: "give --batch-listen HOST:PORT or --batch-socket PATH, not both")
        case (nil, nil):
            if let main = main as? UnixSocketListener {
                return try unixListener(path: UnixSocketListener.siblingPath(of: main.path, suffix: "-batches"))
            }
            let (host, port) = try TCPListener.split(main.address)
            guard let number = UInt16(port), number < UInt16.max else {
                throw UsageError(message: "give --batch-listen HOST:PORT for the batch lane")
            }
            return try TCPListener(address: (host.contains(":") ? "[\(host)]" : host) + ":\(number + 1)")
        }
    }

    /// A unix socket with `--socket-mode`, `--socket-owner` and `--socket-group`.
    private func unixListener(path: String) throws -> UnixSocketListener {
        let modeText = S.socketMode.string(socketMode)!
        guard let mode = mode_t(modeText, radix: 8), mode <= 0o777 else {
            throw UsageError(message: "--socket-mode takes octal, such as 0660")
        }
        let group = S.socketGroup.string(socketGroup)!
        return try UnixSocketListener(
            path: path, mode: mode, owner: S.socketOwner.string(socketOwner), group: group.isEmpty ? nil : group)
    }

    /// `--spool DIR` (or TALLY_SPOOL) turns store and forward on; `--spool-max-bytes` caps the spool file. The
    /// directory is made and opened here, so that a bad one stops the pool at start rather than failing in every
    /// worker.
    private func spoolSettings() throws -> (directory: String, maximumBytes: Int)? {
        guard let directory = S.spool.string(spool), !directory.isEmpty else { return nil }
        let maximumBytes = try S.spoolMaximumBytes.value(spoolMaximumBytes)!
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
    @Sendable static func defaultWorkerCount() -> Int {
        max(8, 4 * Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
    }

    private func checkSchema(_ conninfo: String) throws {
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
