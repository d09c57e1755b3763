extension JSONValue {
    /// Compact JSON text; members in the order they were given.
    package func serialized() -> String {
        var output: [UInt8] = []
        output.reserveCapacity(512)
        write(to: &output)
        return String(decoding: output, as: UTF8.self)
    }

    /// Appends the compact JSON text as UTF-8. Bytes, not String appends: this runs for every response
    /// and every log line, and byte appends cost a small fraction of String's.
    package func write(to output: inout [UInt8]) {
        switch self {
        case .null: output.append(contentsOf: "null".utf8)
        case .bool(let value): output.append(contentsOf: (value ? "true" : "false").utf8)
        case .number(let text): output.append(contentsOf: text.utf8)
        case .string(let text): Self.writeString(text, to: &output)
        case .array(let elements):
            output.append(UInt8(ascii: "["))
            for (position, element) in elements.enumerated() {
                if position > 0 { output.append(UInt8(ascii: ",")) }
                element.write(to: &output)
            }
            output.append(UInt8(ascii: "]"))
        case .object(let members):
            output.append(UInt8(ascii: "{"))
            for (position, (name, value)) in members.enumerated() {
                if position > 0 { output.append(UInt8(ascii: ",")) }
                Self.writeString(name, to: &output)
                output.append(UInt8(ascii: ":"))
                value.write(to: &output)
            }
            output.append(UInt8(ascii: "}"))
        }
    }

    private static let hexDigits = Array("0123456789abcdef".utf8)

    /// Whether a JSON string needs a closer look at `byte`: the bytes escaped below, and 0xE2, the first byte
    /// of U+2028 and U+2029. One bit each in a 256-bit set held in constants: a shift and a mask a byte, with
    /// no table to load (a global array is set up lazily, and checked and retained on every use).
    @inline(__always)
    private static func needsCloserLook(_ byte: UInt8) -> Bool {
        // Bits 0-31 (controls), '"' (34), '&' (38), '<' (60), '>' (62); '\\' (92); 0xE2 (226).
        let word: UInt64 =
            switch byte >> 6 {
            case 0: 0x5000_0044_FFFF_FFFF
            case 1: 0x0000_0000_1000_0000
            case 2: 0
            default: 0x0000_0004_0000_0000
            }
        return word >> UInt64(byte & 63) & 1 == 1
    }

    /// A JSON string. Escapes quotes, backslashes and control characters, and also < > & and U+2028/2029,
    /// so that a body pasted into HTML or a script can never close a tag or end a line. Runs of bytes that
    /// need no escape are copied whole.
    private static func writeString(_ text: String, to output: inout [UInt8]) {
        output.append(UInt8(ascii: "\""))
        var text = text
        text.withUTF8 { bytes in
            var index = 0
            var runStart = 0
            while index < bytes.count {
                let byte = bytes[index]
                guard needsCloserLook(byte) else {
                    index += 1
                    continue
                }
                if byte == 0xE2 {
                    // U+2028 and U+2029 are E2 80 A8 and E2 80 A9; any other E2 sequence is copied as it is.
                    guard index + 2 < bytes.count, bytes[index + 1] == 0x80,
                        bytes[index + 2] == 0xA8 || bytes[index + 2] == 0xA9
                    else {
                        index += 1
                        continue
                    }
                }
                output.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<index]))
                switch byte {
                case UInt8(ascii: "\""): output.append(contentsOf: #"\""#.utf8)
                case UInt8(ascii: "\\"): output.append(contentsOf: #"\\"#.utf8)
                case UInt8(ascii: "\n"): output.append(contentsOf: #"\n"#.utf8)
                case UInt8(ascii: "\r"): output.append(contentsOf: #"\r"#.utf8)
                case UInt8(ascii: "\t"): output.append(contentsOf: #"\t"#.utf8)
                case 0xE2:
                    output.append(contentsOf: unicodeEscape(bytes[index + 2] == 0xA8 ? 0x2028 : 0x2029))
                    index += 2
                default: output.append(contentsOf: unicodeEscape(UInt16(byte)))
                }
                index += 1
                runStart = index
            }
            output.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<bytes.count]))
        }
        output.append(UInt8(ascii: "\""))
    }

    private static func unicodeEscape(_ value: UInt16) -> [UInt8] {
        [
            UInt8(ascii: "\\"), UInt8(ascii: "u"), hexDigits[Int(value >> 12)], hexDigits[Int((value >> 8) & 0xF)],
            hexDigits[Int((value >> 4) & 0xF)], hexDigits[Int(value & 0xF)],
        ]
    }
}
