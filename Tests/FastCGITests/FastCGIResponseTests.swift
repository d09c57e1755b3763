import Testing

@testable import FastCGI

@Suite("The CGI response a worker writes")
struct FastCGIResponseTests {
    @Test("status line, content type, headers in order, the body's length in bytes, a blank line, the body")
    func serializesInCGIForm() {
        let response = FastCGIResponse(
            status: 201, reason: "Created", headers: [("Idempotency-Replayed", "true"), ("Retry-After", "1")],
            body: #"{"memo":"café"}"#)
        let text = String(decoding: response.serialized, as: UTF8.self)
        #expect(
            text
                == "Status: 201 Created\r\nContent-Type: application/json\r\nIdempotency-Replayed: true\r\n"
                + "Retry-After: 1\r\nContent-Length: 16\r\n\r\n" + #"{"memo":"café"}"#)
    }
}
