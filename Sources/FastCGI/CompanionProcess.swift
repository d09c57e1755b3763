import CProcessShims
import Glibc

/// A process the supervisor keeps beside its workers that does not serve requests (the spool's replayer).
package enum CompanionProcess {
    /// Lets go of the listening socket it inherited on fd 0 (it accepts nothing, and must not keep the socket
    /// open once the supervisor closes it), and stops when the supervisor dies, like a worker.
    package static func stopWithSupervisor(_ supervisor: pid_t?) {
        let null = open("/dev/null", O_RDONLY)
        if null > 0 {
            dup2(null, 0)
            close(null)
        }
        _ = tally_set_parent_death_signal(SIGTERM)
        if getppid() != (supervisor ?? getppid()) || (supervisor == nil && getppid() == 1) { exit(0) }
    }
}
