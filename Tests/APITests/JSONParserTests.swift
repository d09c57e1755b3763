import Testing

@testable import API

@Suite("Strict JSON parsing")
struct JSONParserTests {
    func parse(_ text: String) throws -> JSONValue {
        try JSONParser.parse(Array(text.utf8))
    }

    @Test("numbers keep the text they were written with")
    func keepsNumberText() throws {
        #expect(try parse("12.34") == .number("12.34"))
        #expect(try parse("1e2") == .number("1e2"))
        #expect(try parse("-0.10") == .number("-0.10"))
        #expect(try parse("[0.29, 1.001]") == .array([.number("0.29"), .number("1.001")]))
    }

    @Test("objects keep their members in order, with escapes and surrogate pairs decoded")
    func decodesObjects() throws {
        let value = try parse(#" { "b" : "x\"\u00e9\ud83e\udd8a\n" , "a" : [true, false, null] } "#)
        #expect(value == .object([("b", .string("x\"é🦊\n")), ("a", .array([.bool(true), .bool(false), .null]))]))
        #expect(
            try parse(#"{"":"","é🦊":"plain é🦊","t":"a\tb\\"}"#)
                == .object([("", .string("")), ("é🦊", .string("plain é🦊")), ("t", .string("a\tb\\"))]))
    }

    @Test(
        "malformed documents are refused",
        arguments: [
            "", "{", "{\"a\":}", "{\"a\" 1}", "[1,]", "{\"a\":1,}", "01", "1.", ".5", "+1", "-", "1e", "tru",
            "nul", "\"unterminated", "\"\\x\"", "\"\\ud800\"", "\"\\udc00\"", "\"a\u{01}b\"", "{} {}", "{'a':1}",
            "NaN", "Infinity",
        ])
    func refusesMalformed(text: String) {
        #expect(throws: JSONSyntaxError.self) { try parse(text) }
    }

    @Test(
        "a \\u escape takes exactly four hex digits: no sign, no space, no other letter",
        arguments: [
            #""\u+041""#, #""\u-000""#, #""\u+0041""#, #""\u 041""#, #""\u004g""#, #""\u00G1""#, #""\u041""#,
            #""\ud83e\u+dd8a""#, #""\ud83e\u-dd8""#,
        ])
    func refusesSignedOrShortUnicodeEscapes(text: String) {
        #expect(throws: JSONSyntaxError.self) { try parse(text) }
    }

    @Test("a \\u escape reads upper- and lower-case hex digits")
    func readsHexDigitsOfEitherCase() throws {
        #expect(try parse(#""\u0041\u00e9\u00E9\uFFFD\u0000""#) == .string("Aéé\u{FFFD}\u{0}"))
    }

    @Test("invalid UTF-8 and deep nesting are refused")
    func refusesInvalidUTF8AndDeepNesting() {
        #expect(throws: JSONSyntaxError.self) { try JSONParser.parse([0x22, 0xFF, 0x22]) }
        let deep = String(repeating: "[", count: 100) + String(repeating: "]", count: 100)
        #expect(throws: JSONSyntaxError.self) { try parse(deep) }
    }

    @Test(
        "invalid UTF-8 is reported at its first bad byte",
        arguments: [
            ([0xFF], 0),  // never a UTF-8 byte
            ([0x22, 0x61, 0xC3, 0xA9, 0xFF, 0x22], 4),  // after a valid two-byte é
            ([0x22, 0xC0, 0xAF, 0x22], 1),  // an overlong encoding of "/"
            ([0x22, 0xED, 0xA0, 0x80, 0x22], 1),  // a surrogate encoded directly
            ([0x22, 0x61, 0xE2, 0x82], 2),  // a sequence cut short by the end
        ] as [([UInt8], Int)])
    func reportsInvalidUTF8Offset(bytes: [UInt8], offset: Int) {
        #expect(throws: JSONSyntaxError(offset: offset, reason: "the body is not valid UTF-8")) {
            try JSONParser.parse(bytes)
        }
    }

    @Test("serialization escapes what must be escaped, including HTML-significant characters")
    func serializes() {
        let value = JSONValue.object([
            ("name", .string("<script>\"a\"&\u{1}\n")), ("n", .number("5")), ("x", .null),
        ])
        #expect(value.serialized() == #"{"name":"\u003cscript\u003e\"a\"\u0026\u0001\n","n":5,"x":null}"#)
        #expect(JSONValue.string("a\u{2028}b\u{2029}–\\").serialized() == #""a\u2028b\u2029–\\""#)
    }

    @Test("whatever serializes, parses back the same")
    func roundTrips() throws {
        let value = JSONValue.object([
            ("s", .string("Zoë 🦊 \u{2028} \\ / \t")), ("a", .array([.number("-1.5"), .bool(true)])),
            ("o", .object([])),
        ])
        #expect(try JSONParser.parse(Array(value.serialized().utf8)) == value)
    }
}
