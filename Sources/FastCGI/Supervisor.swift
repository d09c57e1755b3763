import CProcessShims
import Glibc
import SystemSupport

/// The pool's supervisor, like php-fpm's static pools: keeps each lane's worker processes accepting on the
/// lane's listening socket (the main lane's, and the batch lane's when there is one) and replaces any that
/// dies. SIGTERM and SIGINT stop the pool promptly (requests in flight get `Timeouts.stop` to finish); SIGQUIT
/// drains it (they get `Timeouts.drain`). SIGHUP replaces the workers one by one (new binary or configuration)
/// while the sockets stay open. SIGUSR1 reopens the log file.
/// It watches the scoreboard: a request running past `Timeouts.request` has its worker killed (its
/// transaction rolls back with the connection) and replaced; one past `Timeouts.slowRequest` is logged.
package final class Supervisor {
    /// Time limits in seconds; 0 turns the request deadline or the slow log off.
    package struct Timeouts: Sendable {
        package var stop: Double
        package var drain: Double
        package var request: Double
        package var slowRequest: Double

        package init(stop: Double = 3, drain: Double = 30, request: Double = 20, slowRequest: Double = 1) {
            self.stop = stop
            self.drain = drain
            self.request = request
            self.slowRequest = slowRequest
        }
    }

    /// How a worker is started: the executable and its arguments (argv[0] first).
    package struct WorkerCommand: Sendable {
        package let executable: String
        package let arguments: [String]

        package init(executable: String, arguments: [String]) {
            self.executable = executable
            self.arguments = arguments
        }
    }

    /// A group of workers and the socket they accept on.
    package struct Lane: Sendable {
        package let kind: PoolLane
        package let listener: any Listener
        package let workerCount: Int

        package init(_ kind: PoolLane, listener: any Listener, workerCount: Int) {
            self.kind = kind
            self.listener = listener
            self.workerCount = workerCount
        }
    }

    private struct Slot {
        let lane: Lane
        /// The slot's number in its lane.
        let number: Int
        var pid: pid_t = 0
        /// The worker's scoreboard entry (nil when none was free).
        var entry: Int?
        var startedAt: Double = 0
        /// Deaths in a row, each soon after starting: a crash loop, restarted with growing pauses.
        var quickDeaths = 0
        var restartAt: Double = 0
    }

    private let lanes: [Lane]
    /// The main lane's socket: the companion inherits it (it serves nothing; fd 0 only tells it the pool's
    /// supervisor is gone).
    private var listener: any Listener { lanes[0].listener }
    private var workerCount: Int { slots.count }
    private let command: WorkerCommand
    /// A process kept running beside the workers that serves no requests (the spool's replayer), or nil.
    private let companion: WorkerCommand?
    private var companionPID: pid_t = 0
    private var companionStartAt: Double = 0
    private let timeouts: Timeouts
    private let scoreboard: Scoreboard
    private let log: (_ level: LogLevel, _ message: String) -> Void

    private var slots: [Slot]
    /// Workers replaced by a reload that are finishing their last request, with their scoreboard entries.
    private var retiring: [pid_t: Int?] = [:]
    /// Workers stopped for overrunning the request deadline (their death is expected, not a crash), with
    /// when to SIGKILL them if they have not exited.
    private var killedForDeadline: [pid_t: Double] = [:]

    /// `lanes` begins with the main lane. `scoreboard` must have room for twice their workers (a reload runs old
    /// and new side by side).
    package init(
        lanes: [Lane], command: WorkerCommand, companion: WorkerCommand? = nil,
        scoreboard: Scoreboard, timeouts: Timeouts = Timeouts(),
        log: @escaping (_ level: LogLevel, _ message: String) -> Void
    ) {
        self.lanes = lanes
        self.command = command
        self.companion = companion
        self.scoreboard = scoreboard
        self.timeouts = timeouts
        self.log = log
        self.slots = lanes.flatMap { lane in (0..<lane.workerCount).map { Slot(lane: lane, number: $0) } }
    }

    /// Runs the pool until a stop signal; returns the process's exit status.
    package func run() -> Int32 {
        tally_install_supervisor_signals()
        scoreboard.set(.startTime, Int64(time(nil)))
        for lane in lanes { scoreboard.set(lane.kind.processes, Int64(lane.workerCount)) }
        for index in slots.indices { spawn(into: index) }
        log(
            .info,
            "pool started: "
                + lanes.map { "\($0.workerCount) \(Self.noun($0.kind)) on \($0.listener.address)" }
                .joined(separator: ", "))

        var drainTimeout = timeouts.stop
        while true {
            if tally_take_signal(SIGTERM) == 1 || tally_take_signal(SIGINT) == 1 { break }
            if tally_take_signal(SIGQUIT) == 1 {
                drainTimeout = timeouts.drain
                break
            }
            if tally_take_signal(SIGHUP) == 1 { reload() }
            if tally_take_signal(SIGUSR1) == 1 { reopenLogs() }
            _ = tally_take_signal(SIGCHLD)
            reapWorkers(replacing: true)
            restartDueSlots()
            startCompanionIfDue()
            watchRequests()
            sampleListenQueue()
            sleepBriefly()
        }
        return stopAll(timeout: drainTimeout)
    }

    private func spawn(into index: Int) {
        let entry = scoreboard.claimEntry(lane: slots[index].lane.kind)
        if entry == nil { log(.warning, "scoreboard full: worker \(name(index)) starts without an entry") }
        let pid = spawnWorker(slot: index, entry: entry)
        slots[index].pid = pid
        slots[index].entry = entry
        slots[index].startedAt = MonotonicClock.seconds()
        if pid <= 0 {
            log(.error, "could not start worker \(name(index)): \(SystemError("posix_spawn"))")
            if let entry { scoreboard.releaseEntry(entry) }
            slots[index].entry = nil
            scheduleRestart(index)
        } else if let entry {
            scoreboard.assign(entry, to: pid)
        }
    }

    private func spawnWorker(slot: Int, entry: Int?) -> pid_t {
        var arguments = command.arguments + ["--worker-slot", name(slot), "--supervisor-pid", String(getpid())]
        if let entry { arguments += ["--scoreboard-entry", String(entry)] }
        var cArguments = arguments.map { strdup($0) }
        cArguments.append(nil)
        defer { cArguments.forEach { free($0) } }
        return tally_spawn_worker(
            command.executable, &cArguments, slots[slot].lane.listener.fileDescriptor,
            entry == nil ? -1 : scoreboard.fileDescriptor)
    }

    /// Waits for every worker that has ended; replaces it unless the pool is stopping.
    private func reapWorkers(replacing: Bool) {
        var status: Int32 = 0
        while true {
            let pid = waitpid(-1, &status, WNOHANG)
            guard pid > 0 else { return }
            if pid == companionPID {
                companionPID = 0
                // Restarted after a pause, so that one that cannot start does not spin.
                companionStartAt = MonotonicClock.seconds() + 1
                if (status & 0x7f) != 0 || ((status >> 8) & 0xff) != 0 {
                    log(.warning, "companion (pid \(pid)) \(Self.describe(status)); restarting it in 1 s")
                }
                continue
            }
            if let entry = retiring.removeValue(forKey: pid) {
                if let entry { scoreboard.releaseEntry(entry) }
                continue
            }
            guard let index = slots.firstIndex(where: { $0.pid == pid }) else { continue }
            slots[index].pid = 0
            if let entry = slots[index].entry { scoreboard.releaseEntry(entry) }
            slots[index].entry = nil
            let description = Self.describe(status)
            guard replacing else { continue }
            if killedForDeadline.removeValue(forKey: pid) != nil {
                spawn(into: index)
                continue
            }
            let lived = MonotonicClock.seconds() - slots[index].startedAt
            let isCleanExit = (status & 0x7f) == 0 && ((status >> 8) & 0xff) == 0
            if isCleanExit {
                // Recycled after --max-requests: expected, replace at once.
                slots[index].quickDeaths = 0
                spawn(into: index)
                continue
            }
            scoreboard.add(.workerDeaths)
            log(
                .warning, "worker \(name(index)) (pid \(pid)) \(description) after \(Self.seconds(lived)); replacing it"
            )
            slots[index].quickDeaths = lived < 1 ? slots[index].quickDeaths + 1 : 0
            if slots[index].quickDeaths >= 3 {
                scheduleRestart(index)
            } else {
                spawn(into: index)
            }
        }
    }

    /// Starts the companion when there is one, none runs and its pause is over.
    private func startCompanionIfDue() {
        guard let companion, companionPID == 0, MonotonicClock.seconds() >= companionStartAt else { return }
        let arguments = companion.arguments + ["--supervisor-pid", String(getpid())]
        var cArguments = arguments.map { strdup($0) }
        cArguments.append(nil)
        defer { cArguments.forEach { free($0) } }
        let pid = tally_spawn_worker(
            companion.executable, &cArguments, listener.fileDescriptor, scoreboard.fileDescriptor)
        if pid > 0 {
            companionPID = pid
        } else {
            log(.error, "could not start the companion: \(SystemError("posix_spawn"))")
            companionStartAt = MonotonicClock.seconds() + 1
        }
    }

    /// A crash loop: pause before the next restart, doubling up to 10 s, and say so loudly.
    private func scheduleRestart(_ index: Int) {
        let pause = min(10, 0.1 * Double(1 << min(slots[index].quickDeaths, 7)))
        slots[index].restartAt = MonotonicClock.seconds() + pause
        log(
            .error,
            "CRASH LOOP: worker \(name(index)) died \(slots[index].quickDeaths) times within 1 s of starting; "
                + "next start in \(Self.seconds(pause))")
    }

    private func restartDueSlots() {
        let time = MonotonicClock.seconds()
        for index in slots.indices
        where slots[index].pid == 0 && slots[index].restartAt > 0 && time >= slots[index].restartAt {
            slots[index].restartAt = 0
            spawn(into: index)
        }
    }

    /// Starts a new worker for each slot, then asks the old one to finish its request and stop.
    private func reload() {
        log(.info, "reloading: replacing \(workerCount) workers one by one")
        for index in slots.indices {
            let old = slots[index].pid
            let oldEntry = slots[index].entry
            spawn(into: index)
            if old > 0 {
                retiring[old] = oldEntry
                kill(old, SIGTERM)
            } else if let oldEntry {
                scoreboard.releaseEntry(oldEntry)
            }
        }
        // The companion too runs the new binary: it is started again when it has exited.
        if companionPID > 0 { kill(companionPID, SIGTERM) }
    }

    /// SIGUSR1: the supervisor and every worker open the log file again (after logrotate moved it).
    private func reopenLogs() {
        guard tally_reopen_log() == 0 else {
            log(.error, "could not reopen the log file: \(SystemError("open"))")
            return
        }
        for pid in slots.map(\.pid) + Array(retiring.keys) where pid > 0 { kill(pid, SIGUSR1) }
        log(.info, "log file reopened")
    }

    /// Logs requests running past the slow threshold (once each) and kills workers past the deadline.
    private func watchRequests() {
        guard timeouts.request > 0 || timeouts.slowRequest > 0 else { return }
        let time = MonotonicClock.microseconds()
        for request in scoreboard.runningRequests() {
            let elapsed = Double(time - request.startedMicroseconds) / 1e6
            if timeouts.slowRequest > 0, elapsed >= timeouts.slowRequest, scoreboard.markSlow(request) {
                scoreboard.add(.slowRequests)
                log(
                    .warning,
                    "slow request \(request.requestID) (\(request.requestLine)) in worker pid \(request.pid): "
                        + "running for \(Self.seconds(elapsed))")
            }
            if timeouts.request > 0, elapsed >= timeouts.request, killedForDeadline[request.pid] == nil {
                // SIGUSR2 first: the worker has the database cancel its statement (so it cannot commit a moment
                // later), then exits. SIGKILL if it has not within a second.
                killedForDeadline[request.pid] = MonotonicClock.seconds() + 1
                scoreboard.add(.deadlineKills)
                kill(request.pid, SIGUSR2)
                log(
                    .error,
                    "request \(request.requestID) (\(request.requestLine)) passed the \(Self.seconds(timeouts.request)) "
                        + "deadline: stopping worker pid \(request.pid) (its transaction rolls back); replacing it")
            }
        }
        for (pid, killAt) in killedForDeadline where MonotonicClock.seconds() >= killAt {
            kill(pid, SIGKILL)
            killedForDeadline[pid] = .infinity
        }
    }

    private func sampleListenQueue() {
        for lane in lanes {
            var waiting: UInt32 = 0
            var capacity: UInt32 = 0
            guard tally_listen_queue(lane.listener.fileDescriptor, &waiting, &capacity) == 0 else { continue }
            scoreboard.set(lane.kind.listenQueue, Int64(waiting))
            scoreboard.raise(lane.kind.maxListenQueue, to: Int64(waiting))
            scoreboard.set(lane.kind.listenQueueLength, Int64(capacity))
        }
    }

    /// Stops every worker: SIGTERM lets each finish its request; past the timeout, SIGKILL.
    private func stopAll(timeout: Double) -> Int32 {
        log(.info, "stopping: workers finish their requests (up to \(Self.seconds(timeout)))")
        // No new connections from here on (a unix socket's file goes); the workers' copies serve what is queued.
        for lane in lanes { lane.listener.close() }
        let workers = slots.map(\.pid).filter { $0 > 0 } + Array(retiring.keys) + [companionPID].filter { $0 > 0 }
        for pid in workers { kill(pid, SIGTERM) }
        let deadline = MonotonicClock.seconds() + timeout
        var remaining = Set(workers)
        while !remaining.isEmpty {
            var status: Int32 = 0
            let pid = waitpid(-1, &status, WNOHANG)
            if pid > 0 {
                remaining.remove(pid)
                continue
            }
            if pid < 0 && errno == ECHILD { break }
            if MonotonicClock.seconds() > deadline {
                log(.warning, "workers still busy after \(Self.seconds(timeout)); killing them")
                for pid in remaining { kill(pid, SIGKILL) }
                while waitpid(-1, &status, 0) > 0 {}
                break
            }
            sleepBriefly()
        }
        log(.info, "pool stopped")
        return 0
    }

    /// The worker of slot `index` as logs name it: "3", "batches-0".
    private func name(_ index: Int) -> String {
        slots[index].lane.kind.slotName(slots[index].number)
    }

    private static func noun(_ lane: PoolLane) -> String {
        lane == .main ? "workers" : "batch workers"
    }

    private func sleepBriefly() {
        var pause = timespec(tv_sec: 0, tv_nsec: 50_000_000)
        nanosleep(&pause, nil)  // a signal cuts it short
    }

    private static func describe(_ status: Int32) -> String {
        let signal = status & 0x7f
        if signal != 0 { return "was killed by signal \(signal)" }
        return "exited with status \((status >> 8) & 0xff)"
    }

    private static func seconds(_ value: Double) -> String {
        String(Int((value * 1000).rounded())) + " ms"
    }
}
