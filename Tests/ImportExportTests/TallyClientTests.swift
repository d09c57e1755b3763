import HTTPClient
import ImportExport
import Ledger
import Testing

@Suite("TallyClient: requests, answers and retries")
struct TallyClientTests {
    private final class Waits {
        var seconds: [Double] = []
    }

    private func client(_ transport: StubTransport, waits: Waits = Waits(), attempts: Int = 12) -> TallyClient<
        StubTransport
    > {
        TallyClient(
            baseURL: "http://127.0.0.1:9/", token: "tly_t", transport: transport,
            retryPolicy: HTTPRetryPolicy(maximumAttempts: attempts), sleep: { waits.seconds.append($0) })
    }

    private let user = NewUser(name: "Ada", openingBalance: Money(minorUnits: 1050), idempotencyKey: "import-k-2")

    @Test("a user is created with POST /api/users, its key in the header and the bearer token")
    func createsUser() throws {
        let transport = StubTransport([.answer(201, #"{"id": 42, "name": "Ada"}"#)])
        #expect(try client(transport).createUser(user) == .created(id: 42, isReplay: false))
        let request = transport.requests[0]
        #expect(request.method == "POST" && request.url == "http://127.0.0.1:9/api/users")
        #expect(transport.header("Idempotency-Key", of: 0) == "import-k-2")
        #expect(transport.header("Authorization", of: 0) == "Bearer tly_t")
        #expect(transport.body(0) == #"{"name":"Ada","initial_balance":"10.50"}"#)
    }

    @Test("a replayed creation is told apart by Idempotency-Replayed")
    func replayedUser() throws {
        let transport = StubTransport([.answer(201, #"{"id": 42}"#, [("idempotency-replayed", "true")])])
        #expect(try client(transport).createUser(user) == .created(id: 42, isReplay: true))
    }

    @Test("a 422 on a user is that row's refusal; a 401 stops the import")
    func userRefusals() throws {
        let refused = StubTransport([.answer(422, #"{"error": {"code": "validation_failed", "message": "bad name"}}"#)])
        #expect(
            try client(refused).createUser(user)
                == .refused(APIRefusal(status: 422, code: "validation_failed", message: "bad name")))
        let unauthorized = StubTransport([.answer(401, #"{"error": {"code": "unauthorized", "message": "no"}}"#)])
        #expect(throws: ClientFailure.self) { try client(unauthorized).createUser(user) }
    }

    @Test("a batch goes non-atomic, each item with its key, and its results come back per item")
    func sendsBatch() throws {
        let transport = StubTransport([
            .answer(
                200,
                #"""
                {"id": 9, "atomic": false, "results": [
                 {"index": 0, "status": "applied", "movement": {"id": 100}},
                 {"index": 1, "status": "replayed", "movement": {"id": 50}},
                 {"index": 2, "status": "refused", "error": {"code": "insufficient_funds", "message": "short"}}]}
                """#)
        ])
        let items = [
            ImportItem(
                kind: .transfer, fromUserID: 1, toUserID: 2, amount: Money(minorUnits: 1234), memo: "a \"b\"",
                idempotencyKey: "k-3"),
            ImportItem(
                kind: .deposit, fromUserID: nil, toUserID: 2, amount: Money(minorUnits: 5), memo: nil,
                idempotencyKey: "k-4"),
            ImportItem(
                kind: .withdrawal, fromUserID: 1, toUserID: nil, amount: Money(minorUnits: 100), memo: nil,
                idempotencyKey: "k-5"),
        ]
        let answer = try client(transport).sendBatch(items)
        #expect(
            answer
                == .results([
                    .applied(movementID: 100), .replayed(movementID: 50),
                    .refused(APIRefusal(status: 0, code: "insufficient_funds", message: "short")),
                ]))
        #expect(transport.requests[0].url == "http://127.0.0.1:9/api/batches")
        #expect(
            transport.body(0)
                == #"{"atomic":false,"movements":["#
                + #"{"type":"transfer","from_user_id":1,"to_user_id":2,"amount":"12.34","memo":"a \"b\"","idempotency_key":"k-3"},"#
                + #"{"type":"deposit","user_id":2,"amount":"0.05","idempotency_key":"k-4"},"#
                + #"{"type":"withdrawal","user_id":1,"amount":"1.00","idempotency_key":"k-5"}]}"#)
    }

    @Test("a batch refused for one item's input names that item")
    func batchItemRejected() throws {
        let transport = StubTransport([
            .answer(
                422,
                #"{"error": {"code": "validation_failed", "message": "bad", "field": "movements[1].memo", "index": 1}}"#
            )
        ])
        let item = ImportItem(
            kind: .deposit, fromUserID: nil, toUserID: 2, amount: Money(minorUnits: 5), memo: nil, idempotencyKey: "k")
        #expect(
            try client(transport).sendBatch([item, item])
                == .itemRejected(
                    index: 1,
                    APIRefusal(status: 422, code: "validation_failed", message: "bad", field: "movements[1].memo")))
    }

    @Test("503, 429, 502 and 504 are sent again, waiting what Retry-After says or backing off")
    func retries() throws {
        let waits = Waits()
        let transport = StubTransport([
            .answer(503, #"{"error": {"code": "unavailable", "message": "db down"}}"#, [("retry-after", "3")]),
            .answer(429, "", [("retry-after", "1")]),
            .answer(502, "<html>"),
            .noAnswer,
            .answer(504, ""),
            .answer(201, #"{"id": 1}"#),
        ])
        #expect(try client(transport, waits: waits).createUser(user) == .created(id: 1, isReplay: false))
        #expect(waits.seconds == [3, 1, 1, 2, 4])
        #expect(transport.requests.count == 6)
        #expect((0..<6).allSatisfy { transport.header("Idempotency-Key", of: $0) == "import-k-2" })
    }

    @Test("retries end after the policy's attempts: the last answer stops the import with its reason")
    func retriesEnd() {
        let waits = Waits()
        let transport = StubTransport(
            Array(repeating: .answer(503, #"{"error": {"code": "unavailable", "message": "db down"}}"#), count: 3))
        do {
            _ = try client(transport, waits: waits, attempts: 3).createUser(user)
            Issue.record("no failure")
        } catch {
            #expect(error.message.contains("503 unavailable: db down"))
        }
        #expect(waits.seconds.count == 2)
    }

    @Test("other statuses are not sent again")
    func noRetryOnClientErrors() {
        let transport = StubTransport([.answer(400, #"{"error": {"code": "malformed_json", "message": "x"}}"#)])
        #expect(throws: ClientFailure.self) { try client(transport).createUser(user) }
        #expect(transport.requests.count == 1)
    }

    @Test("Retry-After is capped at a minute, and backoff at 10 s")
    func delays() {
        let policy = HTTPRetryPolicy()
        #expect(policy.delay(afterAttempt: 1, retryAfter: "3600") == 60)
        #expect(policy.delay(afterAttempt: 1, retryAfter: nil) == 0.25)
        #expect(policy.delay(afterAttempt: 4, retryAfter: "soon") == 2)
        #expect(policy.delay(afterAttempt: 30, retryAfter: nil) == 10)
    }
}
