import CCurl

/// A blocking HTTP/1.1 client over one libcurl easy handle, which keeps its connection open between requests
/// (an import sends thousands to the same nginx). Not for sharing between threads. The only importer of CCurl:
/// libcurl's pointers and callbacks stay in this file.
package final class HTTPClient {
    private let handle: UnsafeMutableRawPointer
    /// libcurl writes its own words about a failure here (CURLOPT_ERRORBUFFER); it lives as long as the handle.
    private let errorBuffer: UnsafeMutablePointer<CChar>
    private let timeoutMilliseconds: Int

    /// libcurl's process-wide set-up, done once before the first handle (curl_easy_init would do it implicitly,
    /// but not safely if two threads got there first).
    private static let globalSetUp: CURLcode = tally_curl_global_init()

    /// - Parameter timeout: the most one request may take, connecting included, in seconds.
    package init(timeout: Double) throws(HTTPClientError) {
        guard Self.globalSetUp == CURLE_OK, let handle = curl_easy_init() else {
            throw HTTPClientError(message: "libcurl could not be set up", isTransport: false)
        }
        self.handle = handle
        errorBuffer = .allocate(capacity: Int(CURL_ERROR_SIZE))
        errorBuffer.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE))
        timeoutMilliseconds = max(1, Int(timeout * 1000))
    }

    deinit {
        curl_easy_cleanup(handle)
        errorBuffer.deallocate()
    }

    /// Sends `request` and reads the whole answer. Any status is an answer; only a request that got none (no
    /// connection, a reset, a timeout, a URL libcurl refuses) throws.
    package func send(_ request: Request) throws(HTTPClientError) -> Response {
        // Options from the previous request go; the open connection stays.
        curl_easy_reset(handle)
        errorBuffer[0] = 0
        let collector = ResponseCollector()
        let context = Unmanaged.passUnretained(collector).toOpaque()
        var headerList: UnsafeMutablePointer<curl_slist>?
        defer { curl_slist_free_all(headerList) }
        // "Expect:" turns off libcurl's 100-continue round trip for large bodies.
        for line in request.headers.map({ "\($0.name): \($0.value)" }) + ["Expect:"] {
            headerList = curl_slist_append(headerList, line)
        }

        try check(tally_curl_setopt_string(handle, CURLOPT_URL, request.url))
        try check(tally_curl_setopt_string(handle, CURLOPT_PROTOCOLS_STR, "http,https"))
        try check(tally_curl_setopt_long(handle, CURLOPT_NOSIGNAL, 1))
        try check(tally_curl_setopt_long(handle, CURLOPT_TIMEOUT_MS, timeoutMilliseconds))
        try check(tally_curl_setopt_pointer(handle, CURLOPT_ERRORBUFFER, errorBuffer))
        try check(tally_curl_setopt_pointer(handle, CURLOPT_HTTPHEADER, headerList))
        try check(tally_curl_setopt_callback(handle, CURLOPT_WRITEFUNCTION, collectBody))
        try check(tally_curl_setopt_pointer(handle, CURLOPT_WRITEDATA, context))
        try check(tally_curl_setopt_callback(handle, CURLOPT_HEADERFUNCTION, collectHeader))
        try check(tally_curl_setopt_pointer(handle, CURLOPT_HEADERDATA, context))
        switch request.method {
        case "GET":
            try check(tally_curl_setopt_long(handle, CURLOPT_HTTPGET, 1))
        default:
            try check(tally_curl_setopt_string(handle, CURLOPT_CUSTOMREQUEST, request.method))
            try check(tally_curl_setopt_offset(handle, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(request.body.count)))
            // Copied by libcurl, so the body need not outlive this call.
            let copied =
                request.body.isEmpty
                ? tally_curl_setopt_string(handle, CURLOPT_COPYPOSTFIELDS, "")
                : request.body.withUnsafeBytes {
                    tally_curl_setopt_pointer(
                        handle, CURLOPT_COPYPOSTFIELDS, UnsafeMutableRawPointer(mutating: $0.baseAddress))
                }
            try check(copied)
        }

        let code = withExtendedLifetime(collector) { curl_easy_perform(handle) }
        guard code == CURLE_OK else {
            let detail = String(cString: errorBuffer)
            throw HTTPClientError(
                message: detail.isEmpty ? String(cString: curl_easy_strerror(code)) : detail, isTransport: true)
        }
        var status = 0
        try check(tally_curl_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &status))
        return Response(status: status, headers: collector.headers, body: collector.body)
    }

    private func check(_ code: CURLcode) throws(HTTPClientError) {
        guard code == CURLE_OK else {
            throw HTTPClientError(message: String(cString: curl_easy_strerror(code)), isTransport: false)
        }
    }
}

/// Where libcurl's callbacks put the answer as it arrives.
private final class ResponseCollector {
    var body: [UInt8] = []
    var headers: [(name: String, value: String)] = []
}

/// CURLOPT_WRITEFUNCTION: a piece of the body.
private let collectBody: tally_curl_data_callback = { data, size, count, context in
    let length = size * count
    guard let data, let context else { return 0 }
    let collector = Unmanaged<ResponseCollector>.fromOpaque(context).takeUnretainedValue()
    collector.body.append(contentsOf: UnsafeRawBufferPointer(start: data, count: length))
    return length
}

/// CURLOPT_HEADERFUNCTION: one header line at a time, status lines included (a new status line starts a new set).
private let collectHeader: tally_curl_data_callback = { data, size, count, context in
    let length = size * count
    guard let data, let context else { return 0 }
    let collector = Unmanaged<ResponseCollector>.fromOpaque(context).takeUnretainedValue()
    let line = String(decoding: UnsafeRawBufferPointer(start: data, count: length), as: UTF8.self)
    if line.hasPrefix("HTTP/") {
        collector.headers = []
    } else if let colon = line.firstIndex(of: ":") {
        let name = line[..<colon].lowercased()
        let value = line[line.index(after: colon)...].trimmingSpaces()
        collector.headers.append((name, value))
    }
    return length
}

extension Substring {
    /// Without white space at either end: spaces, tabs and the line's CRLF (one Character in Swift).
    fileprivate func trimmingSpaces() -> String {
        guard let first = firstIndex(where: { !$0.isWhitespace }), let last = lastIndex(where: { !$0.isWhitespace })
        else { return "" }
        return String(self[first...last])
    }
}
