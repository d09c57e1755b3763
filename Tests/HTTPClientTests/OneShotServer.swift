import Foundation
import Glibc

/// A TCP server on 127.0.0.1 that answers one connection with a canned response and keeps what it was sent:
/// enough to check what HTTPClient writes and how it reads an answer, with a real socket and libcurl.
final class OneShotServer: @unchecked Sendable {
    let port: UInt16
    private let listener: Int32
    private let response: [UInt8]
    private let done = DispatchSemaphore(value: 0)
    private var received: [UInt8] = []

    init(response: String) throws {
        self.response = Array(response.utf8)
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(descriptor, $0, length) == 0 && listen(descriptor, 1) == 0
                    && getsockname(descriptor, $0, &length) == 0
            }
        }
        guard bound else { throw POSIXError(.EADDRNOTAVAIL) }
        listener = descriptor
        port = UInt16(bigEndian: address.sin_port)
        Thread.detachNewThread { self.serve() }
    }

    /// The request's bytes as text, once the answer has gone out.
    func request() -> String {
        done.wait()
        return String(decoding: received, as: UTF8.self)
    }

    private func serve() {
        defer {
            close(listener)
            done.signal()
        }
        let connection = accept(listener, nil, nil)
        guard connection >= 0 else { return }
        defer { close(connection) }
        var buffer = [UInt8](repeating: 0, count: 65_536)
        // Read the head, then as much body as Content-Length says.
        while true {
            let count = read(connection, &buffer, buffer.count)
            guard count > 0 else { break }
            received += buffer[..<count]
            let text = String(decoding: received, as: UTF8.self)
            guard let headEnd = text.range(of: "\r\n\r\n") else { continue }
            let head = text[..<headEnd.lowerBound].lowercased()
            let length =
                head.split(separator: "\r\n").first { $0.hasPrefix("content-length:") }
                .flatMap { Int($0.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) } ?? 0
            if text.utf8.count - text.utf8.distance(from: text.startIndex, to: headEnd.upperBound) >= length { break }
        }
        _ = response.withUnsafeBytes { write(connection, $0.baseAddress, $0.count) }
    }
}
