import CLibPQ
import Glibc

/// One libpq connection. Not thread-safe: each worker process owns exactly one.
package final class Connection {
    let handle: OpaquePointer
    private var preparedNames: Set<String> = []
    /// The columns of each prepared statement's results, as last seen.
    private var layouts: [String: ColumnLayout] = [:]
    /// Set when a pipeline ended without all its results read: what comes next on this connection would be
    /// matched with the wrong statements, so it counts as broken.
    var isOutOfStep = false

    /// Connects with a libpq conninfo string ("dbname=tally host=/path"); PG* environment variables apply.
    package init(conninfo: String) throws(PostgresError) {
        guard let handle = PQconnectdb(conninfo) else {
            throw PostgresError(kind: .connection, message: "out of memory creating a connection")
        }
        self.handle = handle
        guard PQstatus(handle) == CONNECTION_OK else {
            // deinit finishes the handle: every stored property is set, so it runs for this instance too.
            let message = Self.trimmed(PQerrorMessage(handle))
            throw PostgresError(kind: .connection, message: message)
        }
        DeadlineCancel.target(handle)
    }

    deinit {
        PQfinish(handle)
    }

    /// The process id of the connection's server process (kept after the connection broke).
    package var backendPID: Int32 { PQbackendPID(handle) }

    /// The server this connection reached, "host:port" (with several hosts in the conninfo, the one libpq chose).
    package var server: String {
        "\(PQhost(handle).map { String(cString: $0) } ?? ""):\(PQport(handle).map { String(cString: $0) } ?? "")"
    }

    /// False once the connection has broken; a broken connection is not repaired, make a new one.
    package var isHealthy: Bool {
        !isOutOfStep && PQstatus(handle) == CONNECTION_OK
    }

    /// True unless the server closed the connection while it sat idle (PostgreSQL restarted or shut down, a
    /// backend terminated): its socket then reads as ready, with the server's last message or the end of the
    /// stream. Asked before a connection is used again, so that the first request after a database restart
    /// runs on a new connection instead of failing on the old one. Costs one poll(2) that does not wait.
    package func survivedIdle() -> Bool {
        guard isHealthy else { return false }
        let socket = PQsocket(handle)
        guard socket >= 0 else { return false }
        // Something arrived unasked: a notice, or the server's goodbye (its last message, then the end of the
        // stream, which libpq sees only on the next read). Read until there is nothing more to read.
        for _ in 0..<4 {
            var descriptor = pollfd(fd: socket, events: Int16(POLLIN), revents: 0)
            guard poll(&descriptor, 1, 0) > 0 else { return isHealthy }
            guard PQconsumeInput(handle) == 1, isHealthy else { return false }
        }
        return isHealthy
    }

    /// Runs one or more SQL statements without parameters (migrations, session settings).
    package func execute(script sql: String) throws(PostgresError) {
        let result = PQexec(handle, sql)
        _ = try check(result)
    }

    /// Runs one parameterised statement. Values travel separately from the SQL text, as text.
    @discardableResult
    package func query(_ sql: String, _ parameters: [String?] = []) throws(PostgresError) -> Rows {
        let result = try withCStrings(parameters) { values in
            PQexecParams(handle, sql, Int32(values.count), nil, values, nil, nil, 0)
        }
        return try check(result)
    }

    /// Prepares `sql` under `name` on this connection (once; preparing an existing name does nothing).
    package func prepare(_ name: String, _ sql: String) throws(PostgresError) {
        guard !preparedNames.contains(name) else { return }
        let result = PQprepare(handle, name, sql, 0, nil)
        _ = try check(result)
        preparedNames.insert(name)
    }

    /// Executes a statement prepared with `prepare(_:_:)`. A failure after the statement answered rows carries
    /// them as `unconfirmed` when the connection broke unannounced before its end was confirmed.
    @discardableResult
    package func execute(prepared name: String, _ parameters: [String?]) throws(PostgresError) -> Rows {
        let sent = try withCStrings(parameters) { values in
            PQsendQueryPrepared(handle, name, Int32(values.count), values, nil, nil, 0)
        }
        guard sent == 1 else { throw connectionError() }
        // As PQexecPrepared, which reads the same results: the first error wins over any rows before it (a
        // serialization failure found at commit, after the function had answered), but the rows are kept.
        var answer: Rows?
        var firstError: OpaquePointer?
        var announcedEnd = false
        while let result = PQgetResult(handle) {
            switch PQresultStatus(result) {
            case PGRES_TUPLES_OK, PGRES_COMMAND_OK, PGRES_EMPTY_QUERY:
                if firstError == nil { answer = rows(of: result, statement: name) }
                PQclear(result)
            default:
                announcedEnd = announcedEnd || endsSession(result)
                if firstError == nil { firstError = result } else { PQclear(result) }
            }
        }
        guard let firstError else {
            guard let answer else {
                var error = connectionError()
                if !isHealthy { error.unconfirmed = unconfirmed(nil) }
                throw error
            }
            return answer
        }
        defer { PQclear(firstError) }
        var error = serverError(firstError)
        if !isHealthy && !announcedEnd { error.unconfirmed = unconfirmed(answer) }
        throw error
    }

    private func check(_ result: OpaquePointer?, statement: String? = nil) throws(PostgresError) -> Rows {
        guard let result else { throw connectionError() }
        defer { PQclear(result) }
        switch PQresultStatus(result) {
        case PGRES_TUPLES_OK, PGRES_COMMAND_OK, PGRES_EMPTY_QUERY:
            return rows(of: result, statement: statement)
        default:
            throw serverError(result)
        }
    }

    /// A successful result's rows, with the prepared statement's column layout when there is one.
    func rows(of result: OpaquePointer, statement: String?) -> Rows {
        guard let statement else { return Rows(reading: result) }
        let known = layouts[statement]
        let rows = Rows(reading: result, layout: known)
        if rows.layout !== known { layouts[statement] = rows.layout }
        return rows
    }

    /// The error a failed result carries, with its SQLSTATE.
    func serverError(_ result: OpaquePointer) -> PostgresError {
        let sqlState = field(result, TALLY_PG_DIAG_SQLSTATE)
        let message = field(result, TALLY_PG_DIAG_MESSAGE_PRIMARY) ?? Self.trimmed(PQerrorMessage(handle))
        let kind: PostgresError.Kind = isHealthy ? .server : .connection
        return PostgresError(
            kind: kind, sqlState: sqlState, message: message, constraint: field(result, TALLY_PG_DIAG_CONSTRAINT_NAME))
    }

    /// The connection's own error: it broke, or libpq could not send.
    func connectionError() -> PostgresError {
        PostgresError(kind: .connection, message: Self.trimmed(PQerrorMessage(handle)))
    }

    /// `rows` (nil: none arrived) as the answer of a statement whose end this (broken) connection never confirmed.
    func unconfirmed(_ rows: Rows?) -> UnconfirmedAnswer {
        UnconfirmedAnswer(rows: rows, serverProcess: backendPID, server: server)
    }

    /// Whether `result` is the server's FATAL error: it ends the session on its own terms (`pg_ctl stop -m
    /// fast` among them), and never between a transaction's commit and the answer that confirms it, so a
    /// statement whose end it preceded did not commit.
    func endsSession(_ result: OpaquePointer) -> Bool {
        field(result, TALLY_PG_DIAG_SEVERITY_NONLOCALIZED) == "FATAL"
    }

    private func field(_ result: OpaquePointer, _ code: Int32) -> String? {
        guard let value = PQresultErrorField(result, code) else { return nil }
        return String(cString: value)
    }

    private static func trimmed(_ message: UnsafePointer<CChar>?) -> String {
        guard let message else { return "unknown libpq error" }
        return String(cString: message).trimmingTrailingWhitespace()
    }
}

extension String {
    fileprivate func trimmingTrailingWhitespace() -> String {
        var text = Substring(self)
        while let last = text.last, last.isWhitespace { text.removeLast() }
        return String(text)
    }
}

/// Calls `body` with the parameters as an array of C strings (NULL for SQL NULL) that live for the call:
/// all of them copied, each with its NUL, into one buffer. A parameter with a NUL of its own is refused
/// (`PostgresError.nulInParameter`) and `body` not called.
func withCStrings<Result>(
    _ strings: [String?], _ body: ([UnsafePointer<CChar>?]) -> Result
) throws(PostgresError) -> Result {
    let size = strings.reduce(0) { $0 + ($1?.utf8.count ?? 0) + 1 }
    let result = withUnsafeTemporaryAllocation(of: CChar.self, capacity: size) { buffer -> Result? in
        var offset = 0
        var pointers: [UnsafePointer<CChar>?] = []
        pointers.reserveCapacity(strings.count)
        for string in strings {
            guard let string else {
                pointers.append(nil)
                continue
            }
            let start = offset
            var text = string  // withUTF8 is mutating: it may first make the storage native
            let hasNUL = text.withUTF8 { bytes -> Bool in
                guard let source = bytes.baseAddress, !bytes.isEmpty else { return false }
                guard memchr(source, 0, bytes.count) == nil else { return true }
                memcpy(buffer.baseAddress! + offset, source, bytes.count)
                offset += bytes.count
                return false
            }
            if hasNUL { return nil }
            buffer[offset] = 0
            offset += 1
            pointers.append(UnsafePointer(buffer.baseAddress! + start))
        }
        return body(pointers)
    }
    guard let result else { throw .nulInParameter }
    return result
}
