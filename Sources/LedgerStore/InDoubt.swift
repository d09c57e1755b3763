import Ledger
import Glibc
import Postgres
import SystemSupport

/// A money-moving request whose commit could not be confirmed: the database ended the session unannounced (an
/// immediate shutdown, a crash) after the request's statement had answered, and did not come back within
/// `PostgresLedger.inDoubtPatience` to say whether it committed. It may or may not have been applied.
package struct OutcomeUnknown: Error, CustomStringConvertible {
    /// The connection's error.
    package let cause: PostgresError

    package init(cause: PostgresError) {
        self.cause = cause
    }

    package var description: String { "outcome unknown: \(cause.message)" }
}

/// What an in-doubt request made, if it committed: a movement, a user or a batch (by id), or a hold in the
/// status it left it in (placed: pending; voided).
enum InDoubtRecord {
    case movement(Int64)
    case user(Int64)
    case batch(Int64)
    case hold(Int64, status: Hold.Status)
}

extension PostgresLedger {
    /// Runs `request` (a money-moving statement, retried as a whole). When its connection broke unannounced
    /// after the statement was sent (`PostgresError.unconfirmed`), settles whether it committed, on a new
    /// connection once the old session is gone:
    /// - if the statement had answered, by asking whether what the answer names is there: returns the answer if
    ///   it is, throws the original error (nothing was applied) if not. An answer that applied nothing (a
    ///   refusal) needs no asking.
    /// - if it had not (a server killed outright, or cut off, sends nothing even for a commit it made), nothing
    ///   names what it made: a `keyed` request (one with an Idempotency-Key) runs again, and its key answers what
    ///   the first run committed or applies it once; any other throws `OutcomeUnknown`.
    /// Throws `OutcomeUnknown` too when the database does not answer within `inDoubtPatience` seconds.
    func settlingDoubt(
        keyed: Bool, _ record: (Row) -> InDoubtRecord?, _ request: () throws -> Row?
    ) throws -> Row? {
        do {
            return try request()
        } catch let error as PostgresError {
            guard let unconfirmed = error.unconfirmed else { throw error }
            guard let rows = unconfirmed.rows else {
                guard keyed else { throw OutcomeUnknown(cause: error) }
                _ = try committed(nil, by: unconfirmed, cause: error)
                return try runningAgain(request)
            }
            guard let answer = rows.first, answer["outcome"] == "applied", let made = record(answer)
            else { throw error }
            if try committed(made, by: unconfirmed, cause: error) { return answer }
            throw error
        }
    }

    /// `request` run again under its key after an unanswered first run: whatever keeps it from a definite
    /// answer now leaves the first run's outcome unknown.
    private func runningAgain(_ request: () throws -> Row?) throws -> Row? {
        do {
            return try request()
        } catch let error as PostgresError where error.unconfirmed != nil || error.isUnavailable {
            throw OutcomeUnknown(cause: error)
        } catch let error as RetriesExhausted {
            throw OutcomeUnknown(cause: error.lastError)
        }
    }

    /// Whether `record` is in the database, asked until the lost session is gone (it could still commit while it
    /// runs) and the database answers, for at most `inDoubtPatience` seconds. A session of another server than
    /// the one answering now counts as gone: after a failover the new primary's journal is the cluster's, and
    /// what the lost primary committed alone never joins it (docs/operations.md#high-availability).
    /// With no `record`, only waits for that (and answers false).
    private func committed(_ record: InDoubtRecord?, by lost: UnconfirmedAnswer, cause: PostgresError) throws -> Bool {
        let ids: [String?] =
            switch record {
            case .movement(let id): [String(id), nil, nil]
            case .user(let id): [nil, String(id), nil]
            case .batch(let id): [nil, nil, String(id)]
            case .hold, nil: [nil, nil, nil]
            }
        let hold: [String?] =
            switch record {
            case .hold(let id, let status): [String(id), status.rawValue]
            case .movement, .user, .batch, nil: [nil, nil]
            }
        let deadline = MonotonicClock.seconds() + inDoubtPatience
        while true {
            do {
                let row = try retrying { connection throws(PostgresError) in
                    let process = connection.server == lost.server ? String(lost.serverProcess) : nil
                    return try connection.execute(prepared: Statement.inDoubt.rawValue, ids + [process] + hold)
                        .rows
                        .first
                }
                if let row, row["session_alive"] == "f" { return row["committed"] == "t" }
            } catch {
                // Still down or starting up (or the question failed): ask again until the patience runs out.
            }
            guard MonotonicClock.seconds() < deadline else { throw OutcomeUnknown(cause: cause) }
            usleep(100_000)
        }
    }
}
