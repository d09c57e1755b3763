/// Why the pool cannot listen where it was told to when no system call failed (a failed call is a `SystemError`).
package enum ListenerError: Error, CustomStringConvertible, Equatable, Sendable {
    /// A `--listen` value that is not `HOST:PORT`, `[IPV6]:PORT` or `PORT`.
    case invalidAddress(String)
    /// A unix socket path longer than `sockaddr_un` holds.
    case pathTooLong(String, limit: Int)
    case noSuchUser(String)
    case noSuchGroup(String)
    /// Something that is not a socket is where the socket should go; it is left alone.
    case notASocket(String)
    /// A live pool accepts on the socket: a second pool is refused rather than taking it over.
    case socketInUse(String)

    package var description: String {
        switch self {
        case .invalidAddress(let text): "--listen takes HOST:PORT, [IPV6]:PORT or PORT, not \(text)"
        case .pathTooLong(let path, let limit): "socket path \(path) is too long (at most \(limit) bytes)"
        case .noSuchUser(let name): "no user named \(name)"
        case .noSuchGroup(let name): "no group named \(name)"
        case .notASocket(let path): "\(path) exists and is not a socket"
        case .socketInUse(let path): "another pool is listening on \(path)"
        }
    }
}
