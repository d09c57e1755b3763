import Credentials
import Foundation
import Ledger
import LedgerStore
import Postgres
import Testing

/// A fresh, migrated database for one test, on the server TALLY_TEST_DATABASE names; dropped afterwards.
struct TestDatabase {
    let name: String
    let conninfo: String

    /// The server to test against. `make test` starts one and sets this; without it the tests fail, loudly.
    static var serverConninfo: String {
        get throws {
            guard let value = ProcessInfo.processInfo.environment["TALLY_TEST_DATABASE"], !value.isEmpty else {
                throw MissingDatabase()
            }
            return value
        }
    }

    /// A service-role token every test database knows.
    static let serviceToken = BearerToken.generate()

    struct MissingDatabase: Error, CustomStringConvertible {
        var description: String {
            "TALLY_TEST_DATABASE is not set: run `make test`, which starts PostgreSQL and sets it"
        }
    }

    /// Runs `body` with a new migrated database and drops it afterwards, whatever happens.
    static func with(_ body: (TestDatabase) throws -> Void) throws {
        let server = try serverConninfo
        let name = "tally_it_\(getpid())_\(UInt32.random(in: 0...UInt32.max))"
        let admin = try Connection(conninfo: server)
        try admin.execute(script: "CREATE DATABASE \(name)")
        defer { try? admin.execute(script: "DROP DATABASE IF EXISTS \(name) WITH (FORCE)") }
        let database = TestDatabase(name: name, conninfo: server + " dbname=\(name)")
        try Migrator(connection: try Connection(conninfo: database.conninfo)).migrate()
        _ = try database.ledger().issueToken(hash: serviceToken.hash, for: .service, lifetimeSeconds: nil)
        try body(database)
    }

    func connection() throws -> Connection {
        try Connection(conninfo: conninfo)
    }

    func ledger(retryPolicy: RetryPolicy = RetryPolicy()) -> PostgresLedger {
        PostgresLedger(conninfo: conninfo, retryPolicy: retryPolicy)
    }

    /// One value from a query, for checking the database's state directly.
    func scalar(_ sql: String, _ parameters: [String?] = []) throws -> String? {
        try connection().query(sql, parameters).values.first?.first ?? nil
    }
}

/// Polls `condition` every 20 ms for up to `seconds`; its last answer.
func eventually(within seconds: Double, _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if try condition() { return true }
        Thread.sleep(forTimeInterval: 0.02)
    }
    return try condition()
}

extension PostgresLedger {
    struct SetupRefused: Error {}

    /// Creates a user without log-in credentials for a test's setup and returns its id.
    func newUserID(name: String = "user", minorUnits: Int64 = 0) throws -> Int64 {
        guard
            case .applied(let user) = try createUser(
                name: name, initialBalance: Money(minorUnits: minorUnits), idempotency: nil, requestID: "setup"
            ).result
        else { throw SetupRefused() }
        return user.id
    }

    /// Creates a user without log-in credentials.
    func createUser(name: String, initialBalance: Money, idempotency: IdempotencyContext?, requestID: String) throws
        -> Receipt<User>
    {
        try createUser(
            name: name, initialBalance: initialBalance, credentials: nil, idempotency: idempotency, requestID: requestID
        )
    }

    /// Moves money as the service role, which may act on any account.
    func move(
        _ kind: MovementKind, debitUserID: Int64, creditUserID: Int64, amount: Money, memo: String?,
        idempotency: IdempotencyContext?, requestID: String
    ) throws -> Receipt<Movement> {
        try move(
            kind, tokenHash: TestDatabase.serviceToken.hash,
            actingUserID: kind == .deposit ? creditUserID : debitUserID,
            debitUserID: debitUserID, creditUserID: creditUserID, amount: amount, memo: memo, idempotency: idempotency,
            requestID: requestID)
    }
}

extension Array where Element == UInt8 {
    /// Lower-case hexadecimal text, as a bytea parameter takes it after "\x".
    var hexadecimal: String { map { String(format: "%02x", $0) }.joined() }
}
