import Postgres

/// Applies the schema migrations that a database has not had yet, each in its own transaction.
package struct Migrator {
    let connection: Connection

    package init(connection: Connection) {
        self.connection = connection
    }

    /// The newest migration applied, 0 for an empty database.
    package func currentVersion() throws -> Int {
        let exists = try connection.query("SELECT to_regclass('schema_migrations') IS NOT NULL AS present")
        guard exists.first?.bool("present") == true else { return 0 }
        let rows = try connection.query("SELECT COALESCE(max(version), 0) AS version FROM schema_migrations")
        return Int(rows.first?.int64("version") ?? 0)
    }

    /// Applies what is missing and returns the migrations it applied.
    @discardableResult
    package func migrate(_ migrations: [Migration] = Migration.all) throws -> [Migration] {
        try connection.execute(script: "SET client_min_messages = warning")
        try connection.execute(
            script: """
                CREATE TABLE IF NOT EXISTS schema_migrations (
                    version integer PRIMARY KEY,
                    name text NOT NULL,
                    applied_at timestamptz NOT NULL DEFAULT now()
                )
                """)
        var applied: [Migration] = []
        for migration in migrations {
            try connection.execute(script: "BEGIN")
            do {
                // Two `migrate` runs at once: the second waits here, then sees the version recorded.
                try connection.execute(script: "LOCK TABLE schema_migrations IN EXCLUSIVE MODE")
                let done = try connection.query(
                    "SELECT 1 FROM schema_migrations WHERE version = $1", [String(migration.version)])
                if done.isEmpty {
                    try connection.execute(script: migration.sql)
                    try connection.query(
                        "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                        [String(migration.version), migration.name])
                    applied.append(migration)
                }
                try connection.execute(script: "COMMIT")
            } catch {
                try? connection.execute(script: "ROLLBACK")
                throw error
            }
        }
        return applied
    }
}
