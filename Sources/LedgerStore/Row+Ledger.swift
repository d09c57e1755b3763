import Ledger
import Postgres

/// A row that does not have the shape the ledger's SQL promises: a bug, not a user error.
package struct UnexpectedRow: Error, CustomStringConvertible {
    package let description: String
}

extension Row {
    func user() throws -> User {
        guard let id = int64("id"), let name = self["name"], let balance = int64("balance"),
            let createdAt = int64("created_at_us")
        else { throw UnexpectedRow(description: "user row lacks a column") }
        // Rows of statements that do not read the limits (log-in) show the defaults.
        let limits = AccountLimits(
            creditLimit: Money(minorUnits: int64("credit_limit") ?? 0),
            dailyDebitLimit: int64("daily_debit_limit").map(Money.init(minorUnits:)),
            timeZone: self["time_zone"] ?? AccountLimits.defaultTimeZone)
        return User(
            id: id, name: name, username: self["username"], balance: Money(minorUnits: balance),
            createdAt: createdAt, held: Money(minorUnits: int64("held") ?? 0), limits: limits)
    }

    /// A hold from the `hold_*` columns of tally_hold_view (migration 17).
    func hold() throws -> Hold {
        guard let id = int64("hold_id"), let payer = int64("hold_payer"), let payee = int64("hold_payee"),
            let amount = int64("hold_amount"), let statusText = self["hold_status"],
            let status = Hold.Status(rawValue: statusText), let createdAt = int64("hold_created_at_us"),
            let expiresAt = int64("hold_expires_at_us")
        else { throw UnexpectedRow(description: "hold row lacks a column") }
        return Hold(
            id: id, payerUserID: payer, payeeUserID: payee, amount: Money(minorUnits: amount),
            memo: self["hold_memo"], status: status, createdAt: createdAt, expiresAt: expiresAt,
            capturedAmount: int64("hold_captured_amount").map(Money.init(minorUnits:)),
            captureMovementID: int64("hold_capture_movement"), settledAt: int64("hold_settled_at_us"))
    }

    func movement() throws -> Movement {
        guard let id = int64("id"), let kindText = self["kind"], let kind = MovementKind(rawValue: kindText),
            let debit = int64("debit_user_id"), let credit = int64("credit_user_id"),
            let amount = int64("amount"), let createdAt = int64("created_at_us")
        else { throw UnexpectedRow(description: "movement row lacks a column") }
        return Movement(
            id: id, kind: kind, debitUserID: debit, creditUserID: credit, amount: Money(minorUnits: amount),
            debitBalanceAfter: int64("debit_balance_after").map(Money.init(minorUnits:)),
            creditBalanceAfter: int64("credit_balance_after").map(Money.init(minorUnits:)),
            memo: self["memo"], createdAt: createdAt, batchID: int64("batch_id"), holdID: int64("hold_id"),
            reversalOf: int64("reversal_of"))
    }

    /// Reads the refusal a ledger function reported in its `outcome` and `detail` columns.
    func refusal() throws -> Refusal {
        guard let refusal = Refusal(storedOutcome: self["outcome"] ?? "NULL", detail: int64("detail")) else {
            throw UnexpectedRow(description: "unknown outcome \(self["outcome"] ?? "NULL")")
        }
        return refusal
    }
}

extension Refusal {
    /// The refusal stored as `outcome` and `detail` (the reverse of `storedColumns`); nil for another outcome.
    init?(storedOutcome outcome: String, detail: Int64?) {
        let detail = detail ?? 0
        switch outcome {
        case "not_found": self = .userNotFound(id: detail)
        case "insufficient_funds": self = .insufficientFunds(balance: Money(minorUnits: detail))
        case "balance_limit": self = .balanceLimit(balance: Money(minorUnits: detail))
        case "unauthorized": self = .unauthorized
        case "forbidden": self = .forbidden
        case "username_taken": self = .usernameTaken
        case "t_not_increasing": self = .tNotIncreasing(last: detail)
        case "t_not_allowed": self = .eventTimeNotAllowed
        case "limit_exceeded": self = .limitExceeded(remaining: Money(minorUnits: detail))
        case "credit_limit_in_use": self = .creditLimitInUse(least: Money(minorUnits: detail))
        case "unknown_time_zone": self = .unknownTimeZone
        case "hold_not_found": self = .holdNotFound(id: detail)
        case "hold_expired": self = .holdExpired
        case "hold_captured": self = .holdNotPending(status: .captured)
        case "hold_voided": self = .holdNotPending(status: .voided)
        case "hold_expired_before": self = .holdNotPending(status: .expired)
        case "capture_exceeds_hold": self = .captureExceedsHold(held: Money(minorUnits: detail))
        case "transfer_not_found": self = .transferNotFound(id: detail)
        case "reversal_exceeds_transfer": self = .reversalExceedsTransfer(left: Money(minorUnits: detail))
        case "payer_insufficient_funds": self = .payerShort(ofDailyLimit: false)
        case "payer_limit_exceeded": self = .payerShort(ofDailyLimit: true)
        default:
            guard outcome.hasPrefix("not_reversible_"),
                let kind = MovementKind(rawValue: String(outcome.dropFirst("not_reversible_".count)))
            else { return nil }
            self = .notReversible(kind: kind)
        }
    }
}

extension Row {
    func alert() throws -> Alert {
        guard let id = int64("id"), let code = int64("code"), let userID = int64("user_id"),
            let kindText = self["kind"],
            let kind = MovementKind(rawValue: kindText), let amount = int64("amount"),
            let createdAt = int64("created_at_us")
        else { throw UnexpectedRow(description: "alert row lacks a column") }
        return Alert(
            id: id, code: Int(code), userID: userID, movementID: int64("movement_id"), kind: kind,
            amount: Money(minorUnits: amount), createdAt: createdAt)
    }

    /// A one-dimensional array of plain words or numbers in PostgreSQL's text form ("{30,1100}").
    func array(_ column: String) -> [String]? {
        guard let text = self[column] else { return nil }
        let inner = text.dropFirst().dropLast()
        return inner.isEmpty ? [] : inner.split(separator: ",").map(String.init)
    }
}
