import Ledger
import Postgres

// Holds, reversals and limits (migration 17). Every call that moves or reserves money runs as `move` does
// (`runMoving`): the accounts it touches are read first when the request names only a hold or a transfer, so
// that contended accounts are queued for like a transfer's.
extension PostgresLedger {
    package func changeLimits(ofUser userID: Int64, _ change: LimitsChange, requestID: String) throws -> Receipt<User> {
        let daily: String? = change.dailyDebitLimit.flatMap { $0.map { String($0.minorUnits) } }
        let row = try runRetrying(
            .changeLimits,
            [
                String(userID), change.creditLimit.map { String($0.minorUnits) },
                change.dailyDebitLimit == nil ? "f" : "t", daily, change.timeZone,
            ])
        guard let row, row["outcome"] == "applied" else {
            return try receipt(from: row, of: "tally_change_limits", requestID: requestID) { _ in
                throw UnexpectedRow(description: "tally_change_limits applied nothing")
            }
        }
        guard let user = try user(id: userID) else {
            throw UnexpectedRow(description: "user \(userID) changed but not there")
        }
        return Receipt(result: .applied(user), isReplay: false, requestID: requestID)
    }

    package func placeHold(
        tokenHash: [UInt8], payerUserID: Int64, payeeUserID: Int64, amount: Money, memo: String?,
        expiresInSeconds: Int, idempotency: IdempotencyContext?, requestID: String
    ) throws -> Receipt<Hold> {
        let row = try runMoving(
            .placeHold,
            [
                tokenParameter(tokenHash), String(payerUserID), String(payeeUserID), String(amount.minorUnits), memo,
                String(expiresInSeconds), idempotency?.key, idempotency?.fingerprint, requestID,
            ],
            accounts: [payerUserID, payeeUserID], keyed: idempotency != nil,
            made: { $0.int64("hold_id").map { .hold($0, status: .pending) } })
        return try receipt(from: row, of: "tally_hold_place", requestID: requestID) { try $0.hold() }
    }

    package func captureHold(
        id: Int64, amount: Money?, tokenHash: [UInt8], idempotency: IdempotencyContext?, requestID: String
    ) throws -> Receipt<HoldCapture> {
        let row = try runMoving(
            .captureHold,
            [
                tokenParameter(tokenHash), String(id), amount.map { String($0.minorUnits) }, idempotency?.key,
                idempotency?.fingerprint, requestID,
            ],
            accounts: try parties(.holdParties, id), keyed: idempotency != nil, made: Self.movementRecord)
        return counted(
            try receipt(from: row, of: "tally_hold_capture", requestID: requestID) { row in
                HoldCapture(hold: try row.hold(), transfer: try row.movement())
            })
    }

    package func voidHold(id: Int64, tokenHash: [UInt8], idempotency: IdempotencyContext?, requestID: String) throws
        -> Receipt<Hold>
    {
        let row = try runMoving(
            .voidHold,
            [tokenParameter(tokenHash), String(id), idempotency?.key, idempotency?.fingerprint, requestID],
            accounts: try parties(.holdParties, id), keyed: idempotency != nil,
            made: { $0.int64("hold_id").map { .hold($0, status: .voided) } })
        return try receipt(from: row, of: "tally_hold_void", requestID: requestID) { try $0.hold() }
    }

    package func hold(id: Int64) throws -> Hold? {
        try runRetrying(.holdByID, [String(id)]).map { try $0.hold() }
    }

    package func holds(ofUser userID: Int64, status: Hold.Status?, beforeID: Int64, limit: Int) throws -> [Hold] {
        try runRetryingAll(.holdsOfUser, [String(userID), String(beforeID), status?.rawValue, String(limit)])
            .map { try $0.hold() }
    }

    package func reverseTransfer(
        _ transferID: Int64, amount: Money?, memo: String?, tokenHash: [UInt8], idempotency: IdempotencyContext?,
        requestID: String
    ) throws -> Receipt<Movement> {
        let row = try runMoving(
            .reverse,
            [
                tokenParameter(tokenHash), String(transferID), amount.map { String($0.minorUnits) }, memo,
                idempotency?.key, idempotency?.fingerprint, requestID,
            ],
            accounts: try parties(.transferParties, transferID), keyed: idempotency != nil, made: Self.movementRecord)
        return counted(try receipt(from: row, of: "tally_reverse", requestID: requestID) { try $0.movement() })
    }

    package func reversibleTransfer(id: Int64) throws -> ReversibleTransfer? {
        let results = try retrying { connection throws(PostgresError) in
            try connection.pipeline([
                .prepared(Statement.movementByID.rawValue, [String(id)]),
                .prepared(Statement.reversalsOf.rawValue, [String(id)]),
            ])
        }
        guard let movement = try results[0].first?.movement(),
            movement.kind == .transfer || movement.kind == .reversal
        else { return nil }
        guard movement.kind == .transfer else {
            return ReversibleTransfer(movement: movement, reversals: [], unreversed: nil)
        }
        let reversals = try results[1].rows.map { try $0.movement() }
        let reversed = reversals.reduce(0) { $0 + $1.amount.minorUnits }
        return ReversibleTransfer(
            movement: movement, reversals: reversals,
            unreversed: Money(minorUnits: movement.amount.minorUnits - reversed))
    }

    /// The debited and credited accounts `statement` reads for the hold or transfer `id`; none when there is
    /// no such (the function then refuses, touching no account).
    private func parties(_ statement: Statement, _ id: Int64) throws -> [Int64] {
        guard let row = try runRetrying(statement, [String(id)]), let debit = row.int64("debit"),
            let credit = row.int64("credit")
        else { return [] }
        return [debit, credit]
    }
}
