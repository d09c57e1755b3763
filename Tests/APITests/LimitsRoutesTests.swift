import Ledger
import LedgerStore
import Testing

@testable import API

@Suite("Limits: users show available, held and their limits; POST /api/users and PATCH /api/users/{id} set them")
struct LimitsRoutesTests {
    let harness = RouteHarness()
    var ledger: StubLedger { harness.ledger }

    func patch(_ id: Int64, _ body: String, as authorization: String? = nil) -> HTTPResponse {
        harness.send("PATCH", "/api/users/\(id)", body, as: authorization)
    }

    func createAlice() throws -> [String: JSONValue] {
        let response = harness.post("/api/users", #"{"name":"Alice","initial_balance":"10.00"}"#)
        #expect(response.status == 201)
        return try harness.members(response)
    }

    @Test("a user shows balance, available, held and limits, as amounts and minor units")
    func userShowsAvailableHeldAndLimits() throws {
        ledger.users[5] = User(
            id: 5, name: "Bo", balance: Money(minorUnits: -250), createdAt: 0, held: Money(minorUnits: 300),
            limits: AccountLimits(
                creditLimit: Money(minorUnits: 1000), dailyDebitLimit: Money(minorUnits: 5000), timeZone: "Europe/Paris"
            ))
        let response = harness.get("/api/users/5")
        #expect(
            try harness.names(response) == [
                "id", "name", "username", "balance", "balance_minor", "available", "available_minor", "held",
                "held_minor", "credit_limit", "credit_limit_minor", "daily_debit_limit", "daily_debit_limit_minor",
                "time_zone", "created_at",
            ])
        let user = try harness.members(response)
        #expect(user["balance"] == .string("-2.50") && user["available"] == .string("4.50"))
        #expect(user["available_minor"] == .integer(450) && user["held_minor"] == .integer(300))
        #expect(user["credit_limit"] == .string("10.00") && user["daily_debit_limit"] == .string("50.00"))
        #expect(user["time_zone"] == .string("Europe/Paris"))
    }

    @Test("a user created without limits has the defaults: no credit, no daily limit, UTC")
    func defaultLimits() throws {
        let user = try createAlice()
        #expect(user["credit_limit"] == .string("0.00") && user["credit_limit_minor"] == .integer(0))
        #expect(user["daily_debit_limit"] == .null && user["daily_debit_limit_minor"] == .null)
        #expect(user["time_zone"] == .string("UTC") && user["available"] == .string("10.00"))
    }

    @Test("POST /api/users takes credit_limit, daily_debit_limit and time_zone")
    func createWithLimits() throws {
        let response = harness.post(
            "/api/users",
            #"{"name":"Al","credit_limit":"5.00","daily_debit_limit":20,"time_zone":"America/Argentina/Buenos_Aires"}"#)
        #expect(response.status == 201)
        let limits = try #require(ledger.users[1]?.limits)
        #expect(limits.creditLimit.minorUnits == 500 && limits.dailyDebitLimit?.minorUnits == 2000)
        #expect(limits.timeZone == "America/Argentina/Buenos_Aires")
        #expect(try harness.members(response)["available"] == .string("5.00"))
    }

    @Test(
        "bad limits are 422 naming the field",
        arguments: [
            (#""credit_limit":"-1.00""#, "credit_limit"),
            (#""credit_limit":"1.001""#, "credit_limit"), (#""daily_debit_limit":"0""#, "daily_debit_limit"),
            (#""daily_debit_limit":true"#, "daily_debit_limit"), (#""time_zone":"""#, "time_zone"),
            (#""time_zone":"Mars/Olympus Mons""#, "time_zone"),
            (#""time_zone":5"#, "time_zone"), (#""colour":"red""#, "colour"),
        ])
    func badLimitsAreRefused(member: String, field: String) throws {
        let created = harness.post("/api/users", #"{"name":"Al",\#(member)}"#)
        #expect(created.status == 422 && harness.error(created).field == field)
        ledger.users[1] = User(id: 1, name: "Al", balance: .zero, createdAt: 0)
        let patched = patch(1, "{\(member)}")
        #expect(patched.status == 422 && harness.error(patched).field == field)
        #expect(ledger.users[1]?.limits == AccountLimits())
    }

    @Test("null credit_limit and time_zone are the defaults on creation, and refused by PATCH")
    func nullLimits() throws {
        let created = harness.post("/api/users", #"{"name":"Al","credit_limit":null,"time_zone":null}"#)
        #expect(created.status == 201 && ledger.users[1]?.limits == AccountLimits())
        for member in [#""credit_limit":null"#, #""time_zone":null"#] {
            let patched = patch(1, "{\(member)}")
            #expect(
                patched.status == 422
                    && harness.error(patched).field == String(member.dropFirst().prefix(while: { $0 != "\"" })))
        }
    }

    @Test("available is exact past the largest balance: a balance and a credit limit of the largest each")
    func availableBeyondInt64() throws {
        ledger.users[1] = User(
            id: 1, name: "Rich", balance: Money(minorUnits: .max), createdAt: 0,
            limits: AccountLimits(creditLimit: Money(minorUnits: .max)))
        let user = try harness.members(harness.get("/api/users/1"))
        #expect(user["available"] == .string("184467440737095516.14"))
        #expect(user["available_minor"] == .number("18446744073709551614"))
    }

    @Test("PATCH changes only what it names; null removes the daily limit; the answer is the user")
    func patchChangesLimits() throws {
        _ = try createAlice()
        let set = patch(1, #"{"daily_debit_limit":"25.00","credit_limit":"3"}"#)
        #expect(set.status == 200)
        #expect(try harness.members(set)["available"] == .string("13.00"))
        #expect(
            ledger.users[1]?.limits
                == AccountLimits(
                    creditLimit: Money(minorUnits: 300),
                    dailyDebitLimit: Money(minorUnits: 2500)))
        #expect(patch(1, #"{"time_zone":"Asia/Tokyo"}"#).status == 200)
        #expect(ledger.users[1]?.limits.dailyDebitLimit?.minorUnits == 2500)
        let removed = try harness.members(patch(1, #"{"daily_debit_limit":null}"#))
        #expect(removed["daily_debit_limit"] == .null && removed["time_zone"] == .string("Asia/Tokyo"))
        #expect(removed["credit_limit"] == .string("3.00"))
    }

    @Test("PATCH with nothing to change is 422; a malformed body 400; an unknown user 404")
    func patchNeedsAChange() {
        _ = try? createAlice()
        let empty = patch(1, "{}")
        #expect(empty.status == 422 && harness.error(empty).code == "validation_failed")
        #expect(harness.error(empty).field == "body")
        #expect(patch(1, "").status == 400)
        let missing = patch(99, #"{"credit_limit":"1"}"#)
        #expect(missing.status == 404 && harness.error(missing).code == "not_found")
    }

    @Test("only the service role may PATCH a user: a user gets 403, even for themselves; no token 401")
    func patchIsTheServiceRoles() {
        _ = try? createAlice()
        let alice = ledger.authorization(for: .user(id: 1))
        let own = patch(1, #"{"credit_limit":"100"}"#, as: alice)
        #expect(own.status == 403 && harness.error(own).code == "forbidden")
        #expect(patch(1, #"{"credit_limit":"100"}"#, as: "Bearer nonsense").status == 401)
        #expect(ledger.users[1]?.limits.creditLimit == .zero)
    }

    @Test("a credit limit below what is in use is 409 credit_limit_in_use saying the least possible")
    func creditLimitInUse() {
        ledger.users[1] = User(id: 1, name: "Al", balance: .zero, createdAt: 0)
        ledger.nextLimitsResult = .refused(.creditLimitInUse(least: Money(minorUnits: 750)))
        let response = patch(1, #"{"credit_limit":"1.00"}"#)
        #expect(response.status == 409)
        let error = harness.error(response)
        #expect(error.code == "credit_limit_in_use" && error.field == "credit_limit" && error.message.contains("7.50"))
    }

    @Test("the ledger's unknown time zone is 422 on time_zone")
    func unknownTimeZone() {
        ledger.users[1] = User(id: 1, name: "Al", balance: .zero, createdAt: 0)
        ledger.nextLimitsResult = .refused(.unknownTimeZone)
        let error = harness.error(patch(1, #"{"time_zone":"Nowhere/Land"}"#))
        #expect(error.code == "validation_failed" && error.field == "time_zone")
    }

    @Test("the limits enter a created user's key fingerprint only when given")
    func limitsInFingerprint() throws {
        #expect(harness.post("/api/users", #"{"name":"A"}"#, key: "u1").status == 201)
        #expect(harness.post("/api/users", #"{"name":"A","credit_limit":"1"}"#, key: "u2").status == 201)
        #expect(ledger.userCalls.count == 2)
        #expect(ledger.userCalls[0]?.fingerprint == ["create_user", "A", "0", "-"].joined(separator: "\u{1F}"))
        #expect(ledger.userCalls[1]?.fingerprint != ledger.userCalls[0]?.fingerprint)
    }

    @Test("PATCH is routed beside GET on a user; the Allow header of a wrong method names both")
    func patchIsRouted() throws {
        #expect(try Router.route(method: "PATCH", path: "/api/users/3") == .changeLimits(userID: 3))
        let response = harness.send("PUT", "/api/users/3", "{}")
        #expect(response.status == 405)
        #expect(response.headers.contains { $0.name == "Allow" && $0.value == "GET, PATCH" })
    }
}
