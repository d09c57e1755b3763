import Ledger

// Holds, reversals and limits (issue 26): the store's side lands in the next commit.
extension PostgresLedger {
    package func changeLimits(ofUser userID: Int64, _ change: LimitsChange, requestID: String) throws -> Receipt<User> {
        fatalError("changeLimits: not built yet")
    }

    package func placeHold(
        tokenHash: [UInt8], payerUserID: Int64, payeeUserID: Int64, amount: Money, memo: String?,
        expiresInSeconds: Int, idempotency: IdempotencyContext?, requestID: String
    ) throws -> Receipt<Hold> {
        fatalError("placeHold: not built yet")
    }

    package func captureHold(
        id: Int64, amount: Money?, tokenHash: [UInt8], idempotency: IdempotencyContext?, requestID: String
    ) throws -> Receipt<HoldCapture> {
        fatalError("captureHold: not built yet")
    }

    package func voidHold(id: Int64, tokenHash: [UInt8], idempotency: IdempotencyContext?, requestID: String) throws
        -> Receipt<Hold>
    {
        fatalError("voidHold: not built yet")
    }

    package func hold(id: Int64) throws -> Hold? { fatalError("hold: not built yet") }

    package func holds(ofUser userID: Int64, status: Hold.Status?, beforeID: Int64, limit: Int) throws -> [Hold] {
        fatalError("holds: not built yet")
    }

    package func reverseTransfer(
        _ transferID: Int64, amount: Money?, memo: String?, tokenHash: [UInt8], idempotency: IdempotencyContext?,
        requestID: String
    ) throws -> Receipt<Movement> {
        fatalError("reverseTransfer: not built yet")
    }

    package func reversibleTransfer(id: Int64) throws -> ReversibleTransfer? {
        fatalError("reversibleTransfer: not built yet")
    }
}
