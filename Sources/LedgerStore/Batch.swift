import Ledger

/// One movement of a batch, with what its single endpoint would be asked.
package struct BatchItem: Sendable {
    package enum Operation: Sendable {
        /// POST /api/transfers: from the debited user's account (the acting user) to another's.
        case transfer(from: Int64, to: Int64)
        /// POST /api/users/{id}/deposits or .../withdrawals: on `userID`'s own account, at an optional t (which
        /// only the service role may give).
        case cash(CashEvent.Kind, userID: Int64, t: Int64?)
    }

    package let operation: Operation
    package let amount: Money
    package let memo: String?
    /// The item's own idempotency key, in the same namespace as the caller's request keys.
    package let idempotency: IdempotencyContext?

    package init(_ operation: Operation, amount: Money, memo: String?, idempotency: IdempotencyContext?) {
        self.operation = operation
        self.amount = amount
        self.memo = memo
        self.idempotency = idempotency
    }
}

/// What one item of a batch ended as.
package enum BatchItemOutcome: Equatable, Sendable {
    /// It made this movement (with the alert codes of a deposit or withdrawal; nil for a transfer).
    case applied(Movement, alertCodes: [Int]?)
    /// Its idempotency key had made this movement before: nothing moved now.
    case replayed(Movement, alertCodes: [Int]?)
    /// Refused as its single endpoint would refuse it (replayed: the refusal stored under its key before).
    case refused(Refusal)
    /// Its idempotency key was used before for something else.
    case keyReused

    /// The movement it made or replayed.
    package var movement: Movement? {
        switch self {
        case .applied(let movement, _), .replayed(let movement, _): movement
        case .refused, .keyReused: nil
        }
    }

    /// The `outcomes` and `details` entries that store it in `batches` (migration 15).
    var storedColumns: (outcome: String, detail: Int64?) {
        switch self {
        case .applied: ("applied", nil)
        case .replayed: ("replayed", nil)
        case .refused(let refusal): refusal.storedColumns
        case .keyReused: ("key_reused", nil)
        }
    }
}

/// A batch on record: who sent it, when, and each item's outcome in order.
package struct BatchRecord: Equatable, Sendable {
    package let id: Int64
    package let atomic: Bool
    package let sender: Caller
    /// Microseconds since 1970-01-01 UTC.
    package let createdAt: Int64
    package let items: [BatchItemOutcome]

    package init(id: Int64, atomic: Bool, sender: Caller, createdAt: Int64, items: [BatchItemOutcome]) {
        self.id = id
        self.atomic = atomic
        self.sender = sender
        self.createdAt = createdAt
        self.items = items
    }
}

/// What a batch ended as: on record (atomic and wholly applied, or item by item), or, atomic, refused as a whole
/// by its first refused item (at `index`), with nothing applied.
package enum BatchOutcome: Equatable, Sendable {
    case recorded(BatchRecord)
    case refused(index: Int, BatchItemOutcome)
}
