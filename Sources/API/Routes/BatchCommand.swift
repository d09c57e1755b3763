import Ledger
import LedgerStore

/// POST /api/batches, read and validated without the database: atomic or not, and its items, each read by its
/// single endpoint's rules (`MovementCommand`), with an optional key of its own.
struct BatchCommand {
    /// The most items a batch may have. The body limit (`TallyAPI.maximumBatchBodyBytes`, 4 MiB) is what that
    /// many of the longest items need: a withdrawal with every field at its longest (a 500-character memo and a
    /// 255-character key, each character up to 4 bytes of UTF-8, and ids and amounts at their largest) is under
    /// 3.2 KiB of JSON, so a thousand of them fit with room for spacing.
    static let maximumItems = 1000

    let atomic: Bool
    let items: [BatchItem]
    /// What the request's idempotency fingerprint is made of: atomic or not, and each item's own fingerprint.
    let fingerprint: [String]

    static func parse(body bytes: [UInt8]) throws(APIError) -> BatchCommand {
        var body = try RequestBody(bytes)
        let atomic = try body.bool("atomic") ?? true
        guard let elements = try body.array("movements") else {
            throw .validation("movements", "movements is required: a list of 1 to \(maximumItems) movements.")
        }
        try body.finish()
        guard !elements.isEmpty, elements.count <= maximumItems else {
            throw .validation(
                "movements",
                "movements must hold 1 to \(maximumItems) movements, not \(elements.count); send more as several batches."
            )
        }
        var items: [BatchItem] = []
        items.reserveCapacity(elements.count)
        var fingerprint = ["batch", atomic ? "atomic" : "items"]
        var keys: [String: Int] = [:]
        for (index, element) in elements.enumerated() {
            guard case .object = element else {
                throw APIError.validation(nil, "Each movement must be an object, not \(element.typeName).").atItem(
                    index)
            }
            do throws(APIError) {
                let (command, key) = try item(element)
                let parts = command.fingerprint
                let idempotency = try key.map { key throws(APIError) in
                    guard keys.updateValue(index, forKey: key) == nil else {
                        throw APIError.validation(
                            "idempotency_key", "idempotency_key is given to two movements of this batch.")
                    }
                    return try TallyAPI.idempotencyContext(
                        key: key, field: "idempotency_key", named: "idempotency_key", fingerprint: parts)
                }
                items.append(command.batchItem(idempotency: idempotency))
                // Record separators keep the items apart, unit separators their parts.
                fingerprint.append(parts.joined(separator: "\u{1F}") + "\u{1E}" + (key.map { "k" + $0 } ?? "-"))
            } catch {
                throw error.atItem(index)
            }
        }
        return BatchCommand(atomic: atomic, items: items, fingerprint: fingerprint)
    }

    /// One item: its movement, read by the single endpoint's rules, and its own key.
    private static func item(_ element: JSONValue) throws(APIError) -> (MovementCommand, String?) {
        guard case .object(let members) = element else { preconditionFailure("checked by parse") }
        var body = try RequestBody(members: members)
        let type = try body.string("type")
        let key = try body.string("idempotency_key")
        switch type {
        case "transfer":
            return (try MovementCommand.transfer(&body), key)
        case "deposit", "withdrawal":
            let userID = try body.id("user_id")
            let kind: CashEvent.Kind = type == "deposit" ? .deposit : .withdrawal
            return (try MovementCommand.cash(kind, userID: userID, &body), key)
        case nil:
            throw .validation("type", "type is required: \"transfer\", \"deposit\" or \"withdrawal\".")
        case let other?:
            throw .validation(
                "type", "type must be \"transfer\", \"deposit\" or \"withdrawal\", not \"\(other.prefix(40))\".")
        }
    }
}

extension MovementCommand {
    /// The command as a batch's item.
    func batchItem(idempotency: IdempotencyContext?) -> BatchItem {
        switch self {
        case .transfer(let from, let to, let amount, let memo):
            BatchItem(.transfer(from: from, to: to), amount: amount, memo: memo, idempotency: idempotency)
        case .cash(let kind, let userID, let amount, let memo, let t):
            BatchItem(.cash(kind, userID: userID, t: t), amount: amount, memo: memo, idempotency: idempotency)
        case .event(let kind, let userID, let amount, let t):
            BatchItem(.cash(kind, userID: userID, t: t), amount: amount, memo: nil, idempotency: idempotency)
        case .hold, .capture, .void, .reversal:
            preconditionFailure("a batch's items are transfers, deposits and withdrawals (BatchCommand.item)")
        }
    }
}
