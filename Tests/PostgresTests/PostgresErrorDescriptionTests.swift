import Postgres
import Testing

@Suite("Database errors in words")
struct PostgresErrorDescriptionTests {
    @Test("a failed connection says so, in libpq's words")
    func connectionFailureReads() {
        let error = PostgresError(
            kind: .connection, message: #"missing "=" after "nonsense" in connection info string"#)
        #expect(
            error.description == #"database connection failed: missing "=" after "nonsense" in connection info string"#)
    }

    @Test("a server error carries its SQLSTATE")
    func serverErrorCarriesSQLState() {
        let error = PostgresError(kind: .server, sqlState: "42P01", message: #"relation "nowhere" does not exist"#)
        #expect(error.description == #"database error (SQLSTATE 42P01): relation "nowhere" does not exist"#)
    }

    @Test("exhausted retries say how many and the last error")
    func retriesExhaustedReads() {
        let last = PostgresError(kind: .server, sqlState: "40001", message: "could not serialize access")
        let error = RetriesExhausted(attempts: 3, lastError: last)
        #expect(
            error.description
                == "the transaction failed to serialize 3 times: database error (SQLSTATE 40001): could not serialize access"
        )
    }
}
