-- :keys idempotency records of the service role, two days old (past the default 24-hour retention), for the
-- purge scenario. Each names no movement (outcome not_found), so purging them touches nothing else.
-- usage: psql -v keys=N -f old-keys.sql
INSERT INTO idempotency_keys (owner, key, fingerprint, outcome, detail, request_id, created_at)
SELECT 0, 'bench-old-' || g, sha256(convert_to('bench-old-' || g, 'UTF8')), 'not_found', 0, 'bench-seed',
       now() - interval '2 days' - g * interval '1 millisecond'
FROM generate_series(1, :keys) AS g;
ANALYZE idempotency_keys;
