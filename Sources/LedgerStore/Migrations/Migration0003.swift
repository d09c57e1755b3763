/// Activity alerts: every deposit and withdrawal is a cash event with its time t, and the alerts it raised
/// are stored with its movement, in the same transaction.
enum Migration0003 {
    static let sql = #"""
        -- Deposits and withdrawals as the alert rules see them (transfers do not count).
        -- t is strictly increasing per user, so (user_id, t) orders a user's events and indexes every rule's read.
        CREATE TABLE cash_events (
            movement_id  bigint NOT NULL REFERENCES movements (id),
            user_id      bigint NOT NULL,
            kind         text NOT NULL CHECK (kind IN ('deposit', 'withdrawal')),
            amount       bigint NOT NULL CHECK (amount > 0),
            t            bigint NOT NULL CHECK (t >= 0),
            CONSTRAINT cash_events_user_t UNIQUE (user_id, t)
        );

        CREATE TABLE alerts (
            id           bigserial PRIMARY KEY,
            movement_id  bigint NOT NULL REFERENCES movements (id),
            user_id      bigint NOT NULL,
            code         integer NOT NULL,
            created_at   timestamptz NOT NULL DEFAULT now(),
            CONSTRAINT alerts_one_code_per_movement UNIQUE (movement_id, code)
        );
        CREATE INDEX alerts_user_id_id ON alerts (user_id, id DESC);

        -- What the rules need of a user's history, read at the start of the event's transaction:
        -- the event's t (p_t, or for an event without one the current second, kept above the last t),
        -- the newest kinds and deposit amounts, and the deposits inside the window (t - p_window, t].
        CREATE FUNCTION tally_cash_context(p_user bigint, p_t bigint, p_window bigint, p_kinds integer,
                                           p_deposits integer)
        RETURNS TABLE (t bigint, last_t bigint, recent_kinds text[], recent_deposits bigint[],
                       deposits_in_window bigint)
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
                (SELECT COALESCE(sum(e.amount), 0)::bigint FROM cash_events e
                 WHERE e.user_id = p_user AND e.kind = 'deposit' AND e.t > event.t - p_window AND e.t <= event.t)
            FROM event
        $$;

        -- A deposit to or withdrawal from p_user at second p_t, with the alert codes the rules computed from
        -- tally_cash_context in the same transaction. p_acting_user NULL means only the service role may
        -- post it (POST /api/event). Refuses a t that does not increase, unless the request is a repeat
        -- under its idempotency key, which replays the first outcome, alerts included.
        CREATE FUNCTION tally_cash_event(p_token bytea, p_acting_user bigint, p_kind text, p_user bigint,
                                         p_amount bigint, p_memo text, p_key text, p_fingerprint text,
                                         p_request_id text, p_t bigint, p_codes integer[])
        RETURNS TABLE (outcome text, replayed boolean, detail bigint, request_id text,
                       id bigint, kind text, debit_user_id bigint, credit_user_id bigint, amount bigint,
                       debit_balance_after bigint, credit_balance_after bigint, memo text, created_at_us bigint,
                       alert_codes integer[])
        LANGUAGE plpgsql AS $$
        #variable_conflict use_column
        DECLARE
            v_caller record;
            v_last bigint;
            v_move record;
            v_codes integer[];
        BEGIN
            SELECT * INTO v_caller FROM tally_caller(p_token);
            IF FOUND AND (v_caller.role = 'service' OR v_caller.user_id = p_acting_user) THEN
                SELECT max(e.t) INTO v_last FROM cash_events e WHERE e.user_id = p_user;
                IF v_last IS NOT NULL AND p_t <= v_last AND (p_key IS NULL OR NOT EXISTS (
                        SELECT 1 FROM idempotency_keys k
                        WHERE k.owner = COALESCE(v_caller.user_id, 0) AND k.key = p_key)) THEN
                    RETURN QUERY SELECT 't_not_increasing'::text, false, v_last, p_request_id,
                        NULL::bigint, NULL::text, NULL::bigint, NULL::bigint, NULL::bigint,
                        NULL::bigint, NULL::bigint, NULL::text, NULL::bigint, NULL::integer[];
                    RETURN;
                END IF;
            END IF;

            SELECT * INTO v_move FROM tally_move(
                p_token, p_acting_user, p_kind,
                CASE WHEN p_kind = 'deposit' THEN 0 ELSE p_user END,
                CASE WHEN p_kind = 'deposit' THEN p_user ELSE 0 END,
                p_amount, p_memo, p_key, p_fingerprint, p_request_id);

            IF v_move.outcome = 'applied' AND NOT v_move.replayed THEN
                INSERT INTO cash_events (movement_id, user_id, kind, amount, t)
                VALUES (v_move.id, p_user, p_kind, p_amount, p_t);
                INSERT INTO alerts (movement_id, user_id, code)
                SELECT v_move.id, p_user, c FROM unnest(p_codes) AS c;
                v_codes := COALESCE(p_codes, '{}');
            ELSIF v_move.outcome = 'applied' THEN
                v_codes := ARRAY(SELECT a.code FROM alerts a WHERE a.movement_id = v_move.id ORDER BY a.code);
            END IF;

            RETURN QUERY SELECT v_move.outcome, v_move.replayed, v_move.detail, v_move.request_id,
                v_move.id, v_move.kind, v_move.debit_user_id, v_move.credit_user_id, v_move.amount,
                v_move.debit_balance_after, v_move.credit_balance_after, v_move.memo, v_move.created_at_us,
                v_codes;
        END $$;
        """#
}
