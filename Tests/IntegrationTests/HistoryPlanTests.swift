import Postgres
import Testing

@testable import LedgerStore

/// A user's history page comes from the (party, id) indexes even when the journal's statistics say that
/// nearly every movement has the same debited party (the outside world: a journal of initial deposits).
@Suite("The plan of a user's history page", .serialized)
struct HistoryPlanTests {
    @Test("a journal of deposits only still reads a history page through the parties' indexes")
    func historyUsesPartyIndexesOnADepositJournal() throws {
        try TestDatabase.with { database in
            let connection = try database.connection()
            try connection.execute(
                script: """
                    INSERT INTO users (name, balance) SELECT 'user ' || g, 1000 FROM generate_series(1, 3000) AS g;
                    INSERT INTO movements (kind, debit_user_id, credit_user_id, amount, credit_balance_after)
                        SELECT 'deposit', 0, id, balance, balance FROM users WHERE NOT is_system;
                    ANALYZE movements;
                    SET enable_seqscan = off;
                    SET plan_cache_mode = force_generic_plan;
                    """)
            try connection.prepare("history", Statement.entriesOfUser.sql)
            let user = try #require(try database.scalar("SELECT max(id) - 1500 FROM users"))
            let plan = try connection.query("EXPLAIN EXECUTE history(\(user), 9223372036854775807, 21)")
                .rows.compactMap { $0["QUERY PLAN"] }.joined(separator: "\n")
            #expect(plan.contains("movements_debit_user_id_id"), "\(plan)")
            #expect(plan.contains("movements_credit_user_id_id"), "\(plan)")
            #expect(!plan.contains("movements_pkey"), "\(plan)")
        }
    }
}
