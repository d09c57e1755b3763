import Ledger

/// What a request stored under an idempotency key ended as, for `GET /api/requests/{key}`.
package enum RequestOutcome: Equatable, Sendable {
    /// It moved money: the movement.
    case applied(Movement)
    /// It created a user (POST /api/users under a key): the user's id.
    case createdUser(id: Int64)
    /// A batch (POST /api/batches under a key) was recorded: the batch's id.
    case batch(id: Int64)
    /// A hold was placed or voided (POST /api/holds, .../void under a key): the hold's id. (A capture is
    /// `.applied` with its transfer, whose `holdID` names the hold.)
    case hold(id: Int64)
    case refused(Refusal)
    /// An atomic batch refused because one of its items' keys was used before for something else.
    case itemKeyReused
}

extension Refusal {
    /// The `outcome` and `detail` columns that store this refusal (the reverse of `Row.refusal()`).
    var storedColumns: (outcome: String, detail: Int64?) {
        switch self {
        case .userNotFound(let id): ("not_found", id)
        case .insufficientFunds(let balance): ("insufficient_funds", balance.minorUnits)
        case .balanceLimit(let balance): ("balance_limit", balance.minorUnits)
        case .unauthorized: ("unauthorized", nil)
        case .forbidden: ("forbidden", nil)
        case .usernameTaken: ("username_taken", nil)
        case .tNotIncreasing(let last): ("t_not_increasing", last)
        case .eventTimeNotAllowed: ("t_not_allowed", nil)
        case .limitExceeded(let remaining): ("limit_exceeded", remaining.minorUnits)
        case .creditLimitInUse(let least): ("credit_limit_in_use", least.minorUnits)
        case .unknownTimeZone: ("unknown_time_zone", nil)
        case .holdNotFound(let id): ("hold_not_found", id)
        case .holdExpired: ("hold_expired", nil)
        case .holdNotPending(let status): (status == .expired ? "hold_expired_before" : "hold_\(status.rawValue)", nil)
        case .captureExceedsHold(let held): ("capture_exceeds_hold", held.minorUnits)
        case .transferNotFound(let id): ("transfer_not_found", id)
        case .notReversible(let kind): ("not_reversible_\(kind.rawValue)", nil)
        case .reversalExceedsTransfer(let left): ("reversal_exceeds_transfer", left.minorUnits)
        case .payerShort(let ofDailyLimit): (ofDailyLimit ? "payer_limit_exceeded" : "payer_insufficient_funds", nil)
        }
    }
}
