/// An HTTP request as the API sees it, whatever carried it (FastCGI in production, a test directly).
package struct HTTPRequest: Sendable {
    package var method: String
    /// The decoded path, without the query string ("/api/users/7").
    package var path: String
    /// The raw query string, without "?".
    package var query: String
    /// The URI as the client sent it, percent-encoded, with the query (nginx's REQUEST_URI); nil when unknown.
    /// Only the canonical spelling of a path is routed (see `CanonicalPath`).
    package var requestURI: String?
    package var idempotencyKey: String?
    /// The Authorization header, e.g. "Bearer tly_...".
    package var authorization: String?
    package var body: [UInt8]
    /// The id nginx generated for the request ($request_id), echoed in errors and logs.
    package var requestID: String
    /// The client's address as nginx saw it (REMOTE_ADDR); empty when not known.
    package var clientAddress: String

    package init(
        method: String, path: String, query: String = "", idempotencyKey: String? = nil,
        authorization: String? = nil, body: [UInt8] = [], requestID: String = "-", clientAddress: String = "",
        requestURI: String? = nil
    ) {
        self.requestURI = requestURI
        self.authorization = authorization
        self.method = method
        self.path = path
        self.query = query
        self.idempotencyKey = idempotencyKey
        self.body = body
        self.requestID = requestID
        self.clientAddress = clientAddress
    }
}
