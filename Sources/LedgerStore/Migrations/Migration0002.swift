/// Accounts people log in to, bearer tokens, and idempotency keys scoped to the caller that sent them.
enum Migration0002 {
    static let sql = #"""
        ALTER TABLE users
            ADD COLUMN username text CHECK (username ~ '^[A-Za-z0-9._-]{3,64}$'),
            ADD COLUMN password_hash text,
            ADD CONSTRAINT users_password_needs_username CHECK (password_hash IS NULL OR username IS NOT NULL);
        CREATE UNIQUE INDEX users_username_unique ON users (lower(username));

        -- Tokens are stored only as their SHA-256; the token itself is shown to its owner once.
        CREATE TABLE tokens (
            hash        bytea PRIMARY KEY CHECK (length(hash) = 32),
            user_id     bigint REFERENCES users (id),        -- NULL for the service role
            role        text NOT NULL CHECK (role IN ('user', 'service')),
            created_at  timestamptz NOT NULL DEFAULT now(),
            expires_at  timestamptz,                          -- NULL: until revoked (service tokens)
            revoked_at  timestamptz,
            CONSTRAINT tokens_role_matches_user CHECK ((role = 'service') = (user_id IS NULL))
        );

        -- A key belongs to the caller that sent it: user id, or 0 for the service role.
        ALTER TABLE idempotency_keys ADD COLUMN owner bigint NOT NULL DEFAULT 0;
        ALTER TABLE idempotency_keys DROP CONSTRAINT idempotency_keys_pkey;
        ALTER TABLE idempotency_keys ADD CONSTRAINT idempotency_keys_pkey PRIMARY KEY (owner, key);

        -- The caller a live token stands for: (user_id, role), or no row.
        CREATE FUNCTION tally_caller(p_token bytea)
        RETURNS TABLE (user_id bigint, role text)
        LANGUAGE sql STABLE AS $$
            SELECT t.user_id, t.role FROM tokens t
            WHERE t.hash = p_token AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > now())
        $$;

        DROP FUNCTION tally_move(text, bigint, bigint, bigint, text, text, text, text);

        -- Checks the caller's token and right to act on p_acting_user, then moves p_amount from p_debit to
        -- p_credit (0 is the outside world), or refuses, recording the outcome under (caller, p_key).
        -- Everything in one call, so that a movement is one round trip, authentication included.
        -- As in version 1, it reads nothing but the token and the users' rows (see there why).
        CREATE FUNCTION tally_move(p_token bytea, p_acting_user bigint, p_kind text, p_debit bigint,
                                   p_credit bigint, p_amount bigint, p_memo text, p_key text,
                                   p_fingerprint text, p_request_id text)
        RETURNS TABLE (outcome text, replayed boolean, detail bigint, request_id text,
                       id bigint, kind text, debit_user_id bigint, credit_user_id bigint, amount bigint,
                       debit_balance_after bigint, credit_balance_after bigint, memo text, created_at_us bigint)
        LANGUAGE plpgsql AS $$
        DECLARE
            v_fingerprint bytea;
            v_caller record;
            v_owner bigint;
            v_key idempotency_keys%ROWTYPE;
            v_outcome text := 'applied';
            v_detail bigint;
            v_movement bigint;
            v_created_at timestamptz;
            v_debit_balance bigint;
            v_credit_balance bigint;
            v_row record;
        BEGIN
            SELECT * INTO v_caller FROM tally_caller(p_token);
            IF NOT FOUND THEN
                v_outcome := 'unauthorized';
            ELSIF v_caller.role <> 'service' AND v_caller.user_id IS DISTINCT FROM p_acting_user THEN
                v_outcome := 'forbidden';
            END IF;
            IF v_outcome <> 'applied' THEN
                RETURN QUERY SELECT v_outcome, false, NULL::bigint, p_request_id,
                    NULL::bigint, NULL::text, NULL::bigint, NULL::bigint, NULL::bigint,
                    NULL::bigint, NULL::bigint, NULL::text, NULL::bigint;
                RETURN;
            END IF;
            v_owner := COALESCE(v_caller.user_id, 0);

            IF p_key IS NOT NULL THEN
                v_fingerprint := sha256(convert_to(p_fingerprint, 'UTF8'));
                INSERT INTO idempotency_keys (owner, key, fingerprint, outcome, request_id)
                VALUES (v_owner, p_key, v_fingerprint, 'pending', p_request_id)
                ON CONFLICT DO NOTHING;
                IF NOT FOUND THEN
                    -- The key was used before: replay its outcome, or refuse a different request.
                    SELECT * INTO v_key FROM idempotency_keys k WHERE k.owner = v_owner AND k.key = p_key;
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

            -- A plain read, as in version 1: under SERIALIZABLE a concurrent change makes the UPDATE fail with 40001.
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
                WHERE k.owner = v_owner AND k.key = p_key;
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

        DROP FUNCTION tally_create_user(text, bigint, text, text, text);

        -- Creates a user (with log-in credentials when given) whose initial balance is recorded as a
        -- deposit, or replays the creation under the service's key.
        CREATE FUNCTION tally_create_user(p_name text, p_initial bigint, p_username text, p_password_hash text,
                                          p_key text, p_fingerprint text, p_request_id text)
        RETURNS TABLE (outcome text, replayed boolean, id bigint, name text, username text, balance bigint,
                       created_at_us bigint)
        LANGUAGE plpgsql AS $$
        #variable_conflict use_column
        DECLARE
            v_fingerprint bytea := sha256(convert_to(p_fingerprint, 'UTF8'));
            v_key idempotency_keys%ROWTYPE;
            v_user bigint;
        BEGIN
            IF p_key IS NOT NULL THEN
                SELECT * INTO v_key FROM idempotency_keys k WHERE k.owner = 0 AND k.key = p_key;
                IF FOUND THEN
                    IF v_key.fingerprint <> v_fingerprint THEN
                        RETURN QUERY SELECT 'key_reused'::text, false, NULL::bigint, NULL::text, NULL::text,
                            NULL::bigint, NULL::bigint;
                        RETURN;
                    END IF;
                    -- The balance as it was when the user was created: the first response, replayed.
                    RETURN QUERY SELECT v_key.outcome, true, u.id, u.name, u.username, v_key.detail,
                        (extract(epoch FROM u.created_at) * 1000000)::bigint
                    FROM users u WHERE u.id = v_key.result_id;
                    RETURN;
                END IF;
            END IF;

            INSERT INTO users (name, balance, username, password_hash)
            VALUES (p_name, p_initial, p_username, p_password_hash)
            ON CONFLICT ((lower(username))) DO NOTHING
            RETURNING users.id INTO v_user;
            IF v_user IS NULL THEN
                RETURN QUERY SELECT 'username_taken'::text, false, NULL::bigint, NULL::text, NULL::text,
                    NULL::bigint, NULL::bigint;
                RETURN;
            END IF;
            IF p_initial > 0 THEN
                INSERT INTO movements (kind, debit_user_id, credit_user_id, amount,
                                       debit_balance_after, credit_balance_after, memo)
                VALUES ('deposit', 0, v_user, p_initial, NULL, p_initial, 'initial balance');
            END IF;
            IF p_key IS NOT NULL THEN
                INSERT INTO idempotency_keys (owner, key, fingerprint, outcome, detail, result_id, request_id)
                VALUES (0, p_key, v_fingerprint, 'applied', p_initial, v_user, p_request_id);
            END IF;
            RETURN QUERY SELECT 'applied'::text, false, u.id, u.name, u.username, u.balance,
                (extract(epoch FROM u.created_at) * 1000000)::bigint
            FROM users u WHERE u.id = v_user;
        END $$;
        """#
}
