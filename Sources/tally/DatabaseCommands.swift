import ArgumentParser
import Credentials
import Glibc
import Ledger
import LedgerStore
import Postgres

/// `tally migrate`: applies the migrations the database lacks. With TALLY_POOL_PASSWORD set (and not empty) it
/// then sets the password of the pool's role, tally_pool, for a pool that logs in with one (docker-compose). The
/// password is read from the environment only, never from the command line (which `ps` shows), and never printed.
struct MigrateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Apply the schema migrations the database lacks (as the database's owner).",
        discussion: "With TALLY_POOL_PASSWORD set, then set the password of role tally_pool.")

    @OptionGroup var database: DatabaseOption

    func run() throws {
        let connection = try Connection(conninfo: database.conninfo)
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
    }
}

/// `tally verify`: recomputes every balance from the journal and checks that the books sum to zero.
struct VerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Recompute every balance from the journal and check that the books sum to zero.",
        discussion: "Exits 1 when a balance or the total is wrong. On a terminal it shows its progress on stderr.")

    @OptionGroup var database: DatabaseOption
    /// For tests: a journal of a few movements read in several slices, as a large one is.
    @Option(help: .hidden) var movementsPerSlice: Int64 = Verifier.defaultSliceSize

    func run() throws {
        let verifier = Verifier(connection: try Connection(conninfo: database.conninfo))
        let report: VerificationReport
        if VerifyProgress.isWanted {
            let progress = VerifyProgress()
            report = try verifier.verify(sliceSize: movementsPerSlice) { movements, fraction in
                progress.update(movements: movements, fraction: fraction)
            }
            progress.finish(movements: report.movementsChecked, users: report.usersChecked)
        } else {
            report = try verifier.verify()
        }
        print("checked \(report.usersChecked) users against \(report.movementsChecked) movements")
        for mismatch in report.mismatches {
            print(
                "MISMATCH user \(mismatch.userID): stored balance \(mismatch.storedBalance.map(String.init) ?? "NULL")"
                    + ", journal says \(mismatch.journalBalance) (minor units)")
        }
        for id in report.negativeBalances {
            print("BELOW LIMIT: user \(id)'s balance is below minus their credit limit plus their pending holds")
        }
        if report.orphanedMovements > 0 {
            print("ORPHANED: \(report.orphanedMovements) movements name a user who does not exist")
        }
        if report.movementsOutsideTheirBatch > 0 {
            print("UNBATCHED: \(report.movementsOutsideTheirBatch) movements name a batch that is not on record")
        }
        if report.batchItemsMissing > 0 {
            print("MISSING: \(report.batchItemsMissing) applied batch items lack their movement")
        }
        if report.heldMismatches > 0 {
            print("HELD: \(report.heldMismatches) users' held amount is not the sum of their pending holds")
        }
        if report.holdsMismatched > 0 {
            print("HOLDS: \(report.holdsMismatched) captured holds and capture transfers do not match one to one")
        }
        if report.reversalsMismatched > 0 {
            print("REVERSALS: \(report.reversalsMismatched) reversals do not pay back their transfer, or exceed it")
        }
        print("outside world balance (from the journal): \(report.systemBalance.minorUnits) minor units")
        print("sum of all balances, outside world included: \(report.total.minorUnits) minor units")
        if report.isClean {
            print(
                "OK: every balance matches the journal, the books sum to zero, and every movement's users and batch"
                    + " are on record")
            return
        }
        print("FAILED: the books do not balance")
        throw ExitCode.failure
    }
}

/// `tally admin-token`: prints a new service-role token (stored only as its hash; revoke it with
/// POST /api/auth/logout). It does not expire unless --ttl SECONDS is given.
struct AdminTokenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "admin-token", abstract: "Print a new service-role token (revoke it with POST /api/auth/logout).")
    static let ttl = Setting<Int>("ttl", default: nil, shown: "never expires")

    @OptionGroup var database: DatabaseOption
    @Option(parsing: .unconditional, help: ttl.help("seconds the token lives", valueName: "S"))
    var ttl: String?

    func run() throws {
        let lifetime = try Self.ttl.value(ttl)
        let token = BearerToken.generate()
        _ = try PostgresLedger(conninfo: database.conninfo).issueToken(
            hash: token.hash, for: .service, lifetimeSeconds: lifetime)
        print(token.text)
    }
}
