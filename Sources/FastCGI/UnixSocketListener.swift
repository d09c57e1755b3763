import Glibc
import SystemSupport

/// The pool's listening unix socket. Opened by the supervisor, inherited by workers as fd 0.
/// Unlike libfcgi's FCGX_OpenSocket, it refuses to replace a socket a live pool still listens on,
/// removes a stale one, and reports a bind error instead of exiting.
package struct UnixSocketListener: Listener {
    package let path: String
    package let fileDescriptor: Int32
    package var address: String { path }

    /// Binds and listens on `path` with file `mode` and, when given, `owner` and `group` (so nginx's workers
    /// can connect and nobody else needs to).
    package init(path: String, mode: mode_t, owner: String? = nil, group: String?, backlog: Int32 = 1024) throws {
        self.path = path
        let limit = MemoryLayout.size(ofValue: sockaddr_un().sun_path) - 1  // room for the terminating NUL
        guard path.utf8.count <= limit else { throw ListenerError.pathTooLong(path, limit: limit) }
        try Self.removeStaleSocket(at: path)
        let descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { throw SystemError("socket") }
        do {
            var socketAddress = Self.socketAddress(path)
            // Bind with a restrictive umask, then set the mode: nobody can connect in between.
            let previousMask = umask(0o177)
            let bound = withUnsafePointer(to: &socketAddress) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
                }
            }
            umask(previousMask)
            guard bound == 0 else { throw SystemError("bind \(path)") }
            var ownerID = uid_t.max  // chown's "leave as it is"
            var groupID = gid_t.max
            if let owner {
                guard let entry = getpwnam(owner) else { throw ListenerError.noSuchUser(owner) }
                ownerID = entry.pointee.pw_uid
            }
            if let group {
                guard let entry = getgrnam(group) else { throw ListenerError.noSuchGroup(group) }
                groupID = entry.pointee.gr_gid
            }
            if owner != nil || group != nil {
                guard chown(path, ownerID, groupID) == 0 else { throw SystemError("chown \(path)") }
            }
            guard chmod(path, mode) == 0 else { throw SystemError("chmod \(path)") }
            guard listen(descriptor, backlog) == 0 else { throw SystemError("listen \(path)") }
        } catch {
            _ = Glibc.close(descriptor)
            throw error
        }
        fileDescriptor = descriptor
    }

    /// A socket file beside `path`, named after it: `/run/tally.sock` and `-batches` give
    /// `/run/tally-batches.sock`.
    package static func siblingPath(of path: String, suffix: String) -> String {
        path.hasSuffix(".sock") ? String(path.dropLast(5)) + suffix + ".sock" : path + suffix
    }

    /// Closes the socket and removes its file.
    package func close() {
        _ = Glibc.close(fileDescriptor)
        unlink(path)
    }

    /// A socket file nobody accepts on is left over from a pool that died: remove it.
    /// One that accepts belongs to a live pool: refuse to start a second.
    private static func removeStaleSocket(at path: String) throws {
        var status = stat()
        guard lstat(path, &status) == 0 else { return }
        guard (status.st_mode & S_IFMT) == S_IFSOCK else {
            throw ListenerError.notASocket(path)
        }
        let probe = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard probe >= 0 else { throw SystemError("socket") }
        defer { Glibc.close(probe) }
        var socketAddress = socketAddress(path)
        let connected = withUnsafePointer(to: &socketAddress) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(probe, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        if connected == 0 {
            throw ListenerError.socketInUse(path)
        }
        unlink(path)
    }

    private static func socketAddress(_ path: String) -> sockaddr_un {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            for (index, byte) in path.utf8.enumerated() { buffer[index] = byte }
        }
        return address
    }
}
