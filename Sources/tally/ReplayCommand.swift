import API
import ArgumentParser
import FastCGI
import Glibc
import Ledger
import LedgerStore
import Postgres
import Spool
import SystemSupport

/// `tally replay`: the pool's one replayer of the spool, started and restarted by the supervisor when `serve`
/// has `--spool`. Holds DIR/replay.lock (a second pool on the same spool waits for it), keeps the spool's depth
/// and oldest entry in the scoreboard, and applies what waits whenever the database answers.
struct ReplayCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay", abstract: "The pool's replayer of its spool (started by `tally serve --spool`).",
        shouldDisplay: false)

    @OptionGroup var database: DatabaseOption
    @OptionGroup var alerts: AlertOptions
    @Option(parsing: .unconditional) var spool: String
    @Option(parsing: .unconditional) var logFile: String?
    @Option(parsing: .unconditional) var retryAttempts: String?
    @Option(parsing: .unconditional) var inDoubtPatience: String?
    @Option(parsing: .unconditional) var supervisorPid: String?

    func run() throws {
        setenv("PGCONNECT_TIMEOUT", "2", 0)
        CompanionProcess.stopWithSupervisor(supervisorPid.flatMap { pid_t($0) })
        if let logFile { try LogFile.open(logFile) }
        let directory = spool
        let spool = try RequestSpool(directory: directory, maximumBytes: .max)
        let retry = RetryPolicy(maxAttempts: try WorkerCommand.retryAttempts.value(retryAttempts)!)
        let ledger = PostgresLedger(
            conninfo: database.conninfo, retryPolicy: retry,
            inDoubtPatience: try WorkerCommand.inDoubtPatience.value(inDoubtPatience)!)
        let replayer = SpoolReplayer(
            api: TallyAPI(ledger: ledger, alertRules: AlertRules(thresholds: try alerts.thresholds())),
            spool: spool)
        let scoreboard = Scoreboard.attach()

        var lock = try ReplayLock.acquire(directory: directory)
        if lock == nil { Log.event(.info, "replay: another process replays \(directory); waiting for its lock") }
        var lastUnavailableLog = 0.0
        while true {
            if lock == nil { lock = try ReplayLock.acquire(directory: directory) }
            if lock != nil {
                do {
                    let (depth, oldest) = try spool.figures()
                    scoreboard?.set(.spoolDepth, Int64(depth))
                    scoreboard?.set(.spoolOldest, oldest ?? 0)
                    if depth > 0, ledger.isDatabaseUp() {
                        _ = try replayer.replayPending { request, result in
                            log(request, result, lastUnavailableLog: &lastUnavailableLog)
                        }
                        let (depth, oldest) = try spool.figures()
                        scoreboard?.set(.spoolDepth, Int64(depth))
                        scoreboard?.set(.spoolOldest, oldest ?? 0)
                    }
                } catch {
                    Log.event(.error, "replay: \(error)")
                    sleepSeconds(1)
                }
            }
            sleepSeconds(0.2)
        }
    }

    private func log(_ request: SpooledRequest?, _ result: ReplayResult, lastUnavailableLog: inout Double) {
        var fields: [(String, JSONValue)] = [("replay", .string(request?.idempotencyKey ?? "-"))]
        if let request {
            fields += [
                ("request_id", .string(request.requestID)), ("method", .string(request.method)),
                ("path", .string(request.path)),
            ]
        }
        switch result {
        case .applied(let status):
            fields += [
                ("level", .string(LogLevel.info.rawValue)), ("outcome", .string("applied")),
                ("status", .number(String(status))),
            ]
        case .refused(let code):
            fields += [
                ("level", .string(LogLevel.info.rawValue)), ("outcome", .string("refused")), ("error", .string(code)),
            ]
        case .keyReused:
            fields += [("level", .string(LogLevel.warning.rawValue)), ("outcome", .string("key_reused"))]
        case .unavailable(let reason):
            let now = MonotonicClock.seconds()
            guard now - lastUnavailableLog > 10 else { return }
            lastUnavailableLog = now
            fields += [
                ("level", .string(LogLevel.warning.rawValue)), ("outcome", .string("deferred")),
                ("note", .string(reason)),
            ]
        case .failed(let reason):
            fields += [
                ("level", .string(LogLevel.error.rawValue)), ("outcome", .string("failed")), ("note", .string(reason)),
            ]
        }
        Log.line(fields)
    }

    private func sleepSeconds(_ seconds: Double) {
        var pause = timespec(tv_sec: Int(seconds), tv_nsec: Int((seconds - Double(Int(seconds))) * 1e9))
        nanosleep(&pause, nil)
    }
}
