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
    /// after the statement had answered (`PostgresError.unconfirmed`), settles whether it committed: on a
    /// new connection, once the old session is gone, asks whether what the answer names is there. Returns the
    /// answer if it is; throws the original error (nothing was applied) if not, or `OutcomeUnknown` if the
    /// database does not answer within `inDoubtPatience` seconds. An answer that applied nothing (a refusal)
    /// needs no asking.
    func settlingDoubt(_ record: (Row) -> InDoubtRecord?, _ request: () throws -> Row?) throws -> Row? {
        do {
            return try request()
        } catch let error as PostgresError {
            guard let unconfirmed = error.unconfirmed, let answer = unconfirmed.rows.first,
                answer["outcome"] == "applied", let made = record(answer)
            else { throw error }
            if try committed(made, by: unconfirmed.serverProcess, cause: error) { return answer }
            throw error
        }
    }

    /// Whether `record` is in the database, asked until `serverProcess` (the lost session's) is gone (it could
    /// still commit while it runs) and the database answers, for at most `inDoubtPatience` seconds.
    private func committed(_ record: InDoubtRecord, by serverProcess: Int32, cause: PostgresError) throws -> Bool {
        let ids: [String?] =
            switch record {
            case .movement(let id): [String(id), nil, nil]
            case .user(let id): [nil, String(id), nil]
            case .batch(let id): [nil, nil, String(id)]
            case .hold: [nil, nil, nil]
            }
        let hold: [String?] =
            switch record {
            case .hold(let id, let status): [String(id), status.rawValue]
            default: [nil, nil]
            }
        let deadline = MonotonicClock.seconds() + inDoubtPatience
        while true {
            do {
                let row = try retrying { connection throws(PostgresError) in
                    try connection.execute(prepared: Statement.inDoubt.rawValue, ids + [String(serverProcess)] + hold)
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
