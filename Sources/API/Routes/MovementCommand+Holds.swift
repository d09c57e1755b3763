import Ledger
import LedgerStore

extension MovementCommand {
    /// A hold's, capture's, void's or reversal's command from its endpoint's body; nil for any other endpoint.
    /// A capture's, void's and reversal's body may be left out.
    static func holdOrReversal(_ endpoint: Endpoint, body bytes: [UInt8]) throws(APIError) -> MovementCommand? {
        switch endpoint {
        case .createHold:
            var body = try RequestBody(bytes)
            let from = try body.id("from_user_id")
            let to = try body.id("to_user_id")
            let amount = try body.requiredAmount("amount")
            let memo = try body.string("memo")
            let longest = Hold.longestExpirySeconds
            guard let expiresIn = try body.integer("expires_in", in: 1...longest, unit: "seconds") else {
                throw .validation("expires_in", "expires_in is required: the hold's lifetime, 1 to \(longest) seconds.")
            }
            try body.finish()
            try checkMemo(memo)
            guard from != to else {
                throw .validation("to_user_id", "to_user_id must differ from from_user_id: a hold needs two users.")
            }
            return .hold(from: from, to: to, amount: amount, memo: memo, expiresIn: expiresIn)
        case .captureHold(let holdID):
            var body = try RequestBody(optional: bytes)
            let amount = try body.amount("amount")
            try body.finish()
            return .capture(holdID: holdID, amount: amount)
        case .voidHold(let holdID):
            try RequestBody(optional: bytes).finish()
            return .void(holdID: holdID)
        case .reverseTransfer(let transferID):
            var body = try RequestBody(optional: bytes)
            let amount = try body.amount("amount")
            let memo = try body.string("memo")
            try body.finish()
            try checkMemo(memo)
            return .reversal(transferID: transferID, amount: amount, memo: memo)
        default:
            return nil
        }
    }

    /// Tells an amount left out (all of it, or what is left) from a given one in a fingerprint.
    static func amountPart(_ amount: Money?) -> String {
        amount.map { String($0.minorUnits) } ?? "-"
    }
}

extension TallyAPI {
    /// Runs a hold, capture, void or reversal as the holder of the token `tokenHash`: one SERIALIZABLE transaction
    /// in the ledger, which also decides who may.
    func performHoldOrReversal(
        _ command: MovementCommand, tokenHash: [UInt8], idempotency: IdempotencyContext?, requestID: String
    ) throws -> (response: HTTPResponse, settlement: Settlement) {
        switch command {
        case .hold(let from, let to, let amount, let memo, let expiresIn):
            let receipt = try ledger.placeHold(
                tokenHash: tokenHash, payerUserID: from, payeeUserID: to, amount: amount, memo: memo,
                expiresInSeconds: expiresIn, idempotency: idempotency, requestID: requestID)
            let response = try respond(
                receipt, status: 201,
                explaining: { refusal in
                    refusal == .forbidden
                        ? .forbidden("You may place a hold only on your own account.") : .refusal(refusal)
                },
                render: Representation.hold)
            return (response, Self.settlement(receipt))
        case .capture(let holdID, let amount):
            let receipt = try ledger.captureHold(
                id: holdID, amount: amount, tokenHash: tokenHash, idempotency: idempotency, requestID: requestID)
            let response = try respond(
                receipt, status: 200,
                explaining: { refusal in
                    switch refusal {
                    case .forbidden:
                        .forbidden("The payer may not capture their own hold: its payee (or the service role) does.")
                    case .insufficientFunds, .limitExceeded, .payerShort:
                        // The store words a payee's refusal without the payer's figures (`.payerShort`).
                        .refusal(refusal)
                    default:
                        // The credited account is the capturer's own (or the service role is asking).
                        Self.holdRefusal(refusal, holdID: holdID)
                    }
                },
                render: { capture in
                    Representation.capturedHold(
                        capture, shownTo: self.viewer(ofTokenHash: tokenHash, acting: capture.hold.payeeUserID))
                })
            return (response, Self.settlement(receipt))
        case .void(let holdID):
            let receipt = try ledger.voidHold(
                id: holdID, tokenHash: tokenHash, idempotency: idempotency, requestID: requestID)
            let response = try respond(
                receipt, status: 200, explaining: { Self.holdRefusal($0, holdID: holdID) },
                render: Representation.hold)
            return (response, Self.settlement(receipt))
        case .reversal(let transferID, let amount, let memo):
            let receipt = try ledger.reverseTransfer(
                transferID, amount: amount, memo: memo, tokenHash: tokenHash, idempotency: idempotency,
                requestID: requestID)
            let response = try respond(
                receipt, status: 201,
                explaining: { refusal in
                    switch refusal {
                    case .forbidden:
                        .forbidden(
                            "The payer may not reverse a transfer: its payee (or the service role) pays it back.")
                    case .notReversible(let kind):
                        Self.notReversible(kind, movementID: transferID)
                    case .balanceLimit:
                        // The credited account is the original payer's: quoted to the service role only.
                        .refusal(
                            refusal,
                            quotingRecipient: self.viewer(ofTokenHash: tokenHash, acting: Movement.systemAccountID)
                                .isService)
                    default:
                        .refusal(refusal)
                    }
                },
                render: { reversal in
                    Representation.transfer(
                        reversal, shownTo: self.viewer(ofTokenHash: tokenHash, acting: reversal.debitUserID))
                })
            return (response, Self.settlement(receipt))
        case .transfer, .cash, .event:
            throw APIError.internalError
        }
    }

    /// A capture's or void's refusal, naming the hold where its state is to blame.
    static func holdRefusal(_ refusal: Refusal, holdID: Int64) -> APIError {
        switch refusal {
        case .holdNotPending(let status) where status != .expired:
            APIError(
                status: 409, code: "hold_not_pending",
                message: "hold \(holdID) is \(status.rawValue): it can no longer be captured or voided.")
        case .forbidden:
            .forbidden("Only the hold's payer, its payee or the service role may void it.")
        default:
            .refusal(refusal, quotingRecipient: true)
        }
    }

    /// 409 not_reversible for movement `movementID` of `kind`.
    static func notReversible(_ kind: MovementKind, movementID: Int64) -> APIError {
        APIError(
            status: 409, code: "not_reversible",
            message: kind == .reversal
                ? "movement \(movementID) is a reversal: reverse the transfer it reverses."
                : "movement \(movementID) is a \(kind.rawValue): only transfers can be reversed.")
    }
}
