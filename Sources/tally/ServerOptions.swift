import ArgumentParser
import Glibc

/// `--url` and `--token-file`: how `import` and `export` reach a running Tally, through nginx like any client.
struct ServerOptions: ParsableArguments {
    static let url = Setting<String>("url", environment: "TALLY_URL", default: "http://127.0.0.1:8080")
    static let tokenFile = Setting<String>(
        "token-file", default: "var/admin-token", shown: "$TALLY_TOKEN if set, else var/admin-token")

    @Option(parsing: .unconditional, help: url.help("where nginx serves Tally (the API under /api)", valueName: "URL"))
    var url: String?
    @Option(
        parsing: .unconditional,
        help: tokenFile.help(
            "a file holding the bearer token (`make run` keeps the service token there)", valueName: "FILE"))
    var tokenFile: String?

    /// The command line's URL, else TALLY_URL, else make run's.
    var baseURL: String { Self.url.string(url)! }

    /// The token: from --token-file when given, else TALLY_TOKEN when set, else from var/admin-token.
    func token() throws(UsageError) -> String {
        if tokenFile == nil, let value = getenv("TALLY_TOKEN"), value.pointee != 0 {
            return String(cString: value)
        }
        let path = Self.tokenFile.string(tokenFile)!
        guard let file = fopen(path, "r") else {
            throw UsageError(
                message: "cannot read the token file \(path): \(String(cString: strerror(errno))) (give --token-file"
                    + " or set TALLY_TOKEN)")
        }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var piece = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = fread(&piece, 1, piece.count, file)
            if count == 0 { break }
            bytes += piece[..<count]
        }
        let token = String(decoding: bytes, as: UTF8.self).filter { !$0.isWhitespace }
        guard !token.isEmpty else { throw UsageError(message: "the token file \(path) is empty") }
        return token
    }
}

/// Waits `seconds` (a retry's pause), whatever signals arrive meanwhile.
func pause(seconds: Double) {
    var wait = timespec(tv_sec: Int(seconds), tv_nsec: Int((seconds - Double(Int(seconds))) * 1e9))
    var remaining = timespec()
    while nanosleep(&wait, &remaining) == -1 && errno == EINTR { wait = remaining }
}

/// 1234567 as "1,234,567".
func grouped(_ number: Int) -> String {
    var digits = String(number.magnitude)
    var index = digits.endIndex
    while digits.distance(from: digits.startIndex, to: index) > 3 {
        index = digits.index(index, offsetBy: -3)
        digits.insert(",", at: index)
    }
    return (number < 0 ? "-" : "") + digits
}
