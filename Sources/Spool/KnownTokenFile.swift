import Glibc
import SystemSupport

/// `DIR/known-tokens`: the bearer tokens (by SHA-256) that the pool saw the database accept lately, with whom
/// each stands for, so that while the database is down only their holders can fill the spool. Shared by every
/// worker of the pool (a client's next request lands on any of them) and kept across a restart of the pool.
///
/// A fixed-size table, set-associative: `bucketCount` buckets of `ways` slots of 64 bytes; a token's bucket is
/// chosen by its hash's first bytes, and a full bucket gives up the slot seen least recently. So the file never
/// grows, and a flood of new tokens pushes out only tokens that share their buckets. A slot: the hash (32 bytes),
/// the user id (8, 0 for the service role), valid until and last seen (8 each, seconds since 1970), the CRC-32
/// of those 56 bytes (4) and 4 zero bytes, all little-endian. Writers hold an exclusive `flock`; readers take no
/// lock and pass over a slot whose checksum is wrong (a write under way). Nothing is synced to disk: a slot lost
/// to a crash of the machine only means that token's holder gets 503 instead of 202 in an outage.
package final class KnownTokenFile {
    /// One token the database accepted.
    package struct Entry: Equatable, Sendable {
        package let tokenHash: [UInt8]
        /// The user the token stands for; nil for the service role.
        package let userID: Int64?
        /// When the entry stops counting (the token's expiry, or a bound on how long ago it was seen).
        package let validUntil: Int64
        /// When a worker last wrote it: the least recent in a full bucket gives way.
        package let seenAt: Int64

        package init(tokenHash: [UInt8], userID: Int64?, validUntil: Int64, seenAt: Int64) {
            self.tokenHash = tokenHash
            self.userID = userID
            self.validUntil = validUntil
            self.seenAt = seenAt
        }
    }

    package let path: String
    package let bucketCount: Int
    package let ways: Int
    private let descriptor: Int32
    static let slotSize = 64
    static let hashSize = 32

    /// Opens (or makes, mode 0600) the table in `directory`; a file of another size is emptied and resized.
    /// The default holds 32,768 tokens in 2 MiB (made sparse): a lookup reads one bucket, 512 bytes, whatever
    /// the size, and a flood of new tokens (log-ins are limited to 10 a second per address) takes hours, not
    /// minutes, to push out the tokens of people who pay every day.
    package init(directory: String, bucketCount: Int = 4096, ways: Int = 8) throws(SystemError) {
        precondition(bucketCount > 0 && ways > 0)
        try SpoolFile.makeDirectory(directory)
        self.path = directory + "/known-tokens"
        self.bucketCount = bucketCount
        self.ways = ways
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw SystemError("open \(path)") }
        self.descriptor = descriptor
        let size = bucketCount * ways * Self.slotSize
        try withLock { () throws(SystemError) in
            var status = stat()
            guard fstat(descriptor, &status) == 0 else { throw SystemError("fstat \(path)") }
            guard Int(status.st_size) != size else { return }
            guard ftruncate(descriptor, 0) == 0, ftruncate(descriptor, off_t(size)) == 0 else {
                throw SystemError("ftruncate \(path)")
            }
        }
    }

    deinit { close(descriptor) }

    /// How many tokens the table holds at most.
    package var capacity: Int { bucketCount * ways }

    /// The entry for `tokenHash` if it is still valid at `now`.
    package func entry(for tokenHash: [UInt8], now: Int64) throws(SystemError) -> Entry? {
        guard tokenHash.count == Self.hashSize else { return nil }
        return try bucket(of: tokenHash).lazy.compactMap(\.entry).first {
            $0.tokenHash == tokenHash && $0.validUntil > now
        }
    }

    /// Stores `entry`, in place of the same token's, else of an empty or expired slot, else of the slot of its
    /// bucket seen least recently.
    package func remember(_ entry: Entry) throws(SystemError) {
        guard entry.tokenHash.count == Self.hashSize else { return }
        try withLock { () throws(SystemError) in
            let slots = try bucket(of: entry.tokenHash)
            let chosen =
                slots.first { $0.entry?.tokenHash == entry.tokenHash }
                ?? slots.first { ($0.entry?.validUntil ?? 0) <= entry.seenAt }
                ?? slots.min { ($0.entry?.seenAt ?? 0) < ($1.entry?.seenAt ?? 0) }
            guard let chosen else { return }
            try write(Self.encode(entry), at: chosen.offset)
        }
    }

    /// Removes the token's entry (it was found revoked or expired).
    package func forget(_ tokenHash: [UInt8]) throws(SystemError) {
        guard tokenHash.count == Self.hashSize else { return }
        try withLock { () throws(SystemError) in
            for slot in try bucket(of: tokenHash) where slot.entry?.tokenHash == tokenHash {
                try write([UInt8](repeating: 0, count: Self.slotSize), at: slot.offset)
            }
        }
    }

    /// A slot as read: where it is in the file, and its entry (nil when empty or unreadable).
    private struct Slot {
        let offset: Int
        let entry: Entry?
    }

    private func bucket(of tokenHash: [UInt8]) throws(SystemError) -> [Slot] {
        let index = Int(tokenHash[0..<4].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }) % bucketCount
        let start = index * ways * Self.slotSize
        var bytes = [UInt8](repeating: 0, count: ways * Self.slotSize)
        let count = bytes.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress, $0.count, off_t(start)) }
        guard count >= 0 else { throw SystemError("pread \(path)") }
        return (0..<ways).map { way in
            let slot = way * Self.slotSize
            let entry = count >= slot + Self.slotSize ? Self.decode(bytes[slot..<slot + Self.slotSize]) : nil
            return Slot(offset: start + slot, entry: entry)
        }
    }

    private func write(_ bytes: [UInt8], at offset: Int) throws(SystemError) {
        let count = bytes.withUnsafeBytes { pwrite(descriptor, $0.baseAddress, $0.count, off_t(offset)) }
        guard count == bytes.count else { throw SystemError("pwrite \(path)") }
    }

    private func withLock(_ body: () throws(SystemError) -> Void) throws(SystemError) {
        while flock(descriptor, LOCK_EX) != 0 {
            guard errno == EINTR else { throw SystemError("flock \(path)") }
        }
        defer { flock(descriptor, LOCK_UN) }
        try body()
    }

    static func encode(_ entry: Entry) -> [UInt8] {
        var bytes = entry.tokenHash
        for value in [entry.userID ?? 0, entry.validUntil, entry.seenAt] {
            for shift in stride(from: 0, to: 64, by: 8) { bytes.append(UInt8(truncatingIfNeeded: value >> shift)) }
        }
        SpoolRecord.appendLittleEndian(CRC32.checksum(bytes), to: &bytes)
        return bytes + [0, 0, 0, 0]
    }

    static func decode(_ slot: ArraySlice<UInt8>) -> Entry? {
        let bytes = Array(slot)
        guard CRC32.checksum(bytes[0..<56]) == SpoolRecord.littleEndian(bytes, at: 56),
            bytes[0..<56].contains(where: { $0 != 0 })
        else { return nil }
        func integer(at start: Int) -> Int64 {
            (0..<8).reduce(Int64(0)) { $0 | Int64(bytes[start + $1]) << (8 * $1) }
        }
        let userID = integer(at: 32)
        return Entry(
            tokenHash: Array(bytes[0..<32]), userID: userID == 0 ? nil : userID, validUntil: integer(at: 40),
            seenAt: integer(at: 48))
    }
}
