import Credentials
import Ledger
import LedgerStore

extension TallyAPI {
    /// POST /api/batches: many movements in one transaction, atomic (201, or the first refused item's error with
    /// its index) or item by item (200, each item's outcome).
    func createBatch(_ request: HTTPRequest) throws -> HTTPResponse {
        let (command, token) = try parsingAuthenticated(request) { () throws(APIError) in
            try BatchCommand.parse(body: request.body)
        }
        let idempotency = try idempotencyContext(request, fingerprint: command.fingerprint)
        let (response, result) = try performBatch(
            command, tokenHash: token.hash, idempotency: idempotency, requestID: request.requestID)
        switch result {
        case .refused(let refusal): noteMovement(.refused(refusal), tokenHash: token.hash)
        case .keyReused: break
        case .applied(.refused): noteMovement(.refused(.forbidden), tokenHash: token.hash)
        case .applied(.recorded): noteMovement(.applied, tokenHash: token.hash)
        }
        return response
    }

    /// Runs a batch as the holder of the token `tokenHash`: one transaction in the ledger (`applyBatch`), and the
    /// answer a live request gets; what a live batch and a spooled one, replayed, both go through.
    func performBatch(
        _ command: BatchCommand, tokenHash: [UInt8], idempotency: IdempotencyContext?, requestID: String
    ) throws -> (response: HTTPResponse, result: Receipt<BatchOutcome>.Result) {
        let receipt = try ledger.applyBatch(
            command.items, atomic: command.atomic, tokenHash: tokenHash, rules: alertRules,
            idempotency: idempotency, requestID: requestID)
        var response: HTTPResponse
        switch receipt.result {
        case .refused(let refusal):
            response = APIError.refusal(refusal).response(requestID: receipt.requestID)
        case .keyReused:
            response = APIError.keyReused().response(requestID: receipt.requestID)
        case .applied(.refused(let index, let outcome)):
            let viewer = viewer(ofTokenHash: tokenHash, acting: command.items.first?.actingUserID ?? 0)
            response = Self.itemError(outcome, shownTo: viewer).atItem(index).response(requestID: receipt.requestID)
        case .applied(.recorded(let batch)):
            let viewer = viewer(ofTokenHash: tokenHash, acting: command.items.first?.actingUserID ?? 0)
            let results = batch.items.enumerated().map { index, outcome in
                Representation.batchResult(index: index, outcome, shownTo: viewer)
            }
            response = HTTPResponse(
                status: batch.atomic ? 201 : 200,
                json: .object([
                    ("id", .integer(batch.id)), ("atomic", .bool(batch.atomic)), ("results", .array(results)),
                ]))
        }
        if receipt.isReplay { response.headers.append(("Idempotency-Replayed", "true")) }
        return (response, receipt.result)
    }

    /// GET /api/batches/{id}: to the service role, or to a user who sent it (every item) or is a party to one of
    /// its movements (those items only); to anyone else 404, like a batch that does not exist.
    func getBatch(_ request: HTTPRequest, id: Int64) throws -> HTTPResponse {
        let caller = try authenticate(request).caller
        let notFound = APIError.notFound("There is no batch with id \(id).")
        guard let batch = try ledger.batch(id: id) else { throw notFound }
        let isParty = { (outcome: BatchItemOutcome) in
            guard let movement = outcome.movement else { return false }
            return caller.mayActOn(movement.debitUserID) || caller.mayActOn(movement.creditUserID)
        }
        let seesAll = caller.isService || caller == batch.sender
        let shown = batch.items.enumerated().filter { seesAll || isParty($0.element) }
        guard !shown.isEmpty else { throw notFound }
        return HTTPResponse(
            status: 200,
            json: Representation.batch(batch, items: shown.map { (index: $0.offset, outcome: $0.element) }))
    }

    /// Why a batch's item was refused, as its single endpoint says it. A recipient's balance is quoted to the
    /// service role only (the batch's record does not keep whose account it was).
    static func itemError(_ outcome: BatchItemOutcome, shownTo viewer: Caller) -> APIError {
        switch outcome {
        case .refused(let refusal): .refusal(refusal, quotingRecipient: viewer.isService)
        case .keyReused: .keyReused(field: "idempotency_key")
        case .applied, .replayed:
            .internalError
        }
    }
}

extension BatchItem {
    /// The user whose account the item acts on: a transfer's payer, a deposit's or withdrawal's user.
    var actingUserID: Int64 {
        switch operation {
        case .transfer(let from, _): from
        case .cash(_, let userID, _): userID
        }
    }
}

extension Representation {
    /// One item of a batch's answer: applied or replayed with its movement (as its single endpoint answers it),
    /// or refused with its error.
    static func batchResult(index: Int, _ outcome: BatchItemOutcome, shownTo viewer: Caller) -> JSONValue {
        var members: [(String, JSONValue)] = [("index", .integer(index))]
        switch outcome {
        case .applied(let movement, let codes), .replayed(let movement, let codes):
            let status = if case .applied = outcome { "applied" } else { "replayed" }
            members.append(("status", .string(status)))
            members.append(("movement", batchMovement(movement, alertCodes: codes, shownTo: viewer)))
        case .refused, .keyReused:
            members.append(("status", .string("refused")))
            let error = TallyAPI.itemError(outcome, shownTo: viewer).atItem(index)
            // The index is the result's own.
            members.append(("error", .object(error.members.filter { $0.0 != "index" })))
        }
        return .object(members)
    }

    private static func batchMovement(_ movement: Movement, alertCodes: [Int]?, shownTo viewer: Caller) -> JSONValue {
        movement.kind == .transfer
            ? transfer(movement, shownTo: viewer)
            : cashMovement(CashMovement(movement: movement, alertCodes: alertCodes ?? []))
    }

    /// A batch on record with the items the caller may see: who sent it, when, and each item's outcome.
    static func batch(_ batch: BatchRecord, items: [(index: Int, outcome: BatchItemOutcome)]) -> JSONValue {
        let sender: JSONValue =
            switch batch.sender {
            case .service: .object([("role", .string("service"))])
            case .user(let id): .object([("role", .string("user")), ("user_id", .integer(id))])
            }
        return .object([
            ("id", .integer(batch.id)),
            ("atomic", .bool(batch.atomic)),
            ("created_at", .string(Timestamp.rfc3339(microsecondsSince1970: batch.createdAt))),
            ("sender", sender),
            ("item_count", .integer(batch.items.count)),
            ("items", .array(items.map { batchItem(index: $0.index, $0.outcome) })),
        ])
    }

    private static func batchItem(index: Int, _ outcome: BatchItemOutcome) -> JSONValue {
        var members: [(String, JSONValue)] = [("index", .integer(index))]
        switch outcome {
        case .applied(let movement, _):
            members += [("status", .string("applied")), ("movement_id", .integer(movement.id))]
        case .replayed(let movement, _):
            members += [("status", .string("replayed")), ("movement_id", .integer(movement.id))]
        case .refused, .keyReused:
            members += [
                ("status", .string("refused")), ("movement_id", .null),
                ("error", .object([("code", .string(TallyAPI.itemError(outcome, shownTo: .service).code))])),
            ]
        }
        return .object(members)
    }
}
