import ImportExport
import Ledger

/// A small ledger behind the LedgerClient protocol, with the API's rules that an import meets: keys answered
/// as replays, overdrafts refused. It can fail a chosen batch, as a killed run or a lost server would.
final class StubLedgerClient: LedgerClient {
    private(set) var balances: [Int64: Int64] = [:]
    private(set) var names: [Int64: String] = [:]
    private var userKeys: [String: (NewUser, Int64)] = [:]
    private var itemKeys: [String: (ImportItem, Int64)] = [:]
    private var nextMovementID: Int64 = 1
    /// Sizes of the batches sent, in order.
    private(set) var batchSizes: [Int] = []
    /// The batch (counted from 1 over the client's life) that fails without an answer.
    var failingBatch: Int?
    /// Items refused outright, the whole batch answered 422 with their index, by amount in minor units.
    var rejectedAmounts: Set<Int64> = []
    /// Names whose users are refused (422), as the API refuses a name it will not take.
    var refusedNames: Set<String> = []

    func createUser(_ user: NewUser) throws(ClientFailure) -> UserAnswer {
        if let (first, id) = userKeys[user.idempotencyKey] {
            guard first == user else {
                return .refused(APIRefusal(status: 422, code: "idempotency_key_reused", message: "reused"))
            }
            return .created(id: id, isReplay: true)
        }
        if refusedNames.contains(user.name) {
            return .refused(APIRefusal(status: 422, code: "validation_failed", message: "name refused"))
        }
        let id = Int64(names.count + 1)
        names[id] = user.name
        balances[id] = user.openingBalance.minorUnits
        userKeys[user.idempotencyKey] = (user, id)
        return .created(id: id, isReplay: false)
    }

    func sendBatch(_ items: [ImportItem]) throws(ClientFailure) -> BatchAnswer {
        batchSizes.append(items.count)
        if batchSizes.count == failingBatch { throw ClientFailure("no answer") }
        if let index = items.firstIndex(where: { rejectedAmounts.contains($0.amount.minorUnits) }) {
            return .itemRejected(
                index: index, APIRefusal(status: 422, code: "validation_failed", message: "amount refused"))
        }
        return .results(items.map(apply))
    }

    private func apply(_ item: ImportItem) -> ItemOutcome {
        if let (first, id) = itemKeys[item.idempotencyKey] {
            guard first == item else {
                return .refused(APIRefusal(status: 422, code: "idempotency_key_reused", message: "reused"))
            }
            return .replayed(movementID: id)
        }
        for id in [item.fromUserID, item.toUserID].compactMap({ $0 }) where balances[id] == nil {
            return .refused(APIRefusal(status: 404, code: "not_found", message: "no user \(id)"))
        }
        let amount = item.amount.minorUnits
        if let from = item.fromUserID {
            guard balances[from]! >= amount else {
                return .refused(
                    APIRefusal(status: 409, code: "insufficient_funds", message: "balance \(balances[from]!)"))
            }
            balances[from]! -= amount
        }
        if let to = item.toUserID { balances[to]! += amount }
        let id = nextMovementID
        nextMovementID += 1
        itemKeys[item.idempotencyKey] = (item, id)
        return .applied(movementID: id)
    }
}
