import Ledger
import Postgres

extension PostgresLedger {
    /// Statements per pipeline in a batch: libpq blocks while it sends, and a pipeline whose answers fill the
    /// socket before it is all sent would wait for itself. A hundred answers are far below that.
    static let batchPipelineLength = 100

    /// Runs `items` in order as one SERIALIZABLE transaction, after the items before it: transfers as sets
    /// (tally_batch_transfers), anything else, or an item-by-item batch with an item to refuse, each through its
    /// single endpoint's SQL function (tally_move, tally_cash_event: the same rules, refusals and item keys).
    /// `atomic`: the first refused item refuses the batch and nothing is applied (its refusal, with its index, is
    /// stored under the request's key); otherwise every item is applied or refused on its own and the batch is
    /// recorded with each outcome.
    ///
    /// Batches take turns: each holds one advisory lock, taken before its transaction's snapshot (in a READ
    /// COMMITTED transaction of its own, as `lockedSteps` does for contended accounts) and let go after its
    /// COMMIT, in the same round trips. Two batches of a hundred transfers among ten thousand users nearly always
    /// share an account, so concurrent batches would otherwise fail to serialize and retry whole; single movements
    /// beside them still run at once, and SERIALIZABLE keeps them apart.
    package func applyBatch(
        _ items: [BatchItem], atomic: Bool, tokenHash: [UInt8], rules: AlertRules,
        idempotency: IdempotencyContext?, requestID: String
    ) throws -> Receipt<BatchOutcome> {
        var run: BatchRun?
        var asSet = true
        let recorded = try settlingDoubt(keyed: idempotency != nil, { $0.int64("batch_id").map(InDoubtRecord.batch) }) {
            try waitingOutHeldRows(of: Self.accounts(of: items)) {
                try retrying { connection throws(PostgresError) -> Row? in
                    run = nil
                    return try takingTurn(on: connection) { () throws(PostgresError) -> Row? in
                        try runBatch(
                            items, atomic: atomic, asSet: &asSet, tokenHash: tokenHash, rules: rules,
                            idempotency: idempotency, requestID: requestID, on: connection, run: &run)
                    }
                }
            }
        }
        guard let run else { throw UnexpectedRow(description: "a batch ended without an outcome") }
        return try receipt(of: run, recorded: recorded, atomic: atomic, requestID: requestID)
    }

    /// The batch `id` on record, with each item's movement; nil when there is none. One snapshot.
    package func batch(id: Int64) throws -> BatchRecord? {
        let results = try inTransaction { connection throws(PostgresError) in
            try connection.pipeline([
                .sql("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"),
                .prepared(Statement.batchByID.rawValue, [String(id)]),
                .prepared(Statement.batchMovements.rawValue, [String(id)]),
                .commit,
            ])
        }
        guard let row = results[1].first else { return nil }
        var movements: [Int64: (Movement, [Int]?)] = [:]
        for movementRow in results[2].rows {
            let movement = try movementRow.movement()
            movements[movement.id] = (movement, movementRow.array("alert_codes").map { $0.compactMap { Int($0) } })
        }
        let movementIDs = row.array("movement_ids") ?? []
        let outcomes = row.array("outcomes") ?? []
        let details = row.array("details") ?? []
        guard movementIDs.count == outcomes.count, details.count == outcomes.count else {
            throw UnexpectedRow(description: "batch \(id) has items of different lengths")
        }
        let items = try outcomes.indices.map { index -> BatchItemOutcome in
            let outcome = outcomes[index]
            if outcome == "applied" || outcome == "replayed" {
                guard let movementID = Int64(movementIDs[index]), let (movement, codes) = movements[movementID] else {
                    throw UnexpectedRow(description: "batch \(id) item \(index) lacks its movement")
                }
                return outcome == "applied"
                    ? .applied(movement, alertCodes: codes) : .replayed(movement, alertCodes: codes)
            }
            return try Self.itemOutcome(stored: outcome, detail: Int64(details[index]))
        }
        return BatchRecord(
            id: id, atomic: row.bool("atomic") ?? true,
            sender: row.int64("sender_user_id").map { Caller.user(id: $0) } ?? .service,
            createdAt: row.int64("created_at_us") ?? 0, items: items)
    }

    /// A refused item's outcome from its stored columns.
    private static func itemOutcome(stored outcome: String, detail: Int64?) throws -> BatchItemOutcome {
        if outcome == "key_reused" { return .keyReused }
        guard let refusal = Refusal(storedOutcome: outcome, detail: detail) else {
            throw UnexpectedRow(description: "unknown item outcome \(outcome)")
        }
        return .refused(refusal)
    }

    /// Runs `body` (which opens the batch's transaction with `openingSteps` and ends it with `closingSteps`)
    /// and, if it failed on the way, ends the transaction and lets go of the batches' turn.
    private func takingTurn<Value>(on connection: Connection, _ body: () throws(PostgresError) -> Value)
        throws(PostgresError) -> Value
    {
        do {
            return try body()
        } catch {
            if connection.isHealthy { try? connection.execute(script: "ROLLBACK; SELECT pg_advisory_unlock_all()") }
            throw error
        }
    }

    /// The batch's accounts' locks (those contended single movements take), in id order, taken before the
    /// transaction's snapshot, then the transaction opened with the batch's start: one round trip. Batches and
    /// single movements of the same accounts queue for them instead of failing to serialize against each other;
    /// taken in one order by everyone, they cannot deadlock. A batch of more than `turnAccounts` accounts first
    /// takes the batches' turn: one such batch at a time holds its hundreds of locks (PostgreSQL's lock table is
    /// shared and fixed in size), and two of them, which nearly always share an account, queue as a whole rather
    /// than lock by lock. A lock that fails (lock_timeout) does not stop the batch: correctness is SERIALIZABLE's,
    /// the locks only keep retries rare. The start's outcome is at `openingStartOutcome`.
    private static func openingSteps(_ start: PipelineStep, accounts: [Int64], savepoint: Bool) -> [PipelineStep] {
        let ids = Array(Set(accounts.filter { $0 > 0 })).sorted()
        let turn: PipelineStep =
            ids.count > turnAccounts ? .prepared(Statement.lockBatches.rawValue, []) : .sql("SELECT 1")
        return [
            .sql("BEGIN ISOLATION LEVEL READ COMMITTED"), turn,
            .prepared(Statement.lockBatchAccounts.rawValue, [arrayLiteral(ids.map { String($0) })]), .sync,
            .commit, .sync, .sql("BEGIN ISOLATION LEVEL SERIALIZABLE"), start,
        ] + (savepoint ? [.sql("SAVEPOINT items")] : [])
    }

    /// The most accounts a batch locks without the batches' turn: sixteen workers' batches of this many take a
    /// sixth of PostgreSQL's default lock table (64 locks a connection, 100 connections).
    static let turnAccounts = 64

    /// Every account a batch's items name (the outside world, 0, included; the locks skip it).
    static func accounts(of items: [BatchItem]) -> [Int64] {
        var accounts: [Int64] = []
        accounts.reserveCapacity(2 * items.count)
        for item in items {
            switch item.operation {
            case .transfer(let from, let to): accounts += [from, to]
            case .cash(_, let userID, _): accounts.append(userID)
            }
        }
        return accounts
    }

    private static let openingStartOutcome = 5

    /// `steps`, then COMMIT, then the turn let go (after a sync point, so whatever the steps did); one round trip.
    /// Their outcomes come first, in order.
    private static func closingSteps(_ steps: [PipelineStep]) -> [PipelineStep] {
        steps + [.commit, .sync, .prepared(Statement.unlockAccounts.rawValue, [])]
    }

    /// One attempt at a batch in the open connection: sets `run` to how it ended and returns the row that
    /// recorded it (nil when nothing was recorded), for settling a commit in doubt. `asSet`: transfers may go as
    /// sets; cleared when a set found an item to refuse in an item-by-item batch, so that the next attempt goes
    /// item by item.
    private func runBatch(
        _ items: [BatchItem], atomic: Bool, asSet: inout Bool, tokenHash: [UInt8], rules: AlertRules,
        idempotency: IdempotencyContext?, requestID: String, on connection: Connection, run: inout BatchRun?
    ) throws(PostgresError) -> Row? {
        let token = tokenParameter(tokenHash)
        // Where an atomic batch goes back to, keeping its claimed key, to store its refusal there.
        let keepsRefusal = atomic && idempotency != nil
        let opening = try connection.pipelineOutcomes(
            Self.openingSteps(
                .prepared(
                    Statement.batchStart.rawValue, [token, idempotency?.key, idempotency?.fingerprint, requestID]),
                accounts: Self.accounts(of: items), savepoint: keepsRefusal))
        for outcome in opening[(Self.openingStartOutcome - 1)...] { _ = try outcome.get() }
        guard let start = try opening[Self.openingStartOutcome].get().first, let batchID = start.int64("batch_id")
        else {
            _ = try connection.pipeline(Self.closingSteps([]))
            run = .unauthorized
            return nil
        }
        switch start["key_state"] {
        case "replay", "reused":
            // ROLLBACK rather than COMMIT: nothing of this attempt is kept.
            _ = try connection.pipeline([.sql("ROLLBACK"), .sync, .prepared(Statement.unlockAccounts.rawValue, [])])
            run = start["key_state"] == "replay" ? .replay(start) : .keyReused
            return nil
        default:
            break
        }
        let sender = Self.caller(from: start) ?? .service

        if asSet,
            let set = Self.setParameters(
                items, token: token, batchID: batchID, atomic: atomic, requestID: requestID,
                requestKey: idempotency?.key)
        {
            // The transaction ends in the same round trip whatever the set did: when it refused, it made no
            // movement and left the request's key as it should be.
            let row = try connection.pipeline(Self.closingSteps([set]))[0].first
            switch row?["outcome"] {
            case "applied"?:
                run = .recorded(batchID: batchID, Self.answeredItems(items, set: row), sender: sender)
                return row
            case let outcome? where atomic && outcome != "key_seen" && outcome != "item_by_item":
                let index = row?.int64("refused_index").map { Int($0) } ?? 0
                let refusal = Refusal(storedOutcome: outcome, detail: row?.int64("detail")) ?? .unauthorized
                run = .refused(index: index, .local(.refused(refusal)))
                return nil
            default:
                // Item by item, in a transaction of its own.
                asSet = false
                return try runBatch(
                    items, atomic: atomic, asSet: &asSet, tokenHash: tokenHash, rules: rules,
                    idempotency: idempotency, requestID: requestID, on: connection, run: &run)
            }
        }
        let answered = try runItemByItem(
            items, atomic: atomic, tokenHash: tokenHash, isService: start["role"] == "service", rules: rules,
            requestID: requestID, on: connection)
        let results = answered

        if atomic, let refused = results.firstIndex(where: { $0?.isRefused == true }) {
            let stored: (outcome: String, detail: Int64?) = results[refused]?.storedColumns ?? ("unauthorized", nil)
            if keepsRefusal, let key = idempotency?.key {
                _ = try connection.pipeline(
                    [.sql("ROLLBACK TO SAVEPOINT items")]
                        + Self.closingSteps([
                            .prepared(
                                Statement.refuseBatchKey.rawValue,
                                [
                                    String(start.int64("user_id") ?? 0), key, stored.outcome,
                                    stored.detail.map(String.init), String(refused),
                                ])
                        ]))
            } else {
                _ = try connection.pipeline([.sql("ROLLBACK"), .sync, .prepared(Statement.unlockAccounts.rawValue, [])])
            }
            run = .refused(index: refused, results[refused] ?? .local(.refused(.unauthorized)))
            return nil
        }

        let answeredItems = results.map { $0 ?? .local(.refused(.unauthorized)) }
        run = .recorded(batchID: batchID, answeredItems, sender: sender)
        let columns = answeredItems.map(\.storedColumns)
        return try connection.pipeline(
            Self.closingSteps([
                .prepared(
                    Statement.recordBatch.rawValue,
                    [
                        String(batchID), atomic ? "true" : "false", token,
                        Self.arrayLiteral(answeredItems.map { $0.movementID.map(String.init) }),
                        Self.arrayLiteral(columns.map(\.outcome)),
                        Self.arrayLiteral(columns.map { $0.detail.map(String.init) }),
                        requestID,
                    ])
            ]))[0].first
    }

    /// The call of tally_batch_transfers (migration 15) for a batch of transfers; nil when it has another kind
    /// of item.
    private static func setParameters(
        _ items: [BatchItem], token: String, batchID: Int64, atomic: Bool, requestID: String, requestKey: String?
    ) -> PipelineStep? {
        var from: [String?] = []
        var to: [String?] = []
        var amounts: [String?] = []
        from.reserveCapacity(items.count)
        to.reserveCapacity(items.count)
        amounts.reserveCapacity(items.count)
        for item in items {
            guard case .transfer(let payer, let payee) = item.operation else { return nil }
            from.append(String(payer))
            to.append(String(payee))
            amounts.append(String(item.amount.minorUnits))
        }
        let keyed = items.contains { $0.idempotency != nil }
        return .prepared(
            Statement.batchTransfers.rawValue,
            [
                token, arrayLiteral(from), arrayLiteral(to), arrayLiteral(amounts), textArrayLiteral(items.map(\.memo)),
                keyed ? textArrayLiteral(items.map { $0.idempotency?.key }) : nil,
                keyed ? textArrayLiteral(items.map { $0.idempotency?.fingerprint }) : nil,
                String(batchID), atomic ? "true" : "false", requestID, requestKey,
            ])
    }

    /// Each item's answer from the row of a set that applied them all.
    private static func answeredItems(_ items: [BatchItem], set row: Row?) -> [AnsweredItem] {
        let ids = row?.array("ids") ?? []
        let debitAfter = row?.array("debit_after") ?? []
        let creditAfter = row?.array("credit_after") ?? []
        let createdAt = row?.int64("created_at_us") ?? 0
        return items.enumerated().map { index, item in
            guard case .transfer(let payer, let payee) = item.operation, index < ids.count,
                let id = Int64(ids[index])
            else { return .local(.refused(.unauthorized)) }
            let movement = Movement(
                id: id, kind: .transfer, debitUserID: payer, creditUserID: payee, amount: item.amount,
                debitBalanceAfter: debitAfter.indices.contains(index)
                    ? Int64(debitAfter[index]).map(Money.init(minorUnits:)) : nil,
                creditBalanceAfter: creditAfter.indices.contains(index)
                    ? Int64(creditAfter[index]).map(Money.init(minorUnits:)) : nil,
                memo: item.memo, createdAt: createdAt)
            return .local(.applied(movement, alertCodes: nil))
        }
    }

    /// The items one by one, each through its single endpoint's SQL function, in pipelines; an atomic batch stops
    /// at its first refused item.
    private func runItemByItem(
        _ items: [BatchItem], atomic: Bool, tokenHash: [UInt8], isService: Bool, rules: AlertRules,
        requestID: String, on connection: Connection
    ) throws(PostgresError) -> [AnsweredItem?] {
        let token = tokenParameter(tokenHash)
        _ = try connection.pipeline([
            .prepared(
                Statement.holdBatchRows.rawValue,
                [Self.arrayLiteral(Self.accounts(of: items).filter { $0 > 0 }.map { String($0) })])
        ])
        var runner = BatchItemRunner(connection: connection, count: items.count)
        for (index, item) in items.enumerated() {
            if atomic, runner.firstRefused != nil { break }
            switch item.operation {
            case .transfer(let from, let to):
                try runner.add(
                    .prepared(
                        Statement.move.rawValue,
                        [
                            token, String(from), MovementKind.transfer.rawValue, String(from), String(to),
                            String(item.amount.minorUnits), item.memo, item.idempotency?.key,
                            item.idempotency?.fingerprint, requestID,
                        ]), index: index)
            case .cash(let kind, let userID, let t):
                if t != nil, !isService {
                    try runner.settle(index, as: .refused(.eventTimeNotAllowed))
                    continue
                }
                let context = try runner.flush(then: [Self.cashContextStep(userID: userID, t: t, rules: rules)])
                let judged = Self.judged(kind, amount: item.amount, t: t, context: context.first?.first, rules: rules)
                try runner.add(
                    cashEventStep(
                        judged, tokenHash: tokenHash, actingUserID: userID, userID: userID, memo: item.memo,
                        idempotency: item.idempotency, requestID: requestID), index: index)
            }
        }
        _ = try runner.flush(then: [])
        return runner.items
    }

    /// A one-dimensional PostgreSQL text array in its text form: each element quoted (backslashes and quotes
    /// escaped), NULL for nil.
    private static func textArrayLiteral(_ elements: [String?]) -> String {
        var literal = "{"
        for (index, element) in elements.enumerated() {
            if index > 0 { literal += "," }
            guard let element else {
                literal += "NULL"
                continue
            }
            literal += "\""
            for character in element.unicodeScalars {
                if character == "\\" || character == "\"" { literal.unicodeScalars.append("\\") }
                literal.unicodeScalars.append(character)
            }
            literal += "\""
        }
        return literal + "}"
    }

    /// Gives each replayed item's movement the batch it came in (the movement functions' replay leaves it
    /// out), so that the answer is the one a repeat of the whole request gives (`batch(id:)`).
    private func showBatchesOfReplayedItems(_ items: inout [BatchItemOutcome]) throws {
        let replayed = items.compactMap { if case .replayed(let movement, _) = $0 { movement.id } else { nil } }
        guard !replayed.isEmpty else { return }
        var batches: [Int64: Int64] = [:]
        for row in try runRetryingAll(.movementBatches, [Self.arrayLiteral(replayed.map(String.init))]) {
            if let id = row.int64("id"), let batchID = row.int64("batch_id") { batches[id] = batchID }
        }
        for index in items.indices {
            guard case .replayed(var movement, let codes) = items[index] else { continue }
            movement.batchID = batches[movement.id]
            items[index] = .replayed(movement, alertCodes: codes)
        }
    }

    /// The receipt for how a batch's run ended; `recorded` is the row of the batch on record.
    private func receipt(
        of run: BatchRun, recorded: Row?, atomic: Bool, requestID: String
    ) throws -> Receipt<BatchOutcome> {
        switch run {
        case .unauthorized:
            return Receipt(result: .refused(.unauthorized), isReplay: false, requestID: requestID)
        case .keyReused:
            return Receipt(result: .keyReused, isReplay: false, requestID: requestID)
        case .replay(let start):
            let original = start["request_id"] ?? requestID
            if start["outcome"] == "batch", let batchID = start.int64("result_id") {
                guard let record = try batch(id: batchID) else {
                    throw UnexpectedRow(description: "the key's batch \(batchID) is not on record")
                }
                return Receipt(result: .applied(.recorded(record)), isReplay: true, requestID: original)
            }
            let outcome = try Self.itemOutcome(stored: start["outcome"] ?? "NULL", detail: start.int64("detail"))
            let index = start.int64("batch_index").map { Int($0) } ?? 0
            return Receipt(result: .applied(.refused(index: index, outcome)), isReplay: true, requestID: original)
        case .refused(let index, let item):
            return Receipt(
                result: .applied(.refused(index: index, try item.outcome(inBatch: nil))), isReplay: false,
                requestID: requestID)
        case .recorded(let batchID, let answered, let sender):
            var items = try answered.map { try $0.outcome(inBatch: batchID) }
            countApplied(items.count { if case .applied = $0 { true } else { false } })
            try showBatchesOfReplayedItems(&items)
            let record = BatchRecord(
                id: batchID, atomic: atomic, sender: sender, createdAt: recorded?.int64("created_at_us") ?? 0,
                items: items)
            return Receipt(result: .applied(.recorded(record)), isReplay: false, requestID: requestID)
        }
    }
}

/// How one attempt at a batch ended.
private enum BatchRun {
    case unauthorized
    /// The request's key was used before for another request.
    case keyReused
    /// The request's key answered before: the row of tally_batch_start says how.
    case replay(Row)
    /// Atomic, refused by the item at `index`: nothing applied.
    case refused(index: Int, AnsweredItem)
    case recorded(batchID: Int64, [AnsweredItem], sender: Caller)
}

/// An item's answer: the row its SQL function returned, or a refusal decided without asking.
enum AnsweredItem {
    case row(Row?, isCash: Bool)
    case local(BatchItemOutcome)

    var isRefused: Bool {
        switch self {
        case .row(let row, _): row?["outcome"] != "applied"
        case .local(let outcome): outcome.movement == nil
        }
    }

    /// The movement it made or replayed.
    var movementID: Int64? {
        switch self {
        case .row(let row?, _): row["outcome"] == "applied" ? row.int64("id") : nil
        case .row(nil, _): nil
        case .local(let outcome): outcome.movement?.id
        }
    }

    /// The `outcomes` and `details` entries that store it (migration 15).
    var storedColumns: (outcome: String, detail: Int64?) {
        switch self {
        case .row(let row?, _):
            if row["outcome"] == "applied" { return (row.bool("replayed") == true ? "replayed" : "applied", nil) }
            return (row["outcome"] ?? "unauthorized", row.int64("detail"))
        case .row(nil, _): return ("unauthorized", nil)
        case .local(let outcome): return outcome.storedColumns
        }
    }

    /// The item's outcome; an applied movement carries `batchID`.
    func outcome(inBatch batchID: Int64?) throws -> BatchItemOutcome {
        switch self {
        case .local(.applied(var movement, let codes)):
            movement.batchID = batchID
            return .applied(movement, alertCodes: codes)
        case .local(let outcome):
            return outcome
        case .row(nil, _):
            throw UnexpectedRow(description: "a batch item's function returned no row")
        case .row(let row?, let isCash):
            switch row["outcome"] {
            case "applied":
                var movement = try row.movement()
                let codes = isCash ? (row.array("alert_codes") ?? []).compactMap { Int($0) } : nil
                if row.bool("replayed") == true { return .replayed(movement, alertCodes: codes) }
                movement.batchID = batchID
                return .applied(movement, alertCodes: codes)
            case "key_reused":
                return .keyReused
            default:
                return .refused(try row.refusal())
            }
        }
    }
}

/// Sends a batch's item statements in pipelines of `PostgresLedger.batchPipelineLength`, in order, and keeps
/// each item's answer by its index.
private struct BatchItemRunner {
    let connection: Connection
    /// Each item's answer, once it has one.
    private(set) var items: [AnsweredItem?]
    private var pending: [(step: PipelineStep, index: Int)] = []

    init(connection: Connection, count: Int) {
        self.connection = connection
        self.items = Array(repeating: nil, count: count)
    }

    /// The first item answered with a refusal.
    var firstRefused: Int? { items.firstIndex { $0?.isRefused == true } }

    mutating func add(_ step: PipelineStep, index: Int) throws(PostgresError) {
        pending.append((step, index))
        if pending.count >= PostgresLedger.batchPipelineLength { _ = try flush(then: []) }
    }

    /// Settles an item without asking the database, after the items before it.
    mutating func settle(_ index: Int, as outcome: BatchItemOutcome) throws(PostgresError) {
        _ = try flush(then: [])
        items[index] = .local(outcome)
    }

    /// Sends the pending items' statements and then `extra`, whose results it returns.
    mutating func flush(then extra: [PipelineStep]) throws(PostgresError) -> [Rows] {
        guard !pending.isEmpty || !extra.isEmpty else { return [] }
        let results = try connection.pipeline(pending.map(\.step) + extra)
        for (offset, item) in pending.enumerated() {
            let isCash: Bool =
                if case .prepared(let name, _) = item.step { name == Statement.cashEvent.rawValue } else { false }
            items[item.index] = .row(results[offset].first, isCash: isCash)
        }
        let extraResults = Array(results.dropFirst(pending.count))
        pending = []
        return extraResults
    }
}
