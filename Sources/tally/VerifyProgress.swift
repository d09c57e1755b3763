import FastCGI
import Glibc
import LedgerStore
import SystemSupport

/// `tally verify`'s progress on a terminal: one line on stderr, rewritten after each slice of the journal (the
/// movements read, the share covered, the rate), and a summary at the end. Off a terminal it is not used, and
/// verify prints only its report, as scripts and tests read it.
final class VerifyProgress {
    private let start = MonotonicClock.seconds()
    private var lastShown = -1.0

    /// Whether stderr is a terminal a person watches.
    static var isWanted: Bool { isatty(STDERR_FILENO) == 1 }

    /// Shown at most five times a second (a journal read in small slices would otherwise flood the terminal).
    func update(movements: Int, fraction: Double) {
        let now = MonotonicClock.seconds()
        guard now - lastShown >= 0.2 else { return }
        lastShown = now
        let rate = Double(movements) / max(now - start, 0.001)
        let percent = Int((fraction * 100).rounded(.down))
        writeError("\r\u{1B}[Kverify: \(grouped(movements)) movements read (\(percent)%), \(grouped(Int(rate)))/s")
    }

    func finish(movements: Int, users: Int) {
        let elapsed = MonotonicClock.seconds() - start
        let rate = Double(movements) / max(elapsed, 0.001)
        let seconds = (elapsed * 10).rounded() / 10
        writeError(
            "\r\u{1B}[Kverify: \(grouped(movements)) movements and \(grouped(users)) users checked in \(seconds) s"
                + " (\(grouped(Int(rate))) movements/s)\n")
    }
}
