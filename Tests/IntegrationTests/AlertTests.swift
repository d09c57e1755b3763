import Credentials
import Dispatch
import Foundation
import Ledger
import LedgerStore
import Postgres
import Synchronization
import Testing

@Suite("Cash events and their alerts in PostgreSQL", .serialized)
struct AlertTests {
    let rules = AlertRules()

    func event(
        _ ledger: PostgresLedger, _ kind: CashEvent.Kind, _ user: Int64, _ minor: Int64, t: Int64?, key: String? = nil
    ) throws -> Receipt<CashMovement> {
        try ledger.recordCashEvent(
            kind, tokenHash: TestDatabase.serviceToken.hash, actingUserID: nil, userID: user,
            amount: Money(minorUnits: minor), memo: nil, t: t, rules: rules,
            idempotency: key.map { IdempotencyContext(key: $0, fingerprint: "\(kind)\(minor)\(t ?? -1)") },
            requestID: "t")
    }

    func codes(_ receipt: Receipt<CashMovement>) -> [Int]? {
        if case .applied(let cash) = receipt.result { return cash.alertCodes }
        return nil
    }

    @Test("a history of events raises each code when its rule says, and stores it with the movement")
    func historyRaisesCodes() throws {
        try TestDatabase.with { database in
            let ledger = database.ledger()
            let user = try ledger.newUserID()
            #expect(codes(try event(ledger, .deposit, user, 100_00, t: 10)) == [])
            #expect(codes(try event(ledger, .deposit, user, 100_01, t: 20)) == [123])  // 200.01 in (9, 20]
            #expect(codes(try event(ledger, .deposit, user, 100_02, t: 50)) == [300])  // window (20, 50]: 100.02 alone
            #expect(codes(try event(ledger, .withdrawal, user, 100_01, t: 81)) == [1100])  // window (51, 81]: nothing
            #expect(codes(try event(ledger, .withdrawal, user, 1_00, t: 82)) == [])
            #expect(codes(try event(ledger, .withdrawal, user, 1_00, t: 83)) == [30])
            let stored = try ledger.alerts(ofUser: user, beforeID: .max, limit: 10)
            #expect(stored.map(\.code) == [30, 1100, 300, 123])
            #expect(try database.scalar("SELECT count(*) FROM cash_events WHERE user_id = $1", [String(user)]) == "6")
        }
    }

    @Test("the window (t - 30, t] includes t - 29 and excludes t - 30")
    func windowBoundary() throws {
        try TestDatabase.with { database in
            let ledger = database.ledger()
            let user = try ledger.newUserID()
            _ = try event(ledger, .deposit, user, 150_00, t: 100)
            #expect(codes(try event(ledger, .deposit, user, 60_00, t: 130)) == [])  // 100 is outside (100, 130]
            let other = try ledger.newUserID()
            _ = try event(ledger, .deposit, other, 150_00, t: 100)
            #expect(codes(try event(ledger, .deposit, other, 60_00, t: 129)) == [123])  // 100 is inside (99, 129]
        }
    }

    @Test("deposits and withdrawals of the largest amount in turn: the window's sum is exact, never an error")
    func windowSumBeyondInt64() throws {
        try TestDatabase.with { database in
            let ledger = database.ledger()
            let user = try ledger.newUserID()
            let largest = Int64.max
            #expect(codes(try event(ledger, .deposit, user, largest, t: 10)) == [123])
            #expect(codes(try event(ledger, .withdrawal, user, largest, t: 11)) == [123, 1100])
            // The window now holds two deposits of the largest amount: beyond a bigint.
            #expect(codes(try event(ledger, .deposit, user, largest, t: 12)) == [123])
            #expect(codes(try event(ledger, .withdrawal, user, 1, t: 13)) == [123])
            #expect(try ledger.user(id: user)?.balance == Money(minorUnits: largest - 1))
        }
    }

    @Test("a t that does not increase is refused and changes nothing; a repeat under its key replays")
    func tMustIncrease() throws {
        try TestDatabase.with { database in
            let ledger = database.ledger()
            let user = try ledger.newUserID()
            let first = try event(ledger, .withdrawal, user, 1, t: 5, key: "k")
            #expect(first.result.refusal == .insufficientFunds(balance: .zero))
            _ = try event(ledger, .deposit, user, 500_00, t: 10, key: "d")
            #expect(try event(ledger, .deposit, user, 1_00, t: 10).result.refusal == .tNotIncreasing(last: 10))
            #expect(try event(ledger, .deposit, user, 1_00, t: 9).result.refusal == .tNotIncreasing(last: 10))
            let replay = try event(ledger, .deposit, user, 500_00, t: 10, key: "d")
            #expect(replay.isReplay && codes(replay) == [123])
            #expect(try ledger.user(id: user)?.balance.minorUnits == 500_00)
            // Without t, the event takes the current second, kept above the last t.
            guard case .applied = try event(ledger, .deposit, user, 1, t: nil).result else {
                Issue.record("an event without t should apply")
                return
            }
            let now = Int64(Date().timeIntervalSince1970)
            let taken = try #require(
                Int64(database.scalar("SELECT max(t) FROM cash_events WHERE user_id = $1", [String(user)]) ?? ""))
            #expect(abs(taken - now) <= 5, "an event without t took t = \(taken), now is \(now)")
            let newcomer = try ledger.newUserID()
            _ = try event(ledger, .deposit, newcomer, 1, t: nil)
            _ = try event(ledger, .deposit, newcomer, 1, t: nil)
            let times = try database.connection().query(
                "SELECT t FROM cash_events WHERE user_id = $1 ORDER BY t", [String(newcomer)]
            ).values.compactMap { $0[0].flatMap { Int64($0) } }
            #expect(times.count == 2 && abs(times[0] - now) <= 5 && times[1] > times[0])
        }
    }

    @Test("an overdrawing withdrawal is refused and raises nothing")
    func overdraftRaisesNothing() throws {
        try TestDatabase.with { database in
            let ledger = database.ledger()
            let user = try ledger.newUserID(minorUnits: 50_00)
            #expect(
                try event(ledger, .withdrawal, user, 500_00, t: 1).result.refusal
                    == .insufficientFunds(balance: Money(minorUnits: 50_00)))
            #expect(try ledger.alerts(ofUser: user, beforeID: .max, limit: 10).isEmpty)
        }
    }

    @Test(
        "many events for one user at once: the stored alerts are what the rules say in t order, balance never negative")
    func concurrentEventsAgreeWithTheRules() throws {
        try TestDatabase.with { database in
            let user = try database.ledger().newUserID(minorUnits: 300_00)
            let conninfo = database.conninfo
            let clock = Atomic<Int64>(0)
            DispatchQueue.concurrentPerform(iterations: 6) { worker in
                let ledger = PostgresLedger(conninfo: conninfo, retryPolicy: RetryPolicy(maxAttempts: 100))
                for index in 0..<25 {
                    let t = clock.add(1, ordering: .relaxed).newValue * 10
                    let kind: CashEvent.Kind = (worker + index).isMultiple(of: 3) ? .deposit : .withdrawal
                    let amount = Int64((worker * 37 + index * 53) % 150 + 1) * 100
                    _ = try? ledger.recordCashEvent(
                        kind, tokenHash: TestDatabase.serviceToken.hash, actingUserID: nil, userID: user,
                        amount: Money(minorUnits: amount), memo: nil, t: t, rules: AlertRules(), idempotency: nil,
                        requestID: "c")
                }
            }
            // Replay the applied events in t order through the rules, and compare with what was stored.
            let connection = try database.connection()
            let events = try connection.query(
                """
                SELECT e.kind, e.amount, e.t, COALESCE((SELECT string_agg(a.code::text, ',' ORDER BY a.code)
                    FROM alerts a WHERE a.movement_id = e.movement_id), '') AS codes
                FROM cash_events e WHERE e.user_id = $1 ORDER BY e.t
                """, [String(user)]
            ).rows
            #expect(events.count > 10)
            var past: [CashEvent] = []
            for row in events {
                let event = CashEvent(
                    kind: row["kind"] == "deposit" ? .deposit : .withdrawal,
                    amount: Money(minorUnits: row.int64("amount")!), t: row.int64("t")!)
                let history = CashHistory(
                    recentKinds: past.reversed().map(\.kind),
                    recentDepositAmounts: past.reversed().filter { $0.kind == .deposit }.map(\.amount),
                    depositsInWindow: past.filter {
                        $0.kind == .deposit && $0.t > event.t - 30 && $0.t <= event.t
                    }.reduce(MoneyTotal.zero) { $0 + $1.amount })
                let expected = AlertRules().codes(for: event, after: history).map(String.init).joined(separator: ",")
                #expect(row["codes"] == expected, "event at t=\(event.t)")
                past.append(event)
            }
            #expect(try database.scalar("SELECT count(*) FROM users WHERE balance < 0") == "0")
            #expect(try Verifier(connection: connection).verify().isClean)
        }
    }
}
