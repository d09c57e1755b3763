import CLibPQ
import Glibc

/// One step of a pipeline: a prepared statement by name, SQL text with its parameters, the COMMIT of an explicit
/// transaction, or a sync point.
package enum PipelineStep: Sendable {
    case prepared(String, [String?])
    case sql(String, [String?] = [])
    /// COMMIT of the explicit transaction (BEGIN ...) the statements before it are in. Once it has answered,
    /// they are committed: they keep their outcomes even if the connection breaks before the next sync point
    /// (the server, stopped with `pg_ctl stop -m fast`, ends its session there). Its own outcome has no rows.
    case commit
    /// Ends the implicit transaction of the statements before it (those not in an explicit BEGIN ... COMMIT):
    /// the statements after it run in a new one, with a new snapshot, even if one before it failed.
    case sync
}

extension Connection {
    /// Sends the statements together and reads their results after one network round trip
    /// (libpq's pipeline mode). When one fails, the ones after it up to the next sync point are skipped and
    /// the first error is thrown. Statements inside an explicit transaction (BEGIN ... COMMIT) stay in it across
    /// pipelines.
    package func pipeline(_ steps: [PipelineStep]) throws(PostgresError) -> [Rows] {
        var rows: [Rows] = []
        for outcome in try pipelineOutcomes(steps) {
            switch outcome {
            case .success(let result): rows.append(result)
            case .failure(let error): throw error
            }
        }
        return rows
    }

    /// As `pipeline`, with each statement's own outcome (in order, one per statement; sync points have none):
    /// for pipelines whose statements after a sync point stand on their own. A statement skipped after an
    /// earlier error fails with that error. Throws when the connection breaks before the pipeline is sent.
    /// When it breaks while the results are read, the outcomes of statements whose sync point or COMMIT was
    /// confirmed stay (they committed: a later statement's failure does not undo them) and every other statement
    /// fails with the connection's error (it may or may not have run; when the server ended the session
    /// unannounced, each carries what it had answered, if anything, as `unconfirmed`); the connection is not used
    /// again.
    package func pipelineOutcomes(_ steps: [PipelineStep]) throws(PostgresError) -> [Result<Rows, PostgresError>] {
        for step in steps {
            switch step {
            case .prepared(_, let parameters), .sql(_, let parameters): try refuseNUL(parameters)
            case .sync, .commit: break
            }
        }
        var steps = steps
        if case .sync? = steps.last {} else { steps.append(.sync) }

        guard PQenterPipelineMode(handle) == 1 else { throw connectionError() }
        // Whatever happens below, the pipeline must end with every result read; if not, the connection is out of
        // step and must not be used again.
        defer {
            if PQexitPipelineMode(handle) != 1 { isOutOfStep = true }
        }
        do throws(PostgresError) {
            return try sendAndRead(steps)
        } catch {
            isOutOfStep = true
            throw error
        }
    }

    /// Refuses a NUL in any step's parameters before anything is sent, as `withCStrings` would refuse it
    /// halfway through the pipeline.
    private func refuseNUL(_ parameters: [String?]) throws(PostgresError) {
        if parameters.contains(where: { $0?.utf8.contains(0) == true }) { throw .nulInParameter }
    }

    private func sendAndRead(_ steps: [PipelineStep]) throws(PostgresError) -> [Result<Rows, PostgresError>] {
        for step in steps {
            let sent: Int32
            switch step {
            case .prepared(let name, let parameters):
                sent = try withCStrings(parameters) {
                    PQsendQueryPrepared(handle, name, Int32($0.count), $0, nil, nil, 0)
                }
            case .sql(let sql, let parameters):
                sent = try withCStrings(parameters) {
                    PQsendQueryParams(handle, sql, Int32($0.count), nil, $0, nil, nil, 0)
                }
            case .commit:
                sent = PQsendQueryParams(handle, "COMMIT", 0, nil, nil, nil, nil, 0)
            case .sync:
                sent = PQpipelineSync(handle)
            }
            guard sent == 1 else { throw connectionError() }
        }

        var outcomes: [Result<Rows, PostgresError>] = []
        var errorBeforeSync: PostgresError?
        /// The outcomes before this one are settled: their sync point or COMMIT has answered.
        var confirmed = 0
        /// The server sent a FATAL error: the session ended on its terms (see `endsSession`).
        var announcedEnd = false
        /// The connection broke: keep what is confirmed, fail the rest.
        func brokenOff() -> [Result<Rows, PostgresError>] {
            isOutOfStep = true
            let error = connectionError()
            let statements = steps.filter { if case .sync = $0 { false } else { true } }.count
            var unanswered = error
            if !announcedEnd { unanswered.unconfirmed = self.unconfirmed(nil) }
            let unconfirmed = outcomes[confirmed...].map { outcome -> Result<Rows, PostgresError> in
                switch outcome {
                case .success(let rows) where !announcedEnd:
                    var inDoubt = error
                    inDoubt.unconfirmed = self.unconfirmed(rows)
                    return .failure(inDoubt)
                // libpq's own error (no SQLSTATE) for the statement the connection broke under: it was sent, and
                // nothing says how it ended.
                case .failure(let failure) where failure.sqlState == nil: return .failure(unanswered)
                case .success, .failure: return .failure(error)
                }
            }
            return Array(outcomes[..<confirmed]) + unconfirmed
                + Array(repeating: .failure(unanswered), count: statements - outcomes.count)
        }
        for step in steps {
            guard let result = nextResult() else { return brokenOff() }
            let status = PQresultStatus(result)
            if status == PGRES_FATAL_ERROR, endsSession(result) { announcedEnd = true }
            if case .sync = step {
                var syncResult = result
                if status == PGRES_FATAL_ERROR {
                    // libpq's own error for a connection that ended without a word: whether the transaction
                    // committed is not known (see `brokenOff`).
                    guard isHealthy || endsSession(result) else {
                        PQclear(result)
                        return brokenOff()
                    }
                    // The server's error: the implicit transaction of the statements since the last sync point
                    // failed to commit (a serialization failure found at commit, say) or the session ended before
                    // it committed: none of them happened, whatever they answered. The sync point's own result
                    // follows.
                    let error = serverError(result)
                    PQclear(result)
                    for index in confirmed..<outcomes.count { outcomes[index] = .failure(error) }
                    guard let next = nextResult() else { return brokenOff() }
                    syncResult = next
                }
                let synced = PQresultStatus(syncResult) == PGRES_PIPELINE_SYNC
                PQclear(syncResult)
                guard synced else { return brokenOff() }
                errorBeforeSync = nil
                confirmed = outcomes.count
                continue
            }
            switch status {
            case PGRES_COMMAND_OK where isCommit(step) && !committed(result):
                // COMMIT of a transaction an earlier statement (in an earlier round trip) had failed: PostgreSQL
                // answers ROLLBACK.
                let error = PostgresError(
                    kind: .server, sqlState: "25P02",
                    message: "the transaction was rolled back: a statement in it failed")
                errorBeforeSync = errorBeforeSync ?? error
                outcomes.append(.failure(error))
            case PGRES_TUPLES_OK, PGRES_COMMAND_OK:
                let statement: String? = if case .prepared(let name, _) = step { name } else { nil }
                outcomes.append(.success(rows(of: result, statement: statement)))
                if isCommit(step) { confirmed = outcomes.count }
            case PGRES_PIPELINE_ABORTED:
                // Skipped after an earlier error.
                outcomes.append(.failure(errorBeforeSync ?? PostgresError(kind: .server, message: "pipeline aborted")))
            default:
                let error = serverError(result)
                errorBeforeSync = errorBeforeSync ?? error
                outcomes.append(.failure(error))
            }
            PQclear(result)
            // Each statement's results end with a NULL.
            while let extra = PQgetResult(handle) { PQclear(extra) }
        }
        return outcomes
    }

    private func isCommit(_ step: PipelineStep) -> Bool {
        if case .commit = step { true } else { false }
    }

    /// Whether a COMMIT's result says the transaction committed.
    private func committed(_ result: OpaquePointer) -> Bool {
        guard let status = PQcmdStatus(result) else { return false }
        return strcmp(status, "COMMIT") == 0
    }

    /// The next result of the pipeline. libpq ends each statement's results with a NULL, which the loop above
    /// reads; around sync points it may hand out another NULL first, which is skipped here (a few at most:
    /// more means the connection has nothing more to give).
    private func nextResult() -> OpaquePointer? {
        for _ in 0..<3 {
            if let result = PQgetResult(handle) { return result }
            guard PQstatus(handle) == CONNECTION_OK else { return nil }
        }
        return nil
    }
}
