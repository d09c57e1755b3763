/// An alert an event raised, stored with the movement that raised it.
public struct Alert: Equatable, Sendable {
    public let id: Int64
    public let code: Int
    public let userID: Int64
    public let movementID: Int64
    public let kind: MovementKind
    public let amount: Money
    /// Microseconds since 1970-01-01 UTC.
    public let createdAt: Int64

    public init(
        id: Int64, code: Int, userID: Int64, movementID: Int64, kind: MovementKind, amount: Money, createdAt: Int64
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
