/// What kind of money movement a journal row records.
package enum MovementKind: String, Sendable {
    /// From the outside world (the system account) to a user.
    case deposit
    /// From a user to the outside world.
    case withdrawal
    /// From one user to another (also a hold's capture: `Movement.holdID` names the hold).
    case transfer
    /// Money a transfer's payee pays back to its payer (`Movement.reversalOf` names the transfer).
    case reversal
}

/// How a movement looks from one user's side of it.
package enum EntryKind: String, Sendable {
    case deposit
    case withdrawal
    case transferIn = "transfer_in"
    case transferOut = "transfer_out"
    /// A reversal seen by the original payer, who gets money back.
    case reversalIn = "reversal_in"
    /// A reversal seen by the original payee, who pays it back.
    case reversalOut = "reversal_out"
}

/// One row of the journal: `amount` moved from the debited account to the credited one.
/// The system account, which stands for the outside world, has id `Movement.systemAccountID`
/// and no balance of its own on record (so `debitBalanceAfter`/`creditBalanceAfter` are nil on its side).
package struct Movement: Equatable, Sendable {
    package static let systemAccountID: Int64 = 0

    package let id: Int64
    package let kind: MovementKind
    package let debitUserID: Int64
    package let creditUserID: Int64
    package let amount: Money
    package let debitBalanceAfter: Money?
    package let creditBalanceAfter: Money?
    package let memo: String?
    /// Microseconds since 1970-01-01 UTC.
    package let createdAt: Int64
    /// The batch (POST /api/batches) that made it; nil for a movement requested on its own.
    package var batchID: Int64?
    /// The hold this transfer captured; nil for any other movement.
    package var holdID: Int64?
    /// The transfer this reversal pays back; nil for any other movement.
    package var reversalOf: Int64?

    package init(
        id: Int64, kind: MovementKind, debitUserID: Int64, creditUserID: Int64, amount: Money,
        debitBalanceAfter: Money?, creditBalanceAfter: Money?, memo: String?, createdAt: Int64, batchID: Int64? = nil,
        holdID: Int64? = nil, reversalOf: Int64? = nil
    ) {
        self.id = id
        self.kind = kind
        self.debitUserID = debitUserID
        self.creditUserID = creditUserID
        self.amount = amount
        self.debitBalanceAfter = debitBalanceAfter
        self.creditBalanceAfter = creditBalanceAfter
        self.memo = memo
        self.createdAt = createdAt
        self.batchID = batchID
        self.holdID = holdID
        self.reversalOf = reversalOf
    }

    /// The movement as `userID` sees it: its kind, the other party (nil for the outside world),
    /// and the user's balance after it.
    package func entry(for userID: Int64) -> (kind: EntryKind, counterparty: Int64?, balanceAfter: Money?) {
        let isDebit = debitUserID == userID
        let kind: EntryKind =
            switch self.kind {
            case .deposit: .deposit
            case .withdrawal: .withdrawal
            case .transfer: isDebit ? .transferOut : .transferIn
            case .reversal: isDebit ? .reversalOut : .reversalIn
            }
        let other = isDebit ? creditUserID : debitUserID
        return (kind, other == Movement.systemAccountID ? nil : other, isDebit ? debitBalanceAfter : creditBalanceAfter)
    }
}

/// A holder of money.
package struct User: Equatable, Sendable {
    package let id: Int64
    package let name: String
    /// The log-in name; nil for a user the service created without credentials.
    package let username: String?
    /// May be below zero, down to minus `limits.creditLimit`.
    package let balance: Money
    /// Microseconds since 1970-01-01 UTC.
    package let createdAt: Int64
    /// The sum of the pending, unexpired holds this user pays, as of the read.
    package let held: Money
    package let limits: AccountLimits

    package init(
        id: Int64, name: String, username: String? = nil, balance: Money, createdAt: Int64, held: Money = .zero,
        limits: AccountLimits = AccountLimits()
    ) {
        self.id = id
        self.name = name
        self.username = username
        self.balance = balance
        self.createdAt = createdAt
        self.held = held
        self.limits = limits
    }

    /// What every debit is checked against: the balance plus the credit limit, less the pending holds. Exact:
    /// a balance and a credit limit may each reach `Int64.max` minor units.
    package var available: MoneyTotal {
        MoneyTotal(balance) + limits.creditLimit + Money(minorUnits: -held.minorUnits)
    }
}

/// Who is making a request, as their bearer token says.
package enum Caller: Equatable, Sendable {
    /// A person, acting for their own account only.
    case user(id: Int64)
    /// The service role (back office, load tests): may act on every account.
    case service

    /// True when the caller may read or debit `userID`'s account.
    package func mayActOn(_ userID: Int64) -> Bool {
        switch self {
        case .service: true
        case .user(let id): id == userID
        }
    }

    package var isService: Bool { self == .service }
}
