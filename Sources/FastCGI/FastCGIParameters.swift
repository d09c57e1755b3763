import CFastCGI
import Glibc

/// The FastCGI parameters a worker reads, found in one pass over a request's environment ("NAME=value"
/// strings). FCGX_GetParam walks the whole environment, comparing names, for each name asked: nine lookups
/// a request cost more than the rest of a ping's parameter handling. As with FCGX_GetParam, the first of
/// repeated names counts. The pointers are libfcgi's: valid until the request is finished.
package struct FastCGIParameters {
    package private(set) var requestMethod: UnsafePointer<CChar>?
    package private(set) var requestURI: UnsafePointer<CChar>?
    package private(set) var documentURI: UnsafePointer<CChar>?
    package private(set) var scriptName: UnsafePointer<CChar>?
    package private(set) var queryString: UnsafePointer<CChar>?
    package private(set) var contentLength: UnsafePointer<CChar>?
    /// nginx's $request_id, passed as a parameter of its own.
    package private(set) var requestID: UnsafePointer<CChar>?
    package private(set) var authorization: UnsafePointer<CChar>?
    package private(set) var idempotencyKey: UnsafePointer<CChar>?
    /// The client's address (nginx's $remote_addr).
    package private(set) var remoteAddress: UnsafePointer<CChar>?

    /// `environment`: a NULL-terminated array of "NAME=value" strings, as libfcgi's request.envp.
    package init(_ environment: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) {
        guard var entry = environment else { return }
        while let text = entry.pointee {
            record(UnsafePointer(text))
            entry += 1
        }
    }

    /// A parameter's value as text.
    package static func text(_ value: UnsafePointer<CChar>?) -> String? {
        value.map { String(cString: $0) }
    }

    /// The longest name looked for; longer names are skipped without reading them to their end.
    private static let longestName = 20

    private mutating func record(_ text: UnsafePointer<CChar>) {
        var length = 0
        while length <= Self.longestName, text[length] != 0, text[length] != CChar(UInt8(ascii: "=")) {
            length += 1
        }
        guard length <= Self.longestName, text[length] == CChar(UInt8(ascii: "=")) else { return }
        let value = text + length + 1
        func named(_ name: StaticString) -> Bool {
            name.utf8CodeUnitCount == length && memcmp(text, name.utf8Start, length) == 0
        }
        switch length {
        case 10:
            if named("REQUEST_ID") { requestID = requestID ?? value }
        case 11:
            if named("REQUEST_URI") {
                requestURI = requestURI ?? value
            } else if named("SCRIPT_NAME") {
                scriptName = scriptName ?? value
            } else if named("REMOTE_ADDR") {
                remoteAddress = remoteAddress ?? value
            }
        case 12:
            if named("DOCUMENT_URI") {
                documentURI = documentURI ?? value
            } else if named("QUERY_STRING") {
                queryString = queryString ?? value
            }
        case 14:
            if named("REQUEST_METHOD") {
                requestMethod = requestMethod ?? value
            } else if named("CONTENT_LENGTH") {
                contentLength = contentLength ?? value
            }
        case 18:
            if named("HTTP_AUTHORIZATION") { authorization = authorization ?? value }
        case 20:
            if named("HTTP_IDEMPOTENCY_KEY") { idempotencyKey = idempotencyKey ?? value }
        default:
            break
        }
    }
}
