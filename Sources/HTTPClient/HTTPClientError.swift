/// A request that got no answer, in libcurl's words.
package struct HTTPClientError: Error, CustomStringConvertible, Sendable {
    package let message: String
    /// True when the request may have left and the answer did not come (no connection, a reset, a timeout):
    /// worth sending again. False for a request that could not be set up at all.
    package let isTransport: Bool

    package init(message: String, isTransport: Bool) {
        self.message = message
        self.isTransport = isTransport
    }

    package var description: String { message }
}
