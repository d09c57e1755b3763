import Credentials
import Foundation
import Ledger
import LedgerStore
import Postgres
import Testing

/// Batches (POST /api/batches) in PostgreSQL: the set path and the item-by-item path agree, a refused atomic
/// batch leaves nothing, and concurrent batches and single movements keep the books.
@Suite("Batches in PostgreSQL", .serialized)
struct BatchTests {
    func transfer(_ from: Int64, _ to: Int64, _ minorUnits: Int64) -> BatchItem {
        BatchItem(.transfer(from: from, to: to), amount: Money(minorUnits: minorUnits), memo: nil, idempotency: nil)
    }

    func apply(_ ledger: PostgresLedger, _ items: [BatchItem], atomic: Bool) throws -> BatchOutcome {
        let receipt = try ledger.applyBatch(
            items, atomic: atomic, tokenHash: TestDatabase.serviceToken.hash, rules: AlertRules(), idempotency: nil,
            requestID: "t")
        guard case .applied(let outcome) = receipt.result else { throw Unexpected(receipt: "\(receipt.result)") }
        return outcome
    }

    struct Unexpected: Error {
        let receipt: String
    }

    func balances(_ ledger: PostgresLedger, _ ids: [Int64]) throws -> [Int64] {
        try ids.map { try ledger.user(id: $0)?.balance.minorUnits ?? -1 }
    }

    @Test("transfers as a set and the same transfers item by item leave the same balances after every item")
    func setAndItemByItemAgree() throws {
        try TestDatabase.with { database in
            let ledger = database.ledger()
            let starts: [Int64] = [500, 0, 120, 7, 0, 1_000]
            let setUsers = try starts.map { try ledger.newUserID(minorUnits: $0) }
            let itemUsers = try starts.map { try ledger.newUserID(minorUnits: $0) }
            let bystander = try ledger.newUserID()
            var generator = SystemRandomNumberGenerator()
            // Chains through users who start with nothing; every item fits, so both batches apply whole.
            var pairs: [(Int, Int, Int64)] = [(0, 1, 300), (1, 4, 250), (4, 3, 100), (5, 1, 999), (1, 0, 1_000)]
            for _ in 0..<40 {
                // Paid by the two who hold at least 120 after the chain.
                let from = Bool.random(using: &generator) ? 0 : 2
                let to = (from + Int.random(in: 1..<6, using: &generator)) % 6
                pairs.append((from, to, 1))
            }
            let asSet = try apply(ledger, pairs.map { transfer(setUsers[$0.0], setUsers[$0.1], $0.2) }, atomic: true)
            // A deposit sends a batch item by item (the alert rules judge it after the items before it).
            let deposit = BatchItem(
                .cash(.deposit, userID: bystander, t: nil), amount: Money(minorUnits: 1), memo: nil, idempotency: nil)
            let oneByOne = try apply(
                ledger, pairs.map { transfer(itemUsers[$0.0], itemUsers[$0.1], $0.2) } + [deposit], atomic: true)
            guard case .recorded(let setBatch) = asSet, case .recorded(let itemBatch) = oneByOne else {
                Issue.record("expected both batches to apply: \(asSet), \(oneByOne)")
                return
            }
            for (index, pair) in pairs.enumerated() {
                let a = setBatch.items[index].movement
                let b = itemBatch.items[index].movement
                #expect(a?.amount.minorUnits == pair.2)
                #expect(a?.debitBalanceAfter == b?.debitBalanceAfter, "item \(index)")
                #expect(a?.creditBalanceAfter == b?.creditBalanceAfter, "item \(index)")
                #expect(a?.batchID == setBatch.id && b?.batchID == itemBatch.id)
            }
            #expect(try balances(ledger, setUsers) == balances(ledger, itemUsers))
            #expect(try ledger.batch(id: setBatch.id) == setBatch)
        }
    }

    @Test("an atomic batch refused at any item leaves no movement, no batch and every balance as it was")
    func refusedAtomicBatchLeavesNothing() throws {
        try TestDatabase.with { database in
            let ledger = database.ledger()
            let users = try [300, 0, 50].map { try ledger.newUserID(minorUnits: $0) }
            let movementsBefore = try database.scalar("SELECT count(*) FROM movements")
            let overdraft = [transfer(users[0], users[1], 300), transfer(users[1], users[2], 301)]
            let deposit = BatchItem(
                .cash(.deposit, userID: users[2], t: nil), amount: Money(minorUnits: 5), memo: nil, idempotency: nil)
            for items in [overdraft, [deposit] + overdraft] {
                guard
                    case .refused(let index, .refused(.insufficientFunds(let balance))) = try apply(
                        ledger, items, atomic: true)
                else {
                    Issue.record("expected insufficient funds")
                    continue
                }
                #expect(index == items.count - 1 && balance.minorUnits == 300)
            }
            #expect(try balances(ledger, users) == [300, 0, 50])
            #expect(try database.scalar("SELECT count(*) FROM movements") == movementsBefore)
            #expect(try database.scalar("SELECT count(*) FROM batches") == "0")
        }
    }

    @Test("concurrent batches over shared accounts beside single transfers all apply and keep the books")
    func concurrentBatchesKeepTheBooks() throws {
        try TestDatabase.with { database in
            let setup = database.ledger()
            let users = try (0..<12).map { _ in try setup.newUserID(minorUnits: 1_000_000) }
            let failures = Failures()
            let group = DispatchGroup()
            for worker in 0..<8 {
                group.enter()
                Thread.detachNewThread {
                    defer { group.leave() }
                    let ledger = database.ledger()
                    var generator = SystemRandomNumberGenerator()
                    for _ in 0..<12 {
                        do {
                            if worker < 2 {
                                let from = users.randomElement(using: &generator) ?? users[0]
                                let to = users.first { $0 != from } ?? users[1]
                                _ = try ledger.move(
                                    .transfer, debitUserID: from, creditUserID: to, amount: Money(minorUnits: 3),
                                    memo: nil, idempotency: nil, requestID: "t")
                                continue
                            }
                            // Batches of up to 80 transfers, more than a small batch's accounts when large.
                            let size = worker % 2 == 0 ? 80 : 5
                            let items = (0..<size).map { _ -> BatchItem in
                                let from = Int.random(in: 0..<users.count, using: &generator)
                                let to = (from + Int.random(in: 1..<users.count, using: &generator)) % users.count
                                return transfer(users[from], users[to], 1)
                            }
                            guard case .recorded = try apply(ledger, items, atomic: true) else {
                                failures.add("a batch was refused")
                                continue
                            }
                        } catch {
                            failures.add("\(error)")
                        }
                    }
                }
            }
            group.wait()
            #expect(failures.all.isEmpty, "\(failures.all.prefix(3))")
            let report = try Verifier(connection: try database.connection()).verify()
            #expect(report.isClean)
            #expect(try balances(setup, users).reduce(0, +) == 12 * 1_000_000)
        }
    }
}

/// Errors collected from several threads.
final class Failures: @unchecked Sendable {
    private let lock = NSLock()
    private var messages: [String] = []

    func add(_ message: String) {
        lock.lock()
        messages.append(message)
        lock.unlock()
    }

    var all: [String] {
        lock.lock()
        defer { lock.unlock() }
        return messages
    }
}
