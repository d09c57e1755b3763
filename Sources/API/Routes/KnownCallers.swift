import Ledger

/// Whom the tokens this worker has lately seen stand for, by the token's hash: what an answer may show depends on
/// the caller (the service role sees every party's balance, a user only their own), and a movement is authorised
/// inside the ledger's transaction, which does not say who the caller was. Kept instead of asked again because a
/// token's caller never changes once it is issued. Whether a token is still live is not kept here: that is the
/// database's to say. Bounded: when full it starts again empty.
struct KnownCallers {
    private let capacity: Int
    private var callers: [[UInt8]: Caller] = [:]

    init(capacity: Int = 1024) {
        self.capacity = capacity
    }

    /// The caller the token with this hash was found to stand for, when this worker has seen it.
    subscript(tokenHash: [UInt8]) -> Caller? {
        callers[tokenHash]
    }

    mutating func remember(_ caller: Caller, forTokenHash tokenHash: [UInt8]) {
        if callers.count >= capacity, callers[tokenHash] == nil { callers.removeAll(keepingCapacity: true) }
        callers[tokenHash] = caller
    }
}
