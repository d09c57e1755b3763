import Ledger
import LedgerStore

/// The JSON shapes of the API's resources.
enum Representation {
    static func user(_ user: User) -> JSONValue {
        // Exact however large: a balance and a credit limit may each reach Int64.max minor units (`User.available`
        // would overflow).
        let available = MoneyTotal(
            minorUnits: MoneyTotal(user.balance).minorUnits
                + Int128(user.limits.creditLimit.minorUnits) - Int128(user.held.minorUnits))
        return .object([
            ("id", .integer(user.id)),
            ("name", .string(user.name)),
            ("username", .optionalString(user.username)),
            ("balance", .string(user.balance.description)),
            ("balance_minor", .integer(user.balance.minorUnits)),
            ("available", .string(available.description)),
            ("available_minor", .number(String(available.minorUnits))),
            ("held", .string(user.held.description)),
            ("held_minor", .integer(user.held.minorUnits)),
            ("credit_limit", .string(user.limits.creditLimit.description)),
            ("credit_limit_minor", .integer(user.limits.creditLimit.minorUnits)),
            ("daily_debit_limit", user.limits.dailyDebitLimit.map { .string($0.description) } ?? .null),
            ("daily_debit_limit_minor", user.limits.dailyDebitLimit.map { .integer($0.minorUnits) } ?? .null),
            ("time_zone", .string(user.limits.timeZone)),
            ("created_at", .string(Timestamp.rfc3339(microsecondsSince1970: user.createdAt))),
        ])
    }

    /// A transfer with the balances after it that `viewer` may read: both for the service role, a user's own
    /// only for a user (the other party's is null, so that the answer keeps one shape for every caller).
    static func transfer(_ movement: Movement, shownTo viewer: Caller) -> JSONValue {
        func balance(_ userID: Int64, _ after: Money?) -> (text: JSONValue, minor: JSONValue) {
            guard viewer.mayActOn(userID) else { return (.null, .null) }
            let amount = after ?? .zero
            return (.string(amount.description), .integer(amount.minorUnits))
        }
        let from = balance(movement.debitUserID, movement.debitBalanceAfter)
        let to = balance(movement.creditUserID, movement.creditBalanceAfter)
        return .object([
            ("id", .integer(movement.id)),
            ("kind", .string(movement.kind.rawValue)),
            ("from_user_id", .integer(movement.debitUserID)),
            ("to_user_id", .integer(movement.creditUserID)),
            ("amount", .string(movement.amount.description)),
            ("amount_minor", .integer(movement.amount.minorUnits)),
            ("memo", .optionalString(movement.memo)),
            ("created_at", .string(Timestamp.rfc3339(microsecondsSince1970: movement.createdAt))),
            ("from_balance", from.text),
            ("from_balance_minor", from.minor),
            ("to_balance", to.text),
            ("to_balance_minor", to.minor),
            ("batch_id", batch(movement)),
            ("hold_id", movement.holdID.map(JSONValue.integer) ?? .null),
            ("reversal_of", movement.reversalOf.map(JSONValue.integer) ?? .null),
        ])
    }

    /// A deposit or withdrawal with the user's balance after it and the alerts it raised.
    static func cashMovement(_ cash: CashMovement) -> JSONValue {
        guard case .object(let members) = cashMovement(cash.movement) else { return .null }
        return .object(members + [("alert_codes", .array(cash.alertCodes.map(JSONValue.integer)))])
    }

    static func alert(_ alert: Alert) -> JSONValue {
        .object([
            ("id", .integer(alert.id)),
            ("code", .integer(alert.code)),
            ("user_id", .integer(alert.userID)),
            ("movement_id", alert.movementID.map(JSONValue.integer) ?? .null),
            ("kind", .string(alert.kind.rawValue)),
            ("amount", .string(alert.amount.description)),
            ("amount_minor", .integer(alert.amount.minorUnits)),
            ("created_at", .string(Timestamp.rfc3339(microsecondsSince1970: alert.createdAt))),
        ])
    }

    /// A deposit or withdrawal with the user's balance after it.
    static func cashMovement(_ movement: Movement) -> JSONValue {
        let userID = movement.kind == .deposit ? movement.creditUserID : movement.debitUserID
        let balance = (movement.kind == .deposit ? movement.creditBalanceAfter : movement.debitBalanceAfter) ?? .zero
        return .object([
            ("id", .integer(movement.id)),
            ("kind", .string(movement.kind.rawValue)),
            ("user_id", .integer(userID)),
            ("amount", .string(movement.amount.description)),
            ("amount_minor", .integer(movement.amount.minorUnits)),
            ("memo", .optionalString(movement.memo)),
            ("created_at", .string(Timestamp.rfc3339(microsecondsSince1970: movement.createdAt))),
            ("balance", .string(balance.description)),
            ("balance_minor", .integer(balance.minorUnits)),
            ("batch_id", batch(movement)),
            ("hold_id", movement.holdID.map(JSONValue.integer) ?? .null),
            ("reversal_of", movement.reversalOf.map(JSONValue.integer) ?? .null),
        ])
    }

    /// The batch a movement came in, or null.
    private static func batch(_ movement: Movement) -> JSONValue {
        movement.batchID.map(JSONValue.integer) ?? .null
    }

    /// A movement as one user sees it in their history.
    static func entry(_ movement: Movement, for userID: Int64) -> JSONValue {
        let entry = movement.entry(for: userID)
        let balanceAfter = entry.balanceAfter ?? .zero
        return .object([
            ("id", .integer(movement.id)),
            ("kind", .string(entry.kind.rawValue)),
            ("amount", .string(movement.amount.description)),
            ("amount_minor", .integer(movement.amount.minorUnits)),
            ("counterparty_user_id", entry.counterparty.map(JSONValue.integer) ?? .null),
            ("memo", .optionalString(movement.memo)),
            ("created_at", .string(Timestamp.rfc3339(microsecondsSince1970: movement.createdAt))),
            ("balance_after", .string(balanceAfter.description)),
            ("balance_after_minor", .integer(balanceAfter.minorUnits)),
            ("batch_id", batch(movement)),
            ("hold_id", movement.holdID.map(JSONValue.integer) ?? .null),
            ("reversal_of", movement.reversalOf.map(JSONValue.integer) ?? .null),
        ])
    }

    /// A movement in the global feed: who paid whom (null for the outside world).
    static func feedEntry(_ movement: Movement) -> JSONValue {
        func party(_ id: Int64) -> JSONValue { id == Movement.systemAccountID ? .null : .integer(id) }
        return .object([
            ("id", .integer(movement.id)),
            ("kind", .string(movement.kind.rawValue)),
            ("from_user_id", party(movement.debitUserID)),
            ("to_user_id", party(movement.creditUserID)),
            ("amount", .string(movement.amount.description)),
            ("amount_minor", .integer(movement.amount.minorUnits)),
            ("memo", .optionalString(movement.memo)),
            ("created_at", .string(Timestamp.rfc3339(microsecondsSince1970: movement.createdAt))),
            ("batch_id", batch(movement)),
            ("hold_id", movement.holdID.map(JSONValue.integer) ?? .null),
            ("reversal_of", movement.reversalOf.map(JSONValue.integer) ?? .null),
        ])
    }

    static func page(_ items: [JSONValue], nextCursor: String?) -> JSONValue {
        .object([("items", .array(items)), ("next_cursor", .optionalString(nextCursor))])
    }
}
