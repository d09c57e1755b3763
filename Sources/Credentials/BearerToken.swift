/// A bearer token: 32 random bytes from the kernel, shown to its owner once as text, stored only as its
/// SHA-256. Looking a token up by its hash keeps comparisons free of timing leaks about the token itself.
package struct BearerToken: Sendable {
    /// Every token's text starts with this, so that a leaked one is easy to recognise (and to scan for).
    package static let prefix = "tly_"
    static let randomByteCount = 32

    /// The text the client sends: "tly_" and 43 base64url characters.
    package let text: String

    /// A new token from the kernel's random generator.
    package static func generate() -> BearerToken {
        BearerToken(uncheckedText: prefix + Base64URL.encode(SystemRandom.bytes(count: randomByteCount)))
    }

    /// Reads a token from its text; nil when it does not have a token's form.
    package init?(text: String) {
        guard Self.hasTokenForm(text.utf8) else { return nil }
        self.text = text
    }

    private init(uncheckedText text: String) {
        self.text = text
    }

    /// The token from an `Authorization: Bearer <token>` header value; nil when absent or malformed.
    package init?(authorizationHeader header: String?) {
        // Read as contiguous bytes: every request carries this header, and walking a String's UTF-8 view
        // through indices cost several times as much.
        guard var header, let text = header.withUTF8(Self.tokenText(inAuthorizationHeader:)) else { return nil }
        self.init(uncheckedText: text)
    }

    /// The token's text in "Bearer <token>" (the scheme in any case, spaces around and between), when it has
    /// a token's form; nil otherwise.
    private static func tokenText(inAuthorizationHeader bytes: UnsafeBufferPointer<UInt8>) -> String? {
        let space = UInt8(ascii: " ")
        var index = 0
        func skipping(spaces: Bool) -> Int {
            while index < bytes.count, (bytes[index] == space) == spaces { index += 1 }
            return index
        }
        let schemeStart = skipping(spaces: true)
        let schemeEnd = skipping(spaces: false)
        let tokenStart = skipping(spaces: true)
        let tokenEnd = skipping(spaces: false)
        guard skipping(spaces: true) == bytes.count, tokenStart < tokenEnd,
            bytes[schemeStart..<schemeEnd].elementsEqual("bearer".utf8, by: { $0 | 0x20 == $1 })
        else { return nil }
        let token = UnsafeBufferPointer(rebasing: bytes[tokenStart..<tokenEnd])
        guard hasTokenForm(token) else { return nil }
        return String(decoding: token, as: UTF8.self)
    }

    /// "tly_" and base64url text of exactly `randomByteCount` bytes.
    private static func hasTokenForm<Text: Collection<UInt8>>(_ text: Text) -> Bool {
        text.starts(with: prefix.utf8) && Base64URL.decodedCount(text.dropFirst(prefix.utf8.count)) == randomByteCount
    }

    /// What the database stores and looks tokens up by.
    package var hash: [UInt8] {
        TokenHashCache.shared.hash(of: text)
    }
}
