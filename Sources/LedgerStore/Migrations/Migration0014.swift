/// Sums that cannot overflow, and tokens that do not pile up.
///
/// `tally_cash_context` summed the deposits in the alert window into a bigint: a user who deposits and
/// withdraws the largest amount in turn makes that sum larger than any bigint, and every later deposit or
/// withdrawal of theirs failed with "bigint out of range". The sum is now numeric (a different result type, so
/// the function is dropped and made again, and `tally_pool` gets EXECUTE on it again).
///
/// Tokens that expired or were revoked are deleted by the pool a day later (`KeyPurge`): `tally_pool` may
/// DELETE them, and the purge finds them by the moment they ended.
enum Migration0014 {
    static let sql = #"""
        DROP FUNCTION tally_cash_context(bigint, bigint, bigint, integer, integer);
        CREATE FUNCTION tally_cash_context(p_user bigint, p_t bigint, p_window bigint, p_kinds integer,
                                           p_deposits integer)
        RETURNS TABLE (t bigint, last_t bigint, recent_kinds text[], recent_deposits bigint[],
                       deposits_in_window numeric)
        LANGUAGE sql STABLE AS $$
            WITH last AS (SELECT max(e.t) AS last_t FROM cash_events e WHERE e.user_id = p_user),
            event AS (
                -- After the largest t there is no next second: the event repeats it and is refused. (greatest
                -- ignores NULL, so a user without events simply gets the current second.)
                SELECT COALESCE(p_t, greatest(floor(extract(epoch FROM now()))::bigint,
                    last.last_t + CASE WHEN last.last_t = 9223372036854775807 THEN 0 ELSE 1 END)) AS t,
                       last.last_t
                FROM last)
            SELECT event.t, event.last_t,
                ARRAY(SELECT e.kind FROM cash_events e WHERE e.user_id = p_user ORDER BY e.t DESC LIMIT p_kinds),
                ARRAY(SELECT e.amount FROM cash_events e WHERE e.user_id = p_user AND e.kind = 'deposit'
                      ORDER BY e.t DESC LIMIT p_deposits),
                -- numeric, never cast to bigint: the window may hold several deposits of the largest amount.
                (SELECT COALESCE(sum(e.amount), 0) FROM cash_events e
                 WHERE e.user_id = p_user AND e.kind = 'deposit' AND e.t > event.t - p_window AND e.t <= event.t)
            FROM event
        $$;
        GRANT EXECUTE ON FUNCTION tally_cash_context(bigint, bigint, bigint, integer, integer) TO tally_pool;

        CREATE INDEX tokens_ended_at ON tokens (least(revoked_at, expires_at));
        GRANT DELETE ON tokens TO tally_pool;
        """#
}
