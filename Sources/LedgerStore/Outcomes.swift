import Ledger

/// The request's identity for idempotency: the client's key, and a fingerprint of what it asked for,
/// so that the same key with a different request can be told apart from a repeat.
package struct IdempotencyContext: Sendable {
    package let key: String
    package let fingerprint: String

    package init(key: String, fingerprint: String) {
        self.key = key
        self.fingerprint = fingerprint
    }
}

/// Why the ledger refused a movement. A refusal changed nothing, and is replayed under its key.
package enum Refusal: Equatable, Sendable {
    case userNotFound(id: Int64)
    /// The payer's available balance (balance + credit limit - pending holds) is short; it is given.
    case insufficientFunds(balance: Money)
    /// The credited balance would no longer fit in a bigint.
    case balanceLimit(balance: Money)
    /// The bearer token is unknown, expired or revoked.
    case unauthorized
    /// The caller may not act on that account.
    case forbidden
    /// Another user already has that username (ignoring case).
    case usernameTaken
    /// An event's t is not after the user's last event's t (given here).
    case tNotIncreasing(last: Int64)
    /// A user's deposit or withdrawal carried a t: only the service role supplies event times (the API refuses
    /// it before the ledger is asked; stored under the key when a spooled request is refused so on replay).
    case eventTimeNotAllowed
    /// The debit would take the user's debits today past their daily debit limit; `remaining` is what is left.
    case limitExceeded(remaining: Money)
    /// A credit limit below what the user's balance and pending holds already use; `least` is the lowest allowed.
    case creditLimitInUse(least: Money)
    /// The time zone name is not one PostgreSQL knows.
    case unknownTimeZone
    /// No hold with this id that the caller may see.
    case holdNotFound(id: Int64)
    /// The hold passed its expiry before this capture or void.
    case holdExpired
    /// The hold was settled before (captured, voided or expired): it is given.
    case holdNotPending(status: Hold.Status)
    /// A capture of more than the hold holds (given).
    case captureExceedsHold(held: Money)
    /// No transfer with this id that the caller may see.
    case transferNotFound(id: Int64)
    /// The movement cannot be reversed (it is a reversal, or not a transfer).
    case notReversible(kind: MovementKind)
    /// A capture by the payee refused for the payer's available balance or (`ofDailyLimit`) daily debit limit,
    /// without the payer's figures, which are theirs to read.
    case payerShort(ofDailyLimit: Bool)
    /// The reversal would take the transfer's reversals past its amount; `left` is what is left.
    case reversalExceedsTransfer(left: Money)
}

/// A deposit or withdrawal with the alerts it raised and the second it happened.
package struct CashMovement: Equatable, Sendable {
    package let movement: Movement
    package let alertCodes: [Int]

    package init(movement: Movement, alertCodes: [Int]) {
        self.movement = movement
        self.alertCodes = alertCodes
    }
}

/// What an operation that may move money ended as.
package struct Receipt<Value: Sendable>: Sendable {
    package enum Result: Sendable {
        case applied(Value)
        case refused(Refusal)
        /// The idempotency key was used before for a different request.
        case keyReused
    }

    package let result: Result
    /// True when this is the stored outcome of an earlier request with the same key.
    package let isReplay: Bool
    /// The id of the request that produced the outcome (the first one, for a replay).
    package let requestID: String

    package init(result: Result, isReplay: Bool, requestID: String) {
        self.result = result
        self.isReplay = isReplay
        self.requestID = requestID
    }
}
