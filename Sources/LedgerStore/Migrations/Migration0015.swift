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

        GRANT SELECT, INSERT ON batches TO tally_pool;
        GRANT USAGE, SELECT ON SEQUENCE batches_id_seq TO tally_pool;
        GRANT EXECUTE ON FUNCTION tally_batch_start(bytea, text, text, text) TO tally_pool;
        """#
}
