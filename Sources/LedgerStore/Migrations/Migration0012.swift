/// The pool's own role, `tally_pool`: it logs in, runs the ledger's functions and reads and writes the rows they
/// touch, and nothing else. It is not a superuser and owns nothing, so it cannot ALTER, DROP or TRUNCATE a table,
/// create objects in the schema, or run COPY ... TO PROGRAM. Migrations keep running as the database's owner.
///
/// Roles belong to the cluster, not to a database: the role is made once and reused by every database of the
/// cluster that Tally migrates. Its password, where it needs one (TCP, as in docker-compose), is set by the
/// deployment; on a local socket it authenticates by peer.
///
/// Two databases of one cluster migrated at once may both find the role missing: the second CREATE ROLE then
/// fails (a duplicate, or a unique violation on pg_authid) and is ignored, since the role is there.
///
/// Every later migration that adds a table or sequence grants `tally_pool` what the pool needs of it.
enum Migration0012 {
    static let sql = """
        DO $$
        BEGIN
            IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'tally_pool') THEN
                BEGIN
                    CREATE ROLE tally_pool LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS;
                EXCEPTION WHEN duplicate_object OR unique_violation THEN
                    NULL;
                END;
            ELSIF EXISTS (
                SELECT FROM pg_roles WHERE rolname = 'tally_pool'
                AND (NOT rolcanlogin OR rolsuper OR rolcreatedb OR rolcreaterole OR rolreplication OR rolbypassrls)
            ) THEN
                -- A role of that name made by hand before gets exactly these attributes too. Only then: two
                -- databases migrated at once would otherwise update the role's row together ("tuple
                -- concurrently updated").
                ALTER ROLE tally_pool LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS;
            END IF;
        END
        $$;
        REVOKE ALL ON ALL TABLES IN SCHEMA public FROM tally_pool;
        -- PostgreSQL 15 no longer lets every role create objects in public; older servers did.
        REVOKE CREATE ON SCHEMA public FROM PUBLIC;
        GRANT USAGE ON SCHEMA public TO tally_pool;
        GRANT SELECT ON schema_migrations TO tally_pool;
        GRANT SELECT, INSERT, UPDATE ON users, tokens TO tally_pool;
        GRANT SELECT, INSERT ON movements, alerts, cash_events TO tally_pool;
        GRANT SELECT, INSERT, UPDATE, DELETE ON idempotency_keys TO tally_pool;
        GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO tally_pool;
        GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO tally_pool;
        """
}
