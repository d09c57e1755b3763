import Ledger
import Testing

@testable import API

@Suite("GET /api/stats and the users search: the service view of the dashboard")
struct StatsTests {
    let ledger = StubLedger()
    let api: TallyAPI
    let service: String

    init() {
        api = TallyAPI(ledger: ledger, passwordHasher: .fastForTests)
        service = ledger.authorization(for: .service)
        ledger.users[1] = User(id: 1, name: "Ada Lovelace", balance: Money(minorUnits: 1_000_00), createdAt: 0)
        ledger.users[2] = User(id: 2, name: "Bob", balance: Money(minorUnits: 2_34), createdAt: 0)
        ledger.users[3] = User(id: 3, name: "ada <b>", balance: .zero, createdAt: 0)
    }

    func get(_ path: String, query: String = "", as authorization: String? = nil) -> HTTPResponse {
        api.handle(HTTPRequest(method: "GET", path: path, query: query, authorization: authorization ?? service))
    }

    @Test("the totals count from the given second and render money as text and minor units")
    func statsFromTheGivenSecond() {
        let response = get("/api/stats", query: "since=1700000000")
        #expect(response.status == 200)
        #expect(
            response.body
                == #"{"users":3,"balance_total":"1002.34","balance_total_minor":100234,"#
                + #""since":"2023-11-14T22:13:20.000Z","movements":0,"alerts":0}"#)
        #expect(ledger.statsSince == [1_700_000_000])
    }

    @Test("money beyond an int64 is still an exact amount and an exact count of minor units")
    func statsBeyondInt64AreExact() {
        ledger.users[4] = User(id: 4, name: "Croesus", balance: Money(minorUnits: .max), createdAt: 0)
        let response = get("/api/stats", query: "since=0")
        #expect(response.status == 200)
        // 9223372036854775807 + 100234 minor units.
        #expect(response.body.contains(#""balance_total":"92233720368548760.41","#))
        #expect(response.body.contains(#""balance_total_minor":9223372036854876041,"#))
    }

    @Test("without since, the totals count from the start of the current UTC day")
    func statsDefaultToTheUTCDay() {
        #expect(get("/api/stats").status == 200)
        let since = ledger.statsSince.first ?? -1
        #expect(since % 86_400 == 0)
        #expect(since > 1_700_000_000)
    }

    @Test(
        "a since that is not whole seconds from 0 to the year 9999 is 422 naming since",
        arguments: [
            "-1", "1.5", "x", "", "+5", "1e9", "253402300800", "99999999999999999999",
        ])
    func statsRefuseABadSince(since: String) {
        let response = get("/api/stats", query: "since=\(since)")
        #expect(response.status == 422)
        #expect(response.body.contains(#""field":"since""#))
        #expect(ledger.statsSince.isEmpty)
    }

    @Test("only the service role may read the totals")
    func statsAreForTheServiceOnly() {
        let user = ledger.authorization(for: .user(id: 1))
        #expect(get("/api/stats", as: user).status == 403)
        #expect(get("/api/stats", as: "Bearer nope").status == 401)
        #expect(ledger.statsSince.isEmpty)
    }

    @Test("the users list finds names containing the search text, ignoring case")
    func usersSearchByName() {
        let response = get("/api/users", query: "name=ADA")
        #expect(response.status == 200)
        #expect(response.body.contains(#""name":"Ada Lovelace""#))
        #expect(response.body.contains(#""id":3,"#))
        #expect(!response.body.contains(#""name":"Bob""#))
        #expect(get("/api/users", query: "name=").body.contains(#""name":"Bob""#))
    }

    @Test("a search text over 200 characters is 422 naming name")
    func usersSearchRefusesLongText() {
        let response = get("/api/users", query: "name=" + String(repeating: "a", count: 201))
        #expect(response.status == 422)
        #expect(response.body.contains(#""field":"name""#))
    }
}
