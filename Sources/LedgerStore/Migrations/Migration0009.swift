/// The planner is told that the movements' parties are many, whatever the statistics say.
///
/// A journal that holds mostly deposits (a new deployment whose users came with initial balances) has one
/// debited party, the outside world (0), in nearly every row; its statistics then say that `debit_user_id = $1`
/// matches nearly every row, and the generic plan of a user's history page walked the whole journal backwards
/// through movements_pkey, filtering (10,000 rows read for a page of one; ~100 ms per page at 1,000,000). With
/// n_distinct at 5% of the rows, an equality on either party is selective and the page comes from the
/// (party, id) indexes whatever the mix of movements.
enum Migration0009 {
    static let sql = """
        ALTER TABLE movements
            ALTER COLUMN debit_user_id SET (n_distinct = -0.05),
            ALTER COLUMN credit_user_id SET (n_distinct = -0.05);
        ANALYZE movements;
        """
}
