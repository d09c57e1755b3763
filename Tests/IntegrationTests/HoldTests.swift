import Credentials
import Foundation
import Ledger
import LedgerStore
import Postgres
import Testing

/// Holds, reversals and limits in PostgreSQL (migration 17): what the available balance counts, how a hold
/// settles exactly once, reversals that never exceed their transfer, and limits every debit path obeys.
@Suite("Holds, reversals and limits in PostgreSQL", .serialized)
struct HoldTests {
    struct Unexpected: Error, CustomStringConvertible {
        let description: String
    }

    let service = TestDatabase.serviceToken.hash

    func place(
        _ ledger: PostgresLedger, _ payer: Int64, _ payee: Int64, _ minorUnits: Int64, expiresIn: Int = 60,
        key: String? = nil
    ) throws -> Receipt<Hold> {
        try ledger.placeHold(
            tokenHash: service, payerUserID: payer, payeeUserID: payee, amount: Money(minorUnits: minorUnits),
            memo: "order", expiresInSeconds: expiresIn,
            idempotency: key.map { IdempotencyContext(key: $0, fingerprint: "h") },
            requestID: "t")
    }

    func placed(_ receipt: Receipt<Hold>) throws -> Hold {
        guard case .applied(let hold) = receipt.result else { throw Unexpected(description: "\(receipt.result)") }
        return hold
    }

    func available(_ ledger: PostgresLedger, _ id: Int64) throws -> Int64 {
        Int64(try #require(try ledger.user(id: id)).available.minorUnits)
    }

    func transfer(_ ledger: PostgresLedger, _ from: Int64, _ to: Int64, _ minorUnits: Int64) throws
        -> Receipt<Movement>.Result
    {
        try ledger.move(
            .transfer, debitUserID: from, creditUserID: to, amount: Money(minorUnits: minorUnits), memo: nil,
            idempotency: nil, requestID: "t"
        ).result
    }

    func verified(_ database: TestDatabase) throws -> VerificationReport {
        try Verifier(connection: try database.connection()).verify()
    }

    @Test("a hold lowers the payer's available balance at once, and transfers are judged against it")
    func holdReservesMoney() throws {
        try TestDatabase.with { database in
            let ledger = database.ledger()
            let payer = try ledger.newUserID(minorUnits: 1_000)
            let payee = try ledger.newUserID()
            _ = try placed(place(ledger, payer, payee, 700))
            #expect(try available(ledger, payer) == 300)
            #expect(try ledger.user(id: payer)?.balance.minorUnits == 1_000)
            #expect(
                try transfer(ledger, payer, payee, 301) == .refused(.insufficientFunds(balance: Money(minorUnits: 300)))
            )
            #expect(
                try place(ledger, payer, payee, 301).result
                    == .refused(.insufficientFunds(balance: Money(minorUnits: 300))))
            guard case .applied = try transfer(ledger, payer, payee, 300) else {
                Issue.record("the available 300 should move")
                return
            }
            #expect(try available(ledger, payer) == 0)
            #expect(try verified(database).isClean)
        }
    }

    @Test("a partial capture moves what it names to the payee and releases the rest; the hold settles once")
    func partialCaptureReleasesTheRest() throws {
        try TestDatabase.with { database in
            let ledger = database.ledger()
            let payer = try ledger.newUserID(minorUnits: 1_000)
            let payee = try ledger.newUserID()
            let hold = try placed(place(ledger, payer, payee, 600))
            let capture = try ledger.captureHold(
                id: hold.id, amount: Money(minorUnits: 250), tokenHash: service, idempotency: nil, requestID: "t")
            guard case .applied(let captured) = capture.result else {
                Issue.record("capture refused: \(capture.result)")
                return
            }
            #expect(captured.hold.status == .captured && captured.hold.capturedAmount?.minorUnits == 250)
            #expect(captured.transfer.holdID == hold.id && captured.transfer.amount.minorUnits == 250)
            #expect(try available(ledger, payer) == 750)
            #expect(try ledger.user(id: payee)?.balance.minorUnits == 250)
            let again = try ledger.captureHold(
                id: hold.id, amount: nil, tokenHash: service, idempotency: nil, requestID: "t")
            #expect(again.result == .refused(.holdNotPending(status: .captured)))
            let void = try ledger.voidHold(id: hold.id, tokenHash: service, idempotency: nil, requestID: "t")
            #expect(void.result == .refused(.holdNotPending(status: .captured)))
            #expect(try verified(database).isClean)
        }
    }

    @Test("capturing more than held is refused and a voided hold cannot be captured")
    func captureBounds() throws {
        try TestDatabase.with { database in
            let ledger = database.ledger()
            let payer = try ledger.newUserID(minorUnits: 1_000)
            let payee = try ledger.newUserID()
            let hold = try placed(place(ledger, payer, payee, 100))
            let over = try ledger.captureHold(
                id: hold.id, amount: Money(minorUnits: 101), tokenHash: service, idempotency: nil, requestID: "t")
            #expect(over.result == .refused(.captureExceedsHold(held: Money(minorUnits: 100))))
            guard
                case .applied(let voided) = try ledger.voidHold(
                    id: hold.id, tokenHash: service, idempotency: nil, requestID: "t"
                ).result
            else {
                Issue.record("void refused")
                return
            }
            #expect(voided.status == .voided)
            #expect(try available(ledger, payer) == 1_000)
            let late = try ledger.captureHold(
                id: hold.id, amount: nil, tokenHash: service, idempotency: nil, requestID: "t")
            #expect(late.result == .refused(.holdNotPending(status: .voided)))
            #expect(try verified(database).isClean)
        }
    }

    @Test("a hold past its expiry reads expired, no longer counts, and cannot be captured")
    func expiredHoldsRelease() throws {
        try TestDatabase.with { database in
            let ledger = database.ledger()
            let payer = try ledger.newUserID(minorUnits: 500)
            let payee = try ledger.newUserID()
            let hold = try placed(place(ledger, payer, payee, 500, expiresIn: 1))
            #expect(try available(ledger, payer) == 0)
            #expect(eventually(within: 5) { (try? ledger.hold(id: hold.id))??.status == .expired })
            #expect(try available(ledger, payer) == 500)
            // The debit releases the expired hold from `held` on the way.
            guard case .applied = try transfer(ledger, payer, payee, 500) else {
                Issue.record("the released 500 should move")
                return
            }
            let capture = try ledger.captureHold(
                id: hold.id, amount: nil, tokenHash: service, idempotency: nil, requestID: "t")
            #expect(capture.result == .refused(.holdExpired))
            #expect(try verified(database).isClean)
        }
    }

    @Test("concurrent captures and voids of the same holds settle each exactly once")
    func racingSettlementsSettleOnce() throws {
        try TestDatabase.with { database in
            let ledger = database.ledger()
            let payer = try ledger.newUserID(minorUnits: 10_000)
            let payee = try ledger.newUserID()
            let holds = try (0..<20).map { _ in try placed(place(ledger, payer, payee, 100)).id }
            let group = DispatchGroup()
            for worker in 0..<6 {
                group.enter()
                Thread.detachNewThread {
                    defer { group.leave() }
                    let ledger = database.ledger()
                    for id in holds.shuffled() {
                        if worker % 2 == 0 {
                            _ = try? ledger.captureHold(
                                id: id, amount: nil, tokenHash: TestDatabase.serviceToken.hash, idempotency: nil,
                                requestID: "t")
                        } else {
                            _ = try? ledger.voidHold(
                                id: id, tokenHash: TestDatabase.serviceToken.hash, idempotency: nil, requestID: "t")
                        }
                    }
                }
            }
            group.wait()
            let captures = Int(try database.scalar("SELECT count(*) FROM movements WHERE hold_id IS NOT NULL") ?? "")
            let captured = Int(try database.scalar("SELECT count(*) FROM holds WHERE status = 'captured'") ?? "")
            let voided = Int(try database.scalar("SELECT count(*) FROM holds WHERE status = 'voided'") ?? "")
            #expect(captures == captured && (captured ?? 0) + (voided ?? 0) == 20)
            #expect(try ledger.user(id: payee)?.balance.minorUnits == Int64(100 * (captured ?? 0)))
            #expect(try available(ledger, payer) == 10_000 - Int64(100 * (captured ?? 0)))
            #expect(try verified(database).isClean)
        }
    }

    @Test(
        "a payee's capture refused for the payer's limit is told, and kept under its key, without the payer's figures")
    func payeeCaptureRefusalKeepsThePayersFigures() throws {
        try TestDatabase.with { database in
            let ledger = database.ledger()
            let payer = try ledger.newUserID(minorUnits: 1_000)
            let payee = try ledger.newUserID()
            let payeeToken = BearerToken.generate()
            _ = try ledger.issueToken(hash: payeeToken.hash, for: .user(id: payee), lifetimeSeconds: nil)
            let hold = try placed(place(ledger, payer, payee, 300))
            _ = try ledger.changeLimits(
                ofUser: payer, LimitsChange(dailyDebitLimit: .some(Money(minorUnits: 200))), requestID: "t")
            let key = IdempotencyContext(key: "capture-1", fingerprint: "c")
            let refused = try ledger.captureHold(
                id: hold.id, amount: nil, tokenHash: payeeToken.hash, idempotency: key, requestID: "t")
            #expect(refused.result == .refused(.payerShort(ofDailyLimit: true)))
            #expect(
                try ledger.requestOutcome(caller: .user(id: payee), key: "capture-1")
                    == .refused(.payerShort(ofDailyLimit: true)))
            // The service role is told the figure.
            let told = try ledger.captureHold(
                id: hold.id, amount: nil, tokenHash: service, idempotency: nil, requestID: "t")
            #expect(told.result == .refused(.limitExceeded(remaining: Money(minorUnits: 200))))
            #expect(try available(ledger, payer) == 700)
        }
    }

    @Test("reversals pay a transfer back up to its amount and no further, and a reversal is not reversible")
    func reversalsStayWithinTheTransfer() throws {
        try TestDatabase.with { database in
            let ledger = database.ledger()
            let payer = try ledger.newUserID(minorUnits: 1_000)
            let payee = try ledger.newUserID()
            guard case .applied(let original) = try transfer(ledger, payer, payee, 300) else {
                Issue.record("transfer refused")
                return
            }
            func reverse(_ id: Int64, _ minorUnits: Int64?) throws -> Receipt<Movement>.Result {
                try ledger.reverseTransfer(
                    id, amount: minorUnits.map(Money.init(minorUnits:)), memo: "refund", tokenHash: service,
                    idempotency: nil, requestID: "t"
                ).result
            }
            guard case .applied(let first) = try reverse(original.id, 100) else {
                Issue.record("first reversal refused")
                return
            }
            #expect(first.kind == .reversal && first.reversalOf == original.id)
            #expect(first.debitUserID == payee && first.creditUserID == payer)
            #expect(try reverse(original.id, 201) == .refused(.reversalExceedsTransfer(left: Money(minorUnits: 200))))
            guard case .applied(let rest) = try reverse(original.id, nil) else {
                Issue.record("the rest should reverse")
                return
            }
            #expect(rest.amount.minorUnits == 200)
            #expect(try reverse(original.id, 1) == .refused(.reversalExceedsTransfer(left: .zero)))
            #expect(try reverse(first.id, 1) == .refused(.notReversible(kind: .reversal)))
            let state = try #require(try ledger.reversibleTransfer(id: original.id))
            #expect(state.reversals.map(\.id) == [first.id, rest.id] && state.unreversed == .zero)
            #expect(try ledger.user(id: payer)?.balance.minorUnits == 1_000)
            #expect(try verified(database).isClean)
        }
    }

    @Test("concurrent reversals of one transfer never add up to more than it")
    func racingReversals() throws {
        try TestDatabase.with { database in
            let ledger = database.ledger()
            let payer = try ledger.newUserID(minorUnits: 1_000)
            let payee = try ledger.newUserID(minorUnits: 1_000)
            guard case .applied(let original) = try transfer(ledger, payer, payee, 500) else {
                Issue.record("transfer refused")
                return
            }
            let group = DispatchGroup()
            for _ in 0..<6 {
                group.enter()
                Thread.detachNewThread {
                    defer { group.leave() }
                    let ledger = database.ledger()
                    for _ in 0..<5 {
                        _ = try? ledger.reverseTransfer(
                            original.id, amount: Money(minorUnits: 30), memo: nil,
                            tokenHash: TestDatabase.serviceToken.hash, idempotency: nil, requestID: "t")
                    }
                }
            }
            group.wait()
            let reversed = Int64(
                try database.scalar(
                    "SELECT COALESCE(sum(amount), 0) FROM movements WHERE reversal_of = $1", [String(original.id)])
                    ?? "")
            #expect(reversed == 480)
            #expect(try verified(database).isClean)
        }
    }

    @Test("a credit limit lets the balance go below zero down to minus the limit, and no lower")
    func creditLimitBinds() throws {
        try TestDatabase.with { database in
            let ledger = database.ledger()
            let payer = try ledger.newUserID(minorUnits: 100)
            let payee = try ledger.newUserID()
            let changed = try ledger.changeLimits(
                ofUser: payer, LimitsChange(creditLimit: Money(minorUnits: 50)), requestID: "t")
            guard case .applied(let user) = changed.result else {
                Issue.record("limit refused: \(changed.result)")
                return
            }
            #expect(user.available == MoneyTotal(Money(minorUnits: 150)))
            #expect(
                try transfer(ledger, payer, payee, 151) == .refused(.insufficientFunds(balance: Money(minorUnits: 150)))
            )
            guard case .applied(let movement) = try transfer(ledger, payer, payee, 150) else {
                Issue.record("150 within the limit should move")
                return
            }
            #expect(movement.debitBalanceAfter?.minorUnits == -50)
            let lower = try ledger.changeLimits(
                ofUser: payer, LimitsChange(creditLimit: Money(minorUnits: 49)), requestID: "t")
            #expect(lower.result == .refused(.creditLimitInUse(least: Money(minorUnits: 50))))
            let zone = try ledger.changeLimits(
                ofUser: payer, LimitsChange(timeZone: "Nowhere/Atlantis"), requestID: "t")
            #expect(zone.result == .refused(.unknownTimeZone))
            #expect(try verified(database).isClean)
        }
    }

    @Test("the daily debit limit counts the day's debits, refuses past it and raises alert 2000")
    func dailyLimitBinds() throws {
        try TestDatabase.with { database in
            let ledger = database.ledger()
            let payer = try ledger.newUserID(minorUnits: 1_000)
            let payee = try ledger.newUserID()
            guard case .applied = try transfer(ledger, payer, payee, 100) else {
                Issue.record("transfer refused")
                return
            }
            // Set after a debit today: that debit counts.
            _ = try ledger.changeLimits(
                ofUser: payer, LimitsChange(dailyDebitLimit: .some(Money(minorUnits: 250)), timeZone: "Europe/Paris"),
                requestID: "t")
            guard case .applied = try transfer(ledger, payer, payee, 150) else {
                Issue.record("150 more is within the day's 250")
                return
            }
            #expect(try transfer(ledger, payer, payee, 1) == .refused(.limitExceeded(remaining: .zero)))
            let alerts = try ledger.alerts(ofUser: payer, beforeID: Int64.max, limit: 10)
            #expect(alerts.map(\.code) == [AlertRules.dailyDebitLimitCode])
            #expect(alerts.first?.movementID == nil && alerts.first?.amount.minorUnits == 1)
            // A batch item on a limited account is judged the same way.
            let batch = try ledger.applyBatch(
                [
                    BatchItem(
                        .transfer(from: payer, to: payee), amount: Money(minorUnits: 1), memo: nil, idempotency: nil)
                ],
                atomic: false, tokenHash: service, rules: AlertRules(), idempotency: nil, requestID: "t")
            guard case .applied(.recorded(let record)) = batch.result else {
                Issue.record("batch: \(batch.result)")
                return
            }
            #expect(record.items.first?.movement == nil)
            _ = try ledger.changeLimits(ofUser: payer, LimitsChange(dailyDebitLimit: .some(nil)), requestID: "t")
            guard case .applied = try transfer(ledger, payer, payee, 1) else {
                Issue.record("no limit: the debit moves")
                return
            }
            #expect(try verified(database).isClean)
        }
    }
}

extension Receipt.Result: Equatable where Value: Equatable {
    package static func == (lhs: Self, rhs: Self) -> Bool {
        switch (lhs, rhs) {
        case (.applied(let a), .applied(let b)): a == b
        case (.refused(let a), .refused(let b)): a == b
        case (.keyReused, .keyReused): true
        default: false
        }
    }
}
