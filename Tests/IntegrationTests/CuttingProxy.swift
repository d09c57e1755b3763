import Foundation
import Glibc

/// A TCP proxy in front of the test server that can end a session the way a crashed server does. Once armed, it
/// forwards the server's messages up to and including the next CommandComplete and then closes both sides
/// without a word: the client has the statement's answer but never learns whether its transaction committed
/// (the ReadyForQuery after the commit never arrives), while the server process goes on to its end. Armed to
/// withhold the answer, it forwards nothing from the arming on: as a server killed outright, which sends nothing
/// of what it has buffered, even for a transaction it has committed.
final class CuttingProxy: @unchecked Sendable {
    private let listener: Int32
    let port: UInt16
    private let server: ServerAddress
    private let lock = NSLock()
    /// CommandCompletes still to pass before the cut; 0: not armed.
    private var completesBeforeCut = 0
    /// Whether the messages up to the cut are dropped rather than forwarded.
    private var withholding = false
    private var refusing = false

    /// Connection options that send a connection string's sessions through the proxy (no SSL or GSS
    /// negotiation: the proxy reads the server's side as a stream of typed messages).
    var conninfoOverride: String { " host=127.0.0.1 port=\(port) sslmode=disable gssencmode=disable" }

    /// A proxy for the server `serverConninfo` names (its `host`, a socket directory or a host name, and `port`).
    init(serverConninfo: String) throws {
        var options: [String: String] = [:]
        for pair in serverConninfo.split(separator: " ") {
            let parts = pair.split(separator: "=", maxSplits: 1).map(String.init)
            if parts.count == 2 { options[parts[0]] = parts[1] }
        }
        let host = options["host"] ?? "/var/run/postgresql"
        let serverPort = UInt16(options["port"] ?? "5432") ?? 5432
        server =
            host.hasPrefix("/")
            ? .unix(Self.unixAddress("\(host)/.s.PGSQL.\(serverPort)"))
            : .inet(Self.inetAddress(host == "localhost" ? "127.0.0.1" : host, port: serverPort))

        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = Self.inetAddress("127.0.0.1", port: 0)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(listener, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0, listen(listener, 16) == 0 else { throw ProxyError("bind or listen: errno \(errno)") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &length) }
        }
        self.listener = listener
        port = UInt16(bigEndian: address.sin_port)
        Thread.detachNewThread { [self] in
            while true {
                let client = accept(listener, nil, nil)
                guard client >= 0 else { return }  // closed
                serve(client)
            }
        }
    }

    deinit {
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
    }

    /// The `count`th CommandComplete the server sends from now on, on any session, is the last message its client
    /// gets; `withholdingAnswer`: the client gets none of the messages from now on.
    func arm(cuttingAfterCommandComplete count: Int = 1, withholdingAnswer: Bool = false) {
        locked {
            completesBeforeCut = count
            withholding = withholdingAnswer
        }
    }

    /// New sessions are closed at once, as if the server were down; `false` lets them through again.
    func refuseConnections(_ refuse: Bool) { locked { refusing = refuse } }

    /// Counts a CommandComplete; whether it is the one to cut after.
    private func passedLastBeforeCut() -> Bool {
        locked {
            guard completesBeforeCut > 0 else { return false }
            completesBeforeCut -= 1
            return completesBeforeCut == 0
        }
    }

    private func locked<Value>(_ body: () -> Value) -> Value {
        lock.lock()
        defer { lock.unlock() }
        return body()
    }

    private func serve(_ client: Int32) {
        guard !locked({ refusing }), let upstream = connectToServer() else {
            close(client)
            return
        }
        Thread.detachNewThread {
            var buffer = [UInt8](repeating: 0, count: 65536)
            while true {
                let count = read(client, &buffer, buffer.count)
                guard count > 0, Self.writeAll(upstream, buffer[0..<count]) else { break }
            }
            shutdown(upstream, Int32(SHUT_RDWR))
        }
        Thread.detachNewThread { [self] in
            forwardServerMessages(from: upstream, to: client)
            shutdown(client, Int32(SHUT_RDWR))
            shutdown(upstream, Int32(SHUT_RDWR))
            close(client)
            close(upstream)
        }
    }

    /// Copies the server's messages (a type byte, a 4-byte length, the rest) one by one, until either side
    /// closes or an armed proxy has passed the CommandComplete to cut after.
    private func forwardServerMessages(from upstream: Int32, to client: Int32) {
        var pending: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = read(upstream, &buffer, buffer.count)
            guard count > 0 else { return }
            pending += buffer[0..<count]
            while pending.count >= 5 {
                let length = pending[1...4].reduce(0) { $0 << 8 | Int($1) }
                guard pending.count >= 1 + length else { break }
                let message = pending[0..<(1 + length)]
                guard locked({ withholding && completesBeforeCut > 0 }) || Self.writeAll(client, message) else {
                    return
                }
                pending.removeFirst(1 + length)
                if message.first == UInt8(ascii: "C"), passedLastBeforeCut() { return }
            }
        }
    }

    private enum ServerAddress {
        case unix(sockaddr_un)
        case inet(sockaddr_in)
    }

    private func connectToServer() -> Int32? {
        switch server {
        case .unix(let address): Self.connected(AF_UNIX, to: address)
        case .inet(let address): Self.connected(AF_INET, to: address)
        }
    }

    /// A stream socket of `family` connected to `address` (a sockaddr_un or sockaddr_in), or nil.
    private static func connected<Address>(_ family: Int32, to address: Address) -> Int32? {
        let upstream = socket(family, Int32(SOCK_STREAM.rawValue), 0)
        var address = address
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(upstream, $0, socklen_t(MemoryLayout<Address>.size))
            }
        }
        guard result == 0 else {
            close(upstream)
            return nil
        }
        return upstream
    }

    private static func unixAddress(_ path: String) -> sockaddr_un {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in path.utf8.prefix(raw.count - 1).enumerated() { raw[index] = byte }
        }
        return address
    }

    private static func inetAddress(_ host: String, port: UInt16) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr(host)
        address.sin_port = port.bigEndian
        return address
    }

    private static func writeAll(_ socket: Int32, _ bytes: ArraySlice<UInt8>) -> Bool {
        var rest = bytes
        while !rest.isEmpty {
            let written = rest.withUnsafeBytes { send(socket, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard written > 0 else { return false }
            rest = rest.dropFirst(written)
        }
        return true
    }

    struct ProxyError: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }
}
