import Credentials
import Ledger
import LedgerStore
import Postgres
import Testing

/// The ledger's operations against a real PostgreSQL.
@Suite("Ledger operations in PostgreSQL", .serialized)
struct LedgerOperationsTests {
    func money(_ text: String) throws -> Money { try Money(parsing: text) }

    func applied<Value>(_ receipt: Receipt<Value>) throws -> Value {
        guard case .applied(let value) = receipt.result else {
            Issue.record("expected the operation to apply, got \(receipt.result)")
            throw Unexpected()
        }
        return value
    }

    struct Unexpected: Error {}

    func newUser(_ ledger: PostgresLedger, _ name: String, _ balance: String = "0") throws -> User {
        try applied(ledger.createUser(name: name, initialBalance: try money(balance), idempotency: nil, requestID: "t"))
    }

    func transfer(_ ledger: PostgresLedger, _ from: User, _ to: User, _ amount: String, key: String? = nil)
        throws -> Receipt<Movement>
    {
        try ledger.move(
            .transfer, debitUserID: from.id, creditUserID: to.id, amount: try money(amount), memo: "m",
            idempotency: key.map { IdempotencyContext(key: $0, fingerprint: "transfer|\(from.id)|\(to.id)|\(amount)") },
            requestID: "t")
    }

    @Test("migrate applies each migration once and records the version")
    func migrateAppliesOnce() throws {
        try TestDatabase.with { database in
            let migrator = Migrator(connection: try database.connection())
            #expect(try migrator.currentVersion() == Migration.latestVersion)
            #expect(try migrator.migrate().isEmpty)
            #expect(try database.scalar("SELECT count(*) FROM schema_migrations") == "\(Migration.all.count)")
        }
    }

    @Test("a new user's initial balance is recorded as a deposit from the outside world")
    func initialBalanceIsADeposit() throws {
        try TestDatabase.with { database in
            let ledger = database.ledger()
            let ada = try newUser(ledger, "Ada", "100.00")
            #expect(ada.balance.minorUnits == 10_000)
            #expect(try ledger.user(id: ada.id) == ada)
            let history = try ledger.movements(ofUser: ada.id, beforeID: .max, limit: 10)
            #expect(history.count == 1)
            #expect(history.first?.kind == .deposit && history.first?.debitUserID == Movement.systemAccountID)
            let bob = try newUser(ledger, "Bob")
            #expect(try ledger.movements(ofUser: bob.id, beforeID: .max, limit: 10).isEmpty)
        }
    }

    @Test("a user's view reads the token's caller, the user and a page of their movements together")
    func userViewReadsTogether() throws {
        try TestDatabase.with { database in
            let ledger = database.ledger()
            let ada = try newUser(ledger, "Ada", "100.00")
            let bob = try newUser(ledger, "Bob")
            let movement = try applied(transfer(ledger, ada, bob, "2.50"))
            let service = TestDatabase.serviceToken.hash

            let view = try ledger.userView(ada.id, tokenHash: service, history: HistoryPage(beforeID: .max, limit: 10))
            #expect(view.caller == .service)
            #expect(view.user == (try ledger.user(id: ada.id)))
            #expect(view.movements == (try ledger.movements(ofUser: ada.id, beforeID: .max, limit: 10)))
            #expect(view.movements.map(\.id).first == movement.id && view.movements.count == 2)

            let paged = try ledger.userView(
                ada.id, tokenHash: service, history: HistoryPage(beforeID: movement.id, limit: 1))
            #expect(paged.movements.count == 1 && paged.movements.first?.kind == .deposit)

            let stranger = try ledger.userView(bob.id, tokenHash: Array(repeating: 7, count: 32), history: nil)
            #expect(stranger.caller == nil && stranger.user?.id == bob.id && stranger.movements.isEmpty)
            #expect(try ledger.userView(999_999, tokenHash: service, history: nil).user == nil)
        }
    }

    @Test("a transfer moves the money and reports both balances after it")
    func transferMovesMoney() throws {
        try TestDatabase.with { database in
            let ledger = database.ledger()
            let ada = try newUser(ledger, "Ada", "100.00")
            let bob = try newUser(ledger, "Bob", "1.00")
            let movement = try applied(transfer(ledger, ada, bob, "12.34"))
            #expect(movement.debitBalanceAfter?.minorUnits == 8766 && movement.creditBalanceAfter?.minorUnits == 1334)
            #expect(try ledger.user(id: ada.id)?.balance.minorUnits == 8766)
            #expect(try ledger.user(id: bob.id)?.balance.minorUnits == 1334)
            #expect(try ledger.movement(id: movement.id) == movement)
        }
    }

    @Test("a transfer fails when the balance is short, and changes nothing")
    func transferFailsWhenBalanceIsShort() throws {
        try TestDatabase.with { database in
            let ledger = database.ledger()
            let ada = try newUser(ledger, "Ada", "5.00")
            let bob = try newUser(ledger, "Bob")
            let before = try database.scalar("SELECT count(*) FROM movements")
            let receipt = try transfer(ledger, ada, bob, "5.01")
            guard case .refused(.insufficientFunds(let balance)) = receipt.result else {
                Issue.record("expected insufficient funds, got \(receipt.result)")
                return
            }
            #expect(balance.minorUnits == 500)
            #expect(try database.scalar("SELECT count(*) FROM movements") == before)
            #expect(try ledger.user(id: ada.id)?.balance.minorUnits == 500)
            #expect(try ledger.user(id: bob.id)?.balance.minorUnits == 0)
            // The exact balance is enough.
            _ = try applied(transfer(ledger, ada, bob, "5.00"))
        }
    }

    @Test("moving money to or from an unknown user is refused, naming the user")
    func unknownUserIsRefused() throws {
        try TestDatabase.with { database in
            let ledger = database.ledger()
            let ada = try newUser(ledger, "Ada", "5.00")
            let ghost = User(id: 999_999, name: "ghost", balance: .zero, createdAt: 0)
            #expect(try transfer(ledger, ada, ghost, "1").result.refusal == .userNotFound(id: 999_999))
            #expect(try transfer(ledger, ghost, ada, "1").result.refusal == .userNotFound(id: 999_999))
            let deposit = try ledger.move(
                .deposit, debitUserID: 0, creditUserID: 999_999, amount: try money("1"), memo: nil,
                idempotency: nil, requestID: "t")
            #expect(deposit.result.refusal == .userNotFound(id: 999_999))
            #expect(
                try database.scalar(
                    "SELECT count(*) FROM movements WHERE kind <> 'deposit' OR credit_user_id <> $1",
                    [String(ada.id)]) == "0")
        }
    }

    @Test("deposits and withdrawals move money from and to the outside world")
    func depositsAndWithdrawals() throws {
        try TestDatabase.with { database in
            let ledger = database.ledger()
            let ada = try newUser(ledger, "Ada")
            let deposit = try applied(
                ledger.move(
                    .deposit, debitUserID: 0, creditUserID: ada.id, amount: try money("20"), memo: nil,
                    idempotency: nil, requestID: "t"))
            #expect(deposit.creditBalanceAfter?.minorUnits == 2000 && deposit.debitBalanceAfter == nil)
            let withdrawal = try applied(
                ledger.move(
                    .withdrawal, debitUserID: ada.id, creditUserID: 0, amount: try money("7.5"), memo: "atm",
                    idempotency: nil, requestID: "t"))
            #expect(withdrawal.debitBalanceAfter?.minorUnits == 1250)
            let overdraft = try ledger.move(
                .withdrawal, debitUserID: ada.id, creditUserID: 0, amount: try money("12.51"), memo: nil,
                idempotency: nil, requestID: "t")
            #expect(overdraft.result.refusal == .insufficientFunds(balance: Money(minorUnits: 1250)))
            let report = try Verifier(connection: try database.connection()).verify()
            #expect(report.isClean && report.systemBalance == MoneyTotal(minorUnits: -1250))
        }
    }

    @Test("a balance that would overflow a bigint is refused")
    func balanceLimitIsRefused() throws {
        try TestDatabase.with { database in
            let ledger = database.ledger()
            let rich = try newUser(ledger, "Rich", "92233720368547758.07")
            let more = try ledger.move(
                .deposit, debitUserID: 0, creditUserID: rich.id, amount: try money("0.01"), memo: nil,
                idempotency: nil, requestID: "t")
            #expect(more.result.refusal == .balanceLimit(balance: Money(minorUnits: .max)))
        }
    }

    @Test("the history is newest first and pages without gaps or repeats")
    func historyPages() throws {
        try TestDatabase.with { database in
            let ledger = database.ledger()
            let ada = try newUser(ledger, "Ada", "100")
            let bob = try newUser(ledger, "Bob", "100")
            for index in 0..<7 {
                _ = try applied(
                    index.isMultiple(of: 2) ? transfer(ledger, ada, bob, "1") : transfer(ledger, bob, ada, "2"))
            }
            var seen: [Int64] = []
            var before = Int64.max
            while true {
                let page = try ledger.movements(ofUser: ada.id, beforeID: before, limit: 3)
                seen += page.map(\.id)
                guard page.count == 3, let last = page.last else { break }
                before = last.id
            }
            #expect(seen.count == 8)
            #expect(seen == seen.sorted(by: >))
            #expect(Set(seen).count == seen.count)
        }
    }
}

extension Receipt.Result {
    var refusal: Refusal? {
        if case .refused(let refusal) = self { return refusal }
        return nil
    }
}
