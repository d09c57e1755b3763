import Credentials
import Glibc
import Ledger
import LedgerStore
import Postgres

/// `tally migrate`: applies the migrations the database lacks. With TALLY_POOL_PASSWORD set (and not empty) it
/// then sets the password of the pool's role, tally_pool, for a pool that logs in with one (docker-compose). The
/// password is read from the environment only, never from the command line (which `ps` shows), and never printed.
enum MigrateCommand {
    static func run(_ options: Options) throws -> Int32 {
        let connection = try Connection(conninfo: options.database)
        let migrator = Migrator(connection: connection)
        let applied = try migrator.migrate()
        for migration in applied {
            print("applied migration \(migration.version): \(migration.name)")
        }
        print("schema is at version \(try migrator.currentVersion())")
        if let password = getenv("TALLY_POOL_PASSWORD").map({ String(cString: $0) }), !password.isEmpty {
            try PoolRole.setPassword(password, on: connection)
            print("set the password of role \(PoolRole.name) (from TALLY_POOL_PASSWORD)")
        }
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
