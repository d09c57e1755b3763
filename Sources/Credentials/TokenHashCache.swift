import Synchronization

/// The SHA-256 of tokens this process has seen lately. A client sends the same token with every request, and
/// hashing it anew costs more than finding it here: libcrypto's one-shot SHA256() looks its digest up anew on
/// every call (callgrind, a 47-byte token: about 8,000 instructions a hash, against about 1,800 for a lookup
/// here; a worker spends about 100,000 on a whole transfer). A hash is not a secret the
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
