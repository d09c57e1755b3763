import Synchronization

/// The SHA-256 of tokens this process has seen lately. A client sends the same token with every request, and
/// hashing it anew was the largest single item of a worker's time on a transfer. A hash is not a secret the
/// process did not already hold; a revoked token's hash stays valid as a hash, and the database says it is
/// revoked. Bounded: when full it starts again empty.
final class TokenHashCache: Sendable {
    static let shared = TokenHashCache(capacity: 256)

    private let capacity: Int
    private let hashes = Mutex<[String: [UInt8]]>([:])

    init(capacity: Int) {
        self.capacity = capacity
    }

    func hash(of text: String) -> [UInt8] {
        if let known = hashes.withLock({ $0[text] }) { return known }
        let hash = SHA256.hash(Array(text.utf8))
        hashes.withLock { hashes in
            if hashes.count >= capacity { hashes.removeAll(keepingCapacity: true) }
            hashes[text] = hash
        }
        return hash
    }
}
