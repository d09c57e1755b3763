import Ledger
import Spool

/// The tokens the database accepted lately, for the spool: while the database is down only a request with one
/// of them is spooled, and only for what its caller may do. Shared by the pool's workers through
/// `KnownTokenFile` (a client's retry lands on any worker, and a pool restarted in an outage still knows them);
/// each worker writes a token there once, and again only after `refreshSeconds`, not on every request.
///
/// An entry counts until the token expires or `retentionSeconds` after it was last seen accepted, whichever
/// comes first. A token found revoked or expired (a 401) is forgotten; one revoked elsewhere while the database
/// was still up may stay known, and its spooled requests are then refused when they are replayed, since replay
/// checks the token again in the same transaction as the movement.
final class KnownTokens {
    let file: KnownTokenFile
    static let retentionSeconds: Int64 = 86_400
    /// Often enough that a token in use keeps a recent "seen" in the table (the least recent are pushed out
    /// first), rarely enough that a movement's extra look-up of its token is one in many.
    static let refreshSeconds: Int64 = 600
    /// The tokens this worker wrote lately and when: a bound on this process's memory, not on the table's.
    static let memoCapacity = 4_096
    private var written: [[UInt8]: Int64] = [:]

    init(file: KnownTokenFile) {
        self.file = file
    }

    /// True when this worker has not written `tokenHash` lately: the caller should learn who it stands for.
    func isStale(_ tokenHash: [UInt8], now: Int64) -> Bool {
        guard let last = written[tokenHash] else { return true }
        return now - last >= Self.refreshSeconds || now < last
    }

    /// The database accepted `tokenHash` for `caller` (until `expiresAt`, seconds since 1970, when known).
    /// Failing to write is not the request's failure: the token stays unknown, and is spooled only once written.
    func accepted(_ tokenHash: [UInt8], caller: Caller, expiresAt: Int64?, now: Int64) {
        let userID: Int64? = if case .user(let id) = caller { id } else { nil }
        let entry = KnownTokenFile.Entry(
            tokenHash: tokenHash, userID: userID, validUntil: min(expiresAt ?? .max, now + Self.retentionSeconds),
            seenAt: now)
        guard (try? file.remember(entry)) != nil else { return }
        if written.count >= Self.memoCapacity { written.removeAll(keepingCapacity: true) }
        written[tokenHash] = now
    }

    /// The database refused `tokenHash` (unknown, expired or revoked): it is not spooled any more.
    func refused(_ tokenHash: [UInt8], now: Int64) {
        written[tokenHash] = nil
        guard (try? file.entry(for: tokenHash, now: now)) != nil else { return }
        try? file.forget(tokenHash)
    }

    /// Whom `tokenHash` stands for, if the database accepted it lately; nil otherwise (or when the table cannot
    /// be read).
    func caller(of tokenHash: [UInt8], now: Int64) -> Caller? {
        guard let entry = try? file.entry(for: tokenHash, now: now) else { return nil }
        return entry.userID.map(Caller.user) ?? .service
    }
}
