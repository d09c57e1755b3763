/// A worker's share of deleting what the ledger no longer needs: idempotency keys past their retention, and
/// tokens that ended (expired or revoked) more than `tokenGraceSeconds` ago. About once a minute (at a random
/// offset per worker, so that the pool's workers take turns), after a response has gone out, it deletes them
/// in batches until none are left or its time budget is spent. With 16 workers that is room for thousands of
/// rows a second, more than the pool can create; each batch is a short transaction of its own, so traffic
/// never waits on it.
package struct KeyPurge {
    package static let defaultInterval = 60.0
    package static let budgetSeconds = 0.2
    package static let batch = 1000
    /// A day: an ended token stays that long, so that a client refused with it a moment ago can still be
    /// traced to its row (who it stood for, when it ended) before the row goes.
    package static let tokenGraceSeconds = 86_400

    /// What one turn deleted.
    package struct Purged: Equatable, Sendable {
        package var keys: Int
        package var tokens: Int

        package init(keys: Int = 0, tokens: Int = 0) {
            self.keys = keys
            self.tokens = tokens
        }
    }

    package let retentionSeconds: Int
    /// Seconds between a worker's turns (on average a tenth more).
    package let interval: Double
    private var next: Double

    /// `start`: now, on the clock `runIfDue` is given.
    package init(retentionSeconds: Int, start: Double, interval: Double = Self.defaultInterval) {
        self.retentionSeconds = retentionSeconds
        self.interval = interval
        next = start + Double.random(in: 0...interval)
    }

    /// Purges if it is time; returns what went (nothing more of a kind after a database error, which the next
    /// turn simply retries), or nil when it was not this worker's turn.
    package mutating func runIfDue(_ ledger: PostgresLedger, now: () -> Double) -> Purged? {
        let started = now()
        guard started >= next else { return nil }
        next = started + interval + Double.random(in: 0...(interval / 10))
        var purged = Purged()
        while now() - started < Self.budgetSeconds {
            guard let count = try? ledger.purgeIdempotencyKeys(olderThanSeconds: retentionSeconds, batch: Self.batch)
            else { break }
            purged.keys += count
            if count < Self.batch { break }
        }
        while now() - started < Self.budgetSeconds {
            guard
                let count = try? ledger.purgeEndedTokens(
                    endedMoreThanSeconds: Self.tokenGraceSeconds, batch: Self.batch)
            else { break }
            purged.tokens += count
            if count < Self.batch { break }
        }
        return purged
    }
}
