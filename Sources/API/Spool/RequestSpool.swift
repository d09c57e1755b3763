import Spool

/// The requests waiting in the spool for the database: accepting one (durably, once per caller and key, within
/// the size limit), finding a caller's pending one, and the figures /api/status shows.
public final class RequestSpool {
    let file: SpoolFile
    let progress: ReplayProgress
    /// The spool file's largest size in bytes; a request that would take it past this is refused.
    public let maximumBytes: Int

    public init(directory: String, maximumBytes: Int) throws {
        file = try SpoolFile(directory: directory)
        progress = try ReplayProgress(directory: directory)
        self.maximumBytes = maximumBytes
    }

    public var directory: String { file.directory }

    enum Acceptance {
        /// Stored and on disk.
        case accepted
        /// The same caller already has this request (same key, same content) waiting.
        case alreadyPending(SpooledRequest)
        /// The same caller has a different request waiting under this key.
        case keyReused
        case full
    }

    /// Stores `request` unless its caller already has one under its key, or the spool is full. Holds the spool's
    /// lock throughout, so that two workers cannot both store the same key.
    func accept(_ request: SpooledRequest) throws -> Acceptance {
        try file.withLock { locked in
            let entries = try locked.recover()
            let replayedUpTo = progress.load()
            for entry in entries where entry.offset >= replayedUpTo {
                guard let waiting = SpooledRequest(decoding: entry.payload),
                    waiting.tokenHash == request.tokenHash, waiting.idempotencyKey == request.idempotencyKey
                else { continue }
                return waiting.fingerprint == request.fingerprint ? .alreadyPending(waiting) : .keyReused
            }
            let payload = request.encoded()
            guard (entries.last?.end ?? 0) + SpoolRecord.headerSize + payload.count <= maximumBytes else {
                return .full
            }
            try locked.append(payload)
            return .accepted
        }
    }

    /// The requests not yet replayed, oldest first, each with the offset just past its record.
    public func pending() throws -> [(request: SpooledRequest?, end: Int)] {
        try file.read(from: replayedUpTo()).entries.map { (SpooledRequest(decoding: $0.payload), $0.end) }
    }

    /// The caller's request waiting under `key`, if there is one (the caller is known by their token's hash,
    /// which works while the database is down).
    func pending(tokenHash: [UInt8], key: String) throws -> SpooledRequest? {
        try pending().lazy.compactMap(\.request).first { $0.tokenHash == tokenHash && $0.idempotencyKey == key }
    }

    /// How many requests wait, and when the oldest was accepted (nil when none waits).
    public func figures() throws -> (depth: Int, oldestAcceptedAt: Int64?) {
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
