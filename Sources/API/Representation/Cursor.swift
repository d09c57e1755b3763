import Credentials

/// An opaque page cursor: the id to continue from, in base64url, so that clients treat it as a token.
enum Cursor {
    private static let prefix = "tally:"

    static func encode(_ id: Int64) -> String {
        Base64URL.encode(Array((prefix + String(id)).utf8))
    }

    static func decode(_ cursor: String) -> Int64? {
        guard let bytes = Base64URL.decode(cursor), let text = String(validating: bytes, as: UTF8.self),
            text.hasPrefix(prefix), let id = Int64(text.dropFirst(prefix.count)), id >= 0
        else { return nil }
        return id
    }
}
