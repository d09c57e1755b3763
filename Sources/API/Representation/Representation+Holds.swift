import Ledger
import LedgerStore

extension Representation {
    /// A hold as it stands as of the read (a pending hold past its expiry reads "expired").
    static func hold(_ hold: Hold) -> JSONValue {
        .object([
            ("id", .integer(hold.id)),
            ("from_user_id", .integer(hold.payerUserID)),
            ("to_user_id", .integer(hold.payeeUserID)),
            ("amount", .string(hold.amount.description)),
            ("amount_minor", .integer(hold.amount.minorUnits)),
            ("memo", .optionalString(hold.memo)),
            ("status", .string(hold.status.rawValue)),
            ("created_at", timestamp(hold.createdAt)),
            ("expires_at", timestamp(hold.expiresAt)),
            ("captured_amount", hold.capturedAmount.map { .string($0.description) } ?? .null),
            ("captured_amount_minor", hold.capturedAmount.map { .integer($0.minorUnits) } ?? .null),
            ("transfer_id", hold.captureMovementID.map(JSONValue.integer) ?? .null),
            ("settled_at", hold.settledAt.map(timestamp) ?? .null),
        ])
    }

    /// A captured hold with the transfer its capture made (as POST /api/transfers answers it).
    static func capturedHold(_ capture: HoldCapture, shownTo viewer: Caller) -> JSONValue {
        guard case .object(let members) = hold(capture.hold) else { return .null }
        return .object(members + [("transfer", transfer(capture.transfer, shownTo: viewer))])
    }

    /// A transfer or reversal (GET /api/transfers/{id}) with its reversals, oldest first, and what is left to
    /// reverse (null for a reversal, which cannot be reversed).
    static func reversibleTransfer(_ reversible: ReversibleTransfer, shownTo viewer: Caller) -> JSONValue {
        guard case .object(let members) = transfer(reversible.movement, shownTo: viewer) else { return .null }
        let reversals = reversible.reversals.map { reversal in
            JSONValue.object([
                ("id", .integer(reversal.id)),
                ("amount", .string(reversal.amount.description)),
                ("amount_minor", .integer(reversal.amount.minorUnits)),
                ("memo", .optionalString(reversal.memo)),
                ("created_at", timestamp(reversal.createdAt)),
            ])
        }
        return .object(
            members + [
                ("reversals", .array(reversals)),
                ("unreversed_amount", reversible.unreversed.map { .string($0.description) } ?? .null),
                ("unreversed_amount_minor", reversible.unreversed.map { .integer($0.minorUnits) } ?? .null),
            ])
    }

    private static func timestamp(_ microseconds: Int64) -> JSONValue {
        .string(Timestamp.rfc3339(microsecondsSince1970: microseconds))
    }
}
