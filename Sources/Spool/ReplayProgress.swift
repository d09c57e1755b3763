import Glibc
import SystemSupport

/// How far the spool has been replayed, `DIR/offset`: the byte offset of the first record not yet applied,
/// saved (fdatasync) after each applied record. Stored as 8 bytes little-endian and their CRC-32; a file that
/// is missing, short or damaged reads as 0, which replays records again: harmless, since each carries its
/// idempotency key, and never a record skipped.
package final class ReplayProgress {
    package let path: String
    private let descriptor: Int32

    package init(directory: String) throws(SystemError) {
        try SpoolFile.makeDirectory(directory)
        path = directory + "/offset"
        descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw SystemError("open \(path)") }
    }

    deinit { close(descriptor) }

    /// The saved offset, or 0.
    package func load() -> Int {
        var bytes = [UInt8](repeating: 0, count: 12)
        let count = bytes.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress, 12, 0) }
        guard count == 12, CRC32.checksum(bytes[..<8]) == SpoolRecord.littleEndian(bytes, at: 8) else { return 0 }
        let offset =
            UInt64(SpoolRecord.littleEndian(bytes, at: 0)) | UInt64(SpoolRecord.littleEndian(bytes, at: 4)) << 32
        return Int(clamping: offset)
    }

    /// Saves `offset` durably before returning.
    package func save(_ offset: Int) throws(SystemError) {
        var bytes: [UInt8] = []
        SpoolRecord.appendLittleEndian(UInt32(truncatingIfNeeded: UInt64(offset)), to: &bytes)
        SpoolRecord.appendLittleEndian(UInt32(truncatingIfNeeded: UInt64(offset) >> 32), to: &bytes)
        SpoolRecord.appendLittleEndian(CRC32.checksum(bytes), to: &bytes)
        let count = bytes.withUnsafeBytes { pwrite(descriptor, $0.baseAddress, 12, 0) }
        guard count == 12 else { throw SystemError("pwrite \(path)") }
        guard fdatasync(descriptor) == 0 else { throw SystemError("fdatasync \(path)") }
    }
}
