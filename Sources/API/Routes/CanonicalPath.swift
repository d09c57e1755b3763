/// The one spelling of each path the router answers. nginx chooses its location (and so its limits, such as the
/// log-in limit on `location = /api/auth/login`) by the decoded, normalised path; if the router accepted other
/// spellings of the same path, say `/api/auth/login/`, such a request would reach the endpoint under another
/// location's rules. So the router answers only the spelling nginx's exact locations match: no empty segment
/// (no `//`, no trailing `/`), and, where the URI as sent is known, nothing nginx normalised away (merged
/// slashes, `.` and `..` segments) and no encoded slash (`%2F`).
enum CanonicalPath {
    /// The segments of `path` after its leading "/", or nil when `path` is not a canonical spelling.
    /// `requestURI`: the URI as the client sent it (percent-encoded, perhaps with a query), when known.
    static func segments(of path: String, requestURI: String?) -> [String]? {
        let parts = path.utf8.split(separator: slash, omittingEmptySubsequences: false)
        guard parts.count > 1, parts[0].isEmpty, !parts.dropFirst().contains(where: { $0.isEmpty }) else { return nil }
        if let requestURI, !isSentSpelling(of: path, requestURI: requestURI) { return nil }
        // Split as bytes: splitting a String by Character runs grapheme breaking over the whole path.
        return parts.dropFirst().map { String(decoding: $0, as: UTF8.self) }
    }

    private static let slash = UInt8(ascii: "/")

    /// Whether the path part of `requestURI`, percent-decoded, is `path` byte for byte, with no encoded slash.
    /// nginx decodes the URI and then merges slashes and resolves dot segments: any of those leaves a
    /// difference. A percent-encoded ordinary character (an idempotency key with a space) is no difference.
    static func isSentSpelling(of path: String, requestURI: String) -> Bool {
        // On contiguous bytes, decoded as compared: every request comes through here.
        var path = path
        var requestURI = requestURI
        return path.withUTF8 { expected in requestURI.withUTF8 { sent in decodes(sent, to: expected) } }
    }

    private static func decodes(_ sent: UnsafeBufferPointer<UInt8>, to expected: UnsafeBufferPointer<UInt8>) -> Bool {
        var index = 0
        var matched = 0
        while index < sent.count, sent[index] != UInt8(ascii: "?") {
            var byte = sent[index]
            index += 1
            if byte == UInt8(ascii: "%") {
                guard index + 1 < sent.count, let high = hexValue(sent[index]), let low = hexValue(sent[index + 1])
                else { return false }
                byte = high << 4 | low
                index += 2
                guard byte != slash else { return false }
            }
            guard matched < expected.count, expected[matched] == byte else { return false }
            matched += 1
        }
        return matched == expected.count
    }

    /// The value of a hexadecimal digit, checked byte by byte (no sign, no other digits).
    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
