import Postgres

/// The pool's own role, `tally_pool` (migration 12): not a superuser, owns nothing, and holds only the rights the
/// pool's statements need. Migrations make it; a deployment whose pool logs in with a password (docker-compose,
/// over TCP) sets that password through `setPassword` when it migrates. On a local socket it logs in by peer.
package enum PoolRole {
    package static let name = "tally_pool"

    /// Sets the role's password, sent as a SCRAM-SHA-256 verifier computed on this side (the password itself never
    /// reaches the server). Run as the database's owner, after the migrations made the role.
    package static func setPassword(_ password: String, on connection: Connection) throws(PostgresError) {
        let verifier = try connection.scramVerifier(password: password, role: name)
        // "SCRAM-SHA-256$<iterations>:<salt>$<stored key>:<server key>", base64 in between: nothing to quote, and
        // anything else is refused rather than spliced into the statement.
        let allowed = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=$:-".utf8)
        guard verifier.hasPrefix("SCRAM-SHA-256$"), verifier.utf8.allSatisfy(allowed.contains) else {
            throw PostgresError(kind: .server, message: "libpq made a password verifier of an unexpected form")
        }
        try connection.execute(script: "ALTER ROLE \(name) PASSWORD '\(verifier)'")
    }
}
