import Glibc
import SystemSupport

/// The bytes of an import file, read in large pieces and handed out one at a time, with the count handed out so
/// far (the progress report's share of the file).
package final class ByteReader {
    private let descriptor: Int32?
    private var buffer: [UInt8]
    private var position = 0
    private var isAtEnd = false
    /// Bytes handed out so far.
    package private(set) var offset = 0

    /// Reads the open file `descriptor` from where it stands; the caller keeps and closes it.
    package init(fileDescriptor descriptor: Int32) {
        self.descriptor = descriptor
        buffer = []
    }

    /// Hands out `bytes` (tests, small inputs).
    package init(bytes: [UInt8]) {
        descriptor = nil
        buffer = bytes
    }

    /// The next byte, nil at the end of the file.
    @inline(__always)
    package func next() throws(ImportFileError) -> UInt8? {
        if position == buffer.count {
            guard try refill() else { return nil }
        }
        let byte = buffer[position]
        position += 1
        offset += 1
        return byte
    }

    /// The next byte without handing it out; nil at the end of the file.
    package func peek() throws(ImportFileError) -> UInt8? {
        if position == buffer.count {
            guard try refill() else { return nil }
        }
        return buffer[position]
    }

    private static let pieceSize = 1 << 16

    private func refill() throws(ImportFileError) -> Bool {
        guard let descriptor, !isAtEnd else { return false }
        var failure: Int32 = 0
        buffer = [UInt8](unsafeUninitializedCapacity: Self.pieceSize) { storage, count in
            count = 0
            while true {
                let got = read(descriptor, storage.baseAddress, Self.pieceSize)
                if got >= 0 {
                    count = got
                    return
                }
                if errno != EINTR {
                    failure = errno
                    return
                }
            }
        }
        position = 0
        if failure != 0 {
            throw ImportFileError(line: nil, reason: "\(SystemError("could not read the file", errno: failure))")
        }
        isAtEnd = buffer.isEmpty
        return !isAtEnd
    }
}
