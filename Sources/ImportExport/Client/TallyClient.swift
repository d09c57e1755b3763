import API
import HTTPClient

/// Tally's API as `tally import` and `tally export` use it, over any HTTPTransport: the requests and their JSON,
/// the answers read back, and the retries HTTPRetryPolicy allows (waiting with `sleep`, telling `onRetry`).
package final class TallyClient<Transport: HTTPTransport> {
    private let baseURL: String
    private let token: String
    private let transport: Transport
    private let retryPolicy: HTTPRetryPolicy
    private let sleep: (Double) -> Void
    /// Told before each wait: what went wrong and how long the wait is.
    package var onRetry: ((String, Double) -> Void)?

    /// - Parameter baseURL: where nginx serves Tally, such as `http://127.0.0.1:8080` (the API is under `/api`).
    package init(
        baseURL: String, token: String, transport: Transport, retryPolicy: HTTPRetryPolicy = HTTPRetryPolicy(),
        sleep: @escaping (Double) -> Void
    ) {
        var base = baseURL
        while base.hasSuffix("/") { base.removeLast() }
        self.baseURL = base
        self.token = token
        self.transport = transport
        self.retryPolicy = retryPolicy
        self.sleep = sleep
    }

    /// Sends a request to `path` (from `/api/...`), again while the answer is "not now" or missing; the last
    /// answer, whatever its status, once the policy says stop. Throws only when no answer came at all.
    func exchange(
        _ method: String, _ path: String, body: JSONValue? = nil, headers: [(name: String, value: String)] = []
    ) throws(ClientFailure) -> (response: HTTPClient.Response, json: JSONValue?) {
        var allHeaders = [("Authorization", "Bearer \(token)"), ("Accept", "application/json")] + headers
        if body != nil { allHeaders.append(("Content-Type", "application/json")) }
        let request = HTTPClient.Request(
            method: method, url: baseURL + path, headers: allHeaders,
            body: body.map { Array($0.serialized().utf8) } ?? [])
        var attempt = 1
        while true {
            let problem: String
            let retryAfter: String?
            do throws(HTTPClientError) {
                let response = try transport.send(request)
                guard HTTPRetryPolicy.isRetryable(status: response.status), attempt < retryPolicy.maximumAttempts
                else {
                    return (response, try? JSONParser.parse(response.body))
                }
                problem = "\(method) \(path): \(Self.describe(response))"
                retryAfter = response.header("retry-after")
            } catch {
                guard error.isTransport, attempt < retryPolicy.maximumAttempts else {
                    throw ClientFailure(
                        "\(method) \(baseURL + path): no answer after \(attempt) attempts: \(error.message)")
                }
                problem = "\(method) \(path): no answer: \(error.message)"
                retryAfter = nil
            }
            let delay = retryPolicy.delay(afterAttempt: attempt, retryAfter: retryAfter)
            onRetry?(problem, delay)
            sleep(delay)
            attempt += 1
        }
    }

    /// "503 unavailable: the database is unreachable", or the status alone when the body is not Tally's error.
    static func describe(_ response: HTTPClient.Response) -> String {
        guard let refusal = refusal(response) else { return "HTTP \(response.status)" }
        return refusal.description
    }

    /// The API's error of an answer: `{"error": {"code", "message", "field"?}}`.
    static func refusal(_ response: HTTPClient.Response) -> APIRefusal? {
        guard let json = try? JSONParser.parse(response.body), let error = json[member: "error"],
            let code = error[member: "code"]?.stringValue
        else { return nil }
        return APIRefusal(
            status: response.status, code: code, message: error[member: "message"]?.stringValue ?? "",
            field: error[member: "field"]?.stringValue)
    }

    /// A failure that stops the run, for an answer the caller cannot go on from.
    static func failure(_ what: String, _ response: HTTPClient.Response) -> ClientFailure {
        var message = "\(what): \(describe(response))"
        if response.status == 401 {
            message += " (the token is missing, unknown, expired or revoked: see --token-file)"
        } else if response.status == 403 {
            message += " (this needs the service role's token: `tally admin-token`)"
        }
        return ClientFailure(message)
    }
}
