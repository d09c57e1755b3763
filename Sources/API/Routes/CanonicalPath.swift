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
        guard parts.count > 1, parts[0].isEmpty, !parts.dropFirst().contains(where: \.isEmpty) else { return nil }
        if let requestURI, !isSentSpelling(of: path, requestURI: requestURI) { return nil }
        // Split as bytes: splitting a String by Character runs grapheme breaking over the whole path.
        return parts.dropFirst().map { String(decoding: $0, as: UTF8.self) }
    }

    private static let slash = UInt8(ascii: "/")

    /// Whether the path part of `requestURI`, percent-decoded, is `path` byte for byte, with no encoded slash.
    /// nginx decodes the URI and then merges slashes and resolves dot segments: any of those leaves a
    /// difference. A percent-encoded ordinary character (an idempotency key with a space) is no difference.
    static func isSentSpelling(of path: String, requestURI: String) -> Bool {
        let sent = requestURI.utf8.prefix { $0 != UInt8(ascii: "?") }
        var decoded: [UInt8] = []
        decoded.reserveCapacity(sent.count)
        var index = sent.startIndex
        while index < sent.endIndex {
            let byte = sent[index]
            index = sent.index(after: index)
            guard byte == UInt8(ascii: "%") else {
                decoded.append(byte)
                continue
            }
            guard let high = hexValue(sent, at: index) else { return false }
            let next = sent.index(after: index)
            guard let low = hexValue(sent, at: next) else { return false }
            let value = high << 4 | low
            guard value != slash else { return false }
            decoded.append(value)
            index = sent.index(after: next)
        }
        return decoded.elementsEqual(path.utf8)
    }

    /// The value of the hexadecimal digit at `index`, checked byte by byte (no sign, no other digits).
    private static func hexValue(_ bytes: Substring.UTF8View, at index: Substring.UTF8View.Index) -> UInt8? {
        guard index < bytes.endIndex else { return nil }
        switch bytes[index] {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return bytes[index] - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return bytes[index] - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return bytes[index] - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}
