/// Money reserved on the payer's account for the payee (a two-phase transfer): it lowers the payer's available
/// balance at once and moves only when captured.
package struct Hold: Equatable, Sendable {
    package enum Status: String, Sendable, CaseIterable {
        case pending, captured, voided, expired
    }

    /// The longest a hold may wait for its capture: 30 days.
    package static let longestExpirySeconds = 30 * 24 * 60 * 60

    package let id: Int64
    package let payerUserID: Int64
    package let payeeUserID: Int64
    package let amount: Money
    package let memo: String?
    /// As of the read: a pending hold read at or after `expiresAt` is `.expired`.
    package let status: Status
    /// Microseconds since 1970-01-01 UTC, as the other times.
    package let createdAt: Int64
    package let expiresAt: Int64
    /// What the capture moved (at most `amount`); nil unless captured.
    package let capturedAmount: Money?
    /// The capture's transfer; nil unless captured.
    package let captureMovementID: Int64?
    /// When it was captured or voided, or `expiresAt` for an expired hold; nil while pending.
    package let settledAt: Int64?

    package init(
        id: Int64, payerUserID: Int64, payeeUserID: Int64, amount: Money, memo: String?, status: Status,
        createdAt: Int64, expiresAt: Int64, capturedAmount: Money? = nil, captureMovementID: Int64? = nil,
        settledAt: Int64? = nil
    ) {
        self.id = id
        self.payerUserID = payerUserID
        self.payeeUserID = payeeUserID
        self.amount = amount
        self.memo = memo
        self.status = status
        self.createdAt = createdAt
        self.expiresAt = expiresAt
        self.capturedAmount = capturedAmount
        self.captureMovementID = captureMovementID
        self.settledAt = settledAt
    }
}

/// A captured hold and the transfer its capture made.
package struct HoldCapture: Equatable, Sendable {
    package let hold: Hold
    package let transfer: Movement

    package init(hold: Hold, transfer: Movement) {
        self.hold = hold
        self.transfer = transfer
    }
}

/// A transfer (or reversal) with the reversals made of it and what is left to reverse.
package struct ReversibleTransfer: Equatable, Sendable {
    package let movement: Movement
    /// Oldest first; empty for a reversal.
    package let reversals: [Movement]
    /// The transfer's amount less its reversals; nil for a reversal (which cannot be reversed).
    package let unreversed: Money?

    package init(movement: Movement, reversals: [Movement], unreversed: Money?) {
        self.movement = movement
        self.reversals = reversals
        self.unreversed = unreversed
    }
}
