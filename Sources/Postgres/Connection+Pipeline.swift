import CLibPQ

/// One statement of a pipeline: a prepared statement by name, or SQL text, with its parameters.
public enum PipelineStep: Sendable {
    case prepared(String, [String?])
    case sql(String, [String?] = [])
}

extension Connection {
    /// Sends the statements together and reads their results after one network round trip
    /// (libpq's pipeline mode). When one fails, the ones after it are skipped and the first error is thrown.
    /// Statements inside an explicit transaction (BEGIN ... COMMIT) stay in it across pipelines.
    public func pipeline(_ steps: [PipelineStep]) throws(PostgresError) -> [Rows] {
        for step in steps {
            switch step {
            case .prepared(_, let parameters), .sql(_, let parameters): try refuseNUL(parameters)
            }
        }
        guard PQenterPipelineMode(handle) == 1 else { throw connectionError() }
        defer { _ = PQexitPipelineMode(handle) }
        for step in steps {
            let sent: Int32
            switch step {
            case .prepared(let name, let parameters):
                sent = withCStrings(parameters) { PQsendQueryPrepared(handle, name, Int32($0.count), $0, nil, nil, 0) }
            case .sql(let sql, let parameters):
                sent = withCStrings(parameters) {
                    PQsendQueryParams(handle, sql, Int32($0.count), nil, $0, nil, nil, 0)
                }
            }
            guard sent == 1 else { throw connectionError() }
        }
        guard PQpipelineSync(handle) == 1 else { throw connectionError() }

        var results: [Rows] = []
        var firstError: PostgresError?
        for _ in steps {
            guard let result = PQgetResult(handle) else { throw connectionError() }
            switch PQresultStatus(result) {
            case PGRES_TUPLES_OK, PGRES_COMMAND_OK:
                results.append(Rows(reading: result))
            case PGRES_PIPELINE_ABORTED:
                break  // skipped after an earlier error
            default:
                if firstError == nil { firstError = serverError(result) }
            }
            PQclear(result)
            // Each statement's results end with a NULL.
            while let extra = PQgetResult(handle) { PQclear(extra) }
        }
        // The sync point closes the pipeline.
        guard let sync = PQgetResult(handle) else { throw connectionError() }
        let synced = PQresultStatus(sync) == PGRES_PIPELINE_SYNC
        PQclear(sync)
        guard synced else { throw connectionError() }
        if let firstError { throw firstError }
        return results
    }
}
