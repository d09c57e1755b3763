-- One batch of the workers' own purge (Sources/LedgerStore/Statements.swift, purgeIdempotencyKeys): at most
-- 1,000 records past :retention seconds, oldest first, in a READ COMMITTED transaction of its own.
-- usage: PGOPTIONS='-c default_transaction_isolation=read\ committed' psql -v retention=86400 -f purge.sql
--        (prints the number deleted)
WITH gone AS (
    DELETE FROM idempotency_keys WHERE (owner, key) IN (
        SELECT owner, key FROM idempotency_keys WHERE created_at < now() - make_interval(secs => :retention)
        ORDER BY created_at LIMIT 1000)
    RETURNING key)
SELECT count(*) FROM gone;
