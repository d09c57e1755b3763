import CProcessShims
import SystemSupport

/// The pool's log file: stdout and stderr of the supervisor and every worker, reopened on SIGUSR1 (after
/// logrotate has moved it away) by each process.
package enum LogFile {
    /// Appends stdout and stderr to `path` from now on, and remembers it for reopening.
    package static func open(_ path: String) throws {
        guard tally_open_log(path) == 0 else { throw SystemError("open log file \(path)") }
    }
}
