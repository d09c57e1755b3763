import Glibc
import Testing

@testable import FastCGI

@Suite("The FastCGI parameters a worker reads, in one pass")
struct FastCGIParametersTests {
    /// Parses `entries` as libfcgi hands them over: a NULL-terminated array of "NAME=value" C strings.
    private func parse(_ entries: [String]) -> [String: String] {
        var strings: [UnsafeMutablePointer<CChar>?] = entries.map { strdup($0) }
        defer { strings.forEach { free($0) } }
        strings.append(nil)
        return strings.withUnsafeMutableBufferPointer { buffer in
            let parameters = FastCGIParameters(buffer.baseAddress)
            let found: [(String, UnsafePointer<CChar>?)] = [
                ("REQUEST_METHOD", parameters.requestMethod), ("REQUEST_URI", parameters.requestURI),
                ("DOCUMENT_URI", parameters.documentURI), ("SCRIPT_NAME", parameters.scriptName),
                ("QUERY_STRING", parameters.queryString), ("CONTENT_LENGTH", parameters.contentLength),
                ("REQUEST_ID", parameters.requestID), ("HTTP_AUTHORIZATION", parameters.authorization),
                ("HTTP_IDEMPOTENCY_KEY", parameters.idempotencyKey),
            ]
            return found.reduce(into: [:]) { values, pair in values[pair.0] = FastCGIParameters.text(pair.1) }
        }
    }

    @Test("each name the worker reads is found, whatever its place, with the value after the first '='")
    func findsEveryNameItReads() {
        let values = parse([
            "QUERY_STRING=limit=5&cursor=", "REQUEST_METHOD=POST", "CONTENT_LENGTH=42", "SCRIPT_NAME=/api/users",
            "REQUEST_URI=/api/users?limit=5", "DOCUMENT_URI=/api/users", "SERVER_PROTOCOL=HTTP/1.1",
            "HTTP_AUTHORIZATION=Bearer tly_abc=", "HTTP_IDEMPOTENCY_KEY=", "REQUEST_ID=4f2a",
        ])
        #expect(
            values == [
                "QUERY_STRING": "limit=5&cursor=", "REQUEST_METHOD": "POST", "CONTENT_LENGTH": "42",
                "SCRIPT_NAME": "/api/users", "REQUEST_URI": "/api/users?limit=5", "DOCUMENT_URI": "/api/users",
                "HTTP_AUTHORIZATION": "Bearer tly_abc=", "HTTP_IDEMPOTENCY_KEY": "", "REQUEST_ID": "4f2a",
            ])
    }

    @Test("the first of a repeated name counts, as with FCGX_GetParam")
    func firstOfRepeatedNameCounts() {
        #expect(parse(["REQUEST_METHOD=GET", "REQUEST_METHOD=DELETE"]) == ["REQUEST_METHOD": "GET"])
    }

    @Test("names that only begin or end like one it reads, differ in case, or lack '=' are not taken for it")
    func ignoresNearMisses() {
        let values = parse([
            "REQUEST_IDS=1", "X_REQUEST_ID=2", "request_id=3", "REQUEST_ID", "HTTP_AUTHORIZATIONS=x",
            "HTTP_IDEMPOTENCY_KEY_2=y", "A_VERY_LONG_PARAMETER_NAME_INDEED=z", "=empty name", "",
        ])
        #expect(values.isEmpty)
    }

    @Test("an environment with no entries, or none at all, has no parameters")
    func emptyEnvironments() {
        #expect(parse([]).isEmpty)
        #expect(FastCGIParameters(nil).requestMethod == nil)
    }
}
