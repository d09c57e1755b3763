/// Users, the double-entry journal, idempotency records, and the function that moves money.
enum Migration0001 {
    static let sql = #"""
        CREATE TABLE users (
            id          bigserial PRIMARY KEY,
            name        text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
            -- NULL only for the system account: its balance is derived from the journal, so that
            -- deposits and withdrawals do not all serialize on one hot row.
            balance     bigint,
            is_system   boolean NOT NULL DEFAULT false,
            created_at  timestamptz NOT NULL DEFAULT now(),
            CONSTRAINT users_balance_non_negative CHECK (is_system OR balance >= 0),
            CONSTRAINT users_system_has_no_stored_balance CHECK (is_system = (balance IS NULL))
        ) WITH (fillfactor = 70);
        -- Room on each page lets a balance update stay on its page (a HOT update): no new index entry, less WAL.

        -- The outside world: deposits come from it, withdrawals go to it.
        INSERT INTO users (id, name, balance, is_system) VALUES (0, 'outside world', NULL, true);

        CREATE TABLE movements (
            id                    bigserial PRIMARY KEY,
            kind                  text NOT NULL CHECK (kind IN ('deposit', 'withdrawal', 'transfer')),
            debit_user_id         bigint NOT NULL REFERENCES users (id),
            credit_user_id        bigint NOT NULL REFERENCES users (id),
            amount                bigint NOT NULL CHECK (amount > 0),
            debit_balance_after   bigint CHECK (debit_balance_after >= 0),
            credit_balance_after  bigint CHECK (credit_balance_after >= 0),
            memo                  text CHECK (char_length(memo) <= 500),
            created_at            timestamptz NOT NULL DEFAULT now(),
            CONSTRAINT movements_two_parties CHECK (debit_user_id <> credit_user_id),
            CONSTRAINT movements_kind_matches_parties CHECK (
                (kind = 'deposit' AND debit_user_id = 0 AND credit_user_id <> 0) OR
                (kind = 'withdrawal' AND credit_user_id = 0 AND debit_user_id <> 0) OR
                (kind = 'transfer' AND debit_user_id <> 0 AND credit_user_id <> 0))
        );
        -- A user's history is the newest of their debits merged with the newest of their credits.
        CREATE INDEX movements_debit_user_id_id ON movements (debit_user_id, id DESC);
        CREATE INDEX movements_credit_user_id_id ON movements (credit_user_id, id DESC);

        -- What a request with an Idempotency-Key did, so that a repeat answers the same and moves nothing.
        CREATE TABLE idempotency_keys (
            key          text PRIMARY KEY CHECK (char_length(key) BETWEEN 1 AND 255),
            fingerprint  bytea NOT NULL,           -- sha256 of the operation and its parsed values
            outcome      text NOT NULL,            -- applied, not_found, insufficient_funds, balance_limit
            detail       bigint,                   -- the missing user id, the balance short of the amount, ...
            result_id    bigint,                   -- the movement (or, for a new user, the user) it made
            request_id   text NOT NULL,            -- the first request's id, replayed in error bodies
            created_at   timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX idempotency_keys_created_at ON idempotency_keys (created_at);

        -- Moves p_amount from p_debit to p_credit (0 is the outside world) in the caller's transaction,
        -- or refuses, and records the outcome under p_key when one is given. One call is one round trip.
        --
        -- Under SERIALIZABLE every read leaves a predicate lock, and a read of an index page that concurrent
        -- transactions insert into makes them conflict. So the function reads only the two users' rows:
        -- the new movement's values come from INSERT ... RETURNING, not from reading it back, and a key is
        -- claimed by inserting it first (ON CONFLICT DO NOTHING) rather than by looking for it.
        CREATE FUNCTION tally_move(p_kind text, p_debit bigint, p_credit bigint, p_amount bigint,
                                   p_memo text, p_key text, p_fingerprint text, p_request_id text)
        RETURNS TABLE (outcome text, replayed boolean, detail bigint, request_id text,
                       id bigint, kind text, debit_user_id bigint, credit_user_id bigint, amount bigint,
                       debit_balance_after bigint, credit_balance_after bigint, memo text, created_at_us bigint)
        LANGUAGE plpgsql AS $$
        DECLARE
            v_fingerprint bytea;
            v_key idempotency_keys%ROWTYPE;
            v_outcome text := 'applied';
            v_detail bigint;
            v_movement bigint;
            v_created_at timestamptz;
            v_debit_balance bigint;
            v_credit_balance bigint;
            v_row record;
        BEGIN
            IF p_key IS NOT NULL THEN
                v_fingerprint := sha256(convert_to(p_fingerprint, 'UTF8'));
                INSERT INTO idempotency_keys (key, fingerprint, outcome, request_id)
                VALUES (p_key, v_fingerprint, 'pending', p_request_id)
                ON CONFLICT DO NOTHING;
                IF NOT FOUND THEN
                    -- The key was used before: replay its outcome, or refuse a different request.
                    SELECT * INTO v_key FROM idempotency_keys k WHERE k.key = p_key;
                    IF v_key.fingerprint <> v_fingerprint THEN
                        RETURN QUERY SELECT 'key_reused'::text, false, NULL::bigint, p_request_id,
                            NULL::bigint, NULL::text, NULL::bigint, NULL::bigint, NULL::bigint,
                            NULL::bigint, NULL::bigint, NULL::text, NULL::bigint;
                        RETURN;
                    END IF;
                    RETURN QUERY SELECT v_key.outcome, true, v_key.detail, v_key.request_id,
                        m.id, m.kind, m.debit_user_id, m.credit_user_id, m.amount,
                        m.debit_balance_after, m.credit_balance_after, m.memo,
                        (extract(epoch FROM m.created_at) * 1000000)::bigint
                    FROM (SELECT 1) AS one LEFT JOIN movements m ON m.id = v_key.result_id;
                    RETURN;
                END IF;
            END IF;

            -- A plain read: under SERIALIZABLE, a change made meanwhile by another transaction makes the
            -- UPDATE below fail with 40001 and the caller retries; no row lock (and its WAL record) is needed.
            FOR v_row IN SELECT u.id, u.balance FROM users u
                         WHERE u.id IN (p_debit, p_credit) AND NOT u.is_system
            LOOP
                IF v_row.id = p_debit THEN v_debit_balance := v_row.balance; END IF;
                IF v_row.id = p_credit THEN v_credit_balance := v_row.balance; END IF;
            END LOOP;

            IF p_debit <> 0 AND v_debit_balance IS NULL THEN
                v_outcome := 'not_found'; v_detail := p_debit;
            ELSIF p_credit <> 0 AND v_credit_balance IS NULL THEN
                v_outcome := 'not_found'; v_detail := p_credit;
            ELSIF p_debit <> 0 AND v_debit_balance < p_amount THEN
                v_outcome := 'insufficient_funds'; v_detail := v_debit_balance;
            ELSIF p_credit <> 0 AND v_credit_balance > 9223372036854775807 - p_amount THEN
                v_outcome := 'balance_limit'; v_detail := v_credit_balance;
            ELSE
                -- Update the lower id first, so two transfers in opposite directions cannot deadlock.
                IF p_debit <> 0 AND (p_credit = 0 OR p_debit < p_credit) THEN
                    UPDATE users SET balance = balance - p_amount WHERE users.id = p_debit
                    RETURNING balance INTO v_debit_balance;
                END IF;
                IF p_credit <> 0 THEN
                    UPDATE users SET balance = balance + p_amount WHERE users.id = p_credit
                    RETURNING balance INTO v_credit_balance;
                END IF;
                IF p_debit <> 0 AND p_credit <> 0 AND p_debit > p_credit THEN
                    UPDATE users SET balance = balance - p_amount WHERE users.id = p_debit
                    RETURNING balance INTO v_debit_balance;
                END IF;
                INSERT INTO movements (kind, debit_user_id, credit_user_id, amount,
                                       debit_balance_after, credit_balance_after, memo)
                VALUES (p_kind, p_debit, p_credit, p_amount, v_debit_balance, v_credit_balance, p_memo)
                RETURNING movements.id, movements.created_at INTO v_movement, v_created_at;
            END IF;

            IF p_key IS NOT NULL THEN
                UPDATE idempotency_keys k SET outcome = v_outcome, detail = v_detail, result_id = v_movement
                WHERE k.key = p_key;
            END IF;

            IF v_movement IS NULL THEN
                RETURN QUERY SELECT v_outcome, false, v_detail, p_request_id,
                    NULL::bigint, NULL::text, NULL::bigint, NULL::bigint, NULL::bigint,
                    NULL::bigint, NULL::bigint, NULL::text, NULL::bigint;
            ELSE
                RETURN QUERY SELECT v_outcome, false, v_detail, p_request_id,
                    v_movement, p_kind, p_debit, p_credit, p_amount, v_debit_balance, v_credit_balance, p_memo,
                    (extract(epoch FROM v_created_at) * 1000000)::bigint;
            END IF;
        END $$;

        -- Creates a user whose initial balance is recorded as a deposit, or replays the creation under p_key.
        CREATE FUNCTION tally_create_user(p_name text, p_initial bigint, p_key text, p_fingerprint text,
                                          p_request_id text)
        RETURNS TABLE (outcome text, replayed boolean, id bigint, name text, balance bigint, created_at_us bigint)
        LANGUAGE plpgsql AS $$
        DECLARE
            v_fingerprint bytea := sha256(convert_to(p_fingerprint, 'UTF8'));
            v_key idempotency_keys%ROWTYPE;
            v_user bigint;
        BEGIN
            IF p_key IS NOT NULL THEN
                SELECT * INTO v_key FROM idempotency_keys k WHERE k.key = p_key;
                IF FOUND THEN
                    IF v_key.fingerprint <> v_fingerprint THEN
                        RETURN QUERY SELECT 'key_reused'::text, false, NULL::bigint, NULL::text,
                            NULL::bigint, NULL::bigint;
                        RETURN;
                    END IF;
                    -- The balance as it was when the user was created: the first response, replayed.
                    RETURN QUERY SELECT v_key.outcome, true, u.id, u.name, v_key.detail,
                        (extract(epoch FROM u.created_at) * 1000000)::bigint
                    FROM users u WHERE u.id = v_key.result_id;
                    RETURN;
                END IF;
            END IF;

            INSERT INTO users (name, balance) VALUES (p_name, p_initial) RETURNING users.id INTO v_user;
            IF p_initial > 0 THEN
                INSERT INTO movements (kind, debit_user_id, credit_user_id, amount,
                                       debit_balance_after, credit_balance_after, memo)
                VALUES ('deposit', 0, v_user, p_initial, NULL, p_initial, 'initial balance');
            END IF;
            IF p_key IS NOT NULL THEN
                INSERT INTO idempotency_keys (key, fingerprint, outcome, detail, result_id, request_id)
                VALUES (p_key, v_fingerprint, 'applied', p_initial, v_user, p_request_id);
            END IF;
            RETURN QUERY SELECT 'applied'::text, false, u.id, u.name, u.balance,
                (extract(epoch FROM u.created_at) * 1000000)::bigint
            FROM users u WHERE u.id = v_user;
        END $$;
        """#
}
