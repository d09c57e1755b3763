import Glibc

/// RFC 3339 UTC text with milliseconds, e.g. "2026-11-23T10:00:00.123Z".
public enum Timestamp {
    public static func rfc3339(microsecondsSince1970 microseconds: Int64) -> String {
        var seconds = time_t(microseconds / 1_000_000)
        let milliseconds = Int((microseconds % 1_000_000) / 1000)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        return "\(pad(Int(parts.tm_year) + 1900, 4))-\(pad(Int(parts.tm_mon) + 1, 2))-\(pad(Int(parts.tm_mday), 2))"
            + "T\(pad(Int(parts.tm_hour), 2)):\(pad(Int(parts.tm_min), 2)):\(pad(Int(parts.tm_sec), 2))"
            + ".\(pad(milliseconds, 3))Z"
    }

    private static func pad(_ value: Int, _ width: Int) -> String {
        let text = String(value)
        return text.count >= width ? text : String(repeating: "0", count: width - text.count) + text
    }
}
