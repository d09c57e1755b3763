import Credentials
import Ledger
import LedgerStore

extension BatchCommand {
    /// The batch as compact JSON that `parse` reads back to the same batch (the same fingerprint): what the spool
    /// stores instead of the client's bytes. Each item is written as its single endpoint's compact body
    /// (`MovementCommand.compactBody`) with its `type` and its own key; absent members are left out.
    var compactBody: [UInt8] {
        let movements = items.map { item -> JSONValue in
            var members: [(String, JSONValue)]
            switch item.operation {
            case .transfer(let from, let to):
                members = [
                    ("type", .string("transfer")), ("from_user_id", .integer(from)), ("to_user_id", .integer(to)),
                ]
            case .cash(let kind, let userID, _):
                members = [
                    ("type", .string(kind == .deposit ? "deposit" : "withdrawal")), ("user_id", .integer(userID)),
                ]
            }
            members.append(("amount", .string(item.amount.description)))
            if let memo = item.memo { members.append(("memo", .string(memo))) }
            if case .cash(_, _, let t?) = item.operation { members.append(("t", .integer(t))) }
            if let key = item.idempotency?.key { members.append(("idempotency_key", .string(key))) }
            return .object(members)
        }
        var bytes: [UInt8] = []
        JSONValue.object([("atomic", .bool(atomic)), ("movements", .array(movements))]).write(to: &bytes)
        return bytes
    }

    /// What the spool matches a repeated batch by: a digest of its fingerprint, which would otherwise take about
    /// as many bytes as the batch itself (every item's values, memos included) out of the caller's quota.
    static func spoolFingerprint(_ idempotency: IdempotencyContext) -> String {
        // 0x100 | byte keeps the leading zero: three hex digits, the first dropped.
        "batch-sha256:"
            + SHA256.hash(Array(idempotency.fingerprint.utf8)).map { String(0x100 | Int($0), radix: 16).dropFirst() }
            .joined()
    }

    /// The first item that `caller` may not ask for at all, with the refusal its single endpoint would give
    /// (another user's account: forbidden; a user's event time: event_time_not_allowed); nil when there is none.
    /// What the ledger checks again when the batch runs, checked early where the database cannot be asked.
    func firstItemNotAllowed(for caller: Caller) -> (index: Int, refusal: Refusal)? {
        for (index, item) in items.enumerated() {
            // In the ledger's order: a user's event time is refused before whose account it is on is asked.
            if case .cash(_, _, _?) = item.operation, !caller.isService { return (index, .eventTimeNotAllowed) }
            guard caller.mayActOn(item.actingUserID) else { return (index, .forbidden) }
        }
        return nil
    }
}
