import CProcessShims
import Glibc
import SystemSupport

/// The pool's shared scoreboard (see tally_scoreboard.h): the supervisor creates it and hands it to every
/// worker as fd 3; each worker writes its state and counters in its own entry; any worker can read the whole
/// pool's figures for /api/status and /api/metrics.
package final class Scoreboard: @unchecked Sendable {
    /// The fd workers inherit it on.
    package static let workerFileDescriptor: Int32 = 3
    package static let routeCapacity = Int(TALLY_ROUTES)

    let board: UnsafeMutablePointer<tally_scoreboard>
    package let fileDescriptor: Int32

    private init(board: UnsafeMutablePointer<tally_scoreboard>, fileDescriptor: Int32) {
        self.board = board
        self.fileDescriptor = fileDescriptor
    }

    /// A new scoreboard for up to `entryCount` worker processes at once.
    package static func create(entryCount: Int) throws -> Scoreboard {
        var board: UnsafeMutablePointer<tally_scoreboard>?
        let descriptor = tally_scoreboard_create(Int32(entryCount), &board)
        guard descriptor >= 0, let board else { throw SystemError("scoreboard (memfd_create, mmap)") }
        return Scoreboard(board: board, fileDescriptor: descriptor)
    }

    /// The scoreboard a worker inherited, or nil when it was started without one.
    package static func attach(fileDescriptor: Int32 = workerFileDescriptor) -> Scoreboard? {
        var board: UnsafeMutablePointer<tally_scoreboard>?
        guard tally_scoreboard_attach(fileDescriptor, &board) == 0, let board else { return nil }
        return Scoreboard(board: board, fileDescriptor: fileDescriptor)
    }

    package var entryCount: Int { Int(board.pointee.entry_count) }

    func entry(_ index: Int) -> UnsafeMutablePointer<tally_entry> {
        tally_scoreboard_entry(board, Int32(index))
    }

    // MARK: - The pool's figures (the supervisor's)

    package enum Figure: Int32, CaseIterable, Sendable {
        case startTime, maxActive, maxChildrenReached, slowRequests, deadlineKills, workerDeaths
        case listenQueue, maxListenQueue, listenQueueLength, totalProcesses, spoolDepth, spoolOldest
        case batchProcesses, batchListenQueue, batchMaxListenQueue, batchListenQueueLength, batchMaxChildrenReached

        var cValue: Int32 {
            switch self {
            case .startTime: Int32(TALLY_START_TIME.rawValue)
            case .maxActive: Int32(TALLY_MAX_ACTIVE.rawValue)
            case .maxChildrenReached: Int32(TALLY_MAX_CHILDREN_REACHED.rawValue)
            case .slowRequests: Int32(TALLY_SLOW_REQUESTS.rawValue)
            case .deadlineKills: Int32(TALLY_DEADLINE_KILLS.rawValue)
            case .workerDeaths: Int32(TALLY_WORKER_DEATHS.rawValue)
            case .listenQueue: Int32(TALLY_LISTEN_QUEUE.rawValue)
            case .maxListenQueue: Int32(TALLY_MAX_LISTEN_QUEUE.rawValue)
            case .listenQueueLength: Int32(TALLY_LISTEN_QUEUE_LEN.rawValue)
            case .totalProcesses: Int32(TALLY_TOTAL_PROCESSES.rawValue)
            case .spoolDepth: Int32(TALLY_SPOOL_DEPTH.rawValue)
            case .spoolOldest: Int32(TALLY_SPOOL_OLDEST.rawValue)
            case .batchProcesses: Int32(TALLY_BATCH_PROCESSES.rawValue)
            case .batchListenQueue: Int32(TALLY_BATCH_LISTEN_QUEUE.rawValue)
            case .batchMaxListenQueue: Int32(TALLY_BATCH_MAX_LISTEN_QUEUE.rawValue)
            case .batchListenQueueLength: Int32(TALLY_BATCH_LISTEN_QUEUE_LEN.rawValue)
            case .batchMaxChildrenReached: Int32(TALLY_BATCH_MAX_CHILDREN_REACHED.rawValue)
            }
        }
    }

    package func figure(_ figure: Figure) -> Int64 { tally_load(tally_scoreboard_figure(board, figure.cValue)) }
    package func set(_ figure: Figure, _ value: Int64) {
        tally_store(tally_scoreboard_figure(board, figure.cValue), value)
    }
    package func add(_ figure: Figure, _ amount: Int64 = 1) {
        tally_add(tally_scoreboard_figure(board, figure.cValue), amount)
    }
    package func raise(_ figure: Figure, to value: Int64) {
        tally_raise(tally_scoreboard_figure(board, figure.cValue), value)
    }

    // MARK: - Entries (the supervisor hands them out)

    /// Takes a free entry for a worker of `lane` about to start; nil when all are taken.
    func claimEntry(lane: PoolLane = .main) -> Int? {
        for index in 0..<entryCount where tally_load_i32(&entry(index).pointee.state) == TALLY_ENTRY_FREE.rawValue {
            entry(index).pointee.pid = 0
            tally_store_i32(&entry(index).pointee.lane, lane.rawValue)
            tally_store_i32(&entry(index).pointee.state, Int32(TALLY_ENTRY_IDLE.rawValue))
            return index
        }
        return nil
    }

    func assign(_ index: Int, to pid: pid_t) {
        tally_store_i32(&entry(index).pointee.pid, pid)
    }

    /// The entry's process has ended: the entry is free again (its counters stay, and go on growing).
    func releaseEntry(_ index: Int) {
        tally_store_i32(&entry(index).pointee.pid, 0)
        tally_store_i32(&entry(index).pointee.state, Int32(TALLY_ENTRY_FREE.rawValue))
    }

    /// The lane of the worker that holds the entry.
    func lane(ofEntry index: Int) -> PoolLane {
        PoolLane(rawValue: tally_load_i32(&entry(index).pointee.lane)) ?? .main
    }

    /// A request in progress in one of the pool's workers, as the supervisor sees it.
    struct RunningRequest {
        let entry: Int
        let pid: pid_t
        let serial: UInt64
        let startedMicroseconds: Int64
        let requestID: String
        let requestLine: String
    }

    func runningRequests() -> [RunningRequest] {
        (0..<entryCount).compactMap { index in
            let entry = entry(index)
            guard tally_load_i32(&entry.pointee.state) == TALLY_ENTRY_BUSY.rawValue else { return nil }
            let pid = tally_load_i32(&entry.pointee.pid)
            guard pid > 0 else { return nil }
            return RunningRequest(
                entry: index, pid: pid, serial: tally_load_u(&entry.pointee.request_serial),
                startedMicroseconds: tally_load(&entry.pointee.request_started_us),
                requestID: Self.text(&entry.pointee.request_id), requestLine: Self.text(&entry.pointee.request_line))
        }
    }

    /// Marks the request as logged slow; false when it was already (or another request runs now).
    func markSlow(_ request: RunningRequest) -> Bool {
        let entry = entry(request.entry)
        guard tally_load_u(&entry.pointee.slow_logged_serial) != request.serial else { return false }
        entry.pointee.slow_logged_serial = request.serial
        return true
    }

    private static func text<T>(_ field: inout T) -> String {
        withUnsafeBytes(of: &field) { bytes in
            let end = bytes.firstIndex(of: 0) ?? bytes.count
            return String(decoding: bytes[..<end], as: UTF8.self)
        }
    }

    // MARK: - Reading the whole pool

    package func snapshot() -> PoolSnapshot {
        var snapshot = PoolSnapshot(routeCount: Self.routeCapacity)
        for figure in Figure.allCases { snapshot.figures[figure] = self.figure(figure) }
        for index in 0..<entryCount {
            let entry = entry(index)
            let lane = lane(ofEntry: index)
            switch tally_load_i32(&entry.pointee.state) {
            case Int32(TALLY_ENTRY_BUSY.rawValue): snapshot.activeProcesses[lane, default: 0] += 1
            case Int32(TALLY_ENTRY_IDLE.rawValue): snapshot.idleProcesses[lane, default: 0] += 1
            default: break
            }
            for counter in PoolSnapshot.Counter.allCases {
                snapshot.counters[counter, default: 0] += tally_load_u(tally_entry_counter(entry, counter.cValue))
            }
            for route in 0..<Self.routeCapacity {
                for status in 0..<StatusTable.codes.count + 1 {
                    snapshot.requests[route][status] += tally_load_u(
                        tally_entry_requests(entry, Int32(route), Int32(status)))
                }
                for bucket in 0..<LatencyBuckets.bounds.count + 1 {
                    snapshot.latencyBuckets[route][bucket] += tally_load_u(
                        tally_entry_bucket(entry, Int32(route), Int32(bucket)))
                }
                snapshot.latencySumMicroseconds[route] += tally_load_u(tally_entry_latency_sum(entry, Int32(route)))
            }
        }
        return snapshot
    }
}

/// The HTTP statuses kept apart in the scoreboard; any other counts under "other" (the last index).
package enum StatusTable {
    package static let codes = [200, 201, 202, 204, 400, 401, 403, 404, 405, 409, 413, 422, 429, 500, 502, 503, 504]

    static func index(of status: Int) -> Int {
        codes.firstIndex(of: status) ?? codes.count
    }
}

/// The latency histogram's upper bounds in seconds (Prometheus `le`); the last bucket is +Inf.
package enum LatencyBuckets {
    package static let bounds: [Double] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

    static func index(ofMicroseconds microseconds: Int64) -> Int {
        let seconds = Double(microseconds) / 1e6
        return bounds.firstIndex { seconds <= $0 } ?? bounds.count
    }
}
