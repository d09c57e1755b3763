import Ledger
import LedgerStore
import Postgres

/// What replaying one spooled request came to.
package enum ReplayResult: Sendable {
    /// Applied, or answered from the key's earlier outcome: the response a live request would have had.
    case applied(status: Int)
    /// Refused, with the error's code; stored under the key unless the token was no longer live.
    case refused(code: String)
    /// The key was used for a different request before this one reached the database.
    case keyReused
    /// The database is unavailable again, or failed for reasons of its own (disk full, an internal error): stop,
    /// and replay this request later.
    case unavailable(reason: String)
    /// Something no retry will mend (a record the API cannot read): logged and passed over.
    case failed(reason: String)
}

extension TallyAPI {
    /// Runs a spooled request as its caller (the token's hash stands for the token), under its idempotency key,
    /// through the same code and SERIALIZABLE transaction as a live request; a refusal the ledger does not keep
    /// itself is stored under the key, so that the client can learn it.
    package func replay(_ spooled: SpooledRequest) -> ReplayResult {
        do {
            let endpoint = try Router.route(method: spooled.method, path: spooled.path)
            if endpoint == .createBatch { return try replayBatch(spooled) }
            guard let command = try MovementCommand.parse(endpoint, body: spooled.body) else {
                return .failed(reason: "\(spooled.method) \(spooled.path) does not move money")
            }
            let idempotency = IdempotencyContext(
                key: spooled.idempotencyKey, fingerprint: command.fingerprint.joined(separator: "\u{1F}"))
            let (response, settlement) = try perform(
                command, tokenHash: spooled.tokenHash, idempotency: idempotency, requestID: spooled.requestID)
            switch settlement {
            case .applied:
                return .applied(status: response.status)
            case .keyReused:
                return .keyReused
            case .refused(let refusal):
                switch refusal {
                case .forbidden, .tNotIncreasing, .eventTimeNotAllowed:
                    try ledger.recordRefusal(
                        refusal, tokenHash: spooled.tokenHash, idempotency: idempotency, requestID: spooled.requestID)
                default:
                    break  // the ledger stored it, or (unauthorized) there is no caller to store it for
                }
                return .refused(code: APIError.refusal(refusal).code)
            }
        } catch let error as RetriesExhausted {
            return .unavailable(reason: "retries exhausted: \(error.lastError.message)")
        } catch let error as PostgresError where error.isUnavailable || error.isServerFault {
            // A live request gets 503 for either (TallyAPI.handle); the client of a spooled one was told it is
            // pending, so it stays pending until the database can take it.
            return .unavailable(reason: error.message)
        } catch let error as OutcomeUnknown {
            // Replayed again later under the same key: that answers the outcome, or applies it once.
            return .unavailable(reason: "\(error)")
        } catch let error as APIError {
            return .failed(reason: "\(error.code): \(error.message)")
        } catch {
            return .failed(reason: "\(error)")
        }
    }

    /// A spooled batch run as its caller through the same ledger call as a live one (`performBatch`). An atomic
    /// batch's refusal is stored under its key by the ledger itself, in the batch's own transaction.
    private func replayBatch(_ spooled: SpooledRequest) throws -> ReplayResult {
        let command = try BatchCommand.parse(body: spooled.body)
        let idempotency = IdempotencyContext(
            key: spooled.idempotencyKey, fingerprint: command.fingerprint.joined(separator: "\u{1F}"))
        switch try performBatch(
            command, tokenHash: spooled.tokenHash, idempotency: idempotency, requestID: spooled.requestID)
        {
        case (let response, .applied(.recorded)):
            return .applied(status: response.status)
        case (_, .applied(.refused(_, let outcome))):
            return .refused(code: Self.itemError(outcome, shownTo: .service).code)
        case (_, .refused(let refusal)):
            // Unauthorized: there is no caller to store it for.
            return .refused(code: APIError.refusal(refusal).code)
        case (_, .keyReused):
            return .keyReused
        }
    }
}
