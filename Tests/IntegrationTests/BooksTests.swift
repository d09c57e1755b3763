import Dispatch
import Ledger
import LedgerStore
import Postgres
import Synchronization
import Testing

@Suite("The books: constraints, verification, concurrency", .serialized)
struct BooksTests {
    func createUsers(_ ledger: PostgresLedger, count: Int, balance: Int64) throws -> [Int64] {
        try (0..<count).map { index in
            guard
                case .applied(let user) = try ledger.createUser(
                    name: "user \(index)", initialBalance: Money(minorUnits: balance), idempotency: nil, requestID: "t"
                ).result
            else { throw Failed() }
            return user.id
        }
    }

    struct Failed: Error {}

    func expectViolation(_ database: TestDatabase, _ sql: String, sqlState: String) throws {
        let error = try #require(throws: PostgresError.self) { try database.connection().query(sql) }
        #expect(error.sqlState == sqlState, "\(sql) should fail with \(sqlState), got \(error)")
    }

    @Test("PostgreSQL itself refuses a negative balance, a zero amount and a one-sided movement")
    func constraintsHold() throws {
        try TestDatabase.with { database in
            let ids = try createUsers(database.ledger(), count: 2, balance: 100)
            try expectViolation(database, "UPDATE users SET balance = -1 WHERE id = \(ids[0])", sqlState: "23514")
            try expectViolation(
                database,
                "INSERT INTO movements (kind, debit_user_id, credit_user_id, amount) VALUES ('transfer', \(ids[0]), \(ids[1]), 0)",
                sqlState: "23514")
            try expectViolation(
                database,
                "INSERT INTO movements (kind, debit_user_id, credit_user_id, amount) VALUES ('transfer', \(ids[0]), \(ids[0]), 5)",
                sqlState: "23514")
            try expectViolation(
                database,
                "INSERT INTO movements (kind, debit_user_id, credit_user_id, amount) VALUES ('deposit', \(ids[0]), \(ids[1]), 5)",
                sqlState: "23514")
            for (kind, debit, credit) in [
                ("gift", ids[0], ids[1]), ("transfer", Int64(0), ids[1]), ("withdrawal", ids[0], ids[1]),
                ("deposit", ids[0], Int64(0)),
            ] {
                try expectViolation(
                    database,
                    "INSERT INTO movements (kind, debit_user_id, credit_user_id, amount) VALUES ('\(kind)', \(debit), \(credit), 5)",
                    sqlState: "23514")
            }
            try expectViolation(database, "UPDATE users SET balance = 5 WHERE id = 0", sqlState: "23514")
            try expectViolation(database, "UPDATE users SET balance = NULL WHERE id = \(ids[0])", sqlState: "23514")
            try expectViolation(database, "UPDATE users SET is_system = true WHERE id = \(ids[0])", sqlState: "23514")
        }
    }

    @Test("PostgreSQL itself refuses names, usernames, memos, keys and balances out of their rules")
    func columnRulesHold() throws {
        try TestDatabase.with { database in
            let ids = try createUsers(database.ledger(), count: 2, balance: 100)
            let transfer = "INSERT INTO movements (kind, debit_user_id, credit_user_id, amount"
            let key = "INSERT INTO idempotency_keys (owner, key, fingerprint, outcome, request_id)"
            for sql in [
                "UPDATE users SET name = '' WHERE id = \(ids[0])",
                "UPDATE users SET name = repeat('n', 201) WHERE id = \(ids[0])",
                "UPDATE users SET username = 'no spaces' WHERE id = \(ids[0])",
                "UPDATE users SET username = 'ab' WHERE id = \(ids[0])",
                "UPDATE users SET password_hash = 'x', username = NULL WHERE id = \(ids[0])",
                "UPDATE users SET balance = NULL WHERE id = \(ids[0])",
                "\(transfer), memo) VALUES ('transfer', \(ids[0]), \(ids[1]), 5, repeat('m', 501))",
                "UPDATE users SET credit_limit = -1 WHERE id = \(ids[0])",
                "UPDATE users SET held = -1 WHERE id = \(ids[0])",
                "UPDATE users SET daily_debit_limit = 0 WHERE id = \(ids[0])",
                "UPDATE users SET held = 101 WHERE id = \(ids[0])",
                "UPDATE users SET balance = -1 WHERE id = \(ids[0])",
                "\(transfer)) VALUES ('transfer', \(ids[0]), \(ids[1]), -5)",
                "\(key) VALUES (0, '', '\\x00', 'applied', 'r')",
                "\(key) VALUES (0, repeat('k', 256), '\\x00', 'applied', 'r')",
            ] {
                try expectViolation(database, sql, sqlState: "23514")
            }
            // Within the rules, the same columns take their values.
            try database.connection().query(
                "UPDATE users SET name = repeat('n', 200), username = 'ada.l-1_x' WHERE id = \(ids[0])")
            try database.connection().query("\(key) VALUES (0, repeat('k', 255), '\\x00', 'applied', 'r')")
            // A balance goes below zero down to minus the credit limit, less what holds reserve (migration 17).
            try database.connection().query("UPDATE users SET credit_limit = 50, balance = -50 WHERE id = \(ids[1])")
            try expectViolation(database, "UPDATE users SET balance = -51 WHERE id = \(ids[1])", sqlState: "23514")
            try expectViolation(database, "UPDATE users SET held = 1 WHERE id = \(ids[1])", sqlState: "23514")
        }
    }

    @Test("verify finds a balance tampered with by hand")
    func verifyDetectsTampering() throws {
        try TestDatabase.with { database in
            let ids = try createUsers(database.ledger(), count: 3, balance: 1000)
            let verifier = Verifier(connection: try database.connection())
            let clean = try verifier.verify()
            #expect(clean.isClean && clean.usersChecked == 3 && clean.movementsChecked == 3 && clean.total == .zero)
            try database.connection().query("UPDATE users SET balance = balance + 1 WHERE id = $1", [String(ids[1])])
            let tampered = try verifier.verify()
            #expect(!tampered.isClean && tampered.total == MoneyTotal(minorUnits: 1))
            #expect(tampered.mismatches.map(\.userID) == [ids[1]])
            #expect(
                tampered.mismatches.first?.journalBalance == 1000 && tampered.mismatches.first?.storedBalance == 1001)
        }
    }

    @Test("verify sums exactly: balances at the largest value beside other money are clean books")
    func verifySumsBeyondInt64() throws {
        try TestDatabase.with { database in
            let ledger = database.ledger()
            let rich = try ledger.newUserID(minorUnits: .max)
            let other = try ledger.newUserID(minorUnits: .max)
            _ = try ledger.newUserID(minorUnits: 5_00)
            let report = try Verifier(connection: try database.connection()).verify()
            #expect(report.isClean && report.usersChecked == 3 && report.total == .zero)
            #expect(report.systemBalance == MoneyTotal(minorUnits: -(2 * Int128(Int64.max) + 5_00)))
            // Still told apart from books that are wrong.
            try database.connection().query("UPDATE users SET balance = balance - 1 WHERE id = $1", [String(rich)])
            let tampered = try Verifier(connection: try database.connection()).verify()
            #expect(!tampered.isClean && tampered.total == MoneyTotal(minorUnits: -1))
            #expect(tampered.mismatches.map(\.userID) == [rich])
            #expect(tampered.mismatches.first?.journalBalance == Int128(Int64.max))
            _ = other
        }
    }

    @Test("many workers transferring among a few hot accounts at once keep the books exact")
    func concurrentTransfersKeepBooks() throws {
        try TestDatabase.with { database in
            let ids = try createUsers(database.ledger(), count: 4, balance: 2_000)
            let conninfo = database.conninfo
            let outcomes = Mutex<(applied: [Int64], refused: Int, retries: Int)>(([], 0, 0))
            DispatchQueue.concurrentPerform(iterations: 8) { worker in
                // Retries generous enough that the bound is never what decides the outcome here.
                let ledger = PostgresLedger(conninfo: conninfo, retryPolicy: RetryPolicy(maxAttempts: 100))
                var generator = SystemRandomNumberGenerator()
                for _ in 0..<40 {
                    let from = ids.randomElement(using: &generator)!
                    var to = ids.randomElement(using: &generator)!
                    while to == from { to = ids.randomElement(using: &generator)! }
                    let amount = Money(minorUnits: Int64.random(in: 1...700, using: &generator))
                    let result = try? ledger.move(
                        .transfer, debitUserID: from, creditUserID: to, amount: amount, memo: "w\(worker)",
                        idempotency: nil, requestID: "t")
                    outcomes.withLock { state in
                        switch result?.result {
                        case .applied(let movement)?: state.applied.append(movement.id)
                        default: state.refused += 1
                        }
                    }
                }
                outcomes.withLock { $0.retries += ledger.serializationRetries }
            }
            let (applied, refused, _) = outcomes.withLock { $0 }
            #expect(applied.count + refused == 320)
            #expect(Set(applied).count == applied.count)
            let journal = try database.scalar("SELECT count(*) FROM movements WHERE kind = 'transfer'")
            #expect(journal == String(applied.count))
            #expect(try database.scalar("SELECT sum(balance) FROM users WHERE NOT is_system") == "8000")
            #expect(try database.scalar("SELECT count(*) FROM users WHERE balance < 0") == "0")
            #expect(try Verifier(connection: try database.connection()).verify().isClean)
        }
    }
}
