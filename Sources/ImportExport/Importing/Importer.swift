/// Sends an import file's rows to Tally: each user as it comes (its Tally id noted against the other system's),
/// the movements in non-atomic batches with each item's idempotency key derived from its line. Rows go in file
/// order, so a user's row must come before the movements that name them.
package final class Importer<Client: LedgerClient> {
    private let client: Client
    private let keys: ImportKeys
    private let batchSize: Int
    package private(set) var summary = ImportSummary()
    /// Called after each user and each batch, with the summary so far.
    package var onProgress: ((ImportSummary) -> Void)?

    /// The other system's user id to Tally's.
    private var tallyIDs: [String: Int64] = [:]
    /// Where each of the other system's ids was defined (also for users whose creation was refused).
    private var definedOn: [String: Int] = [:]
    private var pending: [(line: Int, item: ImportItem)] = []

    /// The largest batch the API takes.
    package static var maximumBatchSize: Int { 1000 }

    package init(client: Client, keys: ImportKeys, batchSize: Int) {
        self.client = client
        self.keys = keys
        self.batchSize = min(max(batchSize, 1), Self.maximumBatchSize)
    }

    /// Takes the next row (or the refusal of one that did not read).
    package func add(_ row: Result<ImportRow, ImportRefusal>) throws(ClientFailure) {
        switch row {
        case .failure(let refusal):
            summary.refuse(refusal)
        case .success(.user(let user)):
            try create(user)
        case .success(.movement(let movement)):
            try queue(movement)
        }
    }

    /// Sends what waits for a full batch.
    package func finish() throws(ClientFailure) {
        try flush()
    }

    private func create(_ user: ImportUser) throws(ClientFailure) {
        if let earlier = definedOn[user.externalID] {
            summary.refuse(
                ImportRefusal(
                    line: user.line, code: "duplicate_user",
                    message: "the user id \"\(user.externalID)\" was defined on line \(earlier) already"))
            return
        }
        definedOn[user.externalID] = user.line
        let answer = try client.createUser(
            NewUser(name: user.name, openingBalance: user.openingBalance, idempotencyKey: keys.key(line: user.line)))
        switch answer {
        case .created(let id, let isReplay):
            tallyIDs[user.externalID] = id
            if isReplay { summary.usersFound += 1 } else { summary.usersCreated += 1 }
        case .refused(let refusal):
            summary.refuse(ImportRefusal(line: user.line, code: refusal.code, message: refusal.message))
        }
        onProgress?(summary)
    }

    private func queue(_ movement: ImportMovement) throws(ClientFailure) {
        var ids: [Int64?] = []
        for externalID in [movement.from, movement.to] {
            guard let externalID else {
                ids.append(nil)
                continue
            }
            guard let id = tallyIDs[externalID] else {
                let why =
                    definedOn[externalID].map { "its row (line \($0)) was refused" }
                    ?? "no user row before this line defines it"
                summary.refuse(
                    ImportRefusal(
                        line: movement.line, code: "unknown_user", message: "the user \"\(externalID)\": \(why)"))
                return
            }
            ids.append(id)
        }
        let item = ImportItem(
            kind: movement.kind, fromUserID: ids[0], toUserID: ids[1], amount: movement.amount, memo: movement.memo,
            idempotencyKey: keys.key(line: movement.line))
        pending.append((movement.line, item))
        if pending.count >= batchSize { try flush() }
    }

    /// Sends the waiting items. An item whose input the API refuses outright (the whole batch answered 422 with
    /// its index) is counted refused and the rest sent again.
    private func flush() throws(ClientFailure) {
        var items = pending
        pending = []
        while !items.isEmpty {
            switch try client.sendBatch(items.map(\.item)) {
            case .results(let outcomes):
                guard outcomes.count == items.count else {
                    throw ClientFailure("the batch of \(items.count) items was answered with \(outcomes.count) results")
                }
                for (outcome, (line, _)) in zip(outcomes, items) {
                    switch outcome {
                    case .applied: summary.applied += 1
                    case .replayed: summary.replayed += 1
                    case .refused(let refusal):
                        summary.refuse(ImportRefusal(line: line, code: refusal.code, message: refusal.message))
                    }
                }
                items = []
            case .itemRejected(let index, let refusal):
                guard items.indices.contains(index) else {
                    throw ClientFailure("the batch was refused for an item it does not have (\(index)): \(refusal)")
                }
                summary.refuse(ImportRefusal(line: items[index].line, code: refusal.code, message: refusal.message))
                items.remove(at: index)
            }
        }
        onProgress?(summary)
    }
}
