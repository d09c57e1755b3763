import Glibc
import Ledger
import Postgres
import SystemSupport

/// The ledger in PostgreSQL, over one connection that is re-established when it breaks.
/// Every money movement is a single call to a SQL function in a SERIALIZABLE transaction
/// (the session's default), retried by `retryPolicy` when it fails to serialize.
package final class PostgresLedger: LedgerOperations {
    private let conninfo: String
    private let retryPolicy: RetryPolicy
    private var connection: Connection?
    /// When connecting last failed (MonotonicClock nanoseconds): while the database is down, requests fail fast
    /// instead of each waiting.
    private var lastConnectFailure: Int64?
    private let reconnectPause: Int64 = 50_000_000  // nanoseconds

    /// Counters for the pool's status page, since the worker started.
    package private(set) var serializationRetries = 0
    /// Connections made after the first (the database restarted, or a connection broke).
    package private(set) var reconnects = 0
    package private(set) var retriesExhausted = 0
    /// Movements this worker committed (a replayed idempotency key is not a new movement).
    package private(set) var movementsApplied = 0
    private var hasConnected = false
    /// How long a request whose commit is in doubt waits for the database to say whether it committed (seconds).
    let inDoubtPatience: Double
    private var contention = Contention()
    private var lastTokenParameter: (hash: [UInt8], text: String)?

    package init(conninfo: String, retryPolicy: RetryPolicy = RetryPolicy(), inDoubtPatience: Double = 3) {
        self.conninfo = conninfo
        self.retryPolicy = retryPolicy
        self.inDoubtPatience = inDoubtPatience
    }

    package func createUser(
        name: String, initialBalance: Money, credentials: NewCredentials?, limits: AccountLimits,
        idempotency: IdempotencyContext?, requestID: String
    ) throws -> Receipt<User> {
        let row = try settlingDoubt(keyed: idempotency != nil, { $0.int64("id").map(InDoubtRecord.user) }) {
            try runRetrying(
                .createUser,
                [
                    name, String(initialBalance.minorUnits), credentials?.username, credentials?.passwordHash,
                    idempotency?.key, idempotency?.fingerprint, requestID, String(limits.creditLimit.minorUnits),
                    limits.dailyDebitLimit.map { String($0.minorUnits) }, limits.timeZone,
                ])
        }
        return try receipt(from: row, of: "tally_create_user", requestID: requestID) { try $0.user() }
    }

    package func move(
        _ kind: MovementKind, tokenHash: [UInt8], actingUserID: Int64, debitUserID: Int64, creditUserID: Int64,
        amount: Money, memo: String?, idempotency: IdempotencyContext?, requestID: String
    ) throws -> Receipt<Movement> {
        let parameters = [
            tokenParameter(tokenHash), String(actingUserID), kind.rawValue, String(debitUserID),
            String(creditUserID), String(amount.minorUnits), memo, idempotency?.key, idempotency?.fingerprint,
            requestID,
        ]
        let row = try runMoving(
            .move, parameters, accounts: [debitUserID, creditUserID], keyed: idempotency != nil,
            made: Self.movementRecord)
        let isReplay = row?.bool("replayed") == true
        return counted(
            try receipt(from: row, of: "tally_move", requestID: requestID) { row in
                try showingBatch(of: row.movement(), ifReplayed: isReplay)
            })
    }

    /// Runs `statement`, a function that moves money on `accounts` in one statement: retried as a whole on
    /// serialization failures, queueing for the accounts' locks first once they are contended (`lockedSteps`),
    /// waiting out rows held past lock_timeout, and, if its commit went unconfirmed, settled by whether what
    /// `made` names is there (or, unanswered, run again under its key when `keyed`). Returns the function's row.
    func runMoving(
        _ statement: Statement, _ parameters: [String?], accounts: [Int64], keyed: Bool,
        made: (Row) -> InDoubtRecord?
    ) throws -> Row? {
        try settlingDoubt(keyed: keyed, made) {
            try waitingOutHeldRows(of: accounts) {
                try retrying { connection throws(PostgresError) -> Row? in
                    // An account that has lately failed to serialize is contended: queue for its lock first.
                    guard contention.isContended(accounts) else {
                        do throws(PostgresError) {
                            return try connection.execute(prepared: statement.rawValue, parameters).rows.first
                        } catch {
                            if error.isSerializationFailure { contention.saw(accounts) }
                            throw error
                        }
                    }
                    let outcomes = try connection.pipelineOutcomes(
                        Self.lockedSteps(accounts: accounts, [.prepared(statement.rawValue, parameters)]))
                    return try outcomes[Self.lockedStepsFirstOutcome].get().first
                }
            }
        }
    }

    /// `steps` as a transaction of their own between per-account locks: a pipeline (one round trip) of
    /// lock the accounts in id order; sync; the steps; sync; unlock. The transaction's snapshot is taken after
    /// the locks are held, so movements of the same account queue for the lock instead of failing to serialize
    /// and retrying (SERIALIZABLE's answer to contention, which costs a whole attempt each time). The locks
    /// only make conflicts rare: correctness stays SERIALIZABLE's, so a lock that fails (lock_timeout) does not
    /// stop the movement. The outside world (account 0) is never locked.
    ///
    /// The wait for the locks is a READ COMMITTED transaction: a SERIALIZABLE one (the session's default)
    /// stays registered with PostgreSQL's serializable-snapshot bookkeeping while it queues, and every
    /// transaction that commits meanwhile must be kept for it. Under contention that is hundreds at once;
    /// PostgreSQL then summarizes them into pg_serial, where 15.18 was seen to fail whole bursts of movements
    /// ("could not access status of transaction"). Its COMMIT comes after a sync point, so that a lock that
    /// failed (and aborted the block) is rolled back by it and the steps still run. The steps' outcomes start
    /// at `lockedStepsFirstOutcome`; the lock's is at 1.
    static func lockedSteps(accounts: [Int64], _ steps: [PipelineStep]) -> [PipelineStep] {
        let ids = Set(accounts.filter { $0 > 0 }).sorted().map { String($0) as String? }
        let lock: PipelineStep =
            switch ids.count {
            case 0: .sql("SELECT 1")
            case 1: .prepared(Statement.lockAccount.rawValue, ids)
            default: .prepared(Statement.lockAccounts.rawValue, ids)
            }
        return [.sql("BEGIN ISOLATION LEVEL READ COMMITTED"), lock, .sync, .commit, .sync] + steps
            + [.sync, .prepared(Statement.unlockAccounts.rawValue, [])]
    }

    /// Where the steps' outcomes start in `lockedSteps`' pipeline: after BEGIN, the lock and COMMIT.
    static let lockedStepsFirstOutcome = 3

    static func movementRecord(_ row: Row) -> InDoubtRecord? {
        row.int64("id").map(InDoubtRecord.movement)
    }

    /// Counts movements a batch applied.
    func countApplied(_ count: Int) { movementsApplied += count }

    func counted<Value>(_ receipt: Receipt<Value>) -> Receipt<Value> {
        if case .applied = receipt.result, !receipt.isReplay { movementsApplied += 1 }
        return receipt
    }

    package func recordCashEvent(
        _ kind: CashEvent.Kind, tokenHash: [UInt8], actingUserID: Int64?, userID: Int64, amount: Money,
        memo: String?, t: Int64?, rules: AlertRules, idempotency: IdempotencyContext?, requestID: String
    ) throws -> Receipt<CashMovement> {
        let row = try settlingDoubt(keyed: idempotency != nil, Self.movementRecord) {
            try waitingOutHeldRows(of: [userID]) {
                try inTransaction { connection throws(PostgresError) -> Row? in
                    // Round trip 1: start the transaction and read what the rules need.
                    let context = try connection.pipeline([
                        .sql("BEGIN ISOLATION LEVEL SERIALIZABLE"),
                        Self.cashContextStep(userID: userID, t: t, rules: rules),
                    ])[1].first
                    let judged = Self.judged(kind, amount: amount, t: t, context: context, rules: rules)
                    // Round trip 2: apply the movement with its alerts, and commit.
                    return try connection.pipeline([
                        cashEventStep(
                            judged, tokenHash: tokenHash, actingUserID: actingUserID, userID: userID, memo: memo,
                            idempotency: idempotency, requestID: requestID),
                        .commit,
                    ])[0].first
                }
            }
        }
        let isReplay = row?.bool("replayed") == true
        return counted(
            try receipt(from: row, of: "tally_cash_event", requestID: requestID) { row in
                CashMovement(
                    movement: try showingBatch(of: row.movement(), ifReplayed: isReplay),
                    alertCodes: (row.array("alert_codes") ?? []).compactMap { Int($0) })
            })
    }

    /// A movement a key replayed, with the batch it came in: the movement functions' replay leaves that out (an
    /// item of a batch replayed by a single request under its key). A new movement is never a batch's here.
    private func showingBatch(of movement: Movement, ifReplayed isReplay: Bool) throws -> Movement {
        guard isReplay else { return movement }
        var shown = movement
        shown.batchID = try runRetrying(.movementBatches, ["{\(movement.id)}"])?.int64("batch_id")
        return shown
    }

    /// Reads what the alert rules need of `userID`'s history for an event at `t` (nil: now).
    static func cashContextStep(userID: Int64, t: Int64?, rules: AlertRules) -> PipelineStep {
        let thresholds = rules.thresholds
        return .prepared(
            Statement.cashContext.rawValue,
            [
                String(userID), t.map(String.init), String(thresholds.windowSeconds),
                String(max(thresholds.consecutiveWithdrawals - 1, 0)),
                String(max(thresholds.increasingDeposits - 1, 0)),
            ])
    }

    /// A deposit or withdrawal at its second, with the alert codes `rules` raise for it after the history
    /// `context` (the row of `cashContextStep`) describes.
    static func judged(
        _ kind: CashEvent.Kind, amount: Money, t: Int64?, context: Row?, rules: AlertRules
    ) -> (event: CashEvent, codes: [Int]) {
        let eventT = context?.int64("t") ?? t ?? 0
        let history = CashHistory(
            recentKinds: (context?.array("recent_kinds") ?? []).map { $0 == "deposit" ? .deposit : .withdrawal },
            recentDepositAmounts: (context?.array("recent_deposits") ?? []).compactMap { Int64($0) }.map(Money.init),
            depositsInWindow: context?["deposits_in_window"].flatMap { MoneyTotal(minorUnitsText: $0) } ?? .zero)
        let event = CashEvent(kind: kind, amount: amount, t: eventT)
        return (event, rules.codes(for: event, after: history))
    }

    /// Applies a judged deposit or withdrawal with its alerts (tally_cash_event), in the open transaction.
    func cashEventStep(
        _ judged: (event: CashEvent, codes: [Int]), tokenHash: [UInt8], actingUserID: Int64?, userID: Int64,
        memo: String?, idempotency: IdempotencyContext?, requestID: String
    ) -> PipelineStep {
        .prepared(
            Statement.cashEvent.rawValue,
            [
                tokenParameter(tokenHash), actingUserID.map(String.init), judged.event.kind.movementKind.rawValue,
                String(userID), String(judged.event.amount.minorUnits), memo, idempotency?.key,
                idempotency?.fingerprint, requestID, String(judged.event.t),
                "{" + judged.codes.map(String.init).joined(separator: ",") + "}",
            ])
    }

    package func alerts(ofUser userID: Int64?, beforeID: Int64, limit: Int) throws -> [Alert] {
        let rows =
            if let userID {
                try runRetryingAll(.alertsOfUser, [String(userID), String(beforeID), String(limit)])
            } else {
                try runRetryingAll(.alertsBefore, [String(beforeID), String(limit)])
            }
        return try rows.map { try $0.alert() }
    }

    package func caller(tokenHash: [UInt8]) throws -> Caller? {
        try runRetrying(.caller, [tokenParameter(tokenHash)]).flatMap(Self.caller)
    }

    package func liveToken(hash: [UInt8]) throws -> LiveToken? {
        guard let row = try runRetrying(.liveToken, [tokenParameter(hash)]), let caller = Self.caller(from: row) else {
            return nil
        }
        return LiveToken(caller: caller, expiresAtMicroseconds: row.int64("expires_at_us"))
    }

    static func caller(from row: Row) -> Caller? {
        if row["role"] == "service" { return .service }
        return row.int64("user_id").map { Caller.user(id: $0) }
    }

    package func credentials(username: String) throws -> (user: User, passwordHash: String)? {
        guard let row = try runRetrying(.credentials, [username]), let hash = row["password_hash"] else { return nil }
        return (try row.user(), hash)
    }

    package func loginState(username: String) throws -> LoginState {
        guard let row = try runRetrying(.loginState, [username]) else {
            throw UnexpectedRow(description: "the log-in state returned no row")
        }
        let credentials = try row["password_hash"].map { (user: try row.user(), passwordHash: $0) }
        return LoginState(
            credentials: credentials, lockedForSeconds: row.int64("locked_for").map { Int($0) } ?? 0,
            hasFailures: row.bool("has_failures") ?? false)
    }

    /// READ COMMITTED (see migration 13): concurrent failures of one username queue on its row instead of
    /// failing to serialize.
    @discardableResult
    package func recordFailedLogin(username: String, limits: LoginLimits) throws -> Int {
        let parameters = [
            username, String(limits.failuresBeforeLock), String(limits.windowSeconds), String(limits.firstLockSeconds),
            String(limits.longestLockSeconds), String(limits.forgetAfterSeconds),
        ]
        let row = try inTransaction { connection throws(PostgresError) in
            try connection.pipeline([
                .sql("BEGIN ISOLATION LEVEL READ COMMITTED"),
                .prepared(Statement.loginFailed.rawValue, parameters),
                .commit,
            ])[1].first
        }
        return row?.int64("locked_for").map { Int($0) } ?? 0
    }

    package func clearFailedLogins(username: String) throws {
        try inTransaction { connection throws(PostgresError) in
            _ = try connection.pipeline([
                .sql("BEGIN ISOLATION LEVEL READ COMMITTED"),
                .prepared(Statement.clearLoginFailures.rawValue, [username]),
                .commit,
            ])
        }
    }

    package func issueToken(hash: [UInt8], for caller: Caller, lifetimeSeconds: Int?) throws -> Int64? {
        let userID: String? = if case .user(let id) = caller { String(id) } else { nil }
        let row = try runRetrying(
            .issueToken,
            [Self.bytea(hash), userID, caller.isService ? "service" : "user", lifetimeSeconds.map(String.init)])
        return row?.int64("expires_at_us")
    }

    package func revokeToken(hash: [UInt8]) throws -> Bool {
        try runRetrying(.revokeToken, [Self.bytea(hash)]) != nil
    }

    /// A token hash as a statement parameter. A client sends the same token with request after request, so
    /// the last one's text is kept.
    func tokenParameter(_ hash: [UInt8]) -> String {
        if let last = lastTokenParameter, last.hash == hash { return last.text }
        let text = Self.bytea(hash)
        lastTokenParameter = (hash, text)
        return text
    }

    /// bytea in PostgreSQL's text form: "\x" and hex digits.
    private static func bytea(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var text: [UInt8] = Array("\\x".utf8)
        text.reserveCapacity(2 + 2 * bytes.count)
        for byte in bytes {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: text, as: UTF8.self)
    }

    package func user(id: Int64) throws -> User? {
        try runRetrying(.userByID, [String(id)])?.user()
    }

    /// One pipeline, no sync point inside: one implicit transaction, one snapshot, one round trip (instead of
    /// one for the token, one for the user and one for the page).
    package func userView(_ userID: Int64, tokenHash: [UInt8], history: HistoryPage?) throws -> UserView {
        var steps: [PipelineStep] = [
            .prepared(Statement.caller.rawValue, [tokenParameter(tokenHash)]),
            .prepared(Statement.userByID.rawValue, [String(userID)]),
        ]
        if let history {
            steps.append(
                .prepared(
                    Statement.entriesOfUser.rawValue,
                    [String(userID), String(history.beforeID), String(history.limit)]))
        }
        let results = try retrying { connection throws(PostgresError) in try connection.pipeline(steps) }
        return UserView(
            caller: results[0].first.flatMap(Self.caller), user: try results[1].first?.user(),
            movements: history == nil ? [] : try results[2].rows.map { try $0.movement() })
    }

    package func users(afterID: Int64, nameContaining: String?, limit: Int) throws -> [User] {
        let rows =
            if let nameContaining {
                try readSnapshot(.usersNamedAfter, [String(afterID), String(limit), nameContaining])
            } else {
                try runRetryingAll(.usersAfter, [String(afterID), String(limit)])
            }
        return try rows.map { try $0.user() }
    }

    package func stats(since: Int64) throws -> LedgerStats {
        guard let row = try readSnapshot(.stats, [String(since)]).first, let users = row.int64("users"),
            let money = row["money"].flatMap({ MoneyTotal(minorUnitsText: $0) }),
            let movements = row.int64("movements"), let alerts = row.int64("alerts")
        else { throw UnexpectedRow(description: "stats row lacks a column") }
        return LedgerStats(
            userCount: users, moneyHeld: money, movementsSince: movements, alertsSince: alerts)
    }

    package func movement(id: Int64) throws -> Movement? {
        try runRetrying(.movementByID, [String(id)])?.movement()
    }

    package func movements(ofUser userID: Int64, beforeID: Int64, limit: Int) throws -> [Movement] {
        try runRetryingAll(.entriesOfUser, [String(userID), String(beforeID), String(limit)]).map {
            try $0.movement()
        }
    }

    package func movements(beforeID: Int64, limit: Int) throws -> [Movement] {
        try runRetryingAll(.movementsBefore, [String(beforeID), String(limit)]).map { try $0.movement() }
    }

    package func isDatabaseUp() -> Bool {
        (try? runRetrying(.ping, [])) != nil
    }

    package func requestOutcome(caller: Caller, key: String) throws -> RequestOutcome? {
        let owner: Int64 = if case .user(let id) = caller { id } else { 0 }
        guard let row = try runRetrying(.requestOutcome, [String(owner), key]) else { return nil }
        if row["outcome"] == "batch", let batchID = row.int64("result_id") { return .batch(id: batchID) }
        if row["outcome"] == "key_reused" { return .itemKeyReused }
        guard row["outcome"] == "applied" else { return .refused(try row.refusal()) }
        if row["id"] != nil { return .applied(try row.movement()) }
        if let holdID = row.int64("placed_hold_id") { return .hold(id: holdID) }
        guard let userID = row.int64("result_id") else {
            throw UnexpectedRow(description: "applied key lacks a result")
        }
        return .createdUser(id: userID)
    }

    package func recordRefusal(
        _ refusal: Refusal, tokenHash: [UInt8], idempotency: IdempotencyContext, requestID: String
    ) throws {
        let (outcome, detail) = refusal.storedColumns
        _ = try runRetrying(
            .recordRefusal,
            [
                tokenParameter(tokenHash), idempotency.key, idempotency.fingerprint, outcome, detail.map(String.init),
                requestID,
            ])
    }

    /// Deletes idempotency records older than `retentionSeconds`, at most `batch` of them, oldest first;
    /// returns how many went. Small batches keep each delete short, so traffic never waits on it. READ
    /// COMMITTED: a record past its retention is answered by nobody, so the delete needs no serializable
    /// snapshot, and it leaves no predicate locks for the keyed movements running meanwhile to conflict with.
    @discardableResult
    package func purgeIdempotencyKeys(olderThanSeconds retentionSeconds: Int, batch: Int = 1000) throws -> Int {
        try purge(.purgeIdempotencyKeys, ageSeconds: retentionSeconds, batch: batch)
    }

    /// Deletes tokens that expired or were revoked more than `graceSeconds` ago, at most `batch` of them,
    /// longest ended first; returns how many went. READ COMMITTED, as for the keys: an ended token
    /// authenticates nobody, whatever runs meanwhile.
    @discardableResult
    package func purgeEndedTokens(endedMoreThanSeconds graceSeconds: Int, batch: Int = 1000) throws -> Int {
        try purge(.purgeEndedTokens, ageSeconds: graceSeconds, batch: batch)
    }

    /// One batch of a purge statement (parameters: the age in seconds, the batch size; result: `purged`), in a
    /// READ COMMITTED transaction of its own.
    private func purge(_ statement: Statement, ageSeconds: Int, batch: Int) throws -> Int {
        let row = try inTransaction { connection throws(PostgresError) in
            try connection.pipeline([
                .sql("BEGIN ISOLATION LEVEL READ COMMITTED"),
                .prepared(statement.rawValue, [String(ageSeconds), String(batch)]),
                .commit,
            ])[1].first
        }
        return row.flatMap { $0.int64("purged") }.map { Int($0) } ?? 0
    }

    // MARK: - Running statements

    func runRetrying(_ statement: Statement, _ parameters: [String?]) throws -> Row? {
        try runRetryingAll(statement, parameters).first
    }

    /// What a money-moving SQL function's row says: applied (read by `applied`), a refusal, or a reused key.
    /// A replay carries the first request's id, which its error body repeats.
    func receipt<Value>(
        from row: Row?, of function: String, requestID: String, applied: (Row) throws -> Value
    ) throws -> Receipt<Value> {
        guard let row else { throw UnexpectedRow(description: "\(function) returned no row") }
        let isReplay = row.bool("replayed") ?? false
        let originalRequestID = row["request_id"] ?? requestID
        switch row["outcome"] {
        case "applied":
            return Receipt(result: .applied(try applied(row)), isReplay: isReplay, requestID: originalRequestID)
        case "key_reused":
            return Receipt(result: .keyReused, isReplay: false, requestID: requestID)
        default:
            return Receipt(result: .refused(try row.refusal()), isReplay: isReplay, requestID: originalRequestID)
        }
    }

    /// A read that scans many rows (a search, the totals), in a READ ONLY REPEATABLE READ transaction: one
    /// consistent snapshot without SERIALIZABLE's predicate locks, which for a scan of a whole table would make
    /// every concurrent movement that touches it a candidate for a serialization failure. One round trip.
    func readSnapshot(_ statement: Statement, _ parameters: [String?]) throws -> [Row] {
        try inTransaction { connection throws(PostgresError) in
            try connection.pipeline([
                .sql("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"),
                .prepared(statement.rawValue, parameters),
                .commit,
            ])[1].rows
        }
    }

    func runRetryingAll(_ statement: Statement, _ parameters: [String?]) throws -> [Row] {
        try retrying { connection throws(PostgresError) in
            try connection.execute(prepared: statement.rawValue, parameters).rows
        }
    }

    /// Runs `body` as one explicit transaction on the connection, retried as a whole on serialization
    /// failures. Whatever fails inside, the transaction is rolled back before the error goes on.
    func inTransaction<Value>(_ body: (Connection) throws(PostgresError) -> Value) throws -> Value {
        try retrying { connection throws(PostgresError) in
            do throws(PostgresError) {
                return try body(connection)
            } catch {
                if connection.isHealthy { try? connection.execute(script: "ROLLBACK") }
                throw error
            }
        }
    }

    /// Runs `movement` (a whole retried movement); if it gave up waiting for one of the accounts' rows (the
    /// movement functions' lock_timeout, see migration 7), waits until nobody holds those rows and runs it once
    /// more. The wait is a READ COMMITTED transaction of its own: it takes no predicate locks, so a row held for
    /// long (by an operator's session, a long transaction) stalls only the movements of that account, instead
    /// of one waiting SERIALIZABLE transaction making every movement around it fail to serialize. If the rows
    /// stay held past the session's lock_timeout, or the second run is stopped by a row again, the 55P03 goes on.
    func waitingOutHeldRows<Value>(of accounts: [Int64], _ movement: () throws -> Value) throws -> Value {
        do {
            return try movement()
        } catch let error as PostgresError where error.isLockTimeout {
            // Rows held long enough to time out are contended: this movement's next run, and later ones, queue
            // for their locks (which a batch holding the rows holds too) instead of timing out on the rows again.
            contention.sawHeld(accounts)
            try waitForRows(of: accounts)
            return try movement()
        }
    }

    /// Returns once no other transaction holds the rows of `accounts` (the outside world, 0, has none).
    private func waitForRows(of accounts: [Int64]) throws {
        let ids = accounts.filter { $0 > 0 }.map { String($0) as String? }
        guard let first = ids.first else { return }
        let wait: PipelineStep =
            ids.count <= 2
            ? .prepared(Statement.waitForAccounts.rawValue, [first, ids.last ?? first])
            : .prepared(Statement.waitForManyAccounts.rawValue, [Self.arrayLiteral(ids)])
        try inTransaction { connection throws(PostgresError) in
            _ = try connection.pipeline([.sql("BEGIN ISOLATION LEVEL READ COMMITTED"), wait, .commit])
        }
    }

    /// A one-dimensional PostgreSQL array of plain words or numbers, in its text form.
    static func arrayLiteral(_ elements: [String?]) -> String {
        "{" + elements.map { $0 ?? "NULL" }.joined(separator: ",") + "}"
    }

    /// Runs `body` on the open connection, again while it fails to serialize (40001, 40P01) as the policy
    /// allows; a connection that broke is dropped, so the next call makes a new one.
    func retrying<Value>(_ body: (Connection) throws(PostgresError) -> Value) throws -> Value {
        do {
            return try retryPolicy.run(onRetry: { serializationRetries += 1 }) { () throws(PostgresError) -> Value in
                let connection = try connected()
                do throws(PostgresError) {
                    return try body(connection)
                } catch {
                    if !connection.isHealthy { self.connection = nil }
                    throw error
                }
            }
        } catch let error as RetriesExhausted {
            retriesExhausted += 1
            throw error
        }
    }

    /// The open connection, or a new one with the session prepared; fails fast for a short while
    /// after a failed attempt so a down database costs requests no time.
    private func connected() throws(PostgresError) -> Connection {
        if let connection, connection.survivedIdle() { return connection }
        connection = nil
        let now = MonotonicClock.nanoseconds()
        if let last = lastConnectFailure, now - last < reconnectPause {
            throw PostgresError(kind: .connection, message: "database unreachable (retrying shortly)")
        }
        do throws(PostgresError) {
            let fresh = try Connection(conninfo: conninfo)
            try fresh.execute(script: Self.sessionSettings)
            for statement in Statement.allCases {
                try fresh.prepare(statement.rawValue, statement.sql)
            }
            connection = fresh
            lastConnectFailure = nil
            if hasConnected { reconnects += 1 }
            hasConnected = true
            return fresh
        } catch {
            lastConnectFailure = now
            throw PostgresError(kind: .connection, sqlState: error.sqlState, message: error.message)
        }
    }

    /// Every transaction SERIALIZABLE; no statement may hold a worker for long; a statement whose worker died
    /// (killed, crashed) is cancelled within 100 ms rather than committed for nobody (nginx has already answered
    /// that client 502). And no sequential scans: under SERIALIZABLE a sequential scan takes a predicate lock on
    /// the whole table, so on a small table (a fresh deployment, before autovacuum has analysed it) every
    /// concurrent transaction would conflict with every other. Every statement the API runs is meant to use an
    /// index anyway.
    static let sessionSettings = """
        SET enable_seqscan = off;
        SET default_transaction_isolation = 'serializable';
        SET statement_timeout = '10s';
        SET lock_timeout = '5s';
        SET client_connection_check_interval = '100ms';
        """
}
