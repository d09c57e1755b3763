import Dispatch
import Glibc
import Synchronization
import SystemSupport
import Testing

@testable import Spool

/// A fresh spool directory under /tmp, removed when the test ends.
final class ScratchDirectory {
    let path: String

    init() throws {
        var template = Array("/tmp/tally-spool-test.XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw SystemError("mkdtemp /tmp") }
        path = String(cString: made)
    }

    deinit {
        for name in ["spool", "offset", "replay.lock", "known-tokens"] { unlink(path + "/" + name) }
        rmdir(path)
    }

    /// Overwrites the spool file with `bytes` (a crash's leftovers, made by hand).
    func writeSpool(_ bytes: [UInt8]) {
        let descriptor = open(path + "/spool", O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        _ = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        close(descriptor)
    }
}

func payload(_ text: String) -> [UInt8] { Array(text.utf8) }

@Suite("The spool's record file")
struct SpoolFileTests {
    @Test("records appended are read back whole and in order")
    func appendedRecordsReadBackInOrder() throws {
        let scratch = try ScratchDirectory()
        let spool = try SpoolFile(directory: scratch.path)
        try spool.withLock { locked in
            for text in ["first", "", "third, a little longer"] { try locked.append(payload(text)) }
        }
        let (entries, intactEnd) = try spool.read()
        #expect(entries.map(\.payload) == ["first", "", "third, a little longer"].map(payload))
        #expect(intactEnd == (try spool.size()))
        #expect(entries[0].offset == 0 && entries[1].offset == entries[0].end && entries[2].offset == entries[1].end)
    }

    @Test("a record cut short by a crash is dropped and the records before it are kept")
    func truncatedTailIsRecoveredToTheLastWholeRecord() throws {
        let scratch = try ScratchDirectory()
        let whole = SpoolRecord.frame(payload("kept one")) + SpoolRecord.frame(payload("kept two"))
        let torn = SpoolRecord.frame(payload("never acknowledged"))
        for cut in [1, SpoolRecord.headerSize - 1, SpoolRecord.headerSize, torn.count - 1] {
            scratch.writeSpool(whole + torn[..<cut])
            let spool = try SpoolFile(directory: scratch.path)
            let (entries, intactEnd) = try spool.read()
            #expect(entries.map(\.payload) == [payload("kept one"), payload("kept two")], "cut at \(cut)")
            #expect(intactEnd == whole.count)
            // An appender cuts the torn tail off first, so that its record follows the last whole one.
            try spool.withLock { locked in
                _ = try locked.recover()
                try locked.append(payload("after the crash"))
            }
            #expect(try spool.read().entries.map(\.payload).last == payload("after the crash"))
            #expect(try spool.read().entries.count == 3)
        }
    }

    @Test("a record whose checksum does not match stops the read there")
    func corruptChecksumStopsTheRead() throws {
        let scratch = try ScratchDirectory()
        var second = SpoolRecord.frame(payload("damaged"))
        second[SpoolRecord.headerSize + 2] ^= 0x01
        scratch.writeSpool(
            SpoolRecord.frame(payload("good")) + second + SpoolRecord.frame(payload("unreachable")))
        let (entries, intactEnd) = try SpoolFile(directory: scratch.path).read()
        #expect(entries.map(\.payload) == [payload("good")])
        #expect(intactEnd == SpoolRecord.headerSize + 4)
    }

    @Test("a length beyond the largest record is damage, not a record")
    func absurdLengthStopsTheRead() {
        var bytes = SpoolRecord.frame(payload("x"))
        bytes[7] = 0x7F  // the length's top byte
        #expect(SpoolRecord.read(bytes).entries.isEmpty)
    }

    @Test("reading from an offset returns only the records after it")
    func readingFromAnOffsetSkipsEarlierRecords() throws {
        let scratch = try ScratchDirectory()
        let spool = try SpoolFile(directory: scratch.path)
        try spool.withLock { locked in
            for text in ["a", "b", "c"] { try locked.append(payload(text)) }
        }
        let all = try spool.read().entries
        #expect(try spool.read(from: all[1].offset).entries.map(\.payload) == [payload("b"), payload("c")])
        #expect(try spool.read(from: all[2].end).entries.isEmpty)
        #expect(try spool.read(from: all[2].end).intactEnd == all[2].end)
    }

    @Test("the replay offset survives reopening, and a damaged one reads as the start")
    func replayOffsetIsDurableAndDamageMeansStart() throws {
        let scratch = try ScratchDirectory()
        try ReplayProgress(directory: scratch.path).save(4_294_967_296 + 77)
        #expect(try ReplayProgress(directory: scratch.path).load() == 4_294_967_296 + 77)
        let descriptor = open(scratch.path + "/offset", O_WRONLY)
        var flipped: UInt8 = 0xFF
        _ = pwrite(descriptor, &flipped, 1, 0)
        close(descriptor)
        #expect(try ReplayProgress(directory: scratch.path).load() == 0)
    }

    @Test("the spool is emptied only when every record in it was replayed")
    func emptiesOnlyWhenEverythingWasReplayed() throws {
        let scratch = try ScratchDirectory()
        let spool = try SpoolFile(directory: scratch.path)
        let progress = try ReplayProgress(directory: scratch.path)
        try spool.withLock { try $0.append(payload("one")) }
        let replayedUpTo = try spool.read().intactEnd
        try progress.save(replayedUpTo)
        try spool.withLock { try $0.append(payload("appended meanwhile")) }
        #expect(try !spool.emptyIfReplayed(upTo: replayedUpTo, progress: progress))
        #expect(try spool.read(from: progress.load()).entries.map(\.payload) == [payload("appended meanwhile")])

        let everything = try spool.read().intactEnd
        try progress.save(everything)
        #expect(try spool.emptyIfReplayed(upTo: everything, progress: progress))
        #expect(try spool.size() == 0)
        #expect(progress.load() == 0)
    }

    @Test("only one process at a time holds the replay lock")
    func replayLockIsExclusive() throws {
        let scratch = try ScratchDirectory()
        var first = try ReplayLock.acquire(directory: scratch.path)
        #expect(first != nil)
        #expect(try ReplayLock.acquire(directory: scratch.path) == nil)
        first = nil
        #expect(try ReplayLock.acquire(directory: scratch.path) != nil)
    }

    /// Each appender opens the spool itself, as each worker process does: flock(2) locks belong to an open file,
    /// so appenders on threads with their own SpoolFile contend for the lock as processes do. (Threads, not
    /// forked children: a child forked from this multi-threaded test process can inherit a lock another thread
    /// held and hang. The pool's real worker processes append concurrently in the end-to-end spool test.)
    @Test("records appended through many open spool files at once are all whole")
    func concurrentAppendersDoNotInterleave() throws {
        let scratch = try ScratchDirectory()
        let failures = Mutex(0)
        let directory = scratch.path
        DispatchQueue.concurrentPerform(iterations: 4) { appender in
            do {
                let spool = try SpoolFile(directory: directory)
                for number in 0..<50 {
                    let text = String(repeating: "\(appender)", count: 3000) + " \(number)"
                    try spool.withLock { try $0.append(payload(text)) }
                }
            } catch {
                failures.withLock { $0 += 1 }
            }
        }
        #expect(failures.withLock { $0 } == 0)
        let (entries, intactEnd) = try SpoolFile(directory: scratch.path).read()
        #expect(entries.count == 200)
        #expect(Set(entries.map(\.payload)).count == 200)
        #expect(intactEnd == (try SpoolFile(directory: scratch.path).size()))
    }
}
