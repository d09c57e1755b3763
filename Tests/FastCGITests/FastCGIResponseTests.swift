import Testing

@testable import FastCGI

@Suite("The CGI response a worker writes")
struct FastCGIResponseTests {
    @Test(
        "status line, content type, no-store, headers in order, the body's length in bytes, a blank line, the body")
    func serializesInCGIForm() {
        let response = FastCGIResponse(
            status: 201, reason: "Created", headers: [("Idempotency-Replayed", "true"), ("Retry-After", "1")],
            body: #"{"memo":"café"}"#)
        let text = String(decoding: response.serialized, as: UTF8.self)
        #expect(
            text
                == "Status: 201 Created\r\nContent-Type: application/json\r\nCache-Control: no-store\r\n"
                + "Idempotency-Replayed: true\r\n"
                + "Retry-After: 1\r\nContent-Length: 16\r\n\r\n" + #"{"memo":"café"}"#)
    }

    @Test("every answer, an error or the pool's own page alike, forbids caching")
    func everyAnswerIsNoStore() {
        for (status, contentType) in [(503, "application/json"), (200, "text/plain; version=0.0.4; charset=utf-8")] {
            let response = FastCGIResponse(
                status: status, reason: "", headers: [], body: "{}", contentType: contentType)
            let text = String(decoding: response.serialized, as: UTF8.self)
            #expect(text.contains("\r\nCache-Control: no-store\r\n"))
        }
    }
}
