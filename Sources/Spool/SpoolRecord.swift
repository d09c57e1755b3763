/// The spool's on-disk record: a 12-byte header (the magic "TSR1", the payload's length and its CRC-32, both
/// little-endian 32-bit) and the payload. A reader takes records one after another and stops at the first that
/// is incomplete or whose magic, length or checksum is wrong: everything before it is intact, and the rest was
/// never acknowledged (a record is answered only after it is on disk) or is damage that cannot be trusted.
package enum SpoolRecord {
    static let magic: [UInt8] = Array("TSR1".utf8)
    package static let headerSize = 12
    /// No record is larger: a length above this is damage, not a record. A batch of 1,000 items, each at its
    /// longest and written with every character escaped, stays under 5 MiB.
    package static let maximumPayloadSize = 8 << 20

    /// The bytes that store `payload`.
    package static func frame(_ payload: [UInt8]) -> [UInt8] {
        precondition(payload.count <= maximumPayloadSize, "a spool record holds at most 8 MiB")
        var bytes = magic
        bytes.reserveCapacity(headerSize + payload.count)
        appendLittleEndian(UInt32(payload.count), to: &bytes)
        appendLittleEndian(CRC32.checksum(payload), to: &bytes)
        return bytes + payload
    }

    /// A record read back: where it starts in the file, where the next one starts, and its payload.
    package struct Entry: Equatable, Sendable {
        package let offset: Int
        package let payload: [UInt8]
        package var end: Int { offset + SpoolRecord.headerSize + payload.count }
    }

    /// The whole records in `bytes` from `start` on, and where the intact part ends (the end of the last whole
    /// record, or `start`).
    package static func read(_ bytes: [UInt8], from start: Int = 0) -> (entries: [Entry], intactEnd: Int) {
        var entries: [Entry] = []
        var position = max(0, start)
        while bytes.count - position >= headerSize {
            guard Array(bytes[position..<position + 4]) == magic else { break }
            let length = Int(littleEndian(bytes, at: position + 4))
            let checksum = littleEndian(bytes, at: position + 8)
            let payloadStart = position + headerSize
            guard length <= maximumPayloadSize, bytes.count - payloadStart >= length else { break }
            let payload = Array(bytes[payloadStart..<payloadStart + length])
            guard CRC32.checksum(payload) == checksum else { break }
            entries.append(Entry(offset: position, payload: payload))
            position = payloadStart + length
        }
        return (entries, entries.last?.end ?? max(0, min(start, bytes.count)))
    }

    static func appendLittleEndian(_ value: UInt32, to bytes: inout [UInt8]) {
        for shift in stride(from: 0, to: 32, by: 8) { bytes.append(UInt8(truncatingIfNeeded: value >> shift)) }
    }

    static func littleEndian(_ bytes: [UInt8], at index: Int) -> UInt32 {
        (0..<4).reduce(0) { $0 | UInt32(bytes[index + $1]) << (8 * $1) }
    }
}
