import HTTPClient
import ImportExport

/// An HTTPTransport that answers from a script, one answer (or failure) per request, and keeps the requests.
final class StubTransport: HTTPTransport {
    enum Step {
        case answer(Int, String, [(name: String, value: String)] = [])
        case noAnswer
    }

    private var steps: [Step]
    private(set) var requests: [HTTPClient.Request] = []

    init(_ steps: [Step]) {
        self.steps = steps
    }

    func send(_ request: HTTPClient.Request) throws(HTTPClientError) -> HTTPClient.Response {
        requests.append(request)
        guard !steps.isEmpty else { return HTTPClient.Response(status: 599) }
        switch steps.removeFirst() {
        case .answer(let status, let body, let headers):
            return HTTPClient.Response(status: status, headers: headers, body: Array(body.utf8))
        case .noAnswer:
            throw HTTPClientError(message: "Connection refused", isTransport: true)
        }
    }

    /// The body of request `index` as text.
    func body(_ index: Int) -> String {
        String(decoding: requests[index].body, as: UTF8.self)
    }

    func header(_ name: String, of index: Int) -> String? {
        requests[index].headers.first { $0.name == name }?.value
    }
}
