import API
import Glibc

/// Logs as JSON lines on stderr, one write per line so that lines from many processes never interleave.
enum Log {
    static func event(_ level: String, _ message: String, _ fields: [(String, JSONValue)] = []) {
        line([("level", .string(level)), ("message", .string(message))] + fields)
    }

    static func line(_ fields: [(String, JSONValue)]) {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(320)
        bytes.append(contentsOf: #"{"time":"#.utf8)
        JSONValue.string(now()).write(to: &bytes)
        for (name, value) in fields {
            bytes.append(UInt8(ascii: ","))
            JSONValue.string(name).write(to: &bytes)
            bytes.append(UInt8(ascii: ":"))
            value.write(to: &bytes)
        }
        bytes.append(contentsOf: "}\n".utf8)
        _ = bytes.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
    }

    private static func now() -> String {
        var time = timespec()
        clock_gettime(CLOCK_REALTIME, &time)
        return Timestamp.rfc3339(microsecondsSince1970: Int64(time.tv_sec) * 1_000_000 + Int64(time.tv_nsec) / 1000)
    }
}
