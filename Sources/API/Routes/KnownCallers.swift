import Ledger

/// Whom the tokens this worker has lately seen stand for, by the token's hash: what an answer may show depends on
/// the caller (the service role sees every party's balance, a user only their own), and a movement is authorised
/// inside the ledger's transaction, which does not say who the caller was. Kept instead of asked again because a
/// token's caller never changes once it is issued. Whether a token is still live is not kept here: that is the
/// database's to say. Bounded: when full it starts again empty.
struct KnownCallers {
    private let capacity: Int
    private var callers: [Key: Caller] = [:]

    init(capacity: Int = 1024) {
        self.capacity = capacity
    }

    /// The caller the token with this hash was found to stand for, when this worker has seen it.
    subscript(tokenHash: [UInt8]) -> Caller? {
        callers[Key(tokenHash)]
    }

    mutating func remember(_ caller: Caller, forTokenHash tokenHash: [UInt8]) {
        let key = Key(tokenHash)
        if callers.count >= capacity, callers[key] == nil { callers.removeAll(keepingCapacity: true) }
        callers[key] = caller
    }

    /// A token's hash as a dictionary key. Its bytes are SHA-256 output, evenly spread already: hashing the first
    /// eight is enough, where hashing an `[UInt8]` feeds the hasher byte by byte (callgrind: ~1,000 instructions
    /// of a transfer's ~110,000 went to that).
    private struct Key: Hashable {
        let bytes: [UInt8]

        init(_ bytes: [UInt8]) {
            self.bytes = bytes
        }

        func hash(into hasher: inout Hasher) {
            var prefix: UInt64 = 0
            for byte in bytes.prefix(8) { prefix = prefix << 8 | UInt64(byte) }
            hasher.combine(prefix)
        }
    }
}
