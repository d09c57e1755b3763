import FastCGI
import Glibc

/// tally: the ledger's command line. Each command wires the modules together and does one job.
let usage = """
    usage: tally COMMAND [--option value]...
      serve    --socket PATH [--socket-mode 0660] [--socket-owner USER] [--socket-group www-data]
               | --listen HOST:PORT   (TCP; a bare PORT means 127.0.0.1)
               [--workers N] [--database CONNINFO] [--max-requests N] [--retry-attempts N]
               [--request-timeout 20] [--slow-request 1] [--stop-timeout 3] [--drain-timeout 30]
               [--log-file PATH] (SIGUSR1 reopens it) [--pool NAME]
               [--idempotency-retention SECONDS]  (default 86400: keys are kept at least 24 h)
               [--token-ttl SECONDS]  (default 86400: how long a log-in token lives)
               [--purge-interval SECONDS]  (default 60: each worker's turn at deleting expired keys and
               tokens that ended over a day ago; also $TALLY_PURGE_INTERVAL)
               [--alert-large-withdrawal 100.00] [--alert-consecutive-withdrawals 3]
               [--alert-increasing-deposits 3] [--alert-window-seconds 30] [--alert-window-total 200.00]
               [--spool DIR] [--spool-max-bytes 67108864]  (store and forward while the database is down)
      migrate  [--database CONNINFO]     apply the schema migrations the database lacks (as the owner; with
                                         TALLY_POOL_PASSWORD set, then set the password of role tally_pool)
      verify   [--database CONNINFO]     recompute every balance from the journal
      admin-token [--database CONNINFO] [--ttl SECONDS]   print a new service-role token
    CONNINFO is a libpq connection string (default: $TALLY_DATABASE, else "dbname=tally").
    """

do {
    let options = try Options(arguments: CommandLine.arguments)
    let status: Int32
    switch options.command {
    case "serve": status = try ServeCommand.run(options)
    case "worker": try WorkerCommand.run(options)
    case "replay": try ReplayCommand.run(options)
    case "migrate": status = try MigrateCommand.run(options)
    case "verify": status = try VerifyCommand.run(options)
    case "admin-token": status = try AdminTokenCommand.run(options)
    case "help", "--help", "-h":
        print(usage)
        status = 0
    default:
        throw UsageError(message: "unknown command \(options.command)")
    }
    exit(status)
} catch let error as UsageError {
    writeError("tally: \(error.message)\n\(usage)\n")
    exit(2)
} catch {
    writeError("tally: \(error)\n")
    exit(1)
}
