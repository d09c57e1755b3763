import Glibc
import Testing

@testable import Spool

@Suite("The table of tokens the database accepted lately")
struct KnownTokenFileTests {
    func hash(_ seed: UInt8) -> [UInt8] { (0..<32).map { seed &+ UInt8($0) } }

    func entry(_ seed: UInt8, userID: Int64? = 7, validUntil: Int64 = 1_000, seenAt: Int64 = 100)
        -> KnownTokenFile.Entry
    {
        KnownTokenFile.Entry(tokenHash: hash(seed), userID: userID, validUntil: validUntil, seenAt: seenAt)
    }

    @Test("a token one worker noted is known to another, with whom it stands for")
    func sharedBetweenHandles() throws {
        let scratch = try ScratchDirectory()
        let first = try KnownTokenFile(directory: scratch.path)
        let second = try KnownTokenFile(directory: scratch.path)
        try first.remember(entry(1, userID: 42))
        try first.remember(entry(2, userID: nil))
        #expect(try second.entry(for: hash(1), now: 500)?.userID == 42)
        #expect(try second.entry(for: hash(2), now: 500) == entry(2, userID: nil))
        #expect(try second.entry(for: hash(3), now: 500) == nil)
    }

    @Test("an entry stops counting when it is past its time or forgotten")
    func expiresAndForgets() throws {
        let scratch = try ScratchDirectory()
        let table = try KnownTokenFile(directory: scratch.path)
        try table.remember(entry(1, validUntil: 1_000))
        try table.remember(entry(2, validUntil: 1_000))
        #expect(try table.entry(for: hash(1), now: 999) != nil)
        #expect(try table.entry(for: hash(1), now: 1_000) == nil)
        try table.forget(hash(2))
        #expect(try table.entry(for: hash(2), now: 500) == nil)
        // Noted again later, it counts again.
        try table.remember(entry(1, validUntil: 5_000, seenAt: 2_000))
        #expect(try table.entry(for: hash(1), now: 2_500) != nil)
    }

    @Test("the table never grows: a full bucket gives up the token seen least recently")
    func boundedWithLeastRecentlySeenEvicted() throws {
        let scratch = try ScratchDirectory()
        let table = try KnownTokenFile(directory: scratch.path, bucketCount: 1, ways: 3)
        try table.remember(entry(1, seenAt: 10))
        try table.remember(entry(2, seenAt: 30))
        try table.remember(entry(3, seenAt: 20))
        try table.remember(entry(1, seenAt: 40))  // seen again: now the most recent
        try table.remember(entry(4, seenAt: 50))
        #expect(try table.entry(for: hash(3), now: 60) == nil)
        for seed: UInt8 in [1, 2, 4] { #expect(try table.entry(for: hash(seed), now: 60) != nil, "\(seed)") }
        for seed: UInt8 in 10..<200 { try table.remember(entry(seed, seenAt: Int64(seed) + 100)) }
        var status = stat()
        #expect(stat(table.path, &status) == 0 && status.st_size == 3 * 64)
        #expect(table.capacity == 3)
    }

    @Test("a damaged slot is passed over, and a file of another size is started afresh")
    func damagedSlotsAreIgnored() throws {
        let scratch = try ScratchDirectory()
        let table = try KnownTokenFile(directory: scratch.path, bucketCount: 1, ways: 2)
        try table.remember(entry(1))
        let descriptor = open(table.path, O_RDWR)
        var byte: UInt8 = 0xFF
        #expect(pwrite(descriptor, &byte, 1, 40) == 1)
        close(descriptor)
        #expect(try table.entry(for: hash(1), now: 500) == nil)
        try table.remember(entry(2))
        #expect(try table.entry(for: hash(2), now: 500) != nil)
        let resized = try KnownTokenFile(directory: scratch.path, bucketCount: 2, ways: 2)
        #expect(try resized.entry(for: hash(2), now: 500) == nil)
    }
}
