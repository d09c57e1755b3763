import API
import Glibc
import SystemSupport

/// Logs as JSON lines on stderr, one write per line so that lines from many processes never interleave.
enum Log {
    static func event(_ level: LogLevel, _ message: String, _ fields: [(String, JSONValue)] = []) {
        line([("level", .string(level.rawValue)), ("message", .string(message))] + fields)
    }

    static func line(_ fields: [(String, JSONValue)]) {
        var line = Line()
        for (name, value) in fields { line.field(name, value) }
        line.write()
    }

    /// The line logged for every request, written field by field: no list of fields, no text for the
    /// duration and counts before their bytes.
    static func request(
        level: LogLevel, requestID: String, method: String, path: String, status: Int, durationMicroseconds: Int64,
        retries: Int, worker: String, note: String?
    ) {
        var line = Line()
        line.field("level", .string(level.rawValue))
        line.field("request_id", .string(requestID))
        line.field("method", .string(method))
        line.field("path", .string(path))
        line.field("status", integer: Int64(status))
        line.name("duration_ms")
        line.milliseconds(fromMicroseconds: durationMicroseconds)
        line.field("retries", integer: Int64(retries))
        line.field("worker", .string(worker))
        if let note { line.field("note", .string(note)) }
        line.write()
    }

    /// One JSON object, its time first, as UTF-8 bytes.
    private struct Line {
        private var bytes: [UInt8] = []

        init() {
            bytes.reserveCapacity(320)
            bytes.append(contentsOf: #"{"time":""#.utf8)
            var time = timespec()
            clock_gettime(CLOCK_REALTIME, &time)
            Timestamp.write(
                microsecondsSince1970: Int64(time.tv_sec) * 1_000_000 + Int64(time.tv_nsec) / 1000, to: &bytes)
            bytes.append(UInt8(ascii: "\""))
        }

        mutating func name(_ name: String) {
            bytes.append(UInt8(ascii: ","))
            JSONValue.string(name).write(to: &bytes)
            bytes.append(UInt8(ascii: ":"))
        }

        mutating func field(_ name: String, _ value: JSONValue) {
            self.name(name)
            value.write(to: &bytes)
        }

        mutating func field(_ name: String, integer: Int64) {
            self.name(name)
            bytes.append(contentsOf: String(integer).utf8)
        }

        /// Milliseconds with three decimals, from whole microseconds ("2.437").
        mutating func milliseconds(fromMicroseconds microseconds: Int64) {
            let value = max(microseconds, 0)
            bytes.append(contentsOf: String(value / 1000).utf8)
            let fraction = Int(value % 1000)
            bytes.append(UInt8(ascii: "."))
            bytes.append(UInt8(ascii: "0") + UInt8(fraction / 100))
            bytes.append(UInt8(ascii: "0") + UInt8(fraction / 10 % 10))
            bytes.append(UInt8(ascii: "0") + UInt8(fraction % 10))
        }

        mutating func write() {
            bytes.append(contentsOf: "}\n".utf8)
            _ = bytes.withUnsafeBytes { Glibc.write(2, $0.baseAddress, $0.count) }
        }
    }
}
