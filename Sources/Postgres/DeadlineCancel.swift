import CDeadlineCancel
import CLibPQ

/// The request deadline, seen from the database side: once `armOnSignal()` has run, SIGUSR2 cancels the
/// statement running on the process's connection and ends the process with status 70. Without the cancel,
/// a killed worker's statement could still commit in the moment before the server notices the client gone.
package enum DeadlineCancel {
    /// The exit status of a process the deadline ended.
    package static let exitStatus: Int32 = 70

    /// Installs the SIGUSR2 handler (a worker does, once).
    package static func armOnSignal() {
        tally_deadline_install_handler()
    }

    /// The connection whose statement a deadline cancels: the latest one made.
    static func target(_ handle: OpaquePointer?) {
        tally_deadline_set_target(handle.flatMap { PQgetCancel($0) })
    }
}
