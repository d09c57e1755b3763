import Glibc

/// How often and how patiently a transaction that failed to serialize (40001, 40P01) is run again.
package struct RetryPolicy: Sendable {
    /// Attempts in all, the first included. Bounded so a request cannot spin forever on a hot row.
    package var maxAttempts: Int
    package var baseDelayMicroseconds: Int
    package var maxDelayMicroseconds: Int

    package init(maxAttempts: Int = 20, baseDelayMicroseconds: Int = 500, maxDelayMicroseconds: Int = 50_000) {
        self.maxAttempts = maxAttempts
        self.baseDelayMicroseconds = baseDelayMicroseconds
        self.maxDelayMicroseconds = maxDelayMicroseconds
    }

    /// The delay before attempt `retry + 1` (retry counts from 1): exponential, capped, with full jitter
    /// so that transactions that collided do not collide again in step.
    package func delayMicroseconds(beforeRetry retry: Int, random: (Int) -> Int = { Int.random(in: 0...$0) }) -> Int {
        let exponent = min(retry - 1, 20)
        let ceiling = min(maxDelayMicroseconds, baseDelayMicroseconds << exponent)
        return random(ceiling)
    }

    /// Runs `body` until it succeeds, fails with an error that is not retryable (by default: not a
    /// serialization failure), or the attempts run out (then `RetriesExhausted`). `onRetry` is told of
    /// each retry, for counting.
    package func run<Value>(
        isRetryable: (PostgresError) -> Bool = { $0.isSerializationFailure },
        sleep: (Int) -> Void = { usleep(UInt32($0)) },
        onRetry: () -> Void = {},
        _ body: () throws(PostgresError) -> Value
    ) throws -> Value {
        var attempt = 1
        while true {
            let failure: PostgresError
            do {
                return try body()
            } catch {
                failure = error
            }
            guard isRetryable(failure) else { throw failure }
            guard attempt < maxAttempts else { throw RetriesExhausted(attempts: attempt, lastError: failure) }
            onRetry()
            sleep(delayMicroseconds(beforeRetry: attempt))
            attempt += 1
        }
    }
}

/// The transaction failed to serialize on every attempt the policy allows; nothing was applied.
package struct RetriesExhausted: Error, CustomStringConvertible, Sendable {
    package let attempts: Int
    package let lastError: PostgresError

    package init(attempts: Int, lastError: PostgresError) {
        self.attempts = attempts
        self.lastError = lastError
    }

    package var description: String {
        "the transaction failed to serialize \(attempts) times: \(lastError)"
    }
}
