import Ledger
import LedgerStore

/// A money-moving request, read and validated without the database: what a live request runs at once, and what
/// the spool stores while the database is down and its replayer runs later, through the same code.
enum MovementCommand {
    case transfer(from: Int64, to: Int64, amount: Money, memo: String?)
    /// POST /api/users/{id}/deposits and .../withdrawals: on the caller's own account; an optional t, which only
    /// the service role may give (a user's is refused when the command runs: the caller is not known at parsing).
    case cash(CashEvent.Kind, userID: Int64, amount: Money, memo: String?, t: Int64?)
    /// POST /api/event: the service role's, t required.
    case event(CashEvent.Kind, userID: Int64, amount: Money, t: Int64)
    /// POST /api/holds: reserves `amount` of the payer's available balance for the payee.
    case hold(from: Int64, to: Int64, amount: Money, memo: String?, expiresIn: Int)
    /// POST /api/holds/{id}/capture: all of the hold (nil) or part of it.
    case capture(holdID: Int64, amount: Money?)
    /// POST /api/holds/{id}/void.
    case void(holdID: Int64)
    /// POST /api/transfers/{id}/reversals: what is left unreversed (nil) or part of it.
    case reversal(transferID: Int64, amount: Money?, memo: String?)

    /// The command an endpoint's body asks for; nil when the endpoint does not move money.
    static func parse(_ endpoint: Endpoint, body bytes: [UInt8]) throws -> MovementCommand? {
        switch endpoint {
        case .createTransfer:
            var body = try RequestBody(bytes)
            return try transfer(&body)
        case .deposit(let userID), .withdraw(let userID):
            var body = try RequestBody(bytes)
            let kind: CashEvent.Kind = if case .deposit = endpoint { .deposit } else { .withdrawal }
            return try cash(kind, userID: userID, &body)
        case .event:
            var body = try RequestBody(bytes)
            let kind: CashEvent.Kind
            switch try body.string("type") {
            case "deposit": kind = .deposit
            case "withdraw": kind = .withdrawal
            case nil: throw APIError.validation("type", "type is required: \"deposit\" or \"withdraw\".")
            case let other?:
                throw APIError.validation(
                    "type", "type must be \"deposit\" or \"withdraw\", not \"\(other.prefix(40))\".")
            }
            let amount = try body.requiredAmount("amount")
            let userID = try body.id("user_id")
            guard let t = try body.seconds("t") else { throw APIError.validation("t", "t is required.") }
            try body.finish()
            return .event(kind, userID: userID, amount: amount, t: t)
        case .createHold, .captureHold, .voidHold, .reverseTransfer:
            return try holdOrReversal(endpoint, body: bytes)
        default:
            return nil
        }
    }

    /// A transfer's fields (POST /api/transfers, or a batch's item), read from what is left of `body`, which
    /// must then be all read.
    static func transfer(_ body: inout RequestBody) throws(APIError) -> MovementCommand {
        let from = try body.id("from_user_id")
        let to = try body.id("to_user_id")
        let amount = try body.requiredAmount("amount")
        let memo = try body.string("memo")
        try body.finish()
        try checkMemo(memo)
        guard from != to else {
            throw APIError.validation(
                "to_user_id", "to_user_id must differ from from_user_id: a transfer needs two users.")
        }
        return .transfer(from: from, to: to, amount: amount, memo: memo)
    }

    /// A deposit's or withdrawal's fields on `userID`'s account, read from what is left of `body`, which must
    /// then be all read.
    static func cash(_ kind: CashEvent.Kind, userID: Int64, _ body: inout RequestBody) throws(APIError)
        -> MovementCommand
    {
        let amount = try body.requiredAmount("amount")
        let memo = try body.string("memo")
        let t = try body.seconds("t")
        try body.finish()
        try checkMemo(memo)
        return .cash(kind, userID: userID, amount: amount, memo: memo, t: t)
    }

    /// What the idempotency fingerprint is made of: the operation and its parsed values.
    var fingerprint: [String] {
        switch self {
        case .transfer(let from, let to, let amount, let memo):
            ["transfer", String(from), String(to), String(amount.minorUnits), Self.memoPart(memo)]
        case .cash(let kind, let userID, let amount, let memo, let t):
            [
                kind.movementKind.rawValue, String(userID), String(amount.minorUnits), Self.memoPart(memo),
                t.map(String.init) ?? "-",
            ]
        case .event(let kind, let userID, let amount, let t):
            ["event", kind == .deposit ? "deposit" : "withdraw", String(userID), String(amount.minorUnits), String(t)]
        case .hold(let from, let to, let amount, let memo, let expiresIn):
            ["hold", String(from), String(to), String(amount.minorUnits), Self.memoPart(memo), String(expiresIn)]
        case .capture(let holdID, let amount):
            ["capture", String(holdID), Self.amountPart(amount)]
        case .void(let holdID):
            ["void", String(holdID)]
        case .reversal(let transferID, let amount, let memo):
            ["reversal", String(transferID), Self.amountPart(amount), Self.memoPart(memo)]
        }
    }

    /// Only the service role may post it (checked before the body when the body is wrong).
    var requiresService: Bool {
        if case .event = self { true } else { false }
    }

    static func checkMemo(_ memo: String?) throws(APIError) {
        guard let memo else { return }
        do {
            try TextRules.checkMemo(memo)
        } catch {
            throw APIError.validation("memo", "memo \(error.explanation).")
        }
    }

    /// Tells an absent memo from an empty one in a fingerprint.
    static func memoPart(_ memo: String?) -> String {
        memo.map { "m" + $0 } ?? "-"
    }
}

/// What a money-moving operation ended as, beside the response that says it.
enum Settlement {
    case applied
    case refused(Refusal)
    case keyReused
}

extension TallyAPI {
    /// Runs a movement as the holder of the token `tokenHash`: one SERIALIZABLE transaction in the ledger.
    func perform(
        _ command: MovementCommand, tokenHash: [UInt8], idempotency: IdempotencyContext?, requestID: String
    ) throws -> (response: HTTPResponse, settlement: Settlement) {
        switch command {
        case .transfer(let from, let to, let amount, let memo):
            let receipt = try ledger.move(
                .transfer, tokenHash: tokenHash, actingUserID: from, debitUserID: from, creditUserID: to,
                amount: amount, memo: memo, idempotency: idempotency, requestID: requestID)
            // Who is asking matters only for what the answer shows of the recipient; asked only then (an applied
            // transfer, or one refused for the recipient's balance), never for a refusal that shows nothing of it.
            lazy var viewer = self.viewer(ofTokenHash: tokenHash, acting: from)
            let response = try respond(
                receipt, status: 201,
                explaining: { refusal in
                    guard case .balanceLimit = refusal else { return APIError.refusal(refusal) }
                    return APIError.refusal(refusal, quotingRecipient: viewer.mayActOn(to))
                },
                render: { Representation.transfer($0, shownTo: viewer) })
            return (response, Self.settlement(receipt))
        case .cash(let kind, let userID, let amount, let memo, let t):
            if t != nil, let refusal = try refusingEventTime(tokenHash: tokenHash) {
                let receipt = Receipt<CashMovement>(result: .refused(refusal), isReplay: false, requestID: requestID)
                return (try respond(receipt, status: 201, render: Representation.cashMovement), .refused(refusal))
            }
            let receipt = try ledger.recordCashEvent(
                kind, tokenHash: tokenHash, actingUserID: userID, userID: userID, amount: amount, memo: memo, t: t,
                rules: alertRules, idempotency: idempotency, requestID: requestID)
            // The credited account of a deposit is the caller's own (or the service role is asking).
            let response = try respond(
                receipt, status: 201, explaining: { APIError.refusal($0, quotingRecipient: true) },
                render: Representation.cashMovement)
            return (response, Self.settlement(receipt))
        case .event(let kind, let userID, let amount, let t):
            let receipt = try ledger.recordCashEvent(
                kind, tokenHash: tokenHash, actingUserID: nil, userID: userID, amount: amount, memo: nil, t: t,
                rules: alertRules, idempotency: idempotency, requestID: requestID)
            let response = try respond(receipt, status: 200, explaining: Self.eventRefusal) { cash in
                .object([
                    ("alert", .bool(!cash.alertCodes.isEmpty)),
                    ("alert_codes", .array(cash.alertCodes.map(JSONValue.integer))),
                    ("user_id", .integer(userID)),
                ])
            }
            return (response, Self.settlement(receipt))
        case .hold, .capture, .void, .reversal:
            return try performHoldOrReversal(
                command, tokenHash: tokenHash, idempotency: idempotency, requestID: requestID)
        }
    }

    /// Why an event was refused: as any movement, except that the ledger refuses every caller but the service
    /// role here, so its forbidden is about the role, not whose account it is.
    private static func eventRefusal(_ refusal: Refusal) -> APIError {
        refusal == .forbidden ? .forbidden(serviceOnly) : .refusal(refusal, quotingRecipient: true)
    }

    /// Why a deposit or withdrawal that carries a t is refused before the ledger is asked, or nil when it may go
    /// on: only the service role supplies event times. A user's t would let them place their events where the
    /// alert rules do not see them (deposits spaced by hand) or, with the largest t, refuse every later event of
    /// theirs, the service's included. Unauthorized when the token stands for nobody live.
    private func refusingEventTime(tokenHash: [UInt8]) throws -> Refusal? {
        switch try liveCaller(ofTokenHash: tokenHash) {
        case .service?: nil
        case .user?: .eventTimeNotAllowed
        case nil: .unauthorized
        }
    }

    static func settlement<Value>(_ receipt: Receipt<Value>) -> Settlement {
        switch receipt.result {
        case .applied: .applied
        case .refused(let refusal): .refused(refusal)
        case .keyReused: .keyReused
        }
    }
}
