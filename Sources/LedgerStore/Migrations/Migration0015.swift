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
/// `tally_batch_transfers` is the way most batches take: transfers without keys of their own, checked and applied
/// as sets rather than one tally_move each. It reads every account once, computes each item's balances after it
/// in item order (a running sum per account, so that A pays B then B pays C works with B starting at nothing),
/// and finds the first item its single endpoint would refuse, for the same reason in the same order as
/// tally_move (forbidden, the payer missing, the payee missing, insufficient funds, the payee's balance past the
/// largest). If there is none, it moves each account by its net change in one UPDATE and inserts the movements in
/// one INSERT, with ids drawn in item order; if there is one, it changes nothing and says which and why (an
/// item-by-item batch then goes item by item).
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

        ALTER TABLE movements
            ADD COLUMN batch_id bigint DEFAULT NULLIF(current_setting('tally.batch_id', true), '')::bigint;
        CREATE INDEX movements_batch_id ON movements (batch_id) WHERE batch_id IS NOT NULL;

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
                                              p_memo text[])
        RETURNS TABLE (outcome text, refused_index integer, detail bigint, ids bigint[], debit_after bigint[],
                       credit_after bigint[], created_at_us bigint)
        LANGUAGE plpgsql SET lock_timeout = '200ms' AS $$
        #variable_conflict use_column
        DECLARE
            v_caller record;
            v_forbidden boolean;
            v_debit numeric[];
            v_credit numeric[];
            v_first integer;
            v_ids bigint[];
        BEGIN
            SELECT * INTO v_caller FROM tally_caller(p_token);
            IF NOT FOUND THEN
                RETURN QUERY SELECT 'unauthorized'::text, NULL::integer, NULL::bigint, NULL::bigint[], NULL::bigint[],
                    NULL::bigint[], NULL::bigint;
                RETURN;
            END IF;

            -- Each item's two legs, each account's balance read once, and the running balance after every leg
            -- (NULL for an account that does not exist); then each item's payer and payee balance after it.
            WITH item AS (
                SELECT x.i::integer AS i, x.f, x.t, x.a
                FROM unnest(p_from, p_to, p_amount) WITH ORDINALITY AS x(f, t, a, i)),
            leg AS (
                SELECT i, f AS account, -a AS delta, true AS is_debit FROM item
                UNION ALL
                SELECT i, t, a, false FROM item),
            account AS (
                SELECT u.id, u.balance FROM users u WHERE u.id = ANY(p_from || p_to) AND NOT u.is_system),
            running AS (
                SELECT l.i, l.is_debit, a.balance + sum(l.delta) OVER (PARTITION BY l.account ORDER BY l.i) AS after
                FROM leg l LEFT JOIN account a ON a.id = l.account),
            per_item AS (
                SELECT item.i, item.f, d.after AS debit_after, c.after AS credit_after
                FROM item
                JOIN running d ON d.i = item.i AND d.is_debit
                JOIN running c ON c.i = item.i AND NOT c.is_debit)
            SELECT array_agg(p.debit_after ORDER BY p.i), array_agg(p.credit_after ORDER BY p.i),
                   min(p.i) FILTER (WHERE (v_caller.role <> 'service' AND p.f IS DISTINCT FROM v_caller.user_id)
                                       OR p.debit_after IS NULL OR p.credit_after IS NULL OR p.debit_after < 0
                                       OR p.credit_after > 9223372036854775807)
            INTO v_debit, v_credit, v_first
            FROM per_item p;

            IF v_first IS NOT NULL THEN
                v_forbidden := v_caller.role <> 'service' AND p_from[v_first] IS DISTINCT FROM v_caller.user_id;
                RETURN QUERY SELECT
                    CASE WHEN v_forbidden THEN 'forbidden'
                         WHEN v_debit[v_first] IS NULL OR v_credit[v_first] IS NULL THEN 'not_found'
                         WHEN v_debit[v_first] < 0 THEN 'insufficient_funds'
                         ELSE 'balance_limit' END,
                    v_first - 1,
                    CASE WHEN v_forbidden THEN NULL
                         WHEN v_debit[v_first] IS NULL THEN p_from[v_first]
                         WHEN v_credit[v_first] IS NULL THEN p_to[v_first]
                         WHEN v_debit[v_first] < 0 THEN (v_debit[v_first] + p_amount[v_first])::bigint
                         ELSE (v_credit[v_first] - p_amount[v_first])::bigint END,
                    NULL::bigint[], NULL::bigint[], NULL::bigint[], NULL::bigint;
                RETURN;
            END IF;

            UPDATE users u SET balance = u.balance + n.net
            FROM (SELECT l.account, sum(l.delta) AS net
                  FROM (SELECT unnest(p_from) AS account, -unnest(p_amount) AS delta
                        UNION ALL SELECT unnest(p_to), unnest(p_amount)) l
                  GROUP BY l.account) n
            WHERE u.id = n.account AND n.net <> 0;

            v_ids := ARRAY(SELECT nextval('movements_id_seq') FROM generate_series(1, cardinality(p_from)));
            INSERT INTO movements (id, kind, debit_user_id, credit_user_id, amount, debit_balance_after,
                                   credit_balance_after, memo)
            SELECT x.id, 'transfer', x.f, x.t, x.a, x.d, x.c, x.m
            FROM unnest(v_ids, p_from, p_to, p_amount, v_debit::bigint[], v_credit::bigint[], p_memo)
                 AS x(id, f, t, a, d, c, m);
            RETURN QUERY SELECT 'applied'::text, NULL::integer, NULL::bigint, v_ids, v_debit::bigint[],
                v_credit::bigint[], (extract(epoch FROM now()) * 1000000)::bigint;
        END $$;

        GRANT SELECT, INSERT ON batches TO tally_pool;
        GRANT USAGE, SELECT ON SEQUENCE batches_id_seq TO tally_pool;
        GRANT EXECUTE ON FUNCTION tally_batch_start(bytea, text, text, text) TO tally_pool;
        GRANT EXECUTE ON FUNCTION tally_batch_transfers(bytea, bigint[], bigint[], bigint[], text[]) TO tally_pool;
        """#
}
