import CFastCGI
import CProcessShims
import Glibc
import SystemSupport

/// A worker process's accept loop: takes one request at a time from the inherited listening socket (fd 0),
/// hands it to the handler and writes the answer.
///
/// Stop signals (SIGTERM, SIGINT, SIGQUIT) are blocked while a request is handled and delivered right after
/// its answer is written, when their default action ends the process: an idle worker stops at once, a
/// busy one finishes its request first.
package struct Worker {
    /// The largest body a request may have, by its parameters (a route may take more than the others).
    package let maximumBodyBytes: (FastCGIParameters) -> Int

    package init(maximumBodyBytes: @escaping (FastCGIParameters) -> Int) {
        self.maximumBodyBytes = maximumBodyBytes
    }

    /// Serves until a stop signal or the supervisor's death. `maximumRequests` (0: no limit) recycles the worker.
    /// `score`, the worker's scoreboard entry, is kept up to date around each request. `supervisor` is the
    /// pid of the process that started the worker. `afterResponse` runs after each answer has gone out, before
    /// the next request is taken (housekeeping that no client should wait for).
    package func run(
        maximumRequests: Int = 0, score: WorkerScore? = nil, supervisor: pid_t? = nil,
        handler: (FastCGIRequest) -> FastCGIResponse, afterResponse: () -> Void = {}
    ) -> Never {
        // The supervisor gone means nobody replaces or stops us: stop with it (no orphans holding the socket).
        // If it died before that took effect, our parent is already someone else. (The supervisor may itself
        // be pid 1, in a container: it says who it is.)
        _ = tally_set_parent_death_signal(SIGTERM)
        if getppid() != (supervisor ?? getppid()) || (supervisor == nil && getppid() == 1) { exit(0) }
        signal(SIGPIPE, SIG_IGN)
        tally_reopen_log_on_sigusr1()

        guard FCGX_Init() == 0 else {
            writeError("tally worker: FCGX_Init failed\n")
            exit(1)
        }
        var request = FCGX_Request()
        FCGX_InitRequest(&request, 0, 0)
        var stopSignals = sigset_t()
        sigemptyset(&stopSignals)
        for stop in [SIGTERM, SIGINT, SIGQUIT] { sigaddset(&stopSignals, stop) }

        var served = 0
        while FCGX_Accept_r(&request) >= 0 {
            sigprocmask(SIG_BLOCK, &stopSignals, nil)
            let started = MonotonicClock.microseconds()
            let parameters = FastCGIParameters(request.envp)
            score?.begin(
                requestID: parameters.requestID, method: parameters.requestMethod, uri: parameters.requestURI,
                nowMicroseconds: started)
            let response = handler(readRequest(&request, parameters))
            let bytes = response.serialized
            bytes.withUnsafeBufferPointer { buffer in
                buffer.withMemoryRebound(to: CChar.self) {
                    _ = FCGX_PutStr($0.baseAddress, Int32($0.count), request.out)
                }
            }
            // Counted before the answer leaves (Finish flushes it): a client's next request, to /api/status say,
            // already sees this one.
            score?.end(
                route: response.route, status: response.status, microseconds: MonotonicClock.microseconds() - started)
            finish(&request)
            afterResponse()
            served += 1
            if maximumRequests > 0, served >= maximumRequests { exit(0) }
            sigprocmask(SIG_UNBLOCK, &stopSignals, nil)
        }
        exit(0)
    }

    /// Sends the end of the answer and closes the connection. libfcgi closes with a linger: it shuts down its
    /// side, then waits (up to 2 s) for nginx to close the other before it closes the socket, so that data
    /// it never read cannot make the kernel reset the connection under an answer nginx has not read yet.
    /// Once the input has reached its end there is no such data: what remains of it (the end of the stream,
    /// already here for every request nginx sends) is read without waiting, and then the socket is closed at
    /// once. That spares the worker a sleep and a wake-up for each request, and it takes the next one sooner.
    private func finish(_ request: inout FCGX_Request) {
        if inputReachedItsEnd(request) {
            // Not detached in libfcgi's sense (no other process holds the connection): the flag only makes
            // FCGX_Free close without the linger, and it resets it.
            request.detached = 1
        }
        FCGX_Finish_r(&request)
    }

    /// Reads and drops what has arrived of the request's input, never waiting for more (up to 64 KiB):
    /// true when the input reached its end, the empty FCGI_STDIN record. A client that has not sent it yet,
    /// or hung up, or sent more than that, gets libfcgi's linger as before.
    private func inputReachedItsEnd(_ request: FCGX_Request) -> Bool {
        guard let input = request.in else { return false }
        if FCGX_HasSeenEOF(input) == 0 {
            // The connection's socket is a blocking one (accept without flags): non-blocking while drained,
            // so that a read that would wait ends the stream with an error (EAGAIN) instead.
            let socket = request.ipcFd
            guard fcntl(socket, F_SETFL, O_NONBLOCK) == 0 else { return false }
            defer { _ = fcntl(socket, F_SETFL, 0) }
            withUnsafeTemporaryAllocation(of: CChar.self, capacity: 512) { scratch in
                var drained = 0
                while FCGX_HasSeenEOF(input) == 0, drained < 65_536 {
                    drained += max(Int(FCGX_GetStr(scratch.baseAddress, Int32(scratch.count), input)), 0)
                }
            }
        }
        // libfcgi marks the stream closed both at its end and on a read error: only the first is the end.
        return FCGX_HasSeenEOF(input) != 0 && FCGX_GetError(input) == 0
    }

    /// Reads the parameters' environment and the whole body, checking its length against CONTENT_LENGTH.
    /// Without CONTENT_LENGTH (a body the client sent chunked), the body is read to the end of the stream.
    private func readRequest(_ request: inout FCGX_Request, _ parameters: FastCGIParameters) -> FastCGIRequest {
        let maximumBodyBytes = maximumBodyBytes(parameters)
        let announcedText = FastCGIParameters.text(parameters.contentLength) ?? ""
        guard let announced = announcedText.isEmpty ? nil : Int(announcedText) else {
            let body = readBody(&request, upTo: maximumBodyBytes + 1)
            return FastCGIRequest(
                parameters: parameters, body: body, isBodyShort: false, isBodyTooLarge: body.count > maximumBodyBytes)
        }
        guard announced <= maximumBodyBytes else {
            return FastCGIRequest(parameters: parameters, body: [], isBodyShort: false, isBodyTooLarge: true)
        }
        let body = readBody(&request, upTo: announced)
        return FastCGIRequest(
            parameters: parameters, body: body, isBodyShort: body.count < announced, isBodyTooLarge: false)
    }

    /// Reads up to `limit` bytes of the body, fewer when the stream ends first. The body is read in chunks
    /// into uninitialised storage: most requests (every GET) have little or none of it, and a buffer of the
    /// whole limit zeroed for each of them was a quarter of a ping's cost. The first chunk is small (malloc
    /// serves it from its small bins); later ones grow.
    private func readBody(_ request: inout FCGX_Request, upTo limit: Int) -> [UInt8] {
        var body: [UInt8] = []
        var chunkSize = 512
        while body.count < limit {
            defer { chunkSize = min(chunkSize * 4, 16_384) }
            let chunk = [UInt8](unsafeUninitializedCapacity: min(limit - body.count, chunkSize)) { buffer, count in
                let read = buffer.withMemoryRebound(to: CChar.self) {
                    FCGX_GetStr($0.baseAddress, Int32($0.count), request.in)
                }
                count = max(Int(read), 0)
            }
            if chunk.isEmpty { break }
            if body.isEmpty { body = chunk } else { body += chunk }
        }
        return body
    }
}

/// Writes straight to stderr: one write, so that lines from many workers do not interleave.
package func writeError(_ text: String) {
    var text = text
    text.withUTF8 { bytes in _ = write(2, bytes.baseAddress, bytes.count) }
}
