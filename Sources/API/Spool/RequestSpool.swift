import Spool

/// The requests waiting in the spool for the database: accepting one (durably, once per caller and key, within
/// the size limit and the caller's quota), finding a caller's pending one, and the figures /api/status shows.
package final class RequestSpool {
    let file: SpoolFile
    let progress: ReplayProgress
    /// The tokens the database accepted lately: only theirs are spooled.
    let knownTokens: KnownTokens
    /// The spool file's largest size in bytes; a request that would take it past this is refused.
    package let maximumBytes: Int
    package let quota: SpoolQuota

    package init(
        directory: String, maximumBytes: Int, quota: SpoolQuota = .standard,
        knownTokens: KnownTokenFile? = nil
    ) throws {
        file = try SpoolFile(directory: directory)
        progress = try ReplayProgress(directory: directory)
        self.knownTokens = KnownTokens(file: try knownTokens ?? KnownTokenFile(directory: directory))
        self.maximumBytes = maximumBytes
        self.quota = quota
    }

    package var directory: String { file.directory }

    enum Acceptance {
        /// Stored and on disk.
        case accepted
        /// The same caller already has this request (same key, same content) waiting.
        case alreadyPending(SpooledRequest)
        /// The same caller has a different request waiting under this key.
        case keyReused
        /// The token, or the client address, holds as much as its quota allows.
        case overQuota(QuotaHolder)
        case full
    }

    /// Whose quota a request met.
    enum QuotaHolder: Equatable {
        case token, address
    }

    /// Stores `request` unless its caller already has one under its key, its token or address is at its quota,
    /// or the spool is full. Holds the spool's lock throughout, so that two workers cannot both store the same key
    /// nor both take the last of a quota.
    func accept(_ request: SpooledRequest) throws -> Acceptance {
        try file.withLock { locked in
            let entries = try locked.recover()
            let replayedUpTo = progress.load()
            let payload = request.encoded()
            // Only the service role's batches, uncapped, could come near this (no batch within the body limit does).
            guard payload.count <= SpoolRecord.maximumPayloadSize else { return .full }
            var tokenHolds = Holding(requests: 1, bytes: SpoolRecord.headerSize + payload.count)
            var addressHolds = tokenHolds
            for entry in entries where entry.offset >= replayedUpTo {
                guard let waiting = SpooledRequest(decoding: entry.payload) else { continue }
                let stored = Holding(requests: 1, bytes: entry.end - entry.offset)
                if waiting.tokenHash == request.tokenHash {
                    if waiting.idempotencyKey == request.idempotencyKey {
                        return waiting.fingerprint == request.fingerprint ? .alreadyPending(waiting) : .keyReused
                    }
                    tokenHolds.add(stored)
                }
                if !waiting.isService, waiting.clientAddress == request.clientAddress { addressHolds.add(stored) }
            }
            if !request.isService {
                guard tokenHolds.fits(requests: quota.requestsPerToken, bytes: quota.bytesPerToken) else {
                    return .overQuota(.token)
                }
                guard addressHolds.fits(requests: quota.requestsPerAddress, bytes: quota.bytesPerAddress) else {
                    return .overQuota(.address)
                }
            }
            guard (entries.last?.end ?? 0) + SpoolRecord.headerSize + payload.count <= maximumBytes else {
                return .full
            }
            try locked.append(payload)
            return .accepted
        }
    }

    /// Requests and bytes one holder would have in the spool.
    private struct Holding {
        var requests: Int
        var bytes: Int

        mutating func add(_ other: Holding) {
            requests += other.requests
            bytes += other.bytes
        }

        func fits(requests maximumRequests: Int, bytes maximumBytes: Int) -> Bool {
            requests <= maximumRequests && bytes <= maximumBytes
        }
    }

    /// The requests not yet replayed, oldest first, each with the offset just past its record.
    package func pending() throws -> [(request: SpooledRequest?, end: Int)] {
        try file.read(from: replayedUpTo()).entries.map { (SpooledRequest(decoding: $0.payload), $0.end) }
    }

    /// The caller's request waiting under `key`, if there is one (the caller is known by their token's hash,
    /// which works while the database is down).
    func pending(tokenHash: [UInt8], key: String) throws -> SpooledRequest? {
        try pending().lazy.compactMap(\.request).first { $0.tokenHash == tokenHash && $0.idempotencyKey == key }
    }

    /// How many requests wait, and when the oldest was accepted (nil when none waits).
    package func figures() throws -> (depth: Int, oldestAcceptedAt: Int64?) {
        let waiting = try pending()
        return (waiting.count, waiting.first?.request?.acceptedAt)
    }

    /// Where replay stands: the offset of the first record not applied yet (0 when it points past the file,
    /// which only a damaged offset can: replaying again is harmless).
    func replayedUpTo() throws -> Int {
        let offset = progress.load()
        return offset <= (try file.size()) ? offset : 0
    }

    /// Saves replay progress: every record before `offset` was applied or refused.
    func markReplayed(upTo offset: Int) throws {
        try progress.save(offset)
    }

    /// Empties the spool when every record in it was replayed (not when one was appended meanwhile).
    func emptyIfReplayed(upTo offset: Int) throws -> Bool {
        try file.emptyIfReplayed(upTo: offset, progress: progress)
    }
}
