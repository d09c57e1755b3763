import CArgon2

/// Hashes and verifies passwords with argon2id.
package struct PasswordHasher: Sendable {
    /// Passes over memory. With 19 MiB, two passes and one lane this is OWASP's first recommended
    /// argon2id setting: about 20-40 ms of one core here, slow enough to make guessing expensive and
    /// fast enough that a log-in does not hold a worker for long.
    package var iterations: UInt32 = 2
    /// Memory in KiB (19 MiB).
    package var memoryKiB: UInt32 = 19 * 1024
    /// One lane: each worker is a single-threaded process.
    package var parallelism: UInt32 = 1
    static let saltLength = 16
    static let hashLength = 32

    package init() {}

    /// The encoded hash ("$argon2id$v=19$m=...,t=...,p=...$salt$hash"), which carries its own parameters.
    package func hash(_ password: String) throws -> String {
        let salt = SystemRandom.bytes(count: Self.saltLength)
        let encodedLength = argon2_encodedlen(
            iterations, memoryKiB, parallelism, UInt32(Self.saltLength), UInt32(Self.hashLength), Argon2_id)
        var encoded = [CChar](repeating: 0, count: encodedLength)
        let password = Array(password.utf8)
        let status = argon2id_hash_encoded(
            iterations, memoryKiB, parallelism, password, password.count, salt, salt.count, Self.hashLength,
            &encoded, encoded.count)
        guard status == ARGON2_OK.rawValue else { throw PasswordHashingFailed(code: status) }
        return String(decoding: encoded.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// True when `password` matches `encodedHash`. Takes the hash's full cost either way.
    package func verify(_ password: String, against encodedHash: String) -> Bool {
        let password = Array(password.utf8)
        return argon2id_verify(encodedHash, password, password.count) == ARGON2_OK.rawValue
    }

    /// A hash of a password nobody has, verified against when a username does not exist, so that a wrong
    /// username costs the same time as a wrong password (no user enumeration by timing).
    package func decoyHash() -> String {
        (try? hash("decoy password that matches nothing")) ?? ""
    }
}

/// argon2 refused to hash (out of memory, a parameter out of range): its error code, explained by argon2.
package struct PasswordHashingFailed: Error, CustomStringConvertible {
    package let code: Int32

    package var description: String {
        "password hashing failed: \(String(cString: argon2_error_message(code)))"
    }
}
