import Postgres
import Testing

@Suite("Retry policy for serialization failures")
struct RetryPolicyTests {
    let serializationFailure = PostgresError(kind: .server, sqlState: "40001", message: "could not serialize")
    let deadlock = PostgresError(kind: .server, sqlState: "40P01", message: "deadlock detected")

    @Test("a serialization failure is retried until the body succeeds")
    func retriesUntilSuccess() throws {
        var calls = 0
        var retries = 0
        let value = try RetryPolicy(maxAttempts: 5).run(sleep: { _ in }, onRetry: { retries += 1 }) {
            () throws(PostgresError) -> Int in
            calls += 1
            if calls < 3 { throw calls == 1 ? serializationFailure : deadlock }
            return 42
        }
        #expect(value == 42 && calls == 3 && retries == 2)
    }

    @Test("the bound is kept: after maxAttempts the caller gets RetriesExhausted")
    func stopsAtTheBound() {
        var calls = 0
        #expect(throws: RetriesExhausted.self) {
            try RetryPolicy(maxAttempts: 4).run(sleep: { _ in }) { () throws(PostgresError) -> Int in
                calls += 1
                throw serializationFailure
            }
        }
        #expect(calls == 4)
    }

    @Test("other errors are not retried")
    func otherErrorsPassThrough() {
        var calls = 0
        let violation = PostgresError(kind: .server, sqlState: "23514", message: "check violation")
        #expect(throws: PostgresError.self) {
            try RetryPolicy().run(sleep: { _ in }) { () throws(PostgresError) -> Int in
                calls += 1
                throw violation
            }
        }
        #expect(calls == 1)
    }

    @Test("delays grow exponentially, are capped, and are jittered below the ceiling")
    func backoffShape() {
        let policy = RetryPolicy(maxAttempts: 10, baseDelayMicroseconds: 100, maxDelayMicroseconds: 1000)
        let ceilings = (1...6).map { policy.delayMicroseconds(beforeRetry: $0, random: { $0 }) }
        #expect(ceilings == [100, 200, 400, 800, 1000, 1000])
        for retry in 1...6 {
            let delay = policy.delayMicroseconds(beforeRetry: retry)
            #expect(delay >= 0 && delay <= ceilings[retry - 1])
        }
    }

    @Test("connection errors and shutdown states count as unavailable; constraint errors do not")
    func classifiesUnavailability() {
        #expect(PostgresError(kind: .connection, message: "refused").isUnavailable)
        #expect(PostgresError(kind: .server, sqlState: "57P01", message: "admin shutdown").isUnavailable)
        #expect(PostgresError(kind: .server, sqlState: "08006", message: "failure").isUnavailable)
        #expect(!PostgresError(kind: .server, sqlState: "23514", message: "check").isUnavailable)
        #expect(serializationFailure.isSerializationFailure && deadlock.isSerializationFailure)
    }
}

@Suite("Which database errors mean: nothing was applied, try again later")
struct UnavailableErrorTests {
    @Test(
        "a broken connection, a shutdown, a statement or lock timeout are 'unavailable'",
        arguments: ["08006", "57P01", "57P03", "57014", "55P03"])
    func unavailable(_ sqlState: String) {
        #expect(PostgresError(kind: .server, sqlState: sqlState, message: "x").isUnavailable)
    }

    @Test("a serialization failure or a constraint violation is not", arguments: ["40001", "40P01", "23514", "22003"])
    func notUnavailable(_ sqlState: String) {
        #expect(!PostgresError(kind: .server, sqlState: sqlState, message: "x").isUnavailable)
    }
}
