import API
import HTTPClient
import Ledger

extension TallyClient: LedgerClient {
    /// `POST /api/users` with the row's key: 201 the user (with `Idempotency-Replayed: true` when a run before
    /// created them), 409 or 422 a refusal of that row; anything else stops the import.
    package func createUser(_ user: NewUser) throws(ClientFailure) -> UserAnswer {
        let body = JSONValue.object([
            ("name", .string(user.name)), ("initial_balance", .string(user.openingBalance.description)),
        ])
        let (response, json) = try exchange(
            "POST", "/api/users", body: body, headers: [("Idempotency-Key", user.idempotencyKey)])
        switch response.status {
        case 200, 201:
            guard let id = json?[member: "id"]?.integerValue else {
                throw ClientFailure("POST /api/users answered \(response.status) without the user's id")
            }
            return .created(id: id, isReplay: response.header("idempotency-replayed") == "true")
        case 409, 422:
            guard let refusal = Self.refusal(response) else { throw Self.failure("POST /api/users", response) }
            return .refused(refusal)
        default:
            throw Self.failure("POST /api/users", response)
        }
    }

    /// `POST /api/batches`, non-atomic, each item with its key: 200 one result per item; 422 with an item's
    /// `index` that item's input refused (nothing applied); anything else stops the import.
    package func sendBatch(_ items: [ImportItem]) throws(ClientFailure) -> BatchAnswer {
        var movements: [JSONValue] = []
        movements.reserveCapacity(items.count)
        for item in items { movements.append(Self.json(item)) }
        let body = JSONValue.object([("atomic", .bool(false)), ("movements", .array(movements))])
        let (response, json) = try exchange("POST", "/api/batches", body: body)
        switch response.status {
        case 200, 201:
            guard let results = json?[member: "results"], case .array(let entries) = results else {
                throw ClientFailure("POST /api/batches answered \(response.status) without results")
            }
            var outcomes: [ItemOutcome] = []
            outcomes.reserveCapacity(entries.count)
            for entry in entries { outcomes.append(try Self.outcome(entry)) }
            return .results(outcomes)
        case 422:
            guard let refusal = Self.refusal(response),
                let index = json?[member: "error"]?[member: "index"]?.integerValue
            else { throw Self.failure("POST /api/batches", response) }
            return .itemRejected(index: Int(index), refusal)
        default:
            throw Self.failure("POST /api/batches", response)
        }
    }

    private static func json(_ item: ImportItem) -> JSONValue {
        var members: [(String, JSONValue)] = [("type", .string(item.kind.rawValue))]
        switch item.kind {
        case .transfer:
            members += [("from_user_id", id(item.fromUserID)), ("to_user_id", id(item.toUserID))]
        case .deposit:
            members.append(("user_id", id(item.toUserID)))
        case .withdrawal:
            members.append(("user_id", id(item.fromUserID)))
        }
        members.append(("amount", .string(item.amount.description)))
        if let memo = item.memo { members.append(("memo", .string(memo))) }
        members.append(("idempotency_key", .string(item.idempotencyKey)))
        return .object(members)
    }

    private static func id(_ id: Int64?) -> JSONValue {
        id.map { .number(String($0)) } ?? .null
    }

    private static func outcome(_ entry: JSONValue) throws(ClientFailure) -> ItemOutcome {
        let status = entry[member: "status"]?.stringValue
        if status == "refused" {
            let error = entry[member: "error"]
            return .refused(
                APIRefusal(
                    status: 0, code: error?[member: "code"]?.stringValue ?? "refused",
                    message: error?[member: "message"]?.stringValue ?? "", field: error?[member: "field"]?.stringValue))
        }
        guard let movementID = entry[member: "movement"]?[member: "id"]?.integerValue else {
            throw ClientFailure("POST /api/batches: a result without its movement: \(entry.serialized())")
        }
        switch status {
        case "applied": return .applied(movementID: movementID)
        case "replayed": return .replayed(movementID: movementID)
        default: throw ClientFailure("POST /api/batches: a result of unknown status: \(entry.serialized())")
        }
    }
}
