/// Holds, reversals and limits that bind (issue 26).
///
/// A user's available balance is balance + credit_limit - held, where held sums their pending holds as payer;
/// the users CHECK keeps it at zero or more, so the balance goes no lower than minus the credit limit and a hold
/// is never counted twice nor forgotten. Holds expire lazily: a pending hold past expires_at reads as expired
/// everywhere at once (the view), and any debit of the payer's first releases such holds from held
/// (next_hold_expiry says when that is due) and tries again. Every debit goes through tally_move: captures (a
/// transfer naming its hold) and reversals (a movement of kind reversal naming its transfer) too, so the
/// available balance and the daily debit limit are judged in one place. A batch whose accounts have holds or
/// limits goes item by item (tally_move); the set path stays as lean as it was for every other batch.
enum Migration0017 {
    static let sql = #"""
        -- Balances may go below zero, down to minus the user's credit limit: the column loses the domain's
        -- "never negative" (the users CHECK below says how far) and so do the balances recorded after movements.
        ALTER TABLE users ALTER COLUMN balance TYPE bigint;
        ALTER TABLE movements ALTER COLUMN debit_balance_after TYPE bigint, ALTER COLUMN credit_balance_after TYPE bigint;

        ALTER TABLE users
            ADD COLUMN credit_limit bigint NOT NULL DEFAULT 0,
            ADD COLUMN daily_debit_limit bigint,
            ADD COLUMN time_zone text NOT NULL DEFAULT 'UTC',
            -- The sum of the user's pending holds as payer, expired ones included until released (which any debit of
            -- theirs does first when next_hold_expiry has passed): never less than what is really held.
            ADD COLUMN held bigint NOT NULL DEFAULT 0,
            ADD COLUMN next_hold_expiry timestamptz,
            -- The day's debits, kept while a daily limit is set: debited_today counts until debit_day_ends.
            ADD COLUMN debited_today bigint NOT NULL DEFAULT 0,
            ADD COLUMN debit_day_ends timestamptz NOT NULL DEFAULT '-infinity';

        CREATE OR REPLACE FUNCTION user_is_consistent(u users) RETURNS boolean
        LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
        BEGIN
            -- Only the system account has no stored balance; a password needs a username to log in with; the balance
            -- never goes below minus the credit limit plus what pending holds reserve (available >= 0). With both
            -- non-negative, held - credit_limit fits a bigint: no numeric needed (callgrind: 8,000 instructions less per
            -- transfer than balance::numeric + credit_limit - held >= 0).
            RETURN u.is_system = (u.balance IS NULL) AND (u.password_hash IS NULL OR u.username IS NOT NULL)
               AND u.credit_limit >= 0 AND u.held >= 0 AND (u.balance IS NULL OR u.balance >= u.held - u.credit_limit)
               AND (u.daily_debit_limit IS NULL OR u.daily_debit_limit > 0);
        END $$;

        CREATE TABLE holds (
            id bigserial PRIMARY KEY,
            payer_user_id bigint NOT NULL REFERENCES users,
            payee_user_id bigint NOT NULL REFERENCES users,
            amount positive_minor_units NOT NULL,
            memo memo,
            status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'captured', 'voided', 'expired')),
            created_at timestamptz NOT NULL DEFAULT now(),
            expires_at timestamptz NOT NULL,
            captured_amount bigint,
            capture_movement_id bigint REFERENCES movements,
            settled_at timestamptz,
            CHECK (payer_user_id <> payee_user_id AND payer_user_id > 0 AND payee_user_id > 0),
            CHECK (expires_at > created_at),
            CHECK ((status = 'pending') = (settled_at IS NULL)),
            CHECK ((status = 'captured') = (capture_movement_id IS NOT NULL)),
            CHECK ((status = 'captured') = (captured_amount IS NOT NULL)),
            CHECK (captured_amount IS NULL OR (captured_amount > 0 AND captured_amount <= amount))
        );
        CREATE INDEX holds_payer_user_id_id ON holds (payer_user_id, id DESC);
        CREATE INDEX holds_payee_user_id_id ON holds (payee_user_id, id DESC);
        CREATE INDEX holds_pending_expiry ON holds (payer_user_id, expires_at) WHERE status = 'pending';

        -- A capture names its hold; a reversal the transfer it pays back (checked by movement_is_consistent and by
        -- tally verify: no foreign keys, which would cost every movement a check).
        ALTER TABLE movements ADD COLUMN hold_id bigint, ADD COLUMN reversal_of bigint;
        CREATE INDEX movements_reversal_of ON movements (reversal_of) WHERE reversal_of IS NOT NULL;
        ALTER TYPE tally_move_result ADD ATTRIBUTE hold_id bigint, ADD ATTRIBUTE reversal_of bigint;

        CREATE OR REPLACE FUNCTION movement_is_consistent(m movements) RETURNS boolean
        LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
        BEGIN
            RETURN m.debit_user_id <> m.credit_user_id
               AND m.kind = CASE WHEN m.debit_user_id = 0 THEN 'deposit'
                         WHEN m.credit_user_id = 0 THEN 'withdrawal'
                         WHEN m.reversal_of IS NOT NULL THEN 'reversal'
                         ELSE 'transfer' END
               AND (m.hold_id IS NULL OR m.kind = 'transfer');
        END $$;

        -- A key's request may have placed or voided a hold: its id (result_id names movements and users).
        ALTER TABLE idempotency_keys ADD COLUMN hold_id bigint;

        -- An alert for a movement refused for the daily debit limit (code 2000) has no movement: it says what was refused.
        ALTER TABLE alerts ALTER COLUMN movement_id DROP NOT NULL,
            ADD COLUMN refused_kind text, ADD COLUMN refused_amount bigint,
            ADD CHECK ((movement_id IS NULL) = (refused_kind IS NOT NULL AND refused_amount IS NOT NULL));

        -- The end of today (the database's clock) in time zone p_zone.
        CREATE FUNCTION tally_day_end(p_zone text) RETURNS timestamptz
        LANGUAGE sql STABLE AS $$
            SELECT ((now() AT TIME ZONE p_zone)::date + 1)::timestamp AT TIME ZONE p_zone
        $$;

        -- Marks the user's pending holds that have passed their expiry as expired and stops counting them in held.
        -- True when there were any.
        CREATE FUNCTION tally_release_expired_holds(p_user bigint) RETURNS boolean
        LANGUAGE plpgsql AS $$
        DECLARE
            v_released numeric;
        BEGIN
            WITH gone AS (
        UPDATE holds h SET status = 'expired', settled_at = h.expires_at
        WHERE h.payer_user_id = p_user AND h.status = 'pending' AND h.expires_at <= now()
        RETURNING h.amount)
            SELECT sum(g.amount) INTO v_released FROM gone g;
            UPDATE users u SET held = u.held - COALESCE(v_released, 0),
        next_hold_expiry = (SELECT min(h.expires_at) FROM holds h
                            WHERE h.payer_user_id = p_user AND h.status = 'pending' AND h.expires_at > now())
            WHERE u.id = p_user AND u.next_hold_expiry IS NOT NULL;
            RETURN v_released IS NOT NULL;
        END $$;

        -- What the user has debited today (in their time zone), as the daily limit counts it: from movements, for a
        -- limit just set; kept in debited_today from then on.
        CREATE FUNCTION tally_debited_today(p_user bigint, p_zone text) RETURNS bigint
        LANGUAGE sql STABLE AS $$
            SELECT LEAST(COALESCE(sum(m.amount), 0), 9223372036854775807)::bigint FROM movements m
            WHERE m.debit_user_id = p_user AND m.created_at >= ((now() AT TIME ZONE p_zone)::date)::timestamp AT TIME ZONE p_zone
        $$;
        -- tally_move (migration 11's) judges a debit by the available balance (balance + credit limit - holds) and
        -- the user's daily debit limit, releases the payer's expired holds and tries again before refusing, stores
        -- an alert (code 2000) when it refuses for the daily limit, and records a capture's hold and a reversal's
        -- transfer. For users without holds or limits the debit's test is the one it was (the CASE's second branch);
        -- the others' is a function call, and the day's count is a statement of its own run only for them: callgrind
        -- (single-user postgres, 1,000 prepared uniform transfers) put the first version, with both in the UPDATE, at
        -- 805,000 instructions per transfer against migration 16's 718,000; this one at 768,000.
        -- Whether a debit of p_amount fits a user with holds or limits: their available balance covers it, and so
        -- does what is left of the day's debit limit.
        CREATE FUNCTION tally_may_debit(p_balance bigint, p_credit_limit bigint, p_held bigint, p_daily bigint,
                                p_debited bigint, p_day_ends timestamptz, p_amount bigint) RETURNS boolean
        LANGUAGE plpgsql STABLE AS $$
        BEGIN
            RETURN p_balance::numeric + p_credit_limit - p_held >= p_amount
               AND (p_daily IS NULL
            OR CASE WHEN now() < p_day_ends THEN p_debited ELSE 0 END + p_amount::numeric <= p_daily);
        END $$;

        DROP FUNCTION tally_move(bytea, bigint, text, bigint, bigint, bigint, text, text, text, text);
        CREATE FUNCTION tally_move(p_token bytea, p_acting_user bigint, p_kind text, p_debit bigint,
                           p_credit bigint, p_amount bigint, p_memo text, p_key text,
                           p_fingerprint text, p_request_id text, p_hold bigint DEFAULT NULL,
                           p_reversal_of bigint DEFAULT NULL)
        RETURNS tally_move_result
        LANGUAGE plpgsql SET lock_timeout = '200ms' AS $$
        DECLARE
            r tally_move_result;
            v_caller record;
            v_owner bigint;
            v_fingerprint bytea;
            v_key idempotency_keys%ROWTYPE;
            v_movement bigint;
            v_debit_balance bigint;
            v_credit_balance bigint;
            v_released boolean := false;
            v_counts_day boolean;
            v_payer record;
        BEGIN
            IF p_key IS NOT NULL THEN
        r.replayed := false;
        r.request_id := p_request_id;
        -- The key belongs to the caller: who that is comes first.
        SELECT * INTO v_caller FROM tally_caller(p_token);
        IF NOT FOUND THEN
            r.outcome := 'unauthorized';
            RETURN r;
        ELSIF v_caller.role <> 'service' AND v_caller.user_id IS DISTINCT FROM p_acting_user THEN
            r.outcome := 'forbidden';
            RETURN r;
        END IF;
        -- Claimed as applied, with the movement's id drawn now (see version 4).
        v_owner := COALESCE(v_caller.user_id, 0);
        v_fingerprint := sha256(convert_to(p_fingerprint, 'UTF8'));
        INSERT INTO idempotency_keys (owner, key, fingerprint, outcome, result_id, request_id)
        VALUES (v_owner, p_key, v_fingerprint, 'applied', nextval('movements_id_seq'), p_request_id)
        ON CONFLICT DO NOTHING
        RETURNING idempotency_keys.result_id INTO v_movement;
        IF NOT FOUND THEN
            SELECT * INTO v_key FROM idempotency_keys k WHERE k.owner = v_owner AND k.key = p_key;
            IF v_key.fingerprint <> v_fingerprint THEN
                r.outcome := 'key_reused';
                RETURN r;
            END IF;
            r.outcome := v_key.outcome;
            r.replayed := true;
            r.detail := v_key.detail;
            r.request_id := v_key.request_id;
            IF v_key.result_id IS NOT NULL THEN
                SELECT m.id, m.kind, m.debit_user_id, m.credit_user_id, m.amount, m.debit_balance_after,
                       m.credit_balance_after, m.memo, (extract(epoch FROM m.created_at) * 1000000)::bigint,
                       m.hold_id, m.reversal_of
                INTO r.id, r.kind, r.debit_user_id, r.credit_user_id, r.amount, r.debit_balance_after,
                     r.credit_balance_after, r.memo, r.created_at_us, r.hold_id, r.reversal_of
                FROM movements m WHERE m.id = v_key.result_id;
            END IF;
            RETURN r;
        END IF;
            END IF;

            LOOP
        -- Both sides in one statement, each row only where its side can take the movement: the debited user
        -- has it available (and within the day's limit), the credited one stays within a bigint. The system
        -- account (0, no balance) is not looked up. The index scan of `id IN (...)` visits, and so locks, the
        -- rows in id order: two transfers in opposite directions cannot deadlock. Nothing moves unless the
        -- caller may act for p_acting_user and the movement has two parties and a positive amount. (The token
        -- subquery is an InitPlan, run once and only when its answer is needed.)
        WITH moved AS (
            UPDATE users u
            SET balance = CASE WHEN u.id = p_debit THEN u.balance - p_amount ELSE u.balance + p_amount END
            WHERE u.id IN (NULLIF(p_debit, 0), NULLIF(p_credit, 0)) AND NOT u.is_system
              AND p_debit <> p_credit AND p_amount > 0
              AND CASE WHEN u.id <> p_debit THEN u.balance <= 9223372036854775807 - p_amount
                       WHEN u.held = 0 AND u.credit_limit = 0 AND u.daily_debit_limit IS NULL
                           THEN u.balance >= p_amount
                       ELSE tally_may_debit(u.balance, u.credit_limit, u.held, u.daily_debit_limit,
                                            u.debited_today, u.debit_day_ends, p_amount) END
              AND (p_key IS NOT NULL  -- then checked above already
                   OR EXISTS (SELECT FROM tally_caller(p_token) c
                              WHERE c.role = 'service' OR c.user_id IS NOT DISTINCT FROM p_acting_user))
            RETURNING u.id, u.balance, u.daily_debit_limit IS NOT NULL AS counts_day)
        SELECT (SELECT m.balance FROM moved m WHERE m.id = p_debit),
               (SELECT m.balance FROM moved m WHERE m.id = p_credit),
               (SELECT m.counts_day FROM moved m WHERE m.id = p_debit)
        INTO v_debit_balance, v_credit_balance, v_counts_day;

        -- Applied when every party but the outside world moved; a payer under a daily limit counts it.
        IF (p_debit = 0 OR v_debit_balance IS NOT NULL) AND (p_credit = 0 OR v_credit_balance IS NOT NULL) THEN
            IF v_counts_day THEN
                UPDATE users u
                SET debited_today = CASE WHEN now() < u.debit_day_ends THEN u.debited_today ELSE 0 END + p_amount,
                    debit_day_ends = CASE WHEN now() < u.debit_day_ends THEN u.debit_day_ends
                                          ELSE tally_day_end(u.time_zone) END
                WHERE u.id = p_debit;
            END IF;
            INSERT INTO movements (id, kind, debit_user_id, credit_user_id, amount,
                                   debit_balance_after, credit_balance_after, memo, hold_id, reversal_of)
            VALUES (COALESCE(v_movement, nextval('movements_id_seq')), p_kind, p_debit, p_credit, p_amount,
                    v_debit_balance, v_credit_balance, p_memo, p_hold, p_reversal_of)
            RETURNING 'applied', false, p_request_id, movements.id, movements.kind, movements.debit_user_id,
                      movements.credit_user_id, movements.amount, movements.debit_balance_after,
                      movements.credit_balance_after, movements.memo,
                      (extract(epoch FROM movements.created_at) * 1000000)::bigint, movements.hold_id,
                      movements.reversal_of
            INTO r.outcome, r.replayed, r.request_id, r.id, r.kind, r.debit_user_id, r.credit_user_id, r.amount,
                 r.debit_balance_after, r.credit_balance_after, r.memo, r.created_at_us, r.hold_id,
                 r.reversal_of;
            RETURN r;
        END IF;

        -- Refused. One side may have moved without the other: put it back, so that every balance is as
        -- this transaction found it.
        IF v_debit_balance IS NOT NULL THEN
            UPDATE users u SET balance = u.balance + p_amount WHERE u.id = p_debit;
        END IF;
        IF v_credit_balance IS NOT NULL THEN
            UPDATE users u SET balance = u.balance - p_amount WHERE u.id = p_credit;
        END IF;
        -- Holds of the payer's that expired still count until released: release them and try once more.
        EXIT WHEN v_released OR p_debit = 0 OR NOT EXISTS (
            SELECT FROM users u WHERE u.id = p_debit AND u.next_hold_expiry <= now());
        PERFORM tally_release_expired_holds(p_debit);
        v_released := true;
            END LOOP;

            r.replayed := false;
            r.request_id := p_request_id;
            IF p_key IS NULL THEN
        SELECT * INTO v_caller FROM tally_caller(p_token);
        IF NOT FOUND THEN
            r.outcome := 'unauthorized';
            RETURN r;
        ELSIF v_caller.role <> 'service' AND v_caller.user_id IS DISTINCT FROM p_acting_user THEN
            r.outcome := 'forbidden';
            RETURN r;
        END IF;
            END IF;

            -- Say why, in the order version 2 did; the daily limit after the money.
            SELECT u.balance::numeric + u.credit_limit - u.held AS available, u.daily_debit_limit,
           CASE WHEN now() < u.debit_day_ends THEN u.debited_today ELSE 0 END AS debited
            INTO v_payer FROM users u WHERE u.id = p_debit AND NOT u.is_system;
            SELECT (SELECT u.balance FROM users u WHERE u.id = p_credit AND NOT u.is_system) INTO v_credit_balance;
            IF p_debit <> 0 AND v_payer IS NULL THEN
        r.outcome := 'not_found'; r.detail := p_debit;
            ELSIF p_credit <> 0 AND v_credit_balance IS NULL THEN
        r.outcome := 'not_found'; r.detail := p_credit;
            ELSIF p_debit <> 0 AND v_payer.available < p_amount THEN
        r.outcome := 'insufficient_funds'; r.detail := LEAST(v_payer.available, 9223372036854775807)::bigint;
            ELSIF p_debit <> 0 AND v_payer.daily_debit_limit IS NOT NULL
          AND v_payer.debited + p_amount::numeric > v_payer.daily_debit_limit THEN
        r.outcome := 'limit_exceeded';
        r.detail := GREATEST(v_payer.daily_debit_limit - v_payer.debited, 0);
        INSERT INTO alerts (movement_id, user_id, code, refused_kind, refused_amount)
        VALUES (NULL, p_debit, 2000, p_kind, p_amount);
            ELSIF p_credit <> 0 AND v_credit_balance > 9223372036854775807 - p_amount THEN
        r.outcome := 'balance_limit'; r.detail := v_credit_balance;
            ELSIF p_debit = p_credit OR p_amount IS NULL OR p_amount <= 0 THEN
        -- Not a movement: the movement's constraints refuse it.
        INSERT INTO movements (kind, debit_user_id, credit_user_id, amount, memo)
        VALUES (p_kind, p_debit, p_credit, p_amount, p_memo);
        RAISE EXCEPTION 'tally_move: the movement''s constraints let % of % from % to % through',
            p_kind, p_amount, p_debit, p_credit;
            ELSE
        RAISE EXCEPTION 'tally_move: refused % of % from % to % without a reason',
            p_kind, p_amount, p_debit, p_credit;
            END IF;

            IF p_key IS NOT NULL THEN
        UPDATE idempotency_keys k SET outcome = r.outcome, detail = r.detail,
            result_id = NULL
        WHERE k.owner = v_owner AND k.key = p_key;
            END IF;
            RETURN r;
        END $$;
        -- Stores a refusal under the caller's key, if the request has one (the request's key was not claimed yet).
        CREATE FUNCTION tally_refuse_under_key(p_owner bigint, p_key text, p_fingerprint text, p_outcome text,
                                       p_detail bigint, p_request_id text) RETURNS void
        LANGUAGE sql AS $$
            INSERT INTO idempotency_keys (owner, key, fingerprint, outcome, detail, request_id)
            SELECT p_owner, p_key, sha256(convert_to(p_fingerprint, 'UTF8')), p_outcome, p_detail, p_request_id
            WHERE p_key IS NOT NULL
            ON CONFLICT DO NOTHING
        $$;

        -- A hold as the API shows it, as of now: a pending hold past its expiry reads expired.
        CREATE FUNCTION tally_hold_view(h holds) RETURNS TABLE(
            hold_id bigint, hold_payer bigint, hold_payee bigint, hold_amount bigint, hold_memo text, hold_status text,
            hold_created_at_us bigint, hold_expires_at_us bigint, hold_captured_amount bigint, hold_capture_movement bigint,
            hold_settled_at_us bigint)
        LANGUAGE sql STABLE AS $$
            SELECT h.id, h.payer_user_id, h.payee_user_id, h.amount, h.memo,
           CASE WHEN h.status = 'pending' AND h.expires_at <= now() THEN 'expired' ELSE h.status END,
           (extract(epoch FROM h.created_at) * 1000000)::bigint, (extract(epoch FROM h.expires_at) * 1000000)::bigint,
           h.captured_amount, h.capture_movement_id,
           (extract(epoch FROM CASE WHEN h.status = 'pending' AND h.expires_at <= now() THEN h.expires_at
                                    ELSE h.settled_at END) * 1000000)::bigint
        $$;

        -- The answer of the hold functions: the outcome, and the hold (or the refusal's detail).
        CREATE TYPE tally_hold_result AS (
            outcome text, replayed boolean, detail bigint, request_id text,
            hold_id bigint, hold_payer bigint, hold_payee bigint, hold_amount bigint, hold_memo text, hold_status text,
            hold_created_at_us bigint, hold_expires_at_us bigint, hold_captured_amount bigint, hold_capture_movement bigint,
            hold_settled_at_us bigint);

        -- If the caller's key was used before: its stored answer (or key_reused); else NULL, and nothing is claimed.
        CREATE FUNCTION tally_hold_replay(p_owner bigint, p_key text, p_fingerprint text) RETURNS tally_hold_result
        LANGUAGE plpgsql AS $$
        DECLARE
            r tally_hold_result;
            v_key idempotency_keys%ROWTYPE;
        BEGIN
            IF p_key IS NULL THEN
        RETURN NULL;
            END IF;
            SELECT * INTO v_key FROM idempotency_keys k WHERE k.owner = p_owner AND k.key = p_key;
            IF NOT FOUND THEN
        RETURN NULL;
            ELSIF v_key.fingerprint <> sha256(convert_to(p_fingerprint, 'UTF8')) THEN
        r.outcome := 'key_reused';
        r.replayed := false;
        RETURN r;
            END IF;
            SELECT v_key.outcome, true, v_key.detail, v_key.request_id, v.* INTO r
            FROM (SELECT 1) one LEFT JOIN holds h ON h.id = v_key.hold_id LEFT JOIN LATERAL tally_hold_view(h) v ON true;
            RETURN r;
        END $$;

        -- POST /api/holds: reserves p_amount of the payer's available balance for the payee for p_expires_in seconds.
        CREATE FUNCTION tally_hold_place(p_token bytea, p_payer bigint, p_payee bigint, p_amount bigint, p_memo text,
                                 p_expires_in integer, p_key text, p_fingerprint text, p_request_id text)
        RETURNS tally_hold_result
        LANGUAGE plpgsql SET lock_timeout = '200ms' AS $$
        DECLARE
            r tally_hold_result;
            v_caller record;
            v_owner bigint;
            v_hold bigint;
            v_available numeric;
            v_outcome text;
            v_detail bigint;
        BEGIN
            SELECT * INTO v_caller FROM tally_caller(p_token);
            IF NOT FOUND THEN
        r.outcome := 'unauthorized';
        RETURN r;
            ELSIF v_caller.role <> 'service' AND v_caller.user_id IS DISTINCT FROM p_payer THEN
        r.outcome := 'forbidden';
        RETURN r;
            END IF;
            v_owner := COALESCE(v_caller.user_id, 0);
            r := tally_hold_replay(v_owner, p_key, p_fingerprint);
            IF r.outcome IS NOT NULL THEN
        IF r.outcome = 'applied' THEN
            -- The first answer: the hold as it was placed.
            r.hold_status := 'pending';
            r.hold_captured_amount := NULL;
            r.hold_capture_movement := NULL;
            r.hold_settled_at_us := NULL;
        END IF;
        RETURN r;
            END IF;
            r.replayed := false;
            r.request_id := p_request_id;

            IF NOT EXISTS (SELECT FROM users u WHERE u.id = p_payer AND NOT u.is_system) THEN
        v_outcome := 'not_found'; v_detail := p_payer;
            ELSIF NOT EXISTS (SELECT FROM users u WHERE u.id = p_payee AND NOT u.is_system) THEN
        v_outcome := 'not_found'; v_detail := p_payee;
            ELSE
        IF EXISTS (SELECT FROM users u WHERE u.id = p_payer AND u.next_hold_expiry <= now()) THEN
            PERFORM tally_release_expired_holds(p_payer);
        END IF;
        UPDATE users u SET held = u.held + p_amount,
            next_hold_expiry = LEAST(u.next_hold_expiry, now() + make_interval(secs => p_expires_in))
        WHERE u.id = p_payer AND u.balance::numeric + u.credit_limit - u.held >= p_amount;
        IF NOT FOUND THEN
            SELECT u.balance::numeric + u.credit_limit - u.held INTO v_available FROM users u WHERE u.id = p_payer;
            v_outcome := 'insufficient_funds'; v_detail := LEAST(v_available, 9223372036854775807)::bigint;
        END IF;
            END IF;
            IF v_outcome IS NOT NULL THEN
        PERFORM tally_refuse_under_key(v_owner, p_key, p_fingerprint, v_outcome, v_detail, p_request_id);
        r.outcome := v_outcome;
        r.detail := v_detail;
        RETURN r;
            END IF;

            INSERT INTO holds (payer_user_id, payee_user_id, amount, memo, expires_at)
            VALUES (p_payer, p_payee, p_amount, p_memo, now() + make_interval(secs => p_expires_in))
            RETURNING holds.id INTO v_hold;
            IF p_key IS NOT NULL THEN
        INSERT INTO idempotency_keys (owner, key, fingerprint, outcome, hold_id, request_id)
        VALUES (v_owner, p_key, sha256(convert_to(p_fingerprint, 'UTF8')), 'applied', v_hold, p_request_id);
            END IF;
            SELECT 'applied', false, NULL::bigint, p_request_id, v.* INTO r FROM holds h, tally_hold_view(h) v
            WHERE h.id = v_hold;
            RETURN r;
        END $$;

        -- The hold p_hold, locked, if the caller may see it (the service role, its payer or payee); with the outcome
        -- that refuses settling it: hold_not_found, hold_captured or hold_voided for a settled one, hold_expired for one
        -- past its expiry (marked expired and released here if it was not yet). NULL outcome: pending, and it may be settled.
        CREATE FUNCTION tally_hold_to_settle(p_caller_user bigint, p_is_service boolean, p_hold bigint,
                                     OUT outcome text, OUT hold holds)
        LANGUAGE plpgsql AS $$
        BEGIN
            SELECT * INTO hold FROM holds h WHERE h.id = p_hold FOR UPDATE;
            IF NOT FOUND OR NOT (p_is_service OR p_caller_user IN (hold.payer_user_id, hold.payee_user_id)) THEN
        outcome := 'hold_not_found';
            ELSIF hold.status <> 'pending' THEN
        -- An expired hold answers as one expiring now would, whoever released it first.
        outcome := CASE hold.status WHEN 'expired' THEN 'hold_expired' ELSE 'hold_' || hold.status END;
            ELSIF hold.expires_at <= now() THEN
        PERFORM tally_release_expired_holds(hold.payer_user_id);
        outcome := 'hold_expired';
            END IF;
        END $$;

        -- POST /api/holds/{id}/void.
        CREATE FUNCTION tally_hold_void(p_token bytea, p_hold bigint, p_key text, p_fingerprint text, p_request_id text)
        RETURNS tally_hold_result
        LANGUAGE plpgsql SET lock_timeout = '200ms' AS $$
        DECLARE
            r tally_hold_result;
            v_caller record;
            v_owner bigint;
            v_settle record;
        BEGIN
            SELECT * INTO v_caller FROM tally_caller(p_token);
            IF NOT FOUND THEN
        r.outcome := 'unauthorized';
        RETURN r;
            END IF;
            v_owner := COALESCE(v_caller.user_id, 0);
            r := tally_hold_replay(v_owner, p_key, p_fingerprint);
            IF r.outcome IS NOT NULL THEN
        RETURN r;
            END IF;
            r.replayed := false;
            r.request_id := p_request_id;
            SELECT * INTO v_settle FROM tally_hold_to_settle(v_caller.user_id, v_caller.role = 'service', p_hold);
            IF v_settle.outcome IS NOT NULL THEN
        r.outcome := v_settle.outcome;
        r.detail := CASE WHEN v_settle.outcome = 'hold_not_found' THEN p_hold END;
        PERFORM tally_refuse_under_key(v_owner, p_key, p_fingerprint, r.outcome, r.detail, p_request_id);
        RETURN r;
            END IF;
            UPDATE holds h SET status = 'voided', settled_at = now() WHERE h.id = p_hold;
            UPDATE users u SET held = u.held - (v_settle.hold).amount WHERE u.id = (v_settle.hold).payer_user_id;
            IF p_key IS NOT NULL THEN
        INSERT INTO idempotency_keys (owner, key, fingerprint, outcome, hold_id, request_id)
        VALUES (v_owner, p_key, sha256(convert_to(p_fingerprint, 'UTF8')), 'applied', p_hold, p_request_id);
            END IF;
            SELECT 'applied', false, NULL::bigint, p_request_id, v.* INTO r FROM holds h, tally_hold_view(h) v
            WHERE h.id = p_hold;
            RETURN r;
        END $$;

        -- POST /api/holds/{id}/capture: a transfer of p_amount (NULL: all) from payer to payee through tally_move, which
        -- judges it as any debit once the hold's reservation is released; the hold then records it. The row: the
        -- transfer (tally_move_result's columns) and the hold.
        CREATE FUNCTION tally_hold_capture(p_token bytea, p_hold bigint, p_amount bigint, p_key text, p_fingerprint text,
                                   p_request_id text)
        RETURNS TABLE(outcome text, replayed boolean, detail bigint, request_id text, id bigint, kind text,
              debit_user_id bigint, credit_user_id bigint, amount bigint, debit_balance_after bigint,
              credit_balance_after bigint, memo text, created_at_us bigint, hold_id bigint, reversal_of bigint,
              hold_payer bigint, hold_payee bigint, hold_amount bigint, hold_memo text, hold_status text,
              hold_created_at_us bigint, hold_expires_at_us bigint, hold_captured_amount bigint,
              hold_capture_movement bigint, hold_settled_at_us bigint)
        LANGUAGE plpgsql SET lock_timeout = '200ms' AS $$
        #variable_conflict use_column
        DECLARE
            v_caller record;
            v_owner bigint;
            v_key idempotency_keys%ROWTYPE;
            v_settle record;
            v_hold holds;
            v_amount bigint;
            v_outcome text;
            v_detail bigint;
            m tally_move_result;
        BEGIN
            SELECT * INTO v_caller FROM tally_caller(p_token);
            IF NOT FOUND THEN
        RETURN QUERY SELECT 'unauthorized'::text, false, NULL::bigint, p_request_id, NULL::bigint, NULL::text,
            NULL::bigint, NULL::bigint, NULL::bigint, NULL::bigint, NULL::bigint, NULL::text, NULL::bigint,
            NULL::bigint, NULL::bigint, NULL::bigint, NULL::bigint, NULL::bigint, NULL::text, NULL::text,
            NULL::bigint, NULL::bigint, NULL::bigint, NULL::bigint, NULL::bigint;
        RETURN;
            END IF;
            v_owner := COALESCE(v_caller.user_id, 0);
            IF p_key IS NOT NULL THEN
        SELECT * INTO v_key FROM idempotency_keys k WHERE k.owner = v_owner AND k.key = p_key;
            END IF;
            IF v_key.key IS NULL THEN
        SELECT * INTO v_settle FROM tally_hold_to_settle(v_caller.user_id, v_caller.role = 'service', p_hold);
        v_hold := v_settle.hold;
        v_outcome := v_settle.outcome;
        v_detail := CASE WHEN v_outcome = 'hold_not_found' THEN p_hold END;
        IF v_outcome IS NULL AND v_caller.role <> 'service' AND v_caller.user_id <> v_hold.payee_user_id THEN
            v_outcome := 'forbidden';
        ELSIF v_outcome IS NULL AND COALESCE(p_amount, v_hold.amount) > v_hold.amount THEN
            v_outcome := 'capture_exceeds_hold'; v_detail := v_hold.amount;
        END IF;
        IF v_outcome IS NOT NULL THEN
            PERFORM tally_refuse_under_key(v_owner, p_key, p_fingerprint, v_outcome, v_detail, p_request_id);
            RETURN QUERY SELECT v_outcome, false, v_detail, p_request_id, NULL::bigint, NULL::text,
                NULL::bigint, NULL::bigint, NULL::bigint, NULL::bigint, NULL::bigint, NULL::text, NULL::bigint,
                NULL::bigint, NULL::bigint, NULL::bigint, NULL::bigint, NULL::bigint, NULL::text, NULL::text,
                NULL::bigint, NULL::bigint, NULL::bigint, NULL::bigint, NULL::bigint;
            RETURN;
        END IF;
        v_amount := COALESCE(p_amount, v_hold.amount);
        UPDATE users u SET held = u.held - v_hold.amount WHERE u.id = v_hold.payer_user_id;
            END IF;
            -- A key seen before is tally_move's to replay (it stored the transfer or the refusal).
            m := tally_move(p_token, COALESCE(v_caller.user_id, v_hold.payer_user_id), 'transfer', v_hold.payer_user_id,
                    v_hold.payee_user_id, v_amount, v_hold.memo, p_key, p_fingerprint, p_request_id, p_hold);
            -- The payer's available balance and daily limit are theirs to read: a payee capturing (and anyone asking
            -- after the key) learns only which is short.
            IF m.outcome IN ('insufficient_funds', 'limit_exceeded') AND v_caller.role <> 'service' THEN
        m.outcome := 'payer_' || m.outcome;
        m.detail := NULL;
        UPDATE idempotency_keys k SET outcome = m.outcome, detail = NULL WHERE k.owner = v_owner AND k.key = p_key;
            END IF;
            IF v_key.key IS NULL THEN
        IF m.outcome = 'applied' THEN
            UPDATE holds h SET status = 'captured', captured_amount = v_amount, capture_movement_id = m.id,
                settled_at = now()
            WHERE h.id = p_hold;
        ELSE
            UPDATE users u SET held = u.held + v_hold.amount WHERE u.id = v_hold.payer_user_id;
        END IF;
            END IF;
            RETURN QUERY SELECT m.outcome, m.replayed, m.detail, m.request_id, m.id, m.kind, m.debit_user_id,
        m.credit_user_id, m.amount, m.debit_balance_after, m.credit_balance_after, m.memo, m.created_at_us,
        m.hold_id, m.reversal_of, v.hold_payer, v.hold_payee, v.hold_amount, v.hold_memo, v.hold_status,
        v.hold_created_at_us, v.hold_expires_at_us, v.hold_captured_amount, v.hold_capture_movement,
        v.hold_settled_at_us
            FROM (SELECT 1) one LEFT JOIN holds h ON h.id = m.hold_id LEFT JOIN LATERAL tally_hold_view(h) v ON true;
        END $$;

        -- POST /api/transfers/{id}/reversals: the payee pays p_amount (NULL: what is left) of transfer p_movement back,
        -- through tally_move (a debit of the payee's like any other). Concurrent reversals of one transfer read the
        -- same reversals (movements_reversal_of): SERIALIZABLE lets only one of them commit unless both fit.
        CREATE FUNCTION tally_reverse(p_token bytea, p_movement bigint, p_amount bigint, p_memo text, p_key text,
                              p_fingerprint text, p_request_id text)
        RETURNS tally_move_result
        LANGUAGE plpgsql SET lock_timeout = '200ms' AS $$
        DECLARE
            v_caller record;
            v_owner bigint;
            v_original movements;
            v_left bigint;
            v_outcome text;
            v_detail bigint;
            r tally_move_result;
        BEGIN
            SELECT * INTO v_caller FROM tally_caller(p_token);
            IF NOT FOUND THEN
        r.outcome := 'unauthorized';
        RETURN r;
            END IF;
            v_owner := COALESCE(v_caller.user_id, 0);
            IF p_key IS NULL OR NOT EXISTS (SELECT FROM idempotency_keys k WHERE k.owner = v_owner AND k.key = p_key) THEN
        SELECT * INTO v_original FROM movements m WHERE m.id = p_movement;
        IF NOT FOUND OR NOT (v_caller.role = 'service'
                             OR v_caller.user_id IN (v_original.debit_user_id, v_original.credit_user_id)) THEN
            v_outcome := 'transfer_not_found'; v_detail := p_movement;
        ELSIF v_original.kind <> 'transfer' THEN
            v_outcome := 'not_reversible_' || v_original.kind;
        ELSIF v_caller.role <> 'service' AND v_caller.user_id <> v_original.credit_user_id THEN
            v_outcome := 'forbidden';
        ELSE
            SELECT v_original.amount - COALESCE(sum(m.amount), 0) INTO v_left FROM movements m
            WHERE m.reversal_of = p_movement;
            IF v_left = 0 OR COALESCE(p_amount, v_left) > v_left THEN
                v_outcome := 'reversal_exceeds_transfer'; v_detail := v_left;
            END IF;
        END IF;
        IF v_outcome IS NOT NULL THEN
            PERFORM tally_refuse_under_key(v_owner, p_key, p_fingerprint, v_outcome, v_detail, p_request_id);
            r.outcome := v_outcome;
            r.detail := v_detail;
            r.replayed := false;
            r.request_id := p_request_id;
            RETURN r;
        END IF;
            END IF;
            RETURN tally_move(p_token, COALESCE(v_caller.user_id, v_original.credit_user_id), 'reversal',
                      v_original.credit_user_id, v_original.debit_user_id, COALESCE(p_amount, v_left), p_memo,
                      p_key, p_fingerprint, p_request_id, NULL, p_movement);
        END $$;

        -- PATCH /api/users/{id} (the service role's): NULL leaves a limit as it is; p_set_daily with p_daily NULL
        -- removes the daily limit. Setting a daily limit or a time zone counts the day's debits anew from movements.
        CREATE FUNCTION tally_change_limits(p_user bigint, p_credit bigint, p_set_daily boolean, p_daily bigint,
                                    p_zone text)
        RETURNS TABLE(outcome text, detail bigint)
        LANGUAGE plpgsql AS $$
        #variable_conflict use_column
        DECLARE
            v_zone text;
            v_least numeric;
        BEGIN
            IF p_zone IS NOT NULL AND NOT EXISTS (SELECT FROM pg_timezone_names z WHERE z.name = p_zone) THEN
        RETURN QUERY SELECT 'unknown_time_zone'::text, NULL::bigint;
        RETURN;
            END IF;
            SELECT COALESCE(p_zone, u.time_zone) INTO v_zone FROM users u WHERE u.id = p_user AND NOT u.is_system;
            IF NOT FOUND THEN
        RETURN QUERY SELECT 'not_found'::text, p_user;
        RETURN;
            END IF;
            PERFORM tally_release_expired_holds(p_user);
            BEGIN
        UPDATE users u SET
            credit_limit = COALESCE(p_credit, u.credit_limit),
            daily_debit_limit = CASE WHEN p_set_daily THEN p_daily ELSE u.daily_debit_limit END,
            time_zone = v_zone,
            debited_today = CASE WHEN p_set_daily OR p_zone IS NOT NULL THEN tally_debited_today(p_user, v_zone)
                                 ELSE u.debited_today END,
            debit_day_ends = CASE WHEN p_set_daily OR p_zone IS NOT NULL THEN tally_day_end(v_zone)
                                  ELSE u.debit_day_ends END
        WHERE u.id = p_user;
            EXCEPTION WHEN check_violation THEN
        SELECT GREATEST(u.held - u.balance::numeric, 0) INTO v_least FROM users u WHERE u.id = p_user;
        RETURN QUERY SELECT 'credit_limit_in_use'::text, LEAST(v_least, 9223372036854775807)::bigint;
        RETURN;
            END;
            RETURN QUERY SELECT 'applied'::text, NULL::bigint;
        END $$;
        CREATE OR REPLACE FUNCTION tally_batch_transfers(p_token bytea, p_from bigint[], p_to bigint[], p_amount bigint[],
                                              p_memo text[], p_keys text[], p_fingerprints text[], p_batch bigint,
                                              p_atomic boolean, p_request_id text, p_request_key text)
        RETURNS TABLE (outcome text, refused_index integer, detail bigint, batch_id bigint, ids bigint[],
                       debit_after bigint[], credit_after bigint[], created_at_us bigint)
        LANGUAGE plpgsql SET lock_timeout = '200ms' SET plan_cache_mode = force_generic_plan AS $$
        #variable_conflict use_column
        DECLARE
            v_caller record;
            v_accounts bigint[];
            v_changes numeric[];
            v_moved bigint[];
            v_before numeric[];
            v_debit numeric[];
            v_credit numeric[];
            v_first integer;
            v_forbidden boolean;
            v_ids bigint[];
            v_claimed integer;
            v_outcome text;
            v_detail bigint;
            v_limited boolean;
        BEGIN
            SELECT * INTO v_caller FROM tally_caller(p_token);
            IF NOT FOUND THEN
                RETURN QUERY SELECT 'unauthorized'::text, NULL::integer, NULL::bigint, NULL::bigint, NULL::bigint[],
                    NULL::bigint[], NULL::bigint[], NULL::bigint;
                RETURN;
            END IF;

            -- Each account's net change over the batch.
            SELECT array_agg(l.account ORDER BY l.account), array_agg(l.change ORDER BY l.account)
            INTO v_accounts, v_changes
            FROM (SELECT account, sum(delta) AS change
                  FROM (SELECT unnest(p_from) AS account, -unnest(p_amount) AS delta
                        UNION ALL SELECT unnest(p_to), unnest(p_amount)) legs
                  GROUP BY account) l;

            -- Optimistically, as most batches go: every account moved by its net change in one UPDATE (in id order,
            -- through the primary key), which reads each balance before it on the way, then the items' keys
            -- claimed, the movements and the batch written. If an item is to be refused after all (an account
            -- missing, a balance below zero or past the largest after some item, a payer who is not the caller),
            -- or a key was used before, the subtransaction is undone: nothing moved.
            BEGIN
                IF v_caller.role <> 'service' AND EXISTS (
                        SELECT FROM unnest(p_from) f WHERE f IS DISTINCT FROM v_caller.user_id) THEN
                    RAISE EXCEPTION USING ERRCODE = 'TB001';
                END IF;
                WITH moved AS (
                    UPDATE users u SET balance = u.balance + n.change
                    FROM unnest(v_accounts, v_changes) AS n(account, change)
                    WHERE u.id = n.account AND NOT u.is_system
                    RETURNING u.id, u.balance - n.change AS before,
                        u.held <> 0 OR u.credit_limit <> 0 OR u.daily_debit_limit IS NOT NULL AS limited)
                SELECT array_agg(m.id), array_agg(m.before), bool_or(m.limited) INTO v_moved, v_before, v_limited
                FROM moved m;
                -- Accounts with holds or limits are judged by tally_move's rules, item by item.
                IF v_limited THEN
                    RAISE EXCEPTION USING ERRCODE = 'TB003';
                END IF;
                IF cardinality(v_moved) IS DISTINCT FROM cardinality(v_accounts) THEN
                    RAISE EXCEPTION USING ERRCODE = 'TB001';
                END IF;
                SELECT b.debit_after, b.credit_after, b.first_refused INTO v_debit, v_credit, v_first
                FROM tally_batch_balances(p_from, p_to, p_amount, v_moved, v_before) b;
                IF v_first IS NOT NULL THEN
                    RAISE EXCEPTION USING ERRCODE = 'TB001';
                END IF;

                v_ids := ARRAY(SELECT nextval('movements_id_seq') FROM generate_series(1, cardinality(p_from)));
                IF p_keys IS NOT NULL THEN
                    -- Claimed as applied, like tally_move's; one seen before sends the batch item by item.
                    INSERT INTO idempotency_keys (owner, key, fingerprint, outcome, result_id, request_id)
                    SELECT COALESCE(v_caller.user_id, 0), x.k, sha256(convert_to(x.fp, 'UTF8')), 'applied', x.id,
                           p_request_id
                    FROM unnest(p_keys, p_fingerprints, v_ids) AS x(k, fp, id)
                    WHERE x.k IS NOT NULL
                    ON CONFLICT DO NOTHING;
                    GET DIAGNOSTICS v_claimed = ROW_COUNT;
                    IF v_claimed <> (SELECT count(k) FROM unnest(p_keys) AS k) THEN
                        RAISE EXCEPTION USING ERRCODE = 'TB002';
                    END IF;
                END IF;
                INSERT INTO movements (id, kind, debit_user_id, credit_user_id, amount, debit_balance_after,
                                       credit_balance_after, memo)
                SELECT x.id, 'transfer', x.f, x.t, x.a, x.d, x.c, x.m
                FROM unnest(v_ids, p_from, p_to, p_amount, v_debit::bigint[], v_credit::bigint[], p_memo)
                     AS x(id, f, t, a, d, c, m);
                INSERT INTO batches (id, atomic, sender_user_id, movement_ids, outcomes, details, request_id)
                VALUES (p_batch, p_atomic, v_caller.user_id, v_ids,
                        array_fill('applied'::text, ARRAY[cardinality(v_ids)]),
                        array_fill(NULL::bigint, ARRAY[cardinality(v_ids)]), p_request_id);
            EXCEPTION
                WHEN SQLSTATE 'TB001' OR check_violation OR numeric_value_out_of_range
                     OR SQLSTATE 'TB002' OR SQLSTATE 'TB003' THEN
                    -- An item whose key was used before is judged by it first (a replay moves nothing; other
                    -- content is refused for its key): item by item, in a transaction of its own that claims the
                    -- request's key anew.
                    IF p_keys IS NOT NULL AND EXISTS (
                            SELECT FROM idempotency_keys k
                            WHERE k.owner = COALESCE(v_caller.user_id, 0) AND k.key = ANY(p_keys)) THEN
                        DELETE FROM idempotency_keys k
                        WHERE k.owner = COALESCE(v_caller.user_id, 0) AND k.key = p_request_key;
                        RETURN QUERY SELECT 'key_seen'::text, NULL::integer, NULL::bigint, NULL::bigint, NULL::bigint[],
                            NULL::bigint[], NULL::bigint[], NULL::bigint;
                        RETURN;
                    END IF;
                    -- An account with holds, a credit limit or a daily limit: its available balance and its day's
                    -- debits are tally_move's to judge, item by item, in a transaction of its own.
                    IF EXISTS (SELECT FROM users u WHERE u.id = ANY(v_accounts)
                               AND (u.held <> 0 OR u.credit_limit <> 0 OR u.daily_debit_limit IS NOT NULL)) THEN
                        DELETE FROM idempotency_keys k
                        WHERE k.owner = COALESCE(v_caller.user_id, 0) AND k.key = p_request_key;
                        RETURN QUERY SELECT 'item_by_item'::text, NULL::integer, NULL::bigint, NULL::bigint,
                            NULL::bigint[], NULL::bigint[], NULL::bigint[], NULL::bigint;
                        RETURN;
                    END IF;
                    -- Judged from the balances as they are, nothing moved: the first item its endpoint would refuse.
                    SELECT array_agg(u.id), array_agg(u.balance) INTO v_moved, v_before
                    FROM users u WHERE u.id = ANY(v_accounts) AND NOT u.is_system;
                    SELECT b.debit_after, b.credit_after, b.first_refused INTO v_debit, v_credit, v_first
                    FROM tally_batch_balances(p_from, p_to, p_amount, v_moved, v_before) b;
                    v_forbidden := v_caller.role <> 'service' AND EXISTS (
                        SELECT FROM unnest(p_from) WITH ORDINALITY AS x(f, i)
                        WHERE x.f IS DISTINCT FROM v_caller.user_id AND x.i <= COALESCE(v_first, x.i));
                    IF v_forbidden THEN
                        SELECT min(x.i) INTO v_first FROM unnest(p_from) WITH ORDINALITY AS x(f, i)
                        WHERE x.f IS DISTINCT FROM v_caller.user_id;
                    END IF;
                    v_outcome := CASE WHEN v_forbidden THEN 'forbidden'
                                      WHEN v_debit[v_first] IS NULL OR v_credit[v_first] IS NULL THEN 'not_found'
                                      WHEN v_debit[v_first] < 0 THEN 'insufficient_funds'
                                      ELSE 'balance_limit' END;
                    v_detail := CASE WHEN v_forbidden THEN NULL
                                     WHEN v_debit[v_first] IS NULL THEN p_from[v_first]
                                     WHEN v_credit[v_first] IS NULL THEN p_to[v_first]
                                     WHEN v_debit[v_first] < 0 THEN (v_debit[v_first] + p_amount[v_first])::bigint
                                     ELSE (v_credit[v_first] - p_amount[v_first])::bigint END;
                    -- The request's key: an atomic batch's refusal is its outcome; an item-by-item batch goes item
                    -- by item, in a transaction of its own that claims the key anew.
                    IF p_atomic THEN
                        UPDATE idempotency_keys k
                        SET outcome = v_outcome, detail = v_detail, batch_index = v_first - 1, result_id = NULL
                        WHERE k.owner = COALESCE(v_caller.user_id, 0) AND k.key = p_request_key;
                    ELSE
                        DELETE FROM idempotency_keys k
                        WHERE k.owner = COALESCE(v_caller.user_id, 0) AND k.key = p_request_key;
                    END IF;
                    RETURN QUERY SELECT v_outcome, v_first - 1, v_detail, NULL::bigint, NULL::bigint[], NULL::bigint[],
                        NULL::bigint[], NULL::bigint;
                    RETURN;
            END;
            RETURN QUERY SELECT 'applied'::text, NULL::integer, NULL::bigint, p_batch, v_ids, v_debit::bigint[],
                v_credit::bigint[], (extract(epoch FROM now()) * 1000000)::bigint;
        END $$;
        -- POST /api/users with limits: tally_create_user (migration 4's), then the limits on the new user, in one
        -- transaction. The row: tally_create_user's, with the limits.
        CREATE FUNCTION tally_create_limited_user(p_name text, p_initial bigint, p_username text, p_password_hash text,
                                          p_key text, p_fingerprint text, p_request_id text, p_credit bigint,
                                          p_daily bigint, p_zone text)
        RETURNS TABLE(outcome text, replayed boolean, id bigint, name text, username text, balance bigint,
              created_at_us bigint, credit_limit bigint, daily_debit_limit bigint, time_zone text)
        LANGUAGE plpgsql AS $$
        #variable_conflict use_column
        DECLARE
            v_user record;
        BEGIN
            IF p_zone <> 'UTC' AND NOT EXISTS (SELECT FROM pg_timezone_names z WHERE z.name = p_zone) THEN
        RETURN QUERY SELECT 'unknown_time_zone'::text, false, NULL::bigint, NULL::text, NULL::text, NULL::bigint,
            NULL::bigint, NULL::bigint, NULL::bigint, NULL::text;
        RETURN;
            END IF;
            SELECT * INTO v_user
            FROM tally_create_user(p_name, p_initial, p_username, p_password_hash, p_key, p_fingerprint, p_request_id);
            IF v_user.outcome = 'applied' AND NOT v_user.replayed
               AND (p_credit <> 0 OR p_daily IS NOT NULL OR p_zone <> 'UTC') THEN
        UPDATE users u SET credit_limit = p_credit, daily_debit_limit = p_daily, time_zone = p_zone,
            debit_day_ends = tally_day_end(p_zone)
        WHERE u.id = v_user.id;
            END IF;
            RETURN QUERY SELECT v_user.outcome, v_user.replayed, v_user.id, v_user.name, v_user.username, v_user.balance,
        v_user.created_at_us, u.credit_limit, u.daily_debit_limit, u.time_zone
            FROM (SELECT 1) one LEFT JOIN users u ON u.id = v_user.id;
        END $$;

        REVOKE UPDATE (balance) ON users FROM tally_pool;
        GRANT UPDATE (balance, held, next_hold_expiry, debited_today, debit_day_ends, credit_limit, daily_debit_limit,
              time_zone) ON users TO tally_pool;
        GRANT SELECT, INSERT, UPDATE ON holds TO tally_pool;
        GRANT USAGE, SELECT ON SEQUENCE holds_id_seq TO tally_pool;
        GRANT EXECUTE ON FUNCTION
            tally_move(bytea, bigint, text, bigint, bigint, bigint, text, text, text, text, bigint, bigint),
            tally_may_debit(bigint, bigint, bigint, bigint, bigint, timestamptz, bigint), tally_day_end(text),
            tally_release_expired_holds(bigint), tally_debited_today(bigint, text),
            tally_refuse_under_key(bigint, text, text, text, bigint, text), tally_hold_view(holds),
            tally_hold_replay(bigint, text, text),
            tally_hold_place(bytea, bigint, bigint, bigint, text, integer, text, text, text),
            tally_hold_to_settle(bigint, boolean, bigint), tally_hold_void(bytea, bigint, text, text, text),
            tally_hold_capture(bytea, bigint, bigint, text, text, text),
            tally_reverse(bytea, bigint, bigint, text, text, text, text),
            tally_change_limits(bigint, bigint, boolean, bigint, text),
            tally_create_limited_user(text, bigint, text, text, text, text, text, bigint, bigint, text)
        TO tally_pool;
        """#
}
