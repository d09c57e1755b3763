import FastCGI
import Glibc
import LedgerStore
import Postgres

/// `tally serve`: checks the schema, opens the socket and runs the supervisor.
enum ServeCommand {
    static func run(_ options: Options) throws -> Int32 {
        guard let socketPath = options.value("socket", environment: "TALLY_SOCKET") else {
            throw UsageError(message: "serve needs --socket PATH (or TALLY_SOCKET)")
        }
        let workers = try options.integer("workers", environment: "TALLY_WORKERS", default: defaultWorkerCount())
        guard workers >= 1 else { throw UsageError(message: "--workers must be at least 1") }
        let modeText = options.value("socket-mode", environment: "TALLY_SOCKET_MODE", default: "0660")!
        guard let mode = mode_t(modeText, radix: 8) else {
            throw UsageError(message: "--socket-mode takes octal, such as 0660")
        }
        let group = options.value("socket-group", environment: "TALLY_SOCKET_GROUP", default: "www-data")!

        try checkSchema(options.database)

        // Keep fds 0-2 taken, so that the listening socket is never one of them by accident.
        if fcntl(0, F_GETFD) == -1 { _ = open("/dev/null", O_RDONLY) }
        let listener = try UnixSocketListener(path: socketPath, mode: mode, group: group.isEmpty ? nil : group)

        var workerArguments = ["tally", "worker", "--database", options.database]
        for name in ["retry-attempts", "max-requests", "idempotency-retention"] {
            if let value = options.value(name) { workerArguments += ["--\(name)", value] }
        }
        if let ttl = options.value("token-ttl", environment: "TALLY_TOKEN_TTL") {
            workerArguments += ["--token-ttl", ttl]
        }
        _ = try options.alertThresholds()  // refuse bad thresholds here, not in every worker
        for (name, environment) in Options.alertOptions {
            if let value = options.value(name, environment: environment) { workerArguments += ["--\(name)", value] }
        }
        let supervisor = Supervisor(
            listener: listener, workerCount: workers,
            command: .init(executable: executablePath(), arguments: workerArguments),
            log: { level, message in Log.event(level, message) })
        return supervisor.run()
    }

    /// Two workers per core, at least four: a worker waits on PostgreSQL for most of a request.
    static func defaultWorkerCount() -> Int {
        max(4, 2 * Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
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
