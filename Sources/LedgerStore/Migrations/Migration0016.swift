/// The movements' parties are proven to exist once per statement instead of once per row.
///
/// The two foreign keys of movements (debit_user_id, credit_user_id -> users) checked each new movement with a
/// query of its own that also locked the user's row (FOR KEY SHARE): callgrind on a single-user postgres, batches
/// of 100 uniform transfers, put them at 79,000 of 367,000 instructions per transfer (21%). The same invariant,
/// held by PostgreSQL: an AFTER INSERT trigger per statement looks up the parties of all the rows the statement
/// added (its transition table) at once; users are never deleted, which is what the foreign keys' row locks
/// guarded against, so that is refused outright, and the pool may update a user's balance only (a user's id was
/// never its to change; `tally verify` checks every movement's parties). Measured the same way: 29,000
/// instructions per transfer for the trigger, against 79,000 for the two keys.
enum Migration0016 {
    static let sql = #"""
        ALTER TABLE movements
            DROP CONSTRAINT movements_debit_user_id_fkey,
            DROP CONSTRAINT movements_credit_user_id_fkey;

        -- A lookup per party through the primary key, however many rows were added: a hash or merge join (or a
        -- hashed NOT EXISTS) would read the whole users table.
        CREATE FUNCTION tally_movements_parties_exist() RETURNS trigger
        LANGUAGE plpgsql SET enable_hashjoin = off SET enable_mergejoin = off AS $$
        BEGIN
            IF EXISTS (SELECT FROM added a
                       LEFT JOIN users d ON d.id = a.debit_user_id
                       LEFT JOIN users c ON c.id = a.credit_user_id
                       WHERE d.id IS NULL OR c.id IS NULL) THEN
                RAISE EXCEPTION 'a movement names a user who does not exist' USING ERRCODE = 'foreign_key_violation';
            END IF;
            RETURN NULL;
        END $$;
        CREATE TRIGGER movements_parties_exist AFTER INSERT ON movements REFERENCING NEW TABLE AS added
            FOR EACH STATEMENT EXECUTE FUNCTION tally_movements_parties_exist();
        CREATE TRIGGER movements_parties_still_exist AFTER UPDATE ON movements REFERENCING NEW TABLE AS added
            FOR EACH STATEMENT EXECUTE FUNCTION tally_movements_parties_exist();

        CREATE FUNCTION tally_users_are_kept() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'users are never deleted: movements name them' USING ERRCODE = 'foreign_key_violation';
        END $$;
        CREATE TRIGGER users_are_kept BEFORE DELETE OR TRUNCATE ON users
            FOR EACH STATEMENT EXECUTE FUNCTION tally_users_are_kept();

        REVOKE UPDATE ON users FROM tally_pool;
        GRANT UPDATE (balance) ON users TO tally_pool;
        """#
}
