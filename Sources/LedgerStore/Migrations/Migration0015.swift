/// Batches: many movements in one request and one transaction (POST /api/batches).
///
/// A batch is a row of its own, written last in the batch's transaction: who sent it, atomic or not, and one
/// entry per item in three arrays of the same length, in item order: the movement the item made or replayed
/// (NULL when refused), its outcome (`applied`, `replayed`, or the refusal's code as idempotency_keys stores
/// it) and the refusal's detail. Arrays rather than a row per item: a batch is read and written whole, and a
/// thousand-item batch stays one row.
///
/// Each movement a batch made carries the batch's id. The batch's transaction sets `tally.batch_id` (SET LOCAL)
/// once, and the column's default reads it, so that the movement functions (tally_move, tally_cash_event) insert
/// a batch's movements unchanged; outside a batch the setting is unset or empty and the column NULL. There is no
/// foreign key: the batch row is written after its movements, in the same transaction (tally verify checks that
/// every batch_id names a batch and every batch's movements carry it).
///
/// `tally_batch_start` opens a batch's transaction: who the token stands for, the batch's id (drawn now, so that
/// an answer lost at COMMIT can be settled by looking for it), and the request's Idempotency-Key claimed (or what
/// it stood for before). An atomic batch refused by one of its items is stored under its key with the item's
/// index (`batch_index`), so a repeat answers the same refusal.
///
/// `tally_batch_transfers` is the way most batches take: transfers, checked and applied as sets rather than one
/// tally_move each. It moves each account by its net change in one UPDATE (which reads every balance before the
/// batch on the way), computes each item's balances after it in item order (a running sum per account, so that A
/// pays B then B pays C works with B starting at nothing), claims the items' keys, and inserts the movements (ids
/// drawn in item order) and the batch's row. If an item is to be refused, it undoes that and finds the first such
/// item, for the same reason in the same order as tally_move (forbidden, the payer missing, the payee missing,
/// insufficient funds, the payee's balance past the largest); if a key was seen before, it undoes it too and says
/// so. Either way no movement was made and the transaction may commit: an atomic batch's refusal is stored under
/// the request's key, and a batch that is to go item by item gives the key back for its next transaction.
enum Migration0015 {
    static let sql = #"""
        CREATE TABLE batches (
            id              bigserial PRIMARY KEY,
            atomic          boolean NOT NULL,
            sender_user_id  bigint,             -- NULL: the service role
            movement_ids    bigint[] NOT NULL,
            outcomes        text[] NOT NULL,
            details         bigint[] NOT NULL,
            request_id      text NOT NULL,
            created_at      timestamptz NOT NULL DEFAULT now(),
            CONSTRAINT batches_items CHECK (
                cardinality(outcomes) BETWEEN 1 AND 1000
                AND cardinality(movement_ids) = cardinality(outcomes)
                AND cardinality(details) = cardinality(outcomes))
        );

        -- No index: a batch's movements are found through its row (movement_ids), by their primary key.
        ALTER TABLE movements
            ADD COLUMN batch_id bigint DEFAULT NULLIF(current_setting('tally.batch_id', true), '')::bigint;

        ALTER TABLE idempotency_keys ADD COLUMN batch_index integer;

        CREATE FUNCTION tally_batch_start(p_token bytea, p_key text, p_fingerprint text, p_request_id text)
        RETURNS TABLE (batch_id bigint, user_id bigint, role text, key_state text, outcome text, detail bigint,
                       result_id bigint, batch_index integer, request_id text)
        LANGUAGE plpgsql AS $$
        #variable_conflict use_column
        DECLARE
            v_caller record;
            v_owner bigint;
            v_batch bigint;
            v_key idempotency_keys%ROWTYPE;
        BEGIN
            SELECT * INTO v_caller FROM tally_caller(p_token);
            IF NOT FOUND THEN
                RETURN;  -- no row: the token is not live
            END IF;
            v_batch := nextval('batches_id_seq');
            PERFORM set_config('tally.batch_id', v_batch::text, true);
            IF p_key IS NULL THEN
                RETURN QUERY SELECT v_batch, v_caller.user_id, v_caller.role, 'none'::text, NULL::text,
                    NULL::bigint, NULL::bigint, NULL::integer, p_request_id;
                RETURN;
            END IF;
            v_owner := COALESCE(v_caller.user_id, 0);
            INSERT INTO idempotency_keys (owner, key, fingerprint, outcome, result_id, request_id)
            VALUES (v_owner, p_key, sha256(convert_to(p_fingerprint, 'UTF8')), 'batch', v_batch, p_request_id)
            ON CONFLICT DO NOTHING;
            IF FOUND THEN
                RETURN QUERY SELECT v_batch, v_caller.user_id, v_caller.role, 'claimed'::text, NULL::text,
                    NULL::bigint, NULL::bigint, NULL::integer, p_request_id;
                RETURN;
            END IF;
            SELECT * INTO v_key FROM idempotency_keys k WHERE k.owner = v_owner AND k.key = p_key;
            RETURN QUERY SELECT v_batch, v_caller.user_id, v_caller.role,
                CASE WHEN v_key.fingerprint = sha256(convert_to(p_fingerprint, 'UTF8')) THEN 'replay'
                     ELSE 'reused' END,
                v_key.outcome, v_key.detail, v_key.result_id, v_key.batch_index, v_key.request_id;
        END $$;

        CREATE FUNCTION tally_batch_transfers(p_token bytea, p_from bigint[], p_to bigint[], p_amount bigint[],
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
                    RETURNING u.id, u.balance - n.change AS before)
                SELECT array_agg(m.id), array_agg(m.before) INTO v_moved, v_before FROM moved m;
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
                     OR SQLSTATE 'TB002' THEN
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

        -- Each item's payer and payee balance after it, in item order, from each account's balance before the
        -- batch (`p_accounts`, `p_balances`; NULL after it for an account not among them), and the first item
        -- (1-based) that would take a balance below zero or past the largest, or names a missing account.
        CREATE FUNCTION tally_batch_balances(p_from bigint[], p_to bigint[], p_amount bigint[], p_accounts bigint[],
                                             p_balances numeric[])
        RETURNS TABLE (debit_after numeric[], credit_after numeric[], first_refused integer)
        LANGUAGE sql IMMUTABLE AS $$
            WITH item AS (
                SELECT x.i::integer AS i, x.f, x.t, x.a
                FROM unnest(p_from, p_to, p_amount) WITH ORDINALITY AS x(f, t, a, i)),
            leg AS (
                SELECT i, f AS account, -a AS delta, true AS is_debit FROM item
                UNION ALL
                SELECT i, t, a, false FROM item),
            running AS (
                SELECT l.i, l.is_debit, b.balance + sum(l.delta) OVER (PARTITION BY l.account ORDER BY l.i) AS after
                FROM leg l LEFT JOIN unnest(p_accounts, p_balances) AS b(account, balance) ON b.account = l.account),
            per_item AS (
                SELECT d.i, d.after AS debit_after, c.after AS credit_after
                FROM running d JOIN running c ON c.i = d.i AND NOT c.is_debit
                WHERE d.is_debit)
            SELECT array_agg(p.debit_after ORDER BY p.i), array_agg(p.credit_after ORDER BY p.i),
                   min(p.i) FILTER (WHERE p.debit_after IS NULL OR p.credit_after IS NULL OR p.debit_after < 0
                                       OR p.credit_after > 9223372036854775807)
            FROM per_item p
        $$;

        GRANT SELECT, INSERT ON batches TO tally_pool;
        GRANT USAGE, SELECT ON SEQUENCE batches_id_seq TO tally_pool;
        GRANT EXECUTE ON FUNCTION tally_batch_start(bytea, text, text, text) TO tally_pool;
        GRANT EXECUTE ON FUNCTION tally_batch_transfers(bytea, bigint[], bigint[], bigint[], text[], text[], text[],
                                                        bigint, boolean, text, text) TO tally_pool;
        GRANT EXECUTE ON FUNCTION tally_batch_balances(bigint[], bigint[], bigint[], bigint[], numeric[]) TO tally_pool;
        """#
}
