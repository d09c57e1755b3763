import Credentials
import Glibc
import Ledger
import LedgerStore
import Postgres

/// A ledger in memory for route tests: records what it was asked, answers what the test sets.
final class StubLedger: LedgerOperations {
    var users: [Int64: User] = [:]
    /// The key of each `createUser` call.
    var userCalls: [IdempotencyContext?] = []
    var passwordHashes: [String: String] = [:]
    var tokens: [[UInt8]: Caller] = [:]
    var movementsByID: [Int64: Movement] = [:]
    var moveCalls: [(kind: MovementKind, debit: Int64, credit: Int64, amount: Money, key: IdempotencyContext?)] = []
    var nextMoveResult: Receipt<Movement>.Result?
    var nextMoveIsReplay = false
    var failure: (any Error)?
    var databaseUp = true
    var serializationRetries = 0
    var eventTimes: [Int64?] = []
    /// How often `caller(tokenHash:)` was asked.
    var callerLookups = 0
    var statsSince: [Int64] = []
    /// Failed log-ins per lowered username, as counted; a username in `lockedFor` is locked for that many seconds.
    var failedLogins: [String: Int] = [:]
    var lockedFor: [String: Int] = [:]
    var clearedLogins: [String] = []

    /// A live token for `caller`, as a request's Authorization header.
    func authorization(for caller: Caller) -> String {
        let token = BearerToken.generate()
        tokens[token.hash] = caller
        return "Bearer \(token.text)"
    }

    func createUser(
        name: String, initialBalance: Money, credentials: NewCredentials?, limits: AccountLimits,
        idempotency: IdempotencyContext?, requestID: String
    ) throws -> Receipt<User> {
        if let failure { throw failure }
        userCalls.append(idempotency)
        if let username = credentials?.username,
            users.values.contains(where: { $0.username?.lowercased() == username.lowercased() })
        {
            return Receipt(result: .refused(.usernameTaken), isReplay: false, requestID: requestID)
        }
        let user = User(
            id: Int64(users.count + 1), name: name, username: credentials?.username, balance: initialBalance,
            createdAt: 0, limits: limits)
        users[user.id] = user
        if let credentials { passwordHashes[credentials.username.lowercased()] = credentials.passwordHash }
        return Receipt(result: .applied(user), isReplay: false, requestID: requestID)
    }

    func move(
        _ kind: MovementKind, tokenHash: [UInt8], actingUserID: Int64, debitUserID: Int64, creditUserID: Int64,
        amount: Money, memo: String?, idempotency: IdempotencyContext?, requestID: String
    ) throws -> Receipt<Movement> {
        if let failure { throw failure }
        guard let caller = tokens[tokenHash] else {
            return Receipt(result: .refused(.unauthorized), isReplay: false, requestID: requestID)
        }
        guard caller.mayActOn(actingUserID) else {
            return Receipt(result: .refused(.forbidden), isReplay: false, requestID: requestID)
        }
        moveCalls.append((kind, debitUserID, creditUserID, amount, idempotency))
        let movement = Movement(
            id: 1, kind: kind, debitUserID: debitUserID, creditUserID: creditUserID, amount: amount,
            debitBalanceAfter: .zero, creditBalanceAfter: amount, memo: memo, createdAt: 1_700_000_000_123_000)
        return Receipt(result: nextMoveResult ?? .applied(movement), isReplay: nextMoveIsReplay, requestID: requestID)
    }

    /// Records the event as a move (the outside world on one side) and judges it against an empty history.
    func recordCashEvent(
        _ kind: CashEvent.Kind, tokenHash: [UInt8], actingUserID: Int64?, userID: Int64, amount: Money,
        memo: String?, t: Int64?, rules: AlertRules, idempotency: IdempotencyContext?, requestID: String
    ) throws -> Receipt<CashMovement> {
        eventTimes.append(t)
        if actingUserID == nil, tokens[tokenHash] != .service {
            return Receipt(
                result: .refused(tokens[tokenHash] == nil ? .unauthorized : .forbidden), isReplay: false,
                requestID: requestID)
        }
        let receipt = try move(
            kind.movementKind, tokenHash: tokenHash, actingUserID: actingUserID ?? userID,
            debitUserID: kind == .deposit ? 0 : userID, creditUserID: kind == .deposit ? userID : 0, amount: amount,
            memo: memo, idempotency: idempotency, requestID: requestID)
        switch receipt.result {
        case .applied(let movement):
            let codes = rules.codes(for: CashEvent(kind: kind, amount: amount, t: t ?? 0), after: CashHistory())
            return Receipt(
                result: .applied(CashMovement(movement: movement, alertCodes: codes)), isReplay: receipt.isReplay,
                requestID: requestID)
        case .refused(let refusal):
            return Receipt(result: .refused(refusal), isReplay: receipt.isReplay, requestID: requestID)
        case .keyReused:
            return Receipt(result: .keyReused, isReplay: false, requestID: requestID)
        }
    }

    var batches: [Int64: BatchRecord] = [:]
    var batchCalls: [(atomic: Bool, items: Int, key: IdempotencyContext?)] = []

    /// Runs each item as its single endpoint would, in order; atomic stops at the first refusal (the stub keeps
    /// no balances, so nothing needs undoing).
    func applyBatch(
        _ items: [BatchItem], atomic: Bool, tokenHash: [UInt8], rules: AlertRules, idempotency: IdempotencyContext?,
        requestID: String
    ) throws -> Receipt<BatchOutcome> {
        if let failure { throw failure }
        batchCalls.append((atomic, items.count, idempotency))
        guard let caller = tokens[tokenHash] else {
            return Receipt(result: .refused(.unauthorized), isReplay: false, requestID: requestID)
        }
        var outcomes: [BatchItemOutcome] = []
        for (index, item) in items.enumerated() {
            let outcome: BatchItemOutcome
            switch item.operation {
            case .transfer(let from, let to):
                switch try move(
                    .transfer, tokenHash: tokenHash, actingUserID: from, debitUserID: from, creditUserID: to,
                    amount: item.amount, memo: item.memo, idempotency: item.idempotency, requestID: requestID
                ).result {
                case .applied(let movement): outcome = .applied(movement, alertCodes: nil)
                case .refused(let refusal): outcome = .refused(refusal)
                case .keyReused: outcome = .keyReused
                }
            case .cash(let kind, let userID, let t):
                switch try recordCashEvent(
                    kind, tokenHash: tokenHash, actingUserID: userID, userID: userID, amount: item.amount,
                    memo: item.memo, t: t, rules: rules, idempotency: item.idempotency, requestID: requestID
                ).result {
                case .applied(let cash): outcome = .applied(cash.movement, alertCodes: cash.alertCodes)
                case .refused(let refusal): outcome = .refused(refusal)
                case .keyReused: outcome = .keyReused
                }
            }
            if atomic, outcome.movement == nil {
                // As the ledger keeps an atomic batch's refusal under its key.
                if let key = idempotency?.key, case .refused(let refusal) = outcome {
                    self.outcomes[key] = .refused(refusal)
                }
                return Receipt(result: .applied(.refused(index: index, outcome)), isReplay: false, requestID: requestID)
            }
            outcomes.append(outcome)
        }
        let record = BatchRecord(
            id: Int64(batches.count + 1), atomic: atomic, sender: caller, createdAt: 1_700_000_000_123_000,
            items: outcomes)
        batches[record.id] = record
        if let key = idempotency?.key { self.outcomes[key] = .batch(id: record.id) }
        return Receipt(result: .applied(.recorded(record)), isReplay: false, requestID: requestID)
    }

    func batch(id: Int64) throws -> BatchRecord? { batches[id] }

    /// What the next `changeLimits` answers instead of changing the stub's user.
    var nextLimitsResult: Receipt<User>.Result?

    func changeLimits(ofUser userID: Int64, _ change: LimitsChange, requestID: String) throws -> Receipt<User> {
        if let failure { throw failure }
        if let nextLimitsResult { return Receipt(result: nextLimitsResult, isReplay: false, requestID: requestID) }
        guard let user = users[userID] else {
            return Receipt(result: .refused(.userNotFound(id: userID)), isReplay: false, requestID: requestID)
        }
        var limits = user.limits
        if let credit = change.creditLimit { limits.creditLimit = credit }
        if let daily = change.dailyDebitLimit { limits.dailyDebitLimit = daily }
        if let zone = change.timeZone { limits.timeZone = zone }
        let changed = User(
            id: user.id, name: user.name, username: user.username, balance: user.balance, createdAt: user.createdAt,
            held: user.held, limits: limits)
        users[userID] = changed
        return Receipt(result: .applied(changed), isReplay: false, requestID: requestID)
    }

    var holdsByID: [Int64: Hold] = [:]
    /// What the next hold call (place, void) answers instead of the stub's own model of holds.
    var nextHoldResult: Receipt<Hold>.Result?
    var nextCaptureResult: Receipt<HoldCapture>.Result?
    var holdCalls:
        [(payer: Int64, payee: Int64, amount: Money, memo: String?, expiresIn: Int, key: IdempotencyContext?)] =
            []
    var captureCalls: [(id: Int64, amount: Money?, key: IdempotencyContext?)] = []
    var voidCalls: [(id: Int64, key: IdempotencyContext?)] = []

    /// Places a pending hold for the service role or the payer, created at 1_700_000_000 s for an hour or
    /// `expiresInSeconds` (the stub keeps no balances: nothing is ever short).
    func placeHold(
        tokenHash: [UInt8], payerUserID: Int64, payeeUserID: Int64, amount: Money, memo: String?,
        expiresInSeconds: Int, idempotency: IdempotencyContext?, requestID: String
    ) throws -> Receipt<Hold> {
        if let failure { throw failure }
        holdCalls.append((payerUserID, payeeUserID, amount, memo, expiresInSeconds, idempotency))
        if let nextHoldResult { return Receipt(result: nextHoldResult, isReplay: false, requestID: requestID) }
        guard let caller = tokens[tokenHash] else {
            return Receipt(result: .refused(.unauthorized), isReplay: false, requestID: requestID)
        }
        guard caller.mayActOn(payerUserID) else {
            return Receipt(result: .refused(.forbidden), isReplay: false, requestID: requestID)
        }
        let createdAt: Int64 = 1_700_000_000_000_000
        let hold = Hold(
            id: Int64(holdsByID.count + 1), payerUserID: payerUserID, payeeUserID: payeeUserID, amount: amount,
            memo: memo, status: .pending, createdAt: createdAt,
            expiresAt: createdAt + Int64(expiresInSeconds) * 1_000_000)
        holdsByID[hold.id] = hold
        if let key = idempotency?.key { outcomes[key] = .hold(id: hold.id) }
        return Receipt(result: .applied(hold), isReplay: false, requestID: requestID)
    }

    /// The pending hold `id` if the token's holder may settle it (`payeeOnly`: only the payee or the service
    /// role), else the refusal the ledger gives.
    private func settleable(_ id: Int64, tokenHash: [UInt8], payeeOnly: Bool) -> Receipt<Hold>.Result {
        guard let caller = tokens[tokenHash] else { return .refused(.unauthorized) }
        guard let hold = holdsByID[id], caller.mayActOn(hold.payerUserID) || caller.mayActOn(hold.payeeUserID) else {
            return .refused(.holdNotFound(id: id))
        }
        if payeeOnly, !caller.mayActOn(hold.payeeUserID) { return .refused(.forbidden) }
        switch hold.status {
        case .pending: return .applied(hold)
        case .expired: return .refused(.holdExpired)
        case .captured, .voided: return .refused(.holdNotPending(status: hold.status))
        }
    }

    func captureHold(
        id: Int64, amount: Money?, tokenHash: [UInt8], idempotency: IdempotencyContext?, requestID: String
    ) throws -> Receipt<HoldCapture> {
        if let failure { throw failure }
        captureCalls.append((id, amount, idempotency))
        if let nextCaptureResult { return Receipt(result: nextCaptureResult, isReplay: false, requestID: requestID) }
        let hold: Hold
        switch settleable(id, tokenHash: tokenHash, payeeOnly: true) {
        case .applied(let pending): hold = pending
        case .refused(let refusal): return Receipt(result: .refused(refusal), isReplay: false, requestID: requestID)
        case .keyReused: return Receipt(result: .keyReused, isReplay: false, requestID: requestID)
        }
        let captured = amount ?? hold.amount
        guard captured <= hold.amount else {
            return Receipt(
                result: .refused(.captureExceedsHold(held: hold.amount)), isReplay: false, requestID: requestID)
        }
        let transfer = Movement(
            id: Int64(movementsByID.count + 100), kind: .transfer, debitUserID: hold.payerUserID,
            creditUserID: hold.payeeUserID, amount: captured, debitBalanceAfter: .zero, creditBalanceAfter: captured,
            memo: hold.memo, createdAt: hold.createdAt + 1_000_000, holdID: hold.id)
        movementsByID[transfer.id] = transfer
        let settled = Hold(
            id: hold.id, payerUserID: hold.payerUserID, payeeUserID: hold.payeeUserID, amount: hold.amount,
            memo: hold.memo, status: .captured, createdAt: hold.createdAt, expiresAt: hold.expiresAt,
            capturedAmount: captured, captureMovementID: transfer.id, settledAt: transfer.createdAt)
        holdsByID[id] = settled
        if let key = idempotency?.key { outcomes[key] = .applied(transfer) }
        return Receipt(
            result: .applied(HoldCapture(hold: settled, transfer: transfer)), isReplay: false, requestID: requestID)
    }

    func voidHold(id: Int64, tokenHash: [UInt8], idempotency: IdempotencyContext?, requestID: String) throws
        -> Receipt<Hold>
    {
        if let failure { throw failure }
        voidCalls.append((id, idempotency))
        if let nextHoldResult { return Receipt(result: nextHoldResult, isReplay: false, requestID: requestID) }
        switch settleable(id, tokenHash: tokenHash, payeeOnly: false) {
        case .refused(let refusal):
            return Receipt(result: .refused(refusal), isReplay: false, requestID: requestID)
        case .keyReused:
            return Receipt(result: .keyReused, isReplay: false, requestID: requestID)
        case .applied(let hold):
            let voided = Hold(
                id: hold.id, payerUserID: hold.payerUserID, payeeUserID: hold.payeeUserID, amount: hold.amount,
                memo: hold.memo, status: .voided, createdAt: hold.createdAt, expiresAt: hold.expiresAt,
                settledAt: hold.createdAt + 2_000_000)
            holdsByID[id] = voided
            return Receipt(result: .applied(voided), isReplay: false, requestID: requestID)
        }
    }

    func hold(id: Int64) throws -> Hold? {
        if let failure { throw failure }
        return holdsByID[id]
    }

    var holdListCalls: [(userID: Int64, status: Hold.Status?, beforeID: Int64, limit: Int)] = []

    func holds(ofUser userID: Int64, status: Hold.Status?, beforeID: Int64, limit: Int) throws -> [Hold] {
        holdListCalls.append((userID, status, beforeID, limit))
        return holdsByID.values.filter { ($0.payerUserID == userID || $0.payeeUserID == userID) && $0.id < beforeID }
            .filter { status == nil || $0.status == status }.sorted { $0.id > $1.id }.prefix(limit).map { $0 }
    }

    var nextReversalResult: Receipt<Movement>.Result?
    var reversalCalls: [(transferID: Int64, amount: Money?, memo: String?, key: IdempotencyContext?)] = []
    /// Reversals made, by the id of the transfer they reverse, oldest first.
    var reversalsOf: [Int64: [Movement]] = [:]

    /// Reverses a transfer in `movementsByID` for the service role or its payee (the payer: forbidden), by what is
    /// left when no amount is given; refuses more than is left.
    func reverseTransfer(
        _ transferID: Int64, amount: Money?, memo: String?, tokenHash: [UInt8], idempotency: IdempotencyContext?,
        requestID: String
    ) throws -> Receipt<Movement> {
        if let failure { throw failure }
        reversalCalls.append((transferID, amount, memo, idempotency))
        func refused(_ refusal: Refusal) -> Receipt<Movement> {
            Receipt(result: .refused(refusal), isReplay: false, requestID: requestID)
        }
        if let nextReversalResult { return Receipt(result: nextReversalResult, isReplay: false, requestID: requestID) }
        guard let caller = tokens[tokenHash] else { return refused(.unauthorized) }
        guard let original = movementsByID[transferID],
            caller.mayActOn(original.debitUserID) || caller.mayActOn(original.creditUserID)
        else { return refused(.transferNotFound(id: transferID)) }
        guard original.kind == .transfer else { return refused(.notReversible(kind: original.kind)) }
        guard caller.mayActOn(original.creditUserID) else { return refused(.forbidden) }
        let left = original.amount.minorUnits - (reversalsOf[transferID] ?? []).reduce(0) { $0 + $1.amount.minorUnits }
        let reversed = amount ?? Money(minorUnits: left)
        guard left > 0, reversed.minorUnits <= left else {
            return refused(.reversalExceedsTransfer(left: Money(minorUnits: left)))
        }
        let reversal = Movement(
            id: Int64(movementsByID.count + 100), kind: .reversal, debitUserID: original.creditUserID,
            creditUserID: original.debitUserID, amount: reversed, debitBalanceAfter: .zero,
            creditBalanceAfter: reversed, memo: memo, createdAt: original.createdAt + 1_000_000,
            reversalOf: transferID)
        movementsByID[reversal.id] = reversal
        reversalsOf[transferID, default: []].append(reversal)
        return Receipt(result: .applied(reversal), isReplay: false, requestID: requestID)
    }

    func reversibleTransfer(id: Int64) throws -> ReversibleTransfer? {
        guard let movement = movementsByID[id], movement.kind == .transfer || movement.kind == .reversal else {
            return nil
        }
        let reversals = reversalsOf[id] ?? []
        let left = movement.amount.minorUnits - reversals.reduce(0) { $0 + $1.amount.minorUnits }
        return ReversibleTransfer(
            movement: movement, reversals: reversals,
            unreversed: movement.kind == .reversal ? nil : Money(minorUnits: left))
    }

    func alerts(ofUser userID: Int64?, beforeID: Int64, limit: Int) throws -> [Alert] { [] }

    func caller(tokenHash: [UInt8]) throws -> Caller? {
        callerLookups += 1
        if let failure { throw failure }
        return tokens[tokenHash]
    }

    func credentials(username: String) throws -> (user: User, passwordHash: String)? {
        guard let hash = passwordHashes[username.lowercased()],
            let user = users.values.first(where: { $0.username?.lowercased() == username.lowercased() })
        else { return nil }
        return (user, hash)
    }

    func loginState(username: String) throws -> LoginState {
        let key = username.lowercased()
        return LoginState(
            credentials: try credentials(username: username), lockedForSeconds: lockedFor[key] ?? 0,
            hasFailures: failedLogins[key] != nil)
    }

    /// Locks at the threshold for the first lock's time; the doubling is the database's (integration tests).
    @discardableResult
    func recordFailedLogin(username: String, limits: LoginLimits) throws -> Int {
        let key = username.lowercased()
        failedLogins[key, default: 0] += 1
        if failedLogins[key, default: 0] % limits.failuresBeforeLock == 0 { lockedFor[key] = limits.firstLockSeconds }
        return lockedFor[key] ?? 0
    }

    func clearFailedLogins(username: String) throws {
        let key = username.lowercased()
        clearedLogins.append(key)
        failedLogins[key] = nil
        lockedFor[key] = nil
    }

    func issueToken(hash: [UInt8], for caller: Caller, lifetimeSeconds: Int?) throws -> Int64? {
        tokens[hash] = caller
        // An expiry as the database gives it: microseconds since 1970.
        return lifetimeSeconds.map { (Int64(time(nil)) + Int64($0)) * 1_000_000 }
    }

    func revokeToken(hash: [UInt8]) throws -> Bool {
        tokens.removeValue(forKey: hash) != nil
    }

    func user(id: Int64) throws -> User? {
        if let failure { throw failure }
        return users[id]
    }

    func userView(_ userID: Int64, tokenHash: [UInt8], history: HistoryPage?) throws -> UserView {
        if let failure { throw failure }
        return UserView(
            caller: tokens[tokenHash], user: users[userID],
            movements: try history.map { try movements(ofUser: userID, beforeID: $0.beforeID, limit: $0.limit) } ?? [])
    }

    func users(afterID: Int64, nameContaining: String?, limit: Int) throws -> [User] {
        let named = users.values.filter { user in
            nameContaining.map { user.name.lowercased().contains($0.lowercased()) } ?? true
        }
        return Array(named.filter { $0.id > afterID }.sorted { $0.id < $1.id }.prefix(limit))
    }

    func stats(since: Int64) throws -> LedgerStats {
        statsSince.append(since)
        let held = users.values.reduce(MoneyTotal.zero) { $0 + $1.balance }
        return LedgerStats(
            userCount: Int64(users.count), moneyHeld: held,
            movementsSince: Int64(movementsByID.count), alertsSince: 0)
    }

    func movement(id: Int64) throws -> Movement? { movementsByID[id] }

    func movements(ofUser userID: Int64, beforeID: Int64, limit: Int) throws -> [Movement] { [] }

    func movements(beforeID: Int64, limit: Int) throws -> [Movement] {
        Array(movementsByID.values.filter { $0.id < beforeID }.sorted { $0.id > $1.id }.prefix(limit))
    }

    func isDatabaseUp() -> Bool { databaseUp }

    var outcomes: [String: RequestOutcome] = [:]
    var recordedRefusals: [(refusal: Refusal, key: String)] = []

    func requestOutcome(caller: Caller, key: String) throws -> RequestOutcome? {
        if let failure { throw failure }
        return outcomes[key]
    }

    func recordRefusal(
        _ refusal: Refusal, tokenHash: [UInt8], idempotency: IdempotencyContext, requestID: String
    ) throws {
        if let failure { throw failure }
        recordedRefusals.append((refusal, idempotency.key))
    }
}
