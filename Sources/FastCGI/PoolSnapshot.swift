import CProcessShims

/// The whole pool's figures at one moment, summed over the scoreboard's entries.
public struct PoolSnapshot: Sendable {
    /// Counters workers add to.
    public enum Counter: Int32, CaseIterable, Sendable {
        case accepted, movements, serializationRetries, retriesExhausted, databaseReconnects
    }

    public var figures: [Scoreboard.Figure: Int64] = [:]
    public var counters: [Counter: UInt64] = [:]
    public var activeProcesses = 0
    public var idleProcesses = 0
    /// Requests answered, by route index and status index (`StatusTable`).
    public var requests: [[UInt64]]
    /// Request durations by route index and bucket (`LatencyBuckets`), not cumulative.
    public var latencyBuckets: [[UInt64]]
    public var latencySumMicroseconds: [UInt64]

    public init(routeCount: Int) {
        requests = Array(repeating: Array(repeating: 0, count: StatusTable.codes.count + 1), count: routeCount)
        latencyBuckets = Array(
            repeating: Array(repeating: 0, count: LatencyBuckets.bounds.count + 1), count: routeCount)
        latencySumMicroseconds = Array(repeating: 0, count: routeCount)
    }

    public subscript(figure: Scoreboard.Figure) -> Int64 { figures[figure] ?? 0 }
    public subscript(counter: Counter) -> UInt64 { counters[counter] ?? 0 }
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
