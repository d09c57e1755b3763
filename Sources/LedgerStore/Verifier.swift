import Ledger
import Postgres

/// What `tally verify` found: every stored balance against the journal, and the books' total.
package struct VerificationReport: Sendable {
    package struct Mismatch: Sendable {
        package let userID: Int64
        package let storedBalance: Int64?
        /// In minor units; a journal changed by hand can say more than a balance may hold.
        package let journalBalance: Int128
    }

    package let usersChecked: Int
    package let movementsChecked: Int
    package let mismatches: [Mismatch]
    package let negativeBalances: [Int64]
    /// The stored user balances plus the outside world's balance from the journal: zero when the books balance.
    /// Summed exactly: each balance may reach `Int64.max`, so the users' together (and the outside world's
    /// balance, their negative) can leave the range of an Int64 on books that are right.
    package let total: MoneyTotal
    package let systemBalance: MoneyTotal

    package var isClean: Bool { mismatches.isEmpty && negativeBalances.isEmpty && total == .zero }
}

/// Recomputes every balance from the journal.
package struct Verifier {
    let connection: Connection

    package init(connection: Connection) {
        self.connection = connection
    }

    package func verify() throws -> VerificationReport {
        // One REPEATABLE READ snapshot, so movements committed meanwhile cannot make the books look wrong.
        try connection.execute(script: "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        defer { try? connection.execute(script: "COMMIT") }
        // Sums stay numeric: the outside world's balance is minus everything the users hold, beyond a bigint.
        let perUser = try connection.query(
            """
            WITH credits AS (SELECT credit_user_id AS id, sum(amount) AS total FROM movements GROUP BY 1),
                 debits AS (SELECT debit_user_id AS id, sum(amount) AS total FROM movements GROUP BY 1)
            SELECT u.id, u.is_system, u.balance, COALESCE(c.total, 0) - COALESCE(d.total, 0) AS journal
            FROM users u LEFT JOIN credits c ON c.id = u.id LEFT JOIN debits d ON d.id = u.id
            ORDER BY u.id
            """)
        let movementCount = try connection.query("SELECT count(*) AS n FROM movements").first?.int64("n") ?? 0
        var mismatches: [VerificationReport.Mismatch] = []
        var negatives: [Int64] = []
        var storedUserTotal: Int128 = 0
        var systemBalance: Int128 = 0
        var users = 0
        for row in perUser.rows {
            guard let id = row.int64("id"), let journal = row["journal"].flatMap({ Int128($0) }) else { continue }
            if row.bool("is_system") == true {
                systemBalance = journal
                continue
            }
            users += 1
            let stored = row.int64("balance")
            if stored.map({ Int128($0) }) != journal {
                mismatches.append(.init(userID: id, storedBalance: stored, journalBalance: journal))
            }
            if let stored {
                if stored < 0 { negatives.append(id) }
                storedUserTotal += Int128(stored)
            }
        }
        return VerificationReport(
            usersChecked: users, movementsChecked: Int(movementCount), mismatches: mismatches,
            negativeBalances: negatives, total: MoneyTotal(minorUnits: storedUserTotal + systemBalance),
            systemBalance: MoneyTotal(minorUnits: systemBalance))
    }
}
