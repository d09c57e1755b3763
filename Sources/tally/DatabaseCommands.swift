import Credentials
import Ledger
import LedgerStore
import Postgres

/// `tally migrate`: applies the migrations the database lacks.
enum MigrateCommand {
    static func run(_ options: Options) throws -> Int32 {
        let migrator = Migrator(connection: try Connection(conninfo: options.database))
        let applied = try migrator.migrate()
        for migration in applied {
            print("applied migration \(migration.version): \(migration.name)")
        }
        print("schema is at version \(try migrator.currentVersion())")
        return 0
    }
}

/// `tally verify`: recomputes every balance from the journal and checks that the books sum to zero.
enum VerifyCommand {
    static func run(_ options: Options) throws -> Int32 {
        let report = try Verifier(connection: try Connection(conninfo: options.database)).verify()
        print("checked \(report.usersChecked) users against \(report.movementsChecked) movements")
        for mismatch in report.mismatches {
            print(
                "MISMATCH user \(mismatch.userID): stored balance \(mismatch.storedBalance.map(String.init) ?? "NULL")"
                    + ", journal says \(mismatch.journalBalance) (minor units)")
        }
        for id in report.negativeBalances {
            print("NEGATIVE balance for user \(id)")
        }
        print("outside world balance (from the journal): \(report.systemBalance.minorUnits) minor units")
        print("sum of all balances, outside world included: \(report.total.minorUnits) minor units")
        if report.isClean {
            print("OK: every balance matches the journal and the books sum to zero")
            return 0
        }
        print("FAILED: the books do not balance")
        return 1
    }
}

/// `tally admin-token`: prints a new service-role token (stored only as its hash; revoke it with
/// POST /api/auth/logout). It does not expire unless --ttl SECONDS is given.
enum AdminTokenCommand {
    static func run(_ options: Options) throws -> Int32 {
        let lifetime = try options.value("ttl").map { _ in try options.integer("ttl", default: 0) }
        let token = BearerToken.generate()
        _ = try PostgresLedger(conninfo: options.database).issueToken(
            hash: token.hash, for: .service, lifetimeSeconds: lifetime)
        print(token.text)
        return 0
    }
}
