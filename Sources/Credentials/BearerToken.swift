/// A bearer token: 32 random bytes from the kernel, shown to its owner once as text, stored only as its
/// SHA-256. Looking a token up by its hash keeps comparisons free of timing leaks about the token itself.
public struct BearerToken: Sendable {
    /// Every token's text starts with this, so that a leaked one is easy to recognise (and to scan for).
    public static let prefix = "tly_"
    static let randomByteCount = 32

    /// The text the client sends: "tly_" and 43 base64url characters.
    public let text: String

    /// A new token from the kernel's random generator.
    public static func generate() throws -> BearerToken {
        BearerToken(uncheckedText: prefix + Base64URL.encode(try SystemRandom.bytes(count: randomByteCount)))
    }

    /// Reads a token from its text; nil when it does not have a token's form.
    public init?(text: String) {
        guard text.utf8.starts(with: Self.prefix.utf8),
            Base64URL.decodedCount(text.utf8.dropFirst(Self.prefix.utf8.count)) == Self.randomByteCount
        else { return nil }
        self.text = text
    }

    private init(uncheckedText text: String) {
        self.text = text
    }

    /// The token from an `Authorization: Bearer <token>` header value; nil when absent or malformed.
    public init?(authorizationHeader header: String?) {
        // Two words between spaces, read as bytes: splitting a String by Character runs grapheme breaking
        // over the whole header, and an array of the parts is more than this needs.
        guard let bytes = header?.utf8 else { return nil }
        let space = UInt8(ascii: " ")
        guard let schemeStart = bytes.firstIndex(where: { $0 != space }) else { return nil }
        let schemeEnd = bytes[schemeStart...].firstIndex(of: space) ?? bytes.endIndex
        guard let tokenStart = bytes[schemeEnd...].firstIndex(where: { $0 != space }) else { return nil }
        let tokenEnd = bytes[tokenStart...].firstIndex(of: space) ?? bytes.endIndex
        guard !bytes[tokenEnd...].contains(where: { $0 != space }),
            bytes[schemeStart..<schemeEnd].elementsEqual("bearer".utf8, by: { $0 | 0x20 == $1 })
        else { return nil }
        self.init(text: String(decoding: bytes[tokenStart..<tokenEnd], as: UTF8.self))
    }

    /// What the database stores and looks tokens up by.
    public var hash: [UInt8] {
        TokenHashCache.shared.hash(of: text)
    }
}
