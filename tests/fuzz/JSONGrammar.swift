/// RFC 8259's grammar as a recognizer, written apart from the parser so that the fuzzer can hold one against
/// the other: it says whether bytes are a JSON text, with the parser's own extra rules (valid UTF-8, no lone
/// surrogate in a \u escape, at most `JSONParser.maximumDepth` levels of nesting) and nothing more.
struct JSONGrammar {
    private let bytes: [UInt8]
    private var index = 0

    private init(_ bytes: [UInt8]) {
        self.bytes = bytes
    }

    static func accepts(_ bytes: [UInt8]) -> Bool {
        guard String(validating: bytes, as: UTF8.self) != nil else { return false }
        var grammar = JSONGrammar(bytes)
        grammar.whitespace()
        guard grammar.value(depth: 0) else { return false }
        grammar.whitespace()
        return grammar.index == bytes.count
    }

    private var current: UInt8? { index < bytes.count ? bytes[index] : nil }

    private mutating func take(_ byte: UInt8) -> Bool {
        guard current == byte else { return false }
        index += 1
        return true
    }

    private mutating func whitespace() {
        while let byte = current, byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D { index += 1 }
    }

    private mutating func value(depth: Int) -> Bool {
        switch current {
        case UInt8(ascii: "{"): return members(depth: depth + 1)
        case UInt8(ascii: "["): return elements(depth: depth + 1)
        case UInt8(ascii: "\""): return string()
        case UInt8(ascii: "t"): return word("true")
        case UInt8(ascii: "f"): return word("false")
        case UInt8(ascii: "n"): return word("null")
        default: return number()
        }
    }

    private mutating func word(_ text: String) -> Bool {
        for byte in text.utf8 where !take(byte) { return false }
        return true
    }

    private mutating func members(depth: Int) -> Bool {
        guard depth <= 64, take(UInt8(ascii: "{")) else { return false }
        whitespace()
        if take(UInt8(ascii: "}")) { return true }
        repeat {
            whitespace()
            guard string() else { return false }
            whitespace()
            guard take(UInt8(ascii: ":")) else { return false }
            whitespace()
            guard value(depth: depth) else { return false }
            whitespace()
        } while take(UInt8(ascii: ","))
        return take(UInt8(ascii: "}"))
    }

    private mutating func elements(depth: Int) -> Bool {
        guard depth <= 64, take(UInt8(ascii: "[")) else { return false }
        whitespace()
        if take(UInt8(ascii: "]")) { return true }
        repeat {
            whitespace()
            guard value(depth: depth) else { return false }
            whitespace()
        } while take(UInt8(ascii: ","))
        return take(UInt8(ascii: "]"))
    }

    private mutating func digits() -> Int {
        let start = index
        while let byte = current, (0x30...0x39).contains(byte) { index += 1 }
        return index - start
    }

    private mutating func number() -> Bool {
        _ = take(UInt8(ascii: "-"))
        if take(UInt8(ascii: "0")) {
            // A leading zero stands alone.
        } else if digits() == 0 {
            return false
        }
        if take(UInt8(ascii: ".")), digits() == 0 { return false }
        if take(UInt8(ascii: "e")) || take(UInt8(ascii: "E")) {
            if !take(UInt8(ascii: "+")) { _ = take(UInt8(ascii: "-")) }
            if digits() == 0 { return false }
        }
        return true
    }

    private mutating func string() -> Bool {
        guard take(UInt8(ascii: "\"")) else { return false }
        while let byte = current {
            index += 1
            switch byte {
            case UInt8(ascii: "\""): return true
            case 0x00..<0x20: return false
            case UInt8(ascii: "\\"): guard escape() else { return false }
            default: continue
            }
        }
        return false
    }

    private mutating func escape() -> Bool {
        guard let byte = current else { return false }
        index += 1
        switch byte {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
            UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
            return true
        case UInt8(ascii: "u"):
            guard let unit = hex4() else { return false }
            if (0xDC00...0xDFFF).contains(unit) { return false }
            guard (0xD800...0xDBFF).contains(unit) else { return true }
            guard take(UInt8(ascii: "\\")), take(UInt8(ascii: "u")), let low = hex4() else { return false }
            return (0xDC00...0xDFFF).contains(low)
        default:
            return false
        }
    }

    /// Four hex digits, each one of 0-9, a-f, A-F.
    private mutating func hex4() -> Int? {
        var unit = 0
        for _ in 0..<4 {
            guard let byte = current else { return nil }
            let digit: Int
            switch byte {
            case 0x30...0x39: digit = Int(byte) - 0x30
            case 0x41...0x46: digit = Int(byte) - 0x41 + 10
            case 0x61...0x66: digit = Int(byte) - 0x61 + 10
            default: return nil
            }
            unit = unit * 16 + digit
            index += 1
        }
        return unit
    }
}
