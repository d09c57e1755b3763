/// When TallyClient sends a request again: on no answer at all, and on the statuses that say "not now" (429
/// rate-limited, 502 and 504 from nginx, 503 with the database down or in doubt). Every request it sends is safe
/// to repeat: reads are reads, and every write carries idempotency keys.
package struct HTTPRetryPolicy: Sendable {
    /// Attempts in all, the first included.
    package let maximumAttempts: Int

    /// 12 attempts wait about a minute and a half in all without Retry-After: long enough for a pool or a
    /// database restart, short enough that an outage ends the run with a clear message rather than a hang.
    package init(maximumAttempts: Int = 12) {
        self.maximumAttempts = max(1, maximumAttempts)
    }

    package static func isRetryable(status: Int) -> Bool {
        [429, 502, 503, 504].contains(status)
    }

    /// Seconds to wait after failed attempt `attempt` (1 for the first): what Retry-After says when it gives whole
    /// seconds (at most a minute), else 0.25 s doubled at each attempt up to 10 s.
    package func delay(afterAttempt attempt: Int, retryAfter: String?) -> Double {
        if let retryAfter, let seconds = Int(retryAfter.trimmingSpaces()), seconds >= 0 {
            return Double(min(seconds, 60))
        }
        let exponent = min(max(attempt - 1, 0), 10)
        return min(0.25 * Double(1 << exponent), 10)
    }
}
