/// A listening socket the supervisor opens and its workers inherit as fd 0: a unix socket or a TCP address.
package protocol Listener: Sendable {
    var fileDescriptor: Int32 { get }
    /// What it listens on, for logs: a path or `host:port`.
    var address: String { get }
    /// Stops listening (and removes a unix socket's file).
    func close()
}
