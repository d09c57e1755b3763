/// tally_move made cheaper, with the same outcomes and result columns: it returns one record instead of a set,
/// updates the balances straight away instead of reading them first, and claims an idempotency key with the
/// outcome it expects, so that an applied movement writes its key once. The movements' constraints say the same
/// in smaller expressions.
enum Migration0004 {
    static let sql = #"""
        -- Each INSERT reads every CHECK constraint of movements back from its stored text and plans it anew
        -- (PostgreSQL keeps no compiled form between statements): a large part of a transfer's CPU time went
        -- there. The same invariants, smaller: the list of kinds is implied by the kind matching the parties,
        -- and that check, written as a CASE, now also holds the two parties' being different.
        ALTER TABLE movements
            DROP CONSTRAINT movements_kind_check,
            DROP CONSTRAINT movements_two_parties,
            DROP CONSTRAINT movements_kind_matches_parties,
            ADD CONSTRAINT movements_kind_matches_parties CHECK (
                debit_user_id <> credit_user_id AND kind = CASE WHEN debit_user_id = 0 THEN 'deposit'
                                                                WHEN credit_user_id = 0 THEN 'withdrawal'
                                                                ELSE 'transfer' END);

        DROP FUNCTION tally_move(bytea, bigint, text, bigint, bigint, bigint, text, text, text, text);

        -- Checks the caller's token and right to act on p_acting_user, then moves p_amount from p_debit to
        -- p_credit (0 is the outside world), or refuses, recording the outcome under (caller, p_key).
        -- One call is one round trip, authentication included.
        --
        -- What it reads, and so what it leaves predicate locks on under SERIALIZABLE, is the token and the
        -- rows it updates; a refusal also reads the users' rows to say why. In particular:
        -- - a key is claimed by inserting it (ON CONFLICT DO NOTHING) rather than by looking for it; a
        --   concurrent request with the same key waits for this one and then fails to serialize, and its
        --   retry replays this outcome;
        -- - the balances are updated at once, guarded by the refusal conditions (UPDATE ... WHERE balance >=
        --   amount), rather than read and then updated;
        -- - the movement's values come from INSERT ... RETURNING, not from reading it back.
        -- It returns one record (OUT parameters), not a set: no tuplestore per call.
        CREATE FUNCTION tally_move(p_token bytea, p_acting_user bigint, p_kind text, p_debit bigint,
                                   p_credit bigint, p_amount bigint, p_memo text, p_key text,
                                   p_fingerprint text, p_request_id text,
                                   OUT outcome text, OUT replayed boolean, OUT detail bigint, OUT request_id text,
                                   OUT id bigint, OUT kind text, OUT debit_user_id bigint,
                                   OUT credit_user_id bigint, OUT amount bigint, OUT debit_balance_after bigint,
                                   OUT credit_balance_after bigint, OUT memo text, OUT created_at_us bigint)
        LANGUAGE plpgsql AS $$
        DECLARE
            v_caller record;
            v_owner bigint;
            v_fingerprint bytea;
            v_key idempotency_keys%ROWTYPE;
            v_movement bigint;
            v_debit_balance bigint;
            v_credit_balance bigint;
            v_applied boolean;
        BEGIN
            replayed := false;
            request_id := p_request_id;

            SELECT * INTO v_caller FROM tally_caller(p_token);
            IF NOT FOUND THEN
                outcome := 'unauthorized';
                RETURN;
            ELSIF v_caller.role <> 'service' AND v_caller.user_id IS DISTINCT FROM p_acting_user THEN
                outcome := 'forbidden';
                RETURN;
            END IF;

            IF p_key IS NOT NULL THEN
                -- Claimed as applied, with the movement's id drawn now: an applied movement, the usual case,
                -- then needs no second write of its key. A refusal overwrites both below; until this
                -- transaction commits nobody else sees the row.
                v_owner := COALESCE(v_caller.user_id, 0);
                v_fingerprint := sha256(convert_to(p_fingerprint, 'UTF8'));
                INSERT INTO idempotency_keys (owner, key, fingerprint, outcome, result_id, request_id)
                VALUES (v_owner, p_key, v_fingerprint, 'applied', nextval('movements_id_seq'), p_request_id)
                ON CONFLICT DO NOTHING
                RETURNING idempotency_keys.result_id INTO v_movement;
                IF NOT FOUND THEN
                    -- The key was used before: replay its outcome, or refuse a different request.
                    SELECT * INTO v_key FROM idempotency_keys k WHERE k.owner = v_owner AND k.key = p_key;
                    IF v_key.fingerprint <> v_fingerprint THEN
                        outcome := 'key_reused';
                        RETURN;
                    END IF;
                    outcome := v_key.outcome;
                    replayed := true;
                    detail := v_key.detail;
                    request_id := v_key.request_id;
                    IF v_key.result_id IS NOT NULL THEN
                        SELECT m.id, m.kind, m.debit_user_id, m.credit_user_id, m.amount, m.debit_balance_after,
                               m.credit_balance_after, m.memo, (extract(epoch FROM m.created_at) * 1000000)::bigint
                        INTO id, kind, debit_user_id, credit_user_id, amount, debit_balance_after,
                             credit_balance_after, memo, created_at_us
                        FROM movements m WHERE m.id = v_key.result_id;
                    END IF;
                    RETURN;
                END IF;
            END IF;

            -- Each UPDATE finds nothing when its side would refuse (an unknown user, the system account, too
            -- little money, a credit past the largest bigint). The lower id is updated first, so that two
            -- transfers in opposite directions cannot deadlock; when the second side refuses, the first is put
            -- back, so a refusal leaves every balance as it was.
            IF p_debit = p_credit OR p_amount IS NULL OR p_amount <= 0 THEN
                NULL;  -- Not a movement: refused below, as version 2 refused it.
            ELSIF p_debit <> 0 AND (p_credit = 0 OR p_debit < p_credit) THEN
                UPDATE users u SET balance = u.balance - p_amount WHERE u.id = p_debit AND u.balance >= p_amount
                RETURNING u.balance INTO v_debit_balance;
                v_applied := FOUND;
                IF v_applied AND p_credit <> 0 THEN
                    UPDATE users u SET balance = u.balance + p_amount
                    WHERE u.id = p_credit AND u.balance <= 9223372036854775807 - p_amount
                    RETURNING u.balance INTO v_credit_balance;
                    v_applied := FOUND;
                    IF NOT v_applied THEN
                        UPDATE users u SET balance = u.balance + p_amount WHERE u.id = p_debit;
                    END IF;
                END IF;
            ELSE
                UPDATE users u SET balance = u.balance + p_amount
                WHERE u.id = p_credit AND u.balance <= 9223372036854775807 - p_amount
                RETURNING u.balance INTO v_credit_balance;
                v_applied := FOUND;
                IF v_applied AND p_debit <> 0 THEN
                    UPDATE users u SET balance = u.balance - p_amount WHERE u.id = p_debit AND u.balance >= p_amount
                    RETURNING u.balance INTO v_debit_balance;
                    v_applied := FOUND;
                    IF NOT v_applied THEN
                        UPDATE users u SET balance = u.balance - p_amount WHERE u.id = p_credit;
                    END IF;
                END IF;
            END IF;

            IF v_applied THEN
                outcome := 'applied';
                INSERT INTO movements (id, kind, debit_user_id, credit_user_id, amount,
                                       debit_balance_after, credit_balance_after, memo)
                VALUES (COALESCE(v_movement, nextval('movements_id_seq')), p_kind, p_debit, p_credit, p_amount,
                        v_debit_balance, v_credit_balance, p_memo)
                RETURNING movements.id, movements.kind, movements.debit_user_id, movements.credit_user_id,
                          movements.amount, movements.debit_balance_after, movements.credit_balance_after,
                          movements.memo, (extract(epoch FROM movements.created_at) * 1000000)::bigint
                INTO id, kind, debit_user_id, credit_user_id, amount, debit_balance_after, credit_balance_after,
                     memo, created_at_us;
                RETURN;
            END IF;

            -- Refused, and every balance is as this transaction found it: say why, in the order version 2 did.
            SELECT (SELECT u.balance FROM users u WHERE u.id = p_debit AND NOT u.is_system),
                   (SELECT u.balance FROM users u WHERE u.id = p_credit AND NOT u.is_system)
            INTO v_debit_balance, v_credit_balance;
            IF p_debit <> 0 AND v_debit_balance IS NULL THEN
                outcome := 'not_found'; detail := p_debit;
            ELSIF p_credit <> 0 AND v_credit_balance IS NULL THEN
                outcome := 'not_found'; detail := p_credit;
            ELSIF p_debit <> 0 AND v_debit_balance < p_amount THEN
                outcome := 'insufficient_funds'; detail := v_debit_balance;
            ELSIF p_credit <> 0 AND v_credit_balance > 9223372036854775807 - p_amount THEN
                outcome := 'balance_limit'; detail := v_credit_balance;
            ELSIF v_applied IS NULL THEN
                -- The same user on both sides, or no amount: the movement's constraints refuse it.
                INSERT INTO movements (kind, debit_user_id, credit_user_id, amount, memo)
                VALUES (p_kind, p_debit, p_credit, p_amount, p_memo);
                RAISE EXCEPTION 'tally_move: the movement''s constraints let % of % from % to % through',
                    p_kind, p_amount, p_debit, p_credit;
            ELSE
                RAISE EXCEPTION 'tally_move: refused % of % from % to % without a reason',
                    p_kind, p_amount, p_debit, p_credit;
            END IF;

            IF p_key IS NOT NULL THEN
                UPDATE idempotency_keys k SET outcome = tally_move.outcome, detail = tally_move.detail,
                    result_id = NULL
                WHERE k.owner = v_owner AND k.key = p_key;
            END IF;
        END $$;
        """#
}
