/// An error from libpq or the server, with the SQLSTATE when the server sent one.
package struct PostgresError: Error, CustomStringConvertible, Sendable {
    package enum Kind: Sendable {
        /// No usable connection: connecting failed, or the connection broke during a call.
        case connection
        /// The server answered with an error (see `sqlState`).
        case server
    }

    package let kind: Kind
    package let sqlState: String?
    package let message: String
    /// The constraint a violation names, when the server sent one.
    package let constraint: String?
    /// Set when the connection broke without a word from the server (the stream just ended: an immediate
    /// shutdown, a crash, a host lost or cut off) after the statement was sent and before the end of its
    /// transaction was confirmed, with what the statement had answered, if anything. That transaction may have
    /// committed: ask the database once it answers again. nil for every other failure, which means that the
    /// statement's transaction did not commit.
    package internal(set) var unconfirmed: UnconfirmedAnswer?

    package init(kind: Kind, sqlState: String? = nil, message: String, constraint: String? = nil) {
        self.kind = kind
        self.sqlState = sqlState
        self.message = message
        self.constraint = constraint
    }

    /// A parameter holding the NUL character, which a C string would end at and PostgreSQL's text cannot hold:
    /// refused (22021, character_not_in_repertoire) rather than sent silently shortened.
    static let nulInParameter = PostgresError(
        kind: .server, sqlState: "22021", message: "a parameter contains the NUL character, which text cannot hold")

    /// 40001 (serialization_failure) or 40P01 (deadlock_detected): the transaction may succeed if run again.
    package var isSerializationFailure: Bool {
        sqlState == "40001" || sqlState == "40P01"
    }

    /// 55P03 (lock_not_available): a lock was not granted within lock_timeout; the statement was rolled back.
    package var isLockTimeout: Bool {
        sqlState == "55P03"
    }

    /// The database cannot be reached or is shutting down or starting up: the request cannot be served now.
    package var isUnavailable: Bool {
        if kind == .connection { return true }
        guard let sqlState else { return false }
        // Class 08: connection exceptions; 57P01..57P03: admin shutdown, crash shutdown, cannot connect now;
        // 57014: query canceled (statement_timeout); 55P03: lock not available (lock_timeout): the statement was
        // rolled back, nothing was applied, and trying again later may well succeed.
        return sqlState.hasPrefix("08") || ["57P01", "57P02", "57P03", "57014"].contains(sqlState) || isLockTimeout
    }

    /// The server could not run the statement for reasons of its own: class 53 (insufficient resources: disk
    /// full, out of memory, too many connections), 58 (system error: I/O, a missing file) or XX (internal
    /// error). The transaction was rolled back; the request was fine and may well succeed later.
    package var isServerFault: Bool {
        guard kind == .server, let sqlState else { return false }
        return sqlState.hasPrefix("53") || sqlState.hasPrefix("58") || sqlState.hasPrefix("XX")
    }

    /// The server refused a value the statement was given: class 22 (data exception: out of range, too long,
    /// not in the repertoire) or 23 (integrity constraint violation: a CHECK, a domain, NOT NULL, unique, a
    /// foreign key). The API validates input before it gets here; this is what the database's own rules catch
    /// when the two ever disagree. The statement was rolled back.
    package var isValueRefused: Bool {
        guard kind == .server, let sqlState else { return false }
        return sqlState.hasPrefix("22") || sqlState.hasPrefix("23")
    }

    /// For a person: which side failed, in libpq's or the server's words, with the SQLSTATE when there is one
    /// ("database connection failed: connection to server on socket ... failed: No such file or directory").
    package var description: String {
        let code = sqlState.map { " (SQLSTATE \($0))" } ?? ""
        return switch kind {
        case .connection: "database connection failed\(code): \(message)"
        case .server: "database error\(code): \(message)"
        }
    }
}

/// A statement's answer whose transaction's end was never confirmed (see `PostgresError.unconfirmed`), with the
/// server process that ran it: while that process runs, it may still commit.
package struct UnconfirmedAnswer: Sendable {
    /// What the statement answered; nil when the connection broke before any answer arrived (a server killed
    /// outright sends nothing, even for a transaction it has committed).
    package let rows: Rows?
    package let serverProcess: Int32
    /// The server (`Connection.server`) that process ran on.
    package let server: String
}
