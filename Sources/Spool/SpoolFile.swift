import Glibc
import SystemSupport

/// The spool's record file, `DIR/spool`: records appended one after another (see `SpoolRecord`), shared by every
/// process of the pool. Appending and emptying hold an exclusive `flock` on the file, so that records from many
/// workers never interleave; reading needs no lock (a record being appended is simply not seen yet).
package final class SpoolFile {
    package let directory: String
    package let path: String
    private let descriptor: Int32

    /// Opens the spool in `directory`, making the directory (mode 0700) and the file (0600) when absent.
    package init(directory: String) throws(SystemError) {
        self.directory = directory
        self.path = directory + "/spool"
        try Self.makeDirectory(directory)
        let existed = access(path, F_OK) == 0
        let descriptor = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw SystemError("open \(path)") }
        self.descriptor = descriptor
        // A new file's name must survive a crash as well as its records.
        if !existed { try Self.syncDirectory(directory) }
    }

    deinit { close(descriptor) }

    /// The intact records from byte `offset` on, in the order they were appended, and where the intact part
    /// ends. Takes no lock.
    package func read(from offset: Int = 0) throws(SystemError) -> (entries: [SpoolRecord.Entry], intactEnd: Int) {
        SpoolRecord.read(try contents(), from: offset)
    }

    /// The file's size in bytes, torn tail included.
    package func size() throws(SystemError) -> Int {
        var status = stat()
        guard fstat(descriptor, &status) == 0 else { throw SystemError("fstat \(path)") }
        return Int(status.st_size)
    }

    /// Runs `body` holding the spool's exclusive lock; other appenders wait for it.
    package func withLock<Value>(_ body: (Locked) throws -> Value) throws -> Value {
        while flock(descriptor, LOCK_EX) != 0 {
            guard errno == EINTR else { throw SystemError("flock \(path)") }
        }
        defer { flock(descriptor, LOCK_UN) }
        return try body(Locked(file: self))
    }

    /// What may be done to the spool while holding its lock.
    package struct Locked {
        let file: SpoolFile

        /// The intact records, after cutting off a torn tail (a record a crash interrupted: it was never
        /// acknowledged) so that the next record is appended where a reader will find it.
        package func recover() throws(SystemError) -> [SpoolRecord.Entry] {
            let (entries, intactEnd) = try file.read()
            if try file.size() > intactEnd { try truncate(to: intactEnd) }
            return entries
        }

        /// Appends one record and waits until it is on disk (fdatasync); on failure the file is as before.
        package func append(_ payload: [UInt8]) throws(SystemError) {
            let before = try file.size()
            let bytes = SpoolRecord.frame(payload)
            var written = 0
            while written < bytes.count {
                let count = bytes[written...].withUnsafeBytes { write(file.descriptor, $0.baseAddress, $0.count) }
                if count < 0 && errno == EINTR { continue }
                guard count > 0 else {
                    let error = SystemError("write \(file.path)")
                    try? truncate(to: before)
                    throw error
                }
                written += count
            }
            guard fdatasync(file.descriptor) == 0 else {
                let error = SystemError("fdatasync \(file.path)")
                try? truncate(to: before)
                throw error
            }
        }

        /// Cuts the file to `length` bytes, durably.
        package func truncate(to length: Int) throws(SystemError) {
            guard ftruncate(file.descriptor, off_t(length)) == 0 else { throw SystemError("ftruncate \(file.path)") }
            guard fdatasync(file.descriptor) == 0 else { throw SystemError("fdatasync \(file.path)") }
        }
    }

    /// Empties the spool when every record in it has been replayed (`replayedUpTo` is its intact end), in an
    /// order that survives a crash at any point: the progress goes back to 0 first, then the file is cut. A crash
    /// in between replays every record once more, which their idempotency keys make harmless. Returns false
    /// when a record was appended since (it will be replayed next).
    package func emptyIfReplayed(upTo replayedUpTo: Int, progress: ReplayProgress) throws -> Bool {
        try withLock { locked in
            let entries = try locked.recover()
            guard (entries.last?.end ?? 0) == replayedUpTo, replayedUpTo > 0 else { return false }
            try progress.save(0)
            try locked.truncate(to: 0)
            return true
        }
    }

    private func contents() throws(SystemError) -> [UInt8] {
        let length = try size()
        var bytes = [UInt8](repeating: 0, count: length)
        var done = 0
        while done < length {
            let count = bytes[done...].withUnsafeMutableBytes {
                pread(descriptor, $0.baseAddress, $0.count, off_t(done))
            }
            if count < 0 && errno == EINTR { continue }
            guard count >= 0 else { throw SystemError("pread \(path)") }
            if count == 0 { break }  // cut meanwhile
            done += count
        }
        return Array(bytes[..<done])
    }

    static func makeDirectory(_ directory: String) throws(SystemError) {
        var status = stat()
        if stat(directory, &status) == 0 {
            guard status.st_mode & S_IFMT == S_IFDIR else { throw SystemError("mkdir \(directory)", errno: ENOTDIR) }
            return
        }
        guard mkdir(directory, 0o700) == 0 || errno == EEXIST else { throw SystemError("mkdir \(directory)") }
    }

    static func syncDirectory(_ directory: String) throws(SystemError) {
        let descriptor = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard descriptor >= 0 else { throw SystemError("open \(directory)") }
        defer { close(descriptor) }
        guard fsync(descriptor) == 0 else { throw SystemError("fsync \(directory)") }
    }
}
