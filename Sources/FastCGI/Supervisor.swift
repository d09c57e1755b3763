import CProcessShims
import Glibc

/// The pool's supervisor, like php-fpm's static pool: keeps `workerCount` worker processes accepting on
/// the listening socket, replaces any that dies, and stops them all on SIGTERM/SIGINT/SIGQUIT.
/// SIGHUP replaces the workers one by one (new binary or configuration) while the socket stays open.
public final class Supervisor {
    /// How a worker is started: the executable and its arguments (argv[0] first).
    public struct WorkerCommand: Sendable {
        public let executable: String
        public let arguments: [String]

        public init(executable: String, arguments: [String]) {
            self.executable = executable
            self.arguments = arguments
        }
    }

    private struct Slot {
        var pid: pid_t = 0
        var startedAt: Double = 0
        /// Deaths in a row, each soon after starting: a crash loop, restarted with growing pauses.
        var quickDeaths = 0
        var restartAt: Double = 0
    }

    private let listener: UnixSocketListener
    private let workerCount: Int
    private let command: WorkerCommand
    /// How long stopping workers may take to finish their requests before they are killed.
    private let stopTimeout: Double
    private let log: (_ level: String, _ message: String) -> Void

    private var slots: [Slot]
    /// Workers replaced by a reload that are finishing their last request.
    private var retiring: Set<pid_t> = []

    public init(
        listener: UnixSocketListener, workerCount: Int, command: WorkerCommand, stopTimeout: Double = 30,
        log: @escaping (_ level: String, _ message: String) -> Void
    ) {
        self.listener = listener
        self.workerCount = workerCount
        self.command = command
        self.stopTimeout = stopTimeout
        self.log = log
        self.slots = Array(repeating: Slot(), count: workerCount)
    }

    /// Runs the pool until a stop signal; returns the process's exit status.
    public func run() -> Int32 {
        tally_install_supervisor_signals()
        for index in slots.indices { spawn(into: index) }
        log("info", "pool started: \(workerCount) workers on \(listener.path)")

        while true {
            if tally_take_signal(SIGTERM) == 1 || tally_take_signal(SIGINT) == 1 || tally_take_signal(SIGQUIT) == 1 {
                break
            }
            if tally_take_signal(SIGHUP) == 1 { reload() }
            _ = tally_take_signal(SIGCHLD)
            reapWorkers(replacing: true)
            restartDueSlots()
            sleepBriefly()
        }
        return stopAll()
    }

    private func spawn(into index: Int) {
        let pid = spawnWorker(slot: index)
        slots[index].pid = pid
        slots[index].startedAt = now()
        if pid <= 0 {
            log("error", "could not start worker \(index): \(SystemError("posix_spawn"))")
            scheduleRestart(index)
        }
    }

    private func spawnWorker(slot: Int) -> pid_t {
        let arguments = command.arguments + ["--worker-slot", String(slot)]
        var cArguments = arguments.map { strdup($0) }
        cArguments.append(nil)
        defer { cArguments.forEach { free($0) } }
        return tally_spawn_worker(command.executable, &cArguments, listener.fileDescriptor)
    }

    /// Waits for every worker that has ended; replaces it unless the pool is stopping.
    private func reapWorkers(replacing: Bool) {
        var status: Int32 = 0
        while true {
            let pid = waitpid(-1, &status, WNOHANG)
            guard pid > 0 else { return }
            if retiring.remove(pid) != nil { continue }
            guard let index = slots.firstIndex(where: { $0.pid == pid }) else { continue }
            slots[index].pid = 0
            let description = Self.describe(status)
            guard replacing else { continue }
            let lived = now() - slots[index].startedAt
            let isCleanExit = (status & 0x7f) == 0 && ((status >> 8) & 0xff) == 0
            if isCleanExit {
                // Recycled after --max-requests: expected, replace at once.
                slots[index].quickDeaths = 0
                spawn(into: index)
                continue
            }
            log("warning", "worker \(index) (pid \(pid)) \(description) after \(Self.seconds(lived)); replacing it")
            slots[index].quickDeaths = lived < 1 ? slots[index].quickDeaths + 1 : 0
            if slots[index].quickDeaths >= 3 {
                scheduleRestart(index)
            } else {
                spawn(into: index)
            }
        }
    }

    /// A crash loop: pause before the next restart, doubling up to 10 s, and say so loudly.
    private func scheduleRestart(_ index: Int) {
        let pause = min(10, 0.1 * Double(1 << min(slots[index].quickDeaths, 7)))
        slots[index].restartAt = now() + pause
        log(
            "error",
            "CRASH LOOP: worker \(index) died \(slots[index].quickDeaths) times within 1 s of starting; "
                + "next start in \(Self.seconds(pause))")
    }

    private func restartDueSlots() {
        let time = now()
        for index in slots.indices
        where slots[index].pid == 0 && slots[index].restartAt > 0 && time >= slots[index].restartAt {
            slots[index].restartAt = 0
            spawn(into: index)
        }
    }

    /// Starts a new worker for each slot, then asks the old one to finish its request and stop.
    private func reload() {
        log("info", "reloading: replacing \(workerCount) workers one by one")
        for index in slots.indices {
            let old = slots[index].pid
            spawn(into: index)
            if old > 0 {
                retiring.insert(old)
                kill(old, SIGTERM)
            }
        }
    }

    /// Stops every worker: SIGTERM lets each finish its request; past the timeout, SIGKILL.
    private func stopAll() -> Int32 {
        log("info", "stopping: waiting for workers to finish their requests")
        let workers = slots.map(\.pid).filter { $0 > 0 } + Array(retiring)
        for pid in workers { kill(pid, SIGTERM) }
        let deadline = now() + stopTimeout
        var remaining = Set(workers)
        while !remaining.isEmpty {
            var status: Int32 = 0
            let pid = waitpid(-1, &status, WNOHANG)
            if pid > 0 {
                remaining.remove(pid)
                continue
            }
            if pid < 0 && errno == ECHILD { break }
            if now() > deadline {
                log("warning", "workers still busy after \(Self.seconds(stopTimeout)); killing them")
                for pid in remaining { kill(pid, SIGKILL) }
                while waitpid(-1, &status, 0) > 0 {}
                break
            }
            sleepBriefly()
        }
        listener.close()
        log("info", "pool stopped")
        return 0
    }

    private func sleepBriefly() {
        var pause = timespec(tv_sec: 0, tv_nsec: 50_000_000)
        nanosleep(&pause, nil)  // a signal cuts it short
    }

    private func now() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
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
