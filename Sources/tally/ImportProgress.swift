import FastCGI
import Glibc
import ImportExport
import SystemSupport

/// `tally import`'s progress on stderr. On a terminal: one line rewritten in place, a bar with the rows done,
/// the rate and the time left. Elsewhere (a log, a pipe): a plain line every few seconds, which a log keeps.
final class ImportProgress {
    private let totalRows: Int
    private let isTerminal: Bool
    private let start = MonotonicClock.seconds()
    private var lastShown = -Double.infinity
    private var lastLine = ""

    init(totalRows: Int) {
        self.totalRows = totalRows
        isTerminal = isatty(STDERR_FILENO) == 1
    }

    /// At most five times a second on a terminal, every five seconds off one.
    func update(_ summary: ImportSummary) {
        let now = MonotonicClock.seconds()
        guard now - lastShown >= (isTerminal ? 0.2 : 5) else { return }
        lastShown = now
        show(summary, elapsed: now - start)
    }

    /// A message between progress lines (a retry): on a terminal the bar is drawn again below it.
    func note(_ message: String) {
        if isTerminal {
            writeError("\r\u{1B}[K\(message)\n\(lastLine)")
        } else {
            writeError("import: \(message)\n")
        }
    }

    /// The last state, and the end of the terminal's line.
    func finish(_ summary: ImportSummary) {
        show(summary, elapsed: MonotonicClock.seconds() - start)
        if isTerminal { writeError("\n") }
    }

    private func show(_ summary: ImportSummary, elapsed: Double) {
        let done = summary.rowsDone
        let fraction = totalRows == 0 ? 1 : min(Double(done) / Double(totalRows), 1)
        let rate = Double(done) / max(elapsed, 0.001)
        let left = rate > 0 ? Int((Double(totalRows - done) / rate).rounded(.up)) : nil
        let percent = Int((fraction * 100).rounded(.down))
        if isTerminal {
            let width = 24
            let filled = Int((fraction * Double(width)).rounded(.down))
            let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
            lastLine =
                "import [\(bar)] \(percent)% \(grouped(done))/\(grouped(totalRows)) rows, \(grouped(Int(rate))) rows/s"
                + (left.map { ", \(Self.clock($0)) left" } ?? "")
            writeError("\r\u{1B}[K" + lastLine)
        } else {
            writeError(
                "import: \(grouped(done)) of \(grouped(totalRows)) rows (\(percent)%), \(grouped(Int(rate))) rows/s"
                    + (left.map { ", about \(Self.clock($0)) left" } ?? "") + "\n")
        }
    }

    /// 75 s as "1:15", an hour and more as "1:02:03".
    private static func clock(_ seconds: Int) -> String {
        let (hours, minutes, rest) = (seconds / 3600, seconds / 60 % 60, seconds % 60)
        let twoDigits = { (value: Int) in value < 10 ? "0\(value)" : "\(value)" }
        return hours > 0 ? "\(hours):\(twoDigits(minutes)):\(twoDigits(rest))" : "\(minutes):\(twoDigits(rest))"
    }
}
