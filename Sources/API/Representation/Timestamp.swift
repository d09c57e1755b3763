import Glibc

/// RFC 3339 UTC text with milliseconds, e.g. "2026-11-23T10:00:00.123Z".
package enum Timestamp {
    package static func rfc3339(microsecondsSince1970 microseconds: Int64) -> String {
        String(unsafeUninitializedCapacity: length) { buffer in
            write(microsecondsSince1970: microseconds) { offset, byte in buffer[offset] = byte }
            return length
        }
    }

    /// Appends the RFC 3339 text as UTF-8. This runs for every movement rendered and every log line.
    package static func write(microsecondsSince1970 microseconds: Int64, to bytes: inout [UInt8]) {
        let start = bytes.count
        bytes.append(contentsOf: repeatElement(0, count: length))
        bytes.withUnsafeMutableBufferPointer { buffer in
            write(microsecondsSince1970: microseconds) { offset, byte in buffer[start + offset] = byte }
        }
    }

    /// "2026-11-23T10:00:00.123Z" is always 24 bytes (years 1000 to 9999).
    private static let length = 24

    /// Stores the text's bytes through `store` (offset, byte), each digit at its fixed place: no loops,
    /// no appends.
    private static func write(microsecondsSince1970 microseconds: Int64, store: (Int, UInt8) -> Void) {
        var seconds = time_t(microseconds / 1_000_000)
        let milliseconds = Int((microseconds % 1_000_000) / 1000)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func two(_ value: Int, at offset: Int) {
            store(offset, UInt8(ascii: "0") + UInt8(value / 10 % 10))
            store(offset + 1, UInt8(ascii: "0") + UInt8(value % 10))
        }
        let year = Int(parts.tm_year) + 1900
        two(year / 100, at: 0)
        two(year % 100, at: 2)
        store(4, UInt8(ascii: "-"))
        two(Int(parts.tm_mon) + 1, at: 5)
        store(7, UInt8(ascii: "-"))
        two(Int(parts.tm_mday), at: 8)
        store(10, UInt8(ascii: "T"))
        two(Int(parts.tm_hour), at: 11)
        store(13, UInt8(ascii: ":"))
        two(Int(parts.tm_min), at: 14)
        store(16, UInt8(ascii: ":"))
        two(Int(parts.tm_sec), at: 17)
        store(19, UInt8(ascii: "."))
        store(20, UInt8(ascii: "0") + UInt8(milliseconds / 100))
        two(milliseconds % 100, at: 21)
        store(23, UInt8(ascii: "Z"))
    }
}
