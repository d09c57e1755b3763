import Glibc
import SystemSupport

/// The pool's listening TCP socket, for nginx on another host or container, or several pools behind one
/// upstream. The address is given in full: `127.0.0.1:9000`, `[::1]:9000`, or a bare port, which means
/// 127.0.0.1 (never all interfaces unless asked for with `0.0.0.0:PORT` or `[::]:PORT`).
/// A port another process holds is reported as an error (libfcgi's FCGX_OpenSocket would exit instead).
package struct TCPListener: Listener {
    package let address: String
    package let fileDescriptor: Int32

    package init(address text: String, backlog: Int32 = 1024) throws {
        let (host, port) = try Self.split(text)
        address = host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"

        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_NUMERICSERV | AI_PASSIVE
        var found: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, port, &hints, &found)
        guard status == 0, let entry = found else {
            throw SystemError("getaddrinfo \(text)", addressLookupStatus: status)
        }
        defer { freeaddrinfo(found) }

        let descriptor = socket(entry.pointee.ai_family, entry.pointee.ai_socktype | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { throw SystemError("socket") }
        do {
            // A pool restarted at once can bind again past the old connections' TIME_WAIT; a live listener
            // still refuses the bind (SO_REUSEADDR does not share a listening port on Linux).
            var one: Int32 = 1
            setsockopt(descriptor, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
            guard bind(descriptor, entry.pointee.ai_addr, entry.pointee.ai_addrlen) == 0 else {
                throw SystemError("bind \(address)")
            }
            guard listen(descriptor, backlog) == 0 else { throw SystemError("listen \(address)") }
        } catch {
            _ = Glibc.close(descriptor)
            throw error
        }
        fileDescriptor = descriptor
    }

    package func close() {
        _ = Glibc.close(fileDescriptor)
    }

    /// `host:port`, `[v6 host]:port` or `port` into its host and port.
    package static func split(_ text: String) throws(ListenerError) -> (host: String, port: String) {
        let isPort = { (port: Substring) in !port.isEmpty && port.allSatisfy(\.isASCII) && UInt16(port) != nil }
        if isPort(Substring(text)) { return ("127.0.0.1", text) }
        if text.hasPrefix("["), let close = text.firstIndex(of: "]") {
            let host = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            if rest.hasPrefix(":"), isPort(rest.dropFirst()), !host.isEmpty {
                return (String(host), String(rest.dropFirst()))
            }
        } else if let colon = text.lastIndex(of: ":") {
            let host = text[..<colon]
            let port = text[text.index(after: colon)...]
            if !host.isEmpty, !host.contains(":"), isPort(port) { return (String(host), String(port)) }
        }
        throw .invalidAddress(text)
    }
}
