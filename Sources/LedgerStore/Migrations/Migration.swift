/// A versioned change to the schema, applied once and recorded in `schema_migrations`.
package struct Migration: Sendable {
    package let version: Int
    package let name: String
    package let sql: String
}

extension Migration {
    /// Every migration, oldest first. Append new ones; never edit one that has shipped.
    package static let all: [Migration] = [
        Migration(version: 1, name: "core ledger", sql: Migration0001.sql),
        Migration(version: 2, name: "accounts and tokens", sql: Migration0002.sql),
        Migration(version: 3, name: "activity alerts", sql: Migration0003.sql),
        Migration(version: 4, name: "cheaper movements", sql: Migration0004.sql),
        Migration(version: 5, name: "single-column rules as domains", sql: Migration0005.sql),
        Migration(version: 6, name: "fewer steps per movement", sql: Migration0006.sql),
        Migration(version: 7, name: "movements wait for held rows outside SERIALIZABLE", sql: Migration0007.sql),
        Migration(version: 8, name: "tally_move returns a named row type", sql: Migration0008.sql),
        Migration(version: 9, name: "the movements' parties are many", sql: Migration0009.sql),
        Migration(version: 10, name: "cross-column rules as whole-row checks", sql: Migration0010.sql),
        Migration(version: 11, name: "a movement's balances without an aggregate", sql: Migration0011.sql),
        Migration(version: 12, name: "the pool's own role", sql: Migration0012.sql),
        Migration(version: 13, name: "failed log-ins per username", sql: Migration0013.sql),
        Migration(version: 14, name: "exact alert window sums; ended tokens purged", sql: Migration0014.sql),
        Migration(version: 15, name: "batches", sql: Migration0015.sql),
        Migration(version: 16, name: "the movements' parties checked once per statement", sql: Migration0016.sql),
        Migration(version: 17, name: "holds, reversals and limits", sql: Migration0017.sql),
    ]

    /// The schema version this build needs.
    package static var latestVersion: Int { all.last?.version ?? 0 }
}
