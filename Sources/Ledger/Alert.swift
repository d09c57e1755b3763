/// An alert an event raised, stored with the movement that raised it; or, for a movement refused for the
/// user's daily debit limit (`AlertRules.dailyDebitLimitCode`), with none: `movementID` is nil.
package struct Alert: Equatable, Sendable {
    package let id: Int64
    package let code: Int
    package let userID: Int64
    package let movementID: Int64?
    package let kind: MovementKind
    package let amount: Money
    /// Microseconds since 1970-01-01 UTC.
    package let createdAt: Int64

    package init(
        id: Int64, code: Int, userID: Int64, movementID: Int64?, kind: MovementKind, amount: Money, createdAt: Int64
    ) {
        self.id = id
        self.code = code
        self.userID = userID
        self.movementID = movementID
        self.kind = kind
        self.amount = amount
        self.createdAt = createdAt
    }
}
