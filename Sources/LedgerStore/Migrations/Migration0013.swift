/// Failed log-ins per username, shared by every worker (and every pool on the database): after too many in a
/// short while the username is locked for a time that doubles with each lock, whatever address the attempts
/// come from. Keyed by the lowered username as sent, whether or not a user has it: a limit that only known
/// usernames met would tell which ones exist. `LoginLimits` (module Ledger) holds the numbers; the function
/// takes them as parameters.
///
/// `tally_login_failed` runs in a READ COMMITTED transaction of its own: concurrent failures for one username
/// queue on its row (the upsert locks it) instead of failing to serialize. It also deletes a few rows that have
/// gone stale (no failure for `p_forget_seconds`): each failure makes at most one row and removes up to ten, so
/// the table never holds much more than the last while's failures. A successful log-in deletes its row.
enum Migration0013 {
    static let sql = #"""
        CREATE TABLE login_failures (
            username_key text PRIMARY KEY,
            -- Failures in the current window, which started at window_started_at.
            failures integer NOT NULL,
            window_started_at timestamptz NOT NULL,
            -- How many times the username has been locked since its last success (or since it went stale).
            lockouts integer NOT NULL DEFAULT 0,
            locked_until timestamptz,
            last_failed_at timestamptz NOT NULL
        );
        CREATE INDEX login_failures_last_failed_at ON login_failures (last_failed_at);

        CREATE FUNCTION tally_login_failed(p_username text, p_threshold integer, p_window_seconds integer,
                                           p_first_lock_seconds integer, p_longest_lock_seconds integer,
                                           p_forget_seconds integer)
        RETURNS integer
        LANGUAGE plpgsql AS $$
        DECLARE
            v_key text := lower(p_username);
            r login_failures%ROWTYPE;
        BEGIN
            DELETE FROM login_failures WHERE username_key IN (
                SELECT username_key FROM login_failures
                WHERE last_failed_at < now() - make_interval(secs => p_forget_seconds) AND username_key <> v_key
                ORDER BY last_failed_at LIMIT 10 FOR UPDATE SKIP LOCKED);
            -- The row, made or locked: concurrent failures of one username take turns here.
            INSERT INTO login_failures AS f (username_key, failures, window_started_at, last_failed_at)
            VALUES (v_key, 0, now(), now())
            ON CONFLICT (username_key) DO UPDATE SET username_key = f.username_key
            RETURNING * INTO r;
            IF r.locked_until > now() THEN
                -- An attempt that was under way when the lock began: the lock stands as it is.
                RETURN ceil(extract(epoch FROM r.locked_until - now()))::integer;
            END IF;
            IF r.last_failed_at < now() - make_interval(secs => p_forget_seconds) THEN
                r.lockouts := 0;
                r.failures := 0;
            END IF;
            IF r.failures = 0 OR r.window_started_at < now() - make_interval(secs => p_window_seconds) THEN
                r.failures := 0;
                r.window_started_at := now();
            END IF;
            r.failures := r.failures + 1;
            r.last_failed_at := now();
            IF r.failures >= p_threshold THEN
                r.lockouts := r.lockouts + 1;
                r.failures := 0;
                r.locked_until := now() + make_interval(secs => least(
                    p_first_lock_seconds * power(2, least(r.lockouts - 1, 30)), p_longest_lock_seconds));
            END IF;
            UPDATE login_failures
            SET failures = r.failures, window_started_at = r.window_started_at, lockouts = r.lockouts,
                locked_until = r.locked_until, last_failed_at = r.last_failed_at
            WHERE username_key = v_key;
            RETURN CASE WHEN r.locked_until > now()
                        THEN ceil(extract(epoch FROM r.locked_until - now()))::integer ELSE 0 END;
        END
        $$;

        GRANT SELECT, INSERT, UPDATE, DELETE ON login_failures TO tally_pool;
        GRANT EXECUTE ON FUNCTION tally_login_failed(text, integer, integer, integer, integer, integer) TO tally_pool;
        """#
}
