-- :users users with 1,000.00 each, through the real schema: every balance has its deposit in the journal,
-- so that `tally verify` holds. (SQL rather than thousands of API calls: the seed is not what is measured.)
-- usage: psql -v users=10000 -f users.sql
BEGIN;
INSERT INTO users (name, balance) SELECT 'bench user ' || g, 100000 FROM generate_series(1, :users) AS g;
INSERT INTO movements (kind, debit_user_id, credit_user_id, amount, debit_balance_after, credit_balance_after, memo)
    SELECT 'deposit', 0, id, balance, NULL, balance, 'bench seed' FROM users WHERE NOT is_system ORDER BY id;
COMMIT;
ANALYZE;
