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
        guard text.hasPrefix(Self.prefix), let bytes = Base64URL.decode(String(text.dropFirst(Self.prefix.count))),
            bytes.count == Self.randomByteCount
        else { return nil }
        self.text = text
    }

    private init(uncheckedText text: String) {
        self.text = text
    }

    /// The token from an `Authorization: Bearer <token>` header value; nil when absent or malformed.
    public init?(authorizationHeader header: String?) {
        // Split as bytes: splitting a String by Character runs grapheme breaking over the whole header.
        guard let parts = header?.utf8.split(separator: UInt8(ascii: " ")), parts.count == 2,
            String(decoding: parts[0], as: UTF8.self).lowercased() == "bearer"
        else { return nil }
        self.init(text: String(decoding: parts[1], as: UTF8.self))
    }

    /// What the database stores and looks tokens up by.
    public var hash: [UInt8] {
        SHA256.hash(Array(text.utf8))
    }
}
