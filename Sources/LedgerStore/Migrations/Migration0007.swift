/// Movements wait at most 200 ms for a row lock inside their SERIALIZABLE transaction.
///
/// A serializable transaction keeps its predicate (SIREAD) locks while it waits, and they cover whole btree
/// pages: the users_pkey leaf and the idempotency keys' newest leaf are shared by many accounts and keys. A
/// movement stuck behind a row held for seconds (an operator's session, a long transaction) therefore conflicts
/// with nearly every movement that runs meanwhile, and those fail to serialize again and again: a storm of
/// retries and 503s for accounts that have nothing to do with the held row. With the lock timeout the stuck
/// movement gives up quickly (55P03, nothing applied), and the worker waits for the rows in a READ COMMITTED
/// transaction, which takes no predicate locks, before it tries again (see PostgresLedger.waitingOutHeldRows).
/// Every other statement keeps the session's lock_timeout.
enum Migration0007 {
    static let sql = """
        ALTER FUNCTION tally_move(bytea, bigint, text, bigint, bigint, bigint, text, text, text, text)
            SET lock_timeout = '200ms';
        ALTER FUNCTION tally_cash_event(bytea, bigint, text, bigint, bigint, text, text, text, text, bigint, integer[])
            SET lock_timeout = '200ms';
        """
}
