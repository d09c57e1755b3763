/// A response: status, headers and a JSON body.
package struct HTTPResponse: Sendable {
    package var status: Int
    package var headers: [(name: String, value: String)]
    package var body: String
    /// What went wrong on the server's side, for the request log; never sent to the client.
    package var logNote: String?
    /// The route that answered, as labelled in the pool's metrics (`TallyAPI.routeTemplates`); nil when none.
    package var route: String?

    package init(status: Int, headers: [(name: String, value: String)] = [], body: String) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    init(status: Int, json: JSONValue, headers: [(name: String, value: String)] = []) {
        self.init(status: status, headers: headers, body: json.serialized())
    }

    /// The reason phrase for the status line.
    package var reason: String {
        switch status {
        case 200: "OK"
        case 201: "Created"
        case 202: "Accepted"
        case 400: "Bad Request"
        case 401: "Unauthorized"
        case 403: "Forbidden"
        case 404: "Not Found"
        case 405: "Method Not Allowed"
        case 409: "Conflict"
        case 413: "Payload Too Large"
        case 429: "Too Many Requests"
        case 422: "Unprocessable Content"
        case 500: "Internal Server Error"
        case 503: "Service Unavailable"
        default: "Status \(status)"
        }
    }
}
