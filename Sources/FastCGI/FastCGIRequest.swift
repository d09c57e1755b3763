/// One request accepted from the web server: its FastCGI parameters and its body.
/// Valid only during the handler call that receives it.
package struct FastCGIRequest {
    /// The parameters the worker reads (REQUEST_METHOD, DOCUMENT_URI, QUERY_STRING, the headers it needs, ...).
    package let parameters: FastCGIParameters
    /// The body, read to its end.
    package let body: [UInt8]
    /// True when the web server sent fewer body bytes than CONTENT_LENGTH announced.
    package let isBodyShort: Bool
    /// True when CONTENT_LENGTH is above the limit; the body was not read.
    package let isBodyTooLarge: Bool
}

/// The answer to a FastCGI request.
package struct FastCGIResponse {
    package var status: Int
    package var reason: String
    package var headers: [(name: String, value: String)]
    package var body: String
    package var contentType: String
    /// Which route answered, as an index into the pool's metrics route labels (see `PoolReport`).
    package var route: Int

    package init(
        status: Int, reason: String, headers: [(name: String, value: String)], body: String,
        contentType: String = "application/json", route: Int = Scoreboard.routeCapacity - 1
    ) {
        self.status = status
        self.reason = reason
        self.headers = headers
        self.body = body
        self.contentType = contentType
        self.route = route
    }

    /// The CGI response: a Status line, headers, a blank line, the body, as bytes ready to write.
    var serialized: [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(body.utf8.count + 192)
        // Appended piece by piece: string interpolation here cost more than the rest of the response.
        bytes.append(contentsOf: "Status: ".utf8)
        bytes.append(contentsOf: String(status).utf8)
        bytes.append(UInt8(ascii: " "))
        bytes.append(contentsOf: reason.utf8)
        bytes.append(contentsOf: "\r\nContent-Type: ".utf8)
        bytes.append(contentsOf: contentType.utf8)
        // Every answer of the pool is about one caller at one moment (balances, tokens): no cache keeps it.
        bytes.append(contentsOf: "\r\nCache-Control: no-store\r\n".utf8)
        for header in headers {
            bytes.append(contentsOf: header.name.utf8)
            bytes.append(contentsOf: ": ".utf8)
            bytes.append(contentsOf: header.value.utf8)
            bytes.append(contentsOf: "\r\n".utf8)
        }
        bytes.append(contentsOf: "Content-Length: ".utf8)
        bytes.append(contentsOf: String(body.utf8.count).utf8)
        bytes.append(contentsOf: "\r\n\r\n".utf8)
        bytes.append(contentsOf: body.utf8)
        return bytes
    }
}
