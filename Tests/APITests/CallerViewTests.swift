import Credentials
import Ledger
import LedgerStore
import Testing

@testable import API

@Suite("What each caller may see of a movement, and who supplies event times")
struct CallerViewTests {
    let ledger = StubLedger()
    let api: TallyAPI
    let service: String
    /// Users 1 (Ada) and 2 (Bob): tokens of their own.
    let ada: String
    let bob: String

    init() {
        api = TallyAPI(ledger: ledger, passwordHasher: .fastForTests)
        service = ledger.authorization(for: .service)
        ada = ledger.authorization(for: .user(id: 1))
        bob = ledger.authorization(for: .user(id: 2))
        // Ada paid Bob 3.00: Ada has 7.00 after it, Bob 1234.56.
        ledger.movementsByID[7] = Movement(
            id: 7, kind: .transfer, debitUserID: 1, creditUserID: 2, amount: Money(minorUnits: 300),
            debitBalanceAfter: Money(minorUnits: 700), creditBalanceAfter: Money(minorUnits: 123_456), memo: nil,
            createdAt: 0)
        ledger.movementsByID[8] = Movement(
            id: 8, kind: .deposit, debitUserID: 0, creditUserID: 1, amount: Money(minorUnits: 100),
            debitBalanceAfter: nil, creditBalanceAfter: Money(minorUnits: 800), memo: nil, createdAt: 0)
    }

    func request(_ method: String, _ path: String, _ body: String = "", key: String? = nil, as authorization: String)
        -> HTTPResponse
    {
        api.handle(
            HTTPRequest(
                method: method, path: path, idempotencyKey: key, authorization: authorization,
                body: Array(body.utf8), requestID: "rid"))
    }

    func members(_ response: HTTPResponse) throws -> [String: JSONValue] {
        guard case .object(let members) = try JSONParser.parse(Array(response.body.utf8)) else { return [:] }
        return Dictionary(members, uniquingKeysWith: { first, _ in first })
    }

    func balances(_ json: [String: JSONValue]) -> [JSONValue?] {
        ["from_balance", "from_balance_minor", "to_balance", "to_balance_minor"].map { json[$0] }
    }

    @Test("a user's transfer answer has their own balance after it and null for the recipient's")
    func userTransferAnswerHidesRecipientBalance() throws {
        let paid = request("POST", "/api/transfers", #"{"from_user_id":1,"to_user_id":2,"amount":"3.00"}"#, as: ada)
        #expect(paid.status == 201)
        // The stub leaves the payer at 0.00 and the recipient at the amount.
        #expect(balances(try members(paid)) == [.string("0.00"), .number("0"), .null, .null])
    }

    @Test("the service role's transfer answer has both balances")
    func serviceTransferAnswerShowsBoth() throws {
        let paid = request(
            "POST", "/api/transfers", #"{"from_user_id":1,"to_user_id":2,"amount":"3.00"}"#, as: service)
        #expect(paid.status == 201)
        #expect(balances(try members(paid)) == [.string("0.00"), .number("0"), .string("3.00"), .number("300")])
    }

    @Test("each party reads a transfer with only their own balance; the service role reads both")
    func readingATransferShowsTheReadersBalance() throws {
        #expect(
            balances(try members(request("GET", "/api/transfers/7", as: ada)))
                == [.string("7.00"), .number("700"), .null, .null])
        #expect(
            balances(try members(request("GET", "/api/transfers/7", as: bob)))
                == [.null, .null, .string("1234.56"), .number("123456")])
        #expect(
            balances(try members(request("GET", "/api/transfers/7", as: service)))
                == [.string("7.00"), .number("700"), .string("1234.56"), .number("123456")])
    }

    @Test("another's transfer is 404 with a missing id's message, not 403")
    func anothersTransferIsNotFound() throws {
        let carol = ledger.authorization(for: .user(id: 3))
        let anothers = request("GET", "/api/transfers/7", as: carol)
        #expect(anothers.status == 404)
        #expect(anothers.body.contains(#""message":"There is no transfer with id 7.""#), "\(anothers.body)")
        #expect(!anothers.body.contains("1234.56") && !anothers.body.contains("7.00"))
        #expect(request("GET", "/api/transfers/9", as: carol).body.contains("There is no transfer with id 9."))
        #expect(request("GET", "/api/transfers/8", as: ada).status == 404)  // a deposit, though Ada's own
    }

    @Test("a refusal for the recipient's largest balance quotes that balance to the service role only")
    func balanceLimitQuotesTheBalanceToTheServiceOnly() throws {
        let body = #"{"from_user_id":1,"to_user_id":2,"amount":"3.00"}"#
        ledger.nextMoveResult = .refused(.balanceLimit(balance: Money(minorUnits: 9_223_372_036_854_775_000)))
        let toUser = request("POST", "/api/transfers", body, as: ada)
        #expect(toUser.status == 422)
        #expect(!toUser.body.contains("92233720368547750"), "\(toUser.body)")
        #expect(toUser.body.contains("recipient's balance"))
        let toService = request("POST", "/api/transfers", body, as: service)
        #expect(toService.status == 422)
        #expect(toService.body.contains("92233720368547750.00"), "\(toService.body)")
        // A deposit's recipient is the caller's own account: quoted to them.
        #expect(
            request("POST", "/api/users/1/deposits", #"{"amount":"3"}"#, as: ada).body.contains("92233720368547750"))
    }

    @Test("a request's stored outcome shows a user their own balance only, and no recipient's balance in a refusal")
    func requestOutcomeFollowsTheCaller() throws {
        ledger.outcomes["paid"] = .applied(try #require(ledger.movementsByID[7]))
        ledger.outcomes["limit"] = .refused(.balanceLimit(balance: Money(minorUnits: 9_223_372_036_854_775_000)))
        guard case .object(let movement)? = try members(request("GET", "/api/requests/paid", as: ada))["movement"]
        else {
            Issue.record("no movement in the outcome")
            return
        }
        #expect(
            balances(Dictionary(movement, uniquingKeysWith: { a, _ in a })) == [
                .string("7.00"), .number("700"), .null, .null,
            ])
        #expect(!request("GET", "/api/requests/limit", as: ada).body.contains("92233720368547750"))
        #expect(request("GET", "/api/requests/limit", as: service).body.contains("92233720368547750.00"))
    }

    @Test("a service token's transfers ask the database who it is once per worker, not once per transfer")
    func callerIsAskedOnce() {
        let body = #"{"from_user_id":1,"to_user_id":2,"amount":"3.00"}"#
        for _ in 0..<3 { #expect(request("POST", "/api/transfers", body, as: service).status == 201) }
        #expect(ledger.callerLookups == 1)
    }

    @Test("a transfer refused for a dead token or short funds costs no lookup of who is asking")
    func refusalsAskNobody() {
        let body = #"{"from_user_id":1,"to_user_id":2,"amount":"3.00"}"#
        let dead = "Bearer \(BearerToken.generate().text)"
        #expect(request("POST", "/api/transfers", body, as: dead).status == 401)
        ledger.nextMoveResult = .refused(.insufficientFunds(balance: .zero))
        #expect(request("POST", "/api/transfers", body, as: ada).status == 409)
        #expect(ledger.callerLookups == 0)
    }

    @Test(
        "a user's t on their own deposit or withdrawal is refused with 422 on t, before the ledger is asked",
        arguments: ["deposits", "withdrawals"])
    func userEventTimeIsRefused(endpoint: String) throws {
        for t in ["9223372036854775807", "1"] {
            let refused = request("POST", "/api/users/1/\(endpoint)", #"{"amount":"1.00","t":\#(t)}"#, as: ada)
            #expect(refused.status == 422)
            #expect(refused.body.contains(#""field":"t""#) && refused.body.contains("Only the service role"))
        }
        #expect(ledger.eventTimes.isEmpty && ledger.moveCalls.isEmpty)
        // Without t, or with null, the server's clock decides.
        #expect(request("POST", "/api/users/1/\(endpoint)", #"{"amount":"1.00"}"#, as: ada).status == 201)
        #expect(request("POST", "/api/users/1/\(endpoint)", #"{"amount":"1.00","t":null}"#, as: ada).status == 201)
        #expect(ledger.eventTimes == [nil, nil])
    }

    @Test("the service role's t on a deposit still reaches the ledger; a dead token with a t is 401")
    func serviceEventTimeIsKept() {
        #expect(request("POST", "/api/users/1/deposits", #"{"amount":"1.00","t":42}"#, as: service).status == 201)
        #expect(ledger.eventTimes == [42])
        let dead = "Bearer \(BearerToken.generate().text)"
        #expect(request("POST", "/api/users/1/deposits", #"{"amount":"1.00","t":43}"#, as: dead).status == 401)
    }

    @Test("a spooled deposit with a user's t is refused on replay, and the refusal is kept under its key")
    func replayedUserEventTimeIsRefusedAndRecorded() throws {
        let spooled = SpooledRequest(
            acceptedAt: 0, tokenHash: try #require(BearerToken(authorizationHeader: ada)).hash, idempotencyKey: "d1",
            fingerprint: "", method: "POST", path: "/api/users/1/deposits", requestID: "rid",
            body: Array(#"{"amount":"1.00","t":5}"#.utf8))
        guard case .refused(code: "validation_failed") = api.replay(spooled) else {
            Issue.record("the replay was not refused")
            return
        }
        #expect(ledger.recordedRefusals.map(\.refusal) == [.eventTimeNotAllowed])
        #expect(ledger.recordedRefusals.map(\.key) == ["d1"])
        #expect(ledger.moveCalls.isEmpty)
    }

    @Test("known callers are bounded: when full, the memory starts again")
    func knownCallersAreBounded() {
        var known = KnownCallers(capacity: 2)
        known.remember(.service, forTokenHash: [1])
        known.remember(.user(id: 2), forTokenHash: [2])
        known.remember(.user(id: 2), forTokenHash: [2])
        #expect(known[[1]] == .service)
        known.remember(.user(id: 3), forTokenHash: [3])
        #expect(known[[1]] == nil && known[[3]] == .user(id: 3))
    }
}
