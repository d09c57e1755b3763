import Foundation
import Ledger
import LedgerStore
import Postgres
import Testing

@Suite("The pool's own role", .serialized)
struct PoolRoleTests {
    /// What the pool must never do: change the schema, empty a table, run a program, make a role, rewrite history.
    static let forbidden = [
        "ALTER TABLE users ADD COLUMN intruder integer",
        "DROP TABLE movements",
        "TRUNCATE idempotency_keys",
        "CREATE TABLE intruder (x integer)",
        "COPY (SELECT 1) TO PROGRAM 'true'",
        "CREATE ROLE intruder",
        "UPDATE schema_migrations SET name = name",
        "DELETE FROM movements",
        "ALTER FUNCTION tally_caller(bytea) OWNER TO tally_pool",
    ]

    @Test("migrations make tally_pool a login role with no attribute beyond logging in")
    func attributes() throws {
        try TestDatabase.with { database in
            let row = try database.connection().query(
                """
                SELECT rolcanlogin, rolsuper OR rolcreaterole OR rolcreatedb OR rolreplication OR rolbypassrls AS more,
                       (SELECT count(*) FROM pg_class WHERE relowner = r.oid) AS owned
                FROM pg_roles r WHERE rolname = $1
                """, [PoolRole.name]
            ).first
            #expect(row?["rolcanlogin"] == "t")
            #expect(row?["more"] == "f")
            #expect(row?["owned"] == "0")
        }
    }

    @Test("connected as tally_pool, the ledger works and every schema change is refused with 42501")
    func rights() throws {
        try TestDatabase.with { database in
            let poolConninfo = database.conninfo + " user=\(PoolRole.name)"
            let pool = PostgresLedger(conninfo: poolConninfo)
            let payer = try pool.newUserID(name: "payer", minorUnits: 500)
            let payee = try pool.newUserID(name: "payee")
            _ = try pool.move(
                .transfer, debitUserID: payer, creditUserID: payee, amount: Money(minorUnits: 200), memo: nil,
                idempotency: IdempotencyContext(key: "k1", fingerprint: "f"), requestID: "t")
            #expect(try database.scalar("SELECT balance FROM users WHERE id = $1", [String(payee)]) == "200")

            let connection = try Connection(conninfo: poolConninfo)
            #expect(try connection.query("SELECT current_user AS me").first?["me"] == PoolRole.name)
            for statement in Self.forbidden {
                do {
                    try connection.execute(script: statement)
                    Issue.record("tally_pool ran: \(statement)")
                } catch let error as PostgresError {
                    #expect(error.sqlState == "42501", "\(statement): \(error)")
                }
            }
            #expect(
                try database.scalar("SELECT count(*) FROM movements WHERE debit_user_id = $1", [String(payer)]) == "1")
        }
    }

    @Test("setting the pool's password stores a SCRAM-SHA-256 verifier, never the password")
    func password() throws {
        try TestDatabase.with { database in
            let connection = try database.connection()
            defer { try? connection.execute(script: "ALTER ROLE \(PoolRole.name) PASSWORD NULL") }
            let secret = "pool-\(UInt64.random(in: 0...UInt64.max))"
            try PoolRole.setPassword(secret, on: connection)
            let stored = try database.scalar("SELECT rolpassword FROM pg_authid WHERE rolname = $1", [PoolRole.name])
            #expect(stored?.hasPrefix("SCRAM-SHA-256$4096:") == true)
            #expect(stored?.contains(secret) == false)
        }
    }
}
