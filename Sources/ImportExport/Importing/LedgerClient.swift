import Ledger

/// What an import needs from Tally: create a user, apply a batch of movements item by item. TallyClient does it
/// over HTTP; tests use a stand-in.
package protocol LedgerClient {
    /// Creates the user, or answers the one created before under the same key.
    func createUser(_ user: NewUser) throws(ClientFailure) -> UserAnswer
    /// Sends the items as one non-atomic batch.
    func sendBatch(_ items: [ImportItem]) throws(ClientFailure) -> BatchAnswer
}

/// A user to create, with the key that makes its creation happen once.
package struct NewUser: Equatable, Sendable {
    package let name: String
    package let openingBalance: Money
    package let idempotencyKey: String

    package init(name: String, openingBalance: Money, idempotencyKey: String) {
        self.name = name
        self.openingBalance = openingBalance
        self.idempotencyKey = idempotencyKey
    }
}

/// The answer to a user's creation.
package enum UserAnswer: Equatable, Sendable {
    /// Created now, or before (`isReplay`: the key was seen, the user is the one it created).
    case created(id: Int64, isReplay: Bool)
    case refused(APIRefusal)
}

/// One movement of an import, between Tally's user ids, with its key: an item of a batch.
package struct ImportItem: Equatable, Sendable {
    package let kind: ImportMovement.Kind
    /// The paying user: transfers and withdrawals.
    package let fromUserID: Int64?
    /// The paid user: transfers and deposits.
    package let toUserID: Int64?
    package let amount: Money
    package let memo: String?
    package let idempotencyKey: String

    package init(
        kind: ImportMovement.Kind, fromUserID: Int64?, toUserID: Int64?, amount: Money, memo: String?,
        idempotencyKey: String
    ) {
        self.kind = kind
        self.fromUserID = fromUserID
        self.toUserID = toUserID
        self.amount = amount
        self.memo = memo
        self.idempotencyKey = idempotencyKey
    }
}

/// What became of one item of a non-atomic batch.
package enum ItemOutcome: Equatable, Sendable {
    case applied(movementID: Int64)
    /// Its key was applied before: this is that movement, and nothing moved now.
    case replayed(movementID: Int64)
    case refused(APIRefusal)
}

/// The answer to a batch.
package enum BatchAnswer: Equatable, Sendable {
    /// One outcome per item, in order.
    case results([ItemOutcome])
    /// The whole batch was refused because of one item's input (422 with its index): nothing was applied.
    case itemRejected(index: Int, APIRefusal)
}

/// A refusal by the API: the status and the error's code, message and field.
package struct APIRefusal: Equatable, Sendable, CustomStringConvertible {
    package let status: Int
    package let code: String
    package let message: String
    package let field: String?

    package init(status: Int, code: String, message: String, field: String? = nil) {
        self.status = status
        self.code = code
        self.message = message
        self.field = field
    }

    package var description: String { "\(status) \(code): \(message)" }
}

/// Why the conversation with Tally cannot go on: no answer after the retries, a token refused, an answer that
/// makes no sense. The import stops; run again, it picks up where it stopped.
package struct ClientFailure: Error, Equatable, Sendable, CustomStringConvertible {
    package let message: String

    package init(_ message: String) {
        self.message = message
    }

    package var description: String { message }
}
