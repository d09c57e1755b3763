/// The single-column rules of users, movements and idempotency keys as domains instead of table CHECK
/// constraints, with the same invariants.
///
/// PostgreSQL 15 keeps a table's CHECK constraints as stored text: every INSERT or UPDATE statement parses each
/// of them again and plans it (ExecRelCheck), whichever columns changed. A transfer updates two users (five
/// checks each) and inserts a movement (five more): parsing those fifteen expressions was the largest single
/// item in a transfer's profile. A domain's check is parsed once per connection (the type cache) and runs only
/// when a value is assigned to a column of that type: a balance update checks the balance, not the name.
/// What needs two columns stays a table constraint, one per table.
enum Migration0005 {
    static let sql = #"""
        CREATE DOMAIN minor_units AS bigint CHECK (VALUE >= 0);
        CREATE DOMAIN positive_minor_units AS bigint CHECK (VALUE > 0);
        CREATE DOMAIN user_name AS text CHECK (char_length(VALUE) BETWEEN 1 AND 200);
        CREATE DOMAIN username AS text CHECK (VALUE ~ '^[A-Za-z0-9._-]{3,64}$');
        CREATE DOMAIN memo AS text CHECK (char_length(VALUE) <= 500);
        CREATE DOMAIN idempotency_key AS text CHECK (char_length(VALUE) BETWEEN 1 AND 255);

        -- The system account's balance is NULL, which a domain's check lets through: whether a NULL balance is
        -- right depends on is_system, which the table constraint below says.
        ALTER TABLE users
            DROP CONSTRAINT users_name_check,
            DROP CONSTRAINT users_username_check,
            DROP CONSTRAINT users_balance_non_negative,
            DROP CONSTRAINT users_system_has_no_stored_balance,
            DROP CONSTRAINT users_password_needs_username,
            ALTER COLUMN name TYPE user_name,
            ALTER COLUMN username TYPE username,
            ALTER COLUMN balance TYPE minor_units,
            ADD CONSTRAINT users_consistent CHECK (
                -- Only the system account has no stored balance; a password needs a username to log in with.
                is_system = (balance IS NULL) AND (password_hash IS NULL OR username IS NOT NULL));

        ALTER TABLE movements
            DROP CONSTRAINT movements_amount_check,
            DROP CONSTRAINT movements_debit_balance_after_check,
            DROP CONSTRAINT movements_credit_balance_after_check,
            DROP CONSTRAINT movements_memo_check,
            ALTER COLUMN amount TYPE positive_minor_units,
            ALTER COLUMN debit_balance_after TYPE minor_units,
            ALTER COLUMN credit_balance_after TYPE minor_units,
            ALTER COLUMN memo TYPE memo;

        ALTER TABLE idempotency_keys
            DROP CONSTRAINT idempotency_keys_key_check,
            ALTER COLUMN key TYPE idempotency_key;

        -- tally_create_user as version 2 wrote it, but for the casts: RETURN QUERY wants the declared result
        -- types exactly, and a column of a domain type is not its base type there.
        CREATE OR REPLACE FUNCTION tally_create_user(p_name text, p_initial bigint, p_username text,
                                                     p_password_hash text, p_key text, p_fingerprint text,
                                                     p_request_id text)
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
                    RETURN QUERY SELECT v_key.outcome, true, u.id, u.name::text, u.username::text, v_key.detail,
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
            RETURN QUERY SELECT 'applied'::text, false, u.id, u.name::text, u.username::text, u.balance::bigint,
                (extract(epoch FROM u.created_at) * 1000000)::bigint
            FROM users u WHERE u.id = v_user;
        END $$;
        """#
}
