/// A `--listen` value that is not `HOST:PORT`, `[IPV6]:PORT` or `PORT`.
public struct ListenAddressError: Error, CustomStringConvertible, Sendable {
    public let text: String

    public var description: String {
        "--listen takes HOST:PORT, [IPV6]:PORT or PORT, not \(text)"
    }
}
