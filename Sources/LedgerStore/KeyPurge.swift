/// A worker's share of deleting idempotency keys past their retention. About once a minute (at a random
/// offset per worker, so that the pool's workers take turns), after a response has gone out, it deletes
/// expired keys in batches until none are left or its time budget is spent. With 16 workers that is room
/// for thousands of keys a second, more than the pool can create; each batch is a short transaction of its
/// own, so traffic never waits on it.
public struct KeyPurge {
    public static let interval = 60.0
    public static let budgetSeconds = 0.2
    public static let batch = 1000

    public let retentionSeconds: Int
    private var next: Double

    /// `start`: now, on the clock `runIfDue` is given.
    public init(retentionSeconds: Int, start: Double) {
        self.retentionSeconds = retentionSeconds
        next = start + Double.random(in: 0...Self.interval)
    }

    /// Purges if it is time; returns how many keys went (0 on a database error, which the next turn simply
    /// retries), or nil when it was not this worker's turn.
    public mutating func runIfDue(_ ledger: PostgresLedger, now: () -> Double) -> Int? {
        let started = now()
        guard started >= next else { return nil }
        next = started + Self.interval + Double.random(in: 0...(Self.interval / 10))
        var purged = 0
        while now() - started < Self.budgetSeconds {
            guard let count = try? ledger.purgeIdempotencyKeys(olderThanSeconds: retentionSeconds, batch: Self.batch)
            else { break }
            purged += count
            if count < Self.batch { break }
        }
        return purged
    }
}
