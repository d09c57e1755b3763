import HTTPClient

/// Sends one HTTP request and returns the answer: HTTPClient (libcurl), or a stand-in in tests.
package protocol HTTPTransport {
    func send(_ request: HTTPClient.Request) throws(HTTPClientError) -> HTTPClient.Response
}

extension HTTPClient: HTTPTransport {}
