-- Grows the journal by :pairs pairs of transfers, fast, for the read and growth scenarios: each pair moves
-- 0.01 from a random user a to a random other user b and back, so every balance ends where it was and each
-- movement's balances after are those a real history would show (the users' balances when this runs; nothing
-- else may move money meanwhile). `tally verify` stays clean.
-- usage: psql -v pairs=N -v first=FIRST_USER_ID -v users=COUNT -f movements.sql
--
-- The user ids come from the users table itself, so the foreign-key triggers, which would check each of the
-- millions of rows one by one, are skipped for this session (session_replication_role; needs a superuser).
SET session_replication_role = replica;
BEGIN;
INSERT INTO movements (kind, debit_user_id, credit_user_id, amount, debit_balance_after, credit_balance_after)
WITH pairs AS MATERIALIZED (
    SELECT g, a, :first + (a - :first + 1 + floor(random() * (:users - 1))::bigint) % :users AS b
    FROM (SELECT g, :first + floor(random() * :users)::bigint AS a FROM generate_series(1, :pairs) AS g) AS drawn
)
SELECT 'transfer',
       CASE leg WHEN 1 THEN p.a ELSE p.b END,
       CASE leg WHEN 1 THEN p.b ELSE p.a END,
       1,
       CASE leg WHEN 1 THEN ua.balance - 1 ELSE ub.balance END,
       CASE leg WHEN 1 THEN ub.balance + 1 ELSE ua.balance END
FROM pairs p
JOIN users ua ON ua.id = p.a
JOIN users ub ON ub.id = p.b
CROSS JOIN (VALUES (1), (2)) AS legs (leg)
ORDER BY p.g, leg;
COMMIT;
RESET session_replication_role;
