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
    /// Users whose balance is below minus their credit limit plus their pending holds (available below zero).
    package let negativeBalances: [Int64]
    /// The stored user balances plus the outside world's balance from the journal: zero when the books balance.
    /// Summed exactly: each balance may reach `Int64.max`, so the users' together (and the outside world's
    /// balance, their negative) can leave the range of an Int64 on books that are right.
    package let total: MoneyTotal
    package let systemBalance: MoneyTotal
    /// Movements naming a user who does not exist (migration 16 checks each INSERT; this checks the journal).
    package var orphanedMovements = 0
    /// Movements that name a batch not on record.
    package var movementsOutsideTheirBatch = 0
    /// Items a batch records as applied whose movement is missing or names another batch.
    package var batchItemsMissing = 0
    /// Users whose stored `held` is not the sum of their pending holds.
    package var heldMismatches = 0
    /// Captured holds without their one capture (a transfer of the captured amount between the hold's parties,
    /// naming it), and transfers naming a hold that does not record them as its capture.
    package var holdsMismatched = 0
    /// Reversals that do not pay a transfer back between its parties, and transfers reversed past their amount.
    package var reversalsMismatched = 0

    package var isClean: Bool {
        mismatches.isEmpty && negativeBalances.isEmpty && total == .zero && orphanedMovements == 0
            && movementsOutsideTheirBatch == 0 && batchItemsMissing == 0 && heldMismatches == 0
            && holdsMismatched == 0 && reversalsMismatched == 0
    }
}

/// Recomputes every balance from the journal.
package struct Verifier {
    let connection: Connection

    package init(connection: Connection) {
        self.connection = connection
    }

    /// Recomputes every balance. With `progress`, the journal is read in slices of movements (by id) and
    /// `progress` is called after each with the movements read so far and the share of the journal's ids covered
    /// (0 to 1); without it, in one statement, the fastest way.
    package func verify(
        sliceSize: Int64 = Verifier.defaultSliceSize, progress: ((_ movements: Int, _ fraction: Double) -> Void)? = nil
    ) throws -> VerificationReport {
        // One REPEATABLE READ snapshot, so movements committed meanwhile cannot make the books look wrong.
        try connection.execute(script: "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        defer { try? connection.execute(script: "COMMIT") }
        var report =
            if let progress { try verifyInSlices(size: max(1, sliceSize), progress: progress) } else {
                try verifyAtOnce()
            }
        try checkReferences(&report)
        return report
    }

    /// What the journal's rows name: every movement's two parties exist, every movement of a batch names a batch
    /// on record, and every item a batch records as applied has its movement, naming that batch.
    private func checkReferences(_ report: inout VerificationReport) throws {
        let row = try connection.query(
            """
            SELECT
              (SELECT count(*) FROM movements m
               WHERE NOT EXISTS (SELECT FROM users u WHERE u.id = m.debit_user_id)
                  OR NOT EXISTS (SELECT FROM users u WHERE u.id = m.credit_user_id)) AS orphaned,
              (SELECT count(*) FROM movements m
               WHERE m.batch_id IS NOT NULL AND NOT EXISTS (SELECT FROM batches b WHERE b.id = m.batch_id))
               AS outside,
              (SELECT count(*) FROM batches b CROSS JOIN LATERAL unnest(b.movement_ids, b.outcomes) AS i(id, outcome)
               WHERE i.outcome = 'applied'
                 AND NOT EXISTS (SELECT FROM movements m WHERE m.id = i.id AND m.batch_id = b.id)) AS missing,
              (SELECT count(*) FROM users u
               WHERE NOT u.is_system AND u.held <> (SELECT COALESCE(sum(h.amount), 0) FROM holds h
                                                    WHERE h.payer_user_id = u.id AND h.status = 'pending'))
               AS held_mismatches,
              (SELECT count(*) FROM holds h
               WHERE h.status = 'captured' AND NOT EXISTS (
                   SELECT FROM movements m
                   WHERE m.id = h.capture_movement_id AND m.hold_id = h.id AND m.kind = 'transfer'
                     AND m.debit_user_id = h.payer_user_id AND m.credit_user_id = h.payee_user_id
                     AND m.amount = h.captured_amount))
              + (SELECT count(*) FROM movements m
                 WHERE m.hold_id IS NOT NULL AND NOT EXISTS (
                     SELECT FROM holds h WHERE h.id = m.hold_id AND h.capture_movement_id = m.id))
               AS holds_mismatched,
              (SELECT count(*) FROM movements r
               WHERE r.reversal_of IS NOT NULL AND NOT EXISTS (
                   SELECT FROM movements t
                   WHERE t.id = r.reversal_of AND t.kind = 'transfer' AND t.debit_user_id = r.credit_user_id
                     AND t.credit_user_id = r.debit_user_id))
              + (SELECT count(*) FROM (
                   SELECT r.reversal_of FROM movements r JOIN movements t ON t.id = r.reversal_of
                   WHERE r.reversal_of IS NOT NULL
                   GROUP BY r.reversal_of, t.amount HAVING sum(r.amount) > t.amount) AS over)
               AS reversals_mismatched
            """
        ).first
        report.orphanedMovements = Int(row?.int64("orphaned") ?? 0)
        report.movementsOutsideTheirBatch = Int(row?.int64("outside") ?? 0)
        report.batchItemsMissing = Int(row?.int64("missing") ?? 0)
        report.heldMismatches = Int(row?.int64("held_mismatches") ?? 0)
        report.holdsMismatched = Int(row?.int64("holds_mismatched") ?? 0)
        report.reversalsMismatched = Int(row?.int64("reversals_mismatched") ?? 0)
    }

    private func verifyAtOnce() throws -> VerificationReport {
        // Sums stay numeric: the outside world's balance is minus everything the users hold, beyond a bigint.
        let perUser = try connection.query(
            """
            WITH credits AS (SELECT credit_user_id AS id, sum(amount) AS total FROM movements GROUP BY 1),
                 debits AS (SELECT debit_user_id AS id, sum(amount) AS total FROM movements GROUP BY 1)
            SELECT u.id, u.is_system, u.balance, u.held::numeric - u.credit_limit AS floor,
                   COALESCE(c.total, 0) - COALESCE(d.total, 0) AS journal
            FROM users u LEFT JOIN credits c ON c.id = u.id LEFT JOIN debits d ON d.id = u.id
            ORDER BY u.id
            """)
        let movementCount = try connection.query("SELECT count(*) AS n FROM movements").first?.int64("n") ?? 0
        var accounts: [Account] = []
        for row in perUser.rows {
            guard let id = row.int64("id"), let journal = row["journal"].flatMap({ Int128($0) }) else { continue }
            accounts.append(
                Account(
                    id: id, isSystem: row.bool("is_system") == true, stored: row.int64("balance"),
                    floor: row["floor"].flatMap { Int128($0) } ?? 0, journal: journal))
        }
        return Self.report(accounts, movementCount: Int(movementCount))
    }

    /// A million movements a slice: each is a range scan of the primary key and a sum per user, a second or so.
    package static let defaultSliceSize: Int64 = 1_000_000

    private func verifyInSlices(size: Int64, progress: (_ movements: Int, _ fraction: Double) -> Void) throws
        -> VerificationReport
    {
        let bounds = try connection.query("SELECT min(id) AS low, max(id) AS high FROM movements").first
        var journal: [Int64: Int128] = [:]
        var movementCount = 0
        if let low = bounds?.int64("low"), let high = bounds?.int64("high") {
            var start = low
            while start <= high {
                let end = min(high, start + size - 1)
                // The slice is read once (a CTE named more than once is materialized); each row also carries
                // the slice's movement count.
                let sums = try connection.query(
                    """
                    WITH slice AS (SELECT credit_user_id, debit_user_id, amount FROM movements
                                   WHERE id BETWEEN $1::bigint AND $2::bigint)
                    SELECT id, sum(amount) AS total, (SELECT count(*) FROM slice) AS movements FROM (
                        SELECT credit_user_id AS id, amount::numeric AS amount FROM slice
                        UNION ALL SELECT debit_user_id, -amount::numeric FROM slice) AS parties
                    GROUP BY id
                    """, [String(start), String(end)])
                for row in sums.rows {
                    guard let id = row.int64("id"), let total = row["total"].flatMap({ Int128($0) }) else { continue }
                    journal[id, default: 0] += total
                }
                movementCount += Int(sums.first?.int64("movements") ?? 0)
                progress(movementCount, high == low ? 1 : Double(end - low + 1) / Double(high - low + 1))
                start = end + 1
            }
        } else {
            progress(0, 1)
        }
        let users = try connection.query(
            "SELECT id, is_system, balance, held::numeric - credit_limit AS floor FROM users ORDER BY id")
        var accounts: [Account] = []
        for row in users.rows {
            guard let id = row.int64("id") else { continue }
            accounts.append(
                Account(
                    id: id, isSystem: row.bool("is_system") == true, stored: row.int64("balance"),
                    floor: row["floor"].flatMap { Int128($0) } ?? 0, journal: journal[id] ?? 0))
        }
        return Self.report(accounts, movementCount: movementCount)
    }

    /// A user's stored balance beside what the journal says it is.
    private struct Account {
        let id: Int64
        let isSystem: Bool
        let stored: Int64?
        /// The least balance allowed: pending holds less the credit limit.
        let floor: Int128
        let journal: Int128
    }

    private static func report(_ accounts: [Account], movementCount: Int) -> VerificationReport {
        var mismatches: [VerificationReport.Mismatch] = []
        var negatives: [Int64] = []
        var storedUserTotal: Int128 = 0
        var systemBalance: Int128 = 0
        var users = 0
        for account in accounts {
            if account.isSystem {
                systemBalance = account.journal
                continue
            }
            users += 1
            let stored = account.stored
            if stored.map({ Int128($0) }) != account.journal {
                mismatches.append(.init(userID: account.id, storedBalance: stored, journalBalance: account.journal))
            }
            if let stored {
                if Int128(stored) < account.floor { negatives.append(account.id) }
                storedUserTotal += Int128(stored)
            }
        }
        return VerificationReport(
            usersChecked: users, movementsChecked: movementCount, mismatches: mismatches,
            negativeBalances: negatives, total: MoneyTotal(minorUnits: storedUserTotal + systemBalance),
            systemBalance: MoneyTotal(minorUnits: systemBalance))
    }
}
