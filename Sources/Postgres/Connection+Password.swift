import CLibPQ

extension Connection {
    /// The SCRAM-SHA-256 verifier of `password` for `role`, salted and hashed here by libpq
    /// (`PQencryptPasswordConn`). Storing the verifier (`ALTER ROLE ... PASSWORD '<verifier>'`) sets the password
    /// without the password itself ever reaching the server, its log or `pg_stat_activity`.
    package func scramVerifier(password: String, role: String) throws(PostgresError) -> String {
        guard let verifier = PQencryptPasswordConn(handle, password, role, "scram-sha-256") else {
            throw connectionError()
        }
        defer { PQfreemem(verifier) }
        return String(cString: verifier)
    }
}
