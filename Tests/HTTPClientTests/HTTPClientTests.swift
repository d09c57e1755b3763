import HTTPClient
import Testing

@Suite("HTTPClient (libcurl) over a real socket")
struct HTTPClientTests {
    @Test("a POST goes out with its method, path, headers and body; the answer's status, headers and body come back")
    func postAndAnswer() throws {
        let server = try OneShotServer(
            response: "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nIdempotency-Replayed: true\r\n"
                + "Retry-After:  7 \r\nContent-Length: 9\r\nConnection: close\r\n\r\n{\"id\": 1}")
        let client = try HTTPClient(timeout: 10)
        let response = try client.send(
            HTTPClient.Request(
                method: "POST", url: "http://127.0.0.1:\(server.port)/api/users",
                headers: [("Authorization", "Bearer tly_x"), ("Idempotency-Key", "import-ab-2")],
                body: Array("{\"name\":\"Ada\"}".utf8)))
        #expect(response.status == 201)
        #expect(response.header("Idempotency-Replayed") == "true")
        #expect(response.header("retry-after") == "7")
        #expect(String(decoding: response.body, as: UTF8.self) == "{\"id\": 1}")

        let request = server.request()
        #expect(request.hasPrefix("POST /api/users HTTP/1.1\r\n"))
        #expect(request.contains("\r\nAuthorization: Bearer tly_x\r\n"))
        #expect(request.contains("\r\nIdempotency-Key: import-ab-2\r\n"))
        #expect(request.contains("\r\nContent-Length: 14\r\n"))
        #expect(!request.lowercased().contains("expect:"), "no 100-continue round trip")
        #expect(request.hasSuffix("\r\n\r\n{\"name\":\"Ada\"}"))
    }

    @Test("a GET sends no body, and an error status is an answer, not a failure")
    func getWithErrorStatus() throws {
        let server = try OneShotServer(
            response: "HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}")
        let response = try HTTPClient(timeout: 10).send(
            HTTPClient.Request(method: "GET", url: "http://127.0.0.1:\(server.port)/api/users/9/transactions?limit=100")
        )
        #expect(response.status == 404)
        let request = server.request()
        #expect(request.hasPrefix("GET /api/users/9/transactions?limit=100 HTTP/1.1\r\n"))
        #expect(request.hasSuffix("\r\n\r\n"))
    }

    @Test("no server: a transport failure, worth sending again")
    func connectionRefused() throws {
        let server = try OneShotServer(response: "")
        let port = server.port
        // The one connection it takes is this one; after it, nothing listens on the port.
        _ = try? HTTPClient(timeout: 5).send(HTTPClient.Request(method: "GET", url: "http://127.0.0.1:\(port)/"))
        _ = server.request()
        do {
            _ = try HTTPClient(timeout: 5).send(HTTPClient.Request(method: "GET", url: "http://127.0.0.1:\(port)/"))
            Issue.record("a closed port answered")
        } catch {
            #expect(error.isTransport)
        }
    }

    @Test("a URL of another scheme is refused, not fetched")
    func otherSchemes() throws {
        #expect(throws: HTTPClientError.self) {
            try HTTPClient(timeout: 5).send(HTTPClient.Request(method: "GET", url: "file:///etc/passwd"))
        }
    }
}
