import CProcessShims

/// The whole pool's figures at one moment, summed over the scoreboard's entries.
package struct PoolSnapshot: Sendable {
    /// Counters workers add to.
    package enum Counter: Int32, CaseIterable, Sendable {
        case accepted, movements, serializationRetries, retriesExhausted, databaseReconnects
    }

    package var figures: [Scoreboard.Figure: Int64] = [:]
    package var counters: [Counter: UInt64] = [:]
    /// Workers busy with a request and workers waiting for one, by lane.
    package var activeProcesses: [PoolLane: Int] = [:]
    package var idleProcesses: [PoolLane: Int] = [:]
    /// Requests answered, by route index and status index (`StatusTable`).
    package var requests: [[UInt64]]
    /// Request durations by route index and bucket (`LatencyBuckets`), not cumulative.
    package var latencyBuckets: [[UInt64]]
    package var latencySumMicroseconds: [UInt64]

    package init(routeCount: Int) {
        requests = Array(repeating: Array(repeating: 0, count: StatusTable.codes.count + 1), count: routeCount)
        latencyBuckets = Array(
            repeating: Array(repeating: 0, count: LatencyBuckets.bounds.count + 1), count: routeCount)
        latencySumMicroseconds = Array(repeating: 0, count: routeCount)
    }

    package subscript(figure: Scoreboard.Figure) -> Int64 { figures[figure] ?? 0 }
    package subscript(counter: Counter) -> UInt64 { counters[counter] ?? 0 }

    /// Busy workers of every lane.
    package var totalActive: Int { activeProcesses.values.reduce(0, +) }
    /// Idle workers of every lane.
    package var totalIdle: Int { idleProcesses.values.reduce(0, +) }
}

extension PoolSnapshot.Counter {
    var cValue: Int32 {
        switch self {
        case .accepted: Int32(TALLY_ACCEPTED.rawValue)
        case .movements: Int32(TALLY_MOVEMENTS.rawValue)
        case .serializationRetries: Int32(TALLY_SERIALIZATION_RETRIES.rawValue)
        case .retriesExhausted: Int32(TALLY_RETRIES_EXHAUSTED.rawValue)
        case .databaseReconnects: Int32(TALLY_DATABASE_RECONNECTS.rawValue)
        }
    }
}
