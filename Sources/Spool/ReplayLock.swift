import Glibc
import SystemSupport

/// The right to replay the spool, `DIR/replay.lock`: a non-blocking `flock` held for the holder's lifetime, so
/// that exactly one process replays a spool even when two pools share its directory. The kernel releases it when
/// the holder dies, however it dies.
package final class ReplayLock {
    private let descriptor: Int32

    private init(descriptor: Int32) {
        self.descriptor = descriptor
    }

    deinit { close(descriptor) }

    /// The lock, or nil when another process holds it.
    package static func acquire(directory: String) throws(SystemError) -> ReplayLock? {
        try SpoolFile.makeDirectory(directory)
        let path = directory + "/replay.lock"
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw SystemError("open \(path)") }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            let code = errno
            close(descriptor)
            if code == EWOULDBLOCK { return nil }
            throw SystemError("flock \(path)", errno: code)
        }
        return ReplayLock(descriptor: descriptor)
    }
}
