import Ledger

/// Log-in credentials for a new user: the username and the argon2id hash of the password.
package struct NewCredentials: Sendable {
    package let username: String
    package let passwordHash: String

    package init(username: String, passwordHash: String) {
        self.username = username
        self.passwordHash = passwordHash
    }
}

/// What a log-in reads about a username, in one round trip: the user with it who can log in (nil: none), and
/// whether failed log-ins for it are on record and lock it.
package struct LoginState: Sendable {
    package let credentials: (user: User, passwordHash: String)?
    /// Seconds until log-ins for this username are taken again; 0 when it is not locked.
    package let lockedForSeconds: Int
    /// Failed log-ins for this username are on record (a successful log-in clears them).
    package let hasFailures: Bool

    package init(credentials: (user: User, passwordHash: String)?, lockedForSeconds: Int, hasFailures: Bool) {
        self.credentials = credentials
        self.lockedForSeconds = lockedForSeconds
        self.hasFailures = hasFailures
    }
}

/// A page of a user's movements: those with an id below `beforeID`, at most `limit`.
package struct HistoryPage: Sendable {
    package let beforeID: Int64
    package let limit: Int

    package init(beforeID: Int64, limit: Int) {
        self.beforeID = beforeID
        self.limit = limit
    }
}

/// What `LedgerOperations.userView` read: the token's caller (nil: not live), the user (nil: none such),
/// and the page of movements asked for (empty when none was).
package struct UserView: Sendable {
    package let caller: Caller?
    package let user: User?
    package let movements: [Movement]

    package init(caller: Caller?, user: User?, movements: [Movement]) {
        self.caller = caller
        self.user = user
        self.movements = movements
    }
}

/// Everything the API asks of the ledger. `PostgresLedger` is the implementation; the protocol lets routes
/// be tested without a database.
package protocol LedgerOperations: AnyObject {
    /// Creates a user, with credentials when given, under `limits`; refuses with `.usernameTaken` and
    /// `.unknownTimeZone`.
    func createUser(
        name: String, initialBalance: Money, credentials: NewCredentials?, limits: AccountLimits,
        idempotency: IdempotencyContext?, requestID: String
    ) throws -> Receipt<User>

    /// Changes a user's limits (the service role's call: the API checks the role). Refuses with `.userNotFound`,
    /// `.creditLimitInUse` (the balance and pending holds already use more) and `.unknownTimeZone`.
    func changeLimits(ofUser userID: Int64, _ change: LimitsChange, requestID: String) throws -> Receipt<User>

    /// Moves `amount` from `debitUserID` to `creditUserID` (`Movement.systemAccountID` is the outside world)
    /// if the token `tokenHash` is live and its holder may act on `actingUserID`'s account. The check and the
    /// movement are one transaction: refusals `.unauthorized` and `.forbidden` change nothing.
    func move(
        _ kind: MovementKind, tokenHash: [UInt8], actingUserID: Int64, debitUserID: Int64, creditUserID: Int64,
        amount: Money, memo: String?, idempotency: IdempotencyContext?, requestID: String
    ) throws -> Receipt<Movement>

    /// A deposit to or withdrawal from `userID` at second `t` (nil: now), which the alert `rules` judge
    /// against the user's history in the same SERIALIZABLE transaction that applies it and stores its alerts.
    /// `actingUserID` nil means only the service role may post it.
    func recordCashEvent(
        _ kind: CashEvent.Kind, tokenHash: [UInt8], actingUserID: Int64?, userID: Int64, amount: Money,
        memo: String?, t: Int64?, rules: AlertRules, idempotency: IdempotencyContext?, requestID: String
    ) throws -> Receipt<CashMovement>

    /// Runs the batch's items in order in one SERIALIZABLE transaction, each by its single endpoint's rules
    /// (deposits and withdrawals judged by `rules`): all or nothing when `atomic`, else item by item. A refusal
    /// of the request as a whole (`.unauthorized`) or a reused request key comes as the receipt's result; how the
    /// items ended (recorded, or atomic and refused at an index) as its applied value.
    func applyBatch(
        _ items: [BatchItem], atomic: Bool, tokenHash: [UInt8], rules: AlertRules,
        idempotency: IdempotencyContext?, requestID: String
    ) throws -> Receipt<BatchOutcome>
    /// The batch with this id, with every item; nil when there is none.
    func batch(id: Int64) throws -> BatchRecord?

    /// Reserves `amount` on the payer's available balance for the payee until `expiresInSeconds` from now (the
    /// database's clock). The token's holder must be the service role or the payer (`.forbidden`); refusals
    /// `.userNotFound`, `.insufficientFunds` (the payer's available balance).
    func placeHold(
        tokenHash: [UInt8], payerUserID: Int64, payeeUserID: Int64, amount: Money, memo: String?,
        expiresInSeconds: Int, idempotency: IdempotencyContext?, requestID: String
    ) throws -> Receipt<Hold>
    /// Moves `amount` (nil: all) of a pending hold from payer to payee as a transfer and releases the rest. The
    /// service role or the payee may (the payer: `.forbidden`; anyone else `.holdNotFound`); refusals
    /// `.holdExpired`, `.holdNotPending`, `.captureExceedsHold`, `.limitExceeded`, `.balanceLimit`.
    func captureHold(
        id: Int64, amount: Money?, tokenHash: [UInt8], idempotency: IdempotencyContext?, requestID: String
    ) throws -> Receipt<HoldCapture>
    /// Releases a pending hold. The service role, the payer or the payee may (anyone else `.holdNotFound`);
    /// refusals `.holdExpired`, `.holdNotPending`.
    func voidHold(id: Int64, tokenHash: [UInt8], idempotency: IdempotencyContext?, requestID: String) throws
        -> Receipt<Hold>
    /// The hold with this id as of now (a pending one past its expiry reads `.expired`); nil when there is none.
    func hold(id: Int64) throws -> Hold?
    /// Holds the user pays or is paid by, with an id below `beforeID`, newest first, at most `limit`; only
    /// those with `status` (as of now) when given.
    func holds(ofUser userID: Int64, status: Hold.Status?, beforeID: Int64, limit: Int) throws -> [Hold]

    /// Pays `amount` (nil: what is left unreversed) of transfer `transferID` back from its payee to its payer,
    /// as a movement of kind `.reversal`. The service role or the payee may (the payer `.forbidden`, anyone else
    /// `.transferNotFound`); refusals `.notReversible`, `.reversalExceedsTransfer`, `.insufficientFunds`,
    /// `.limitExceeded`, `.balanceLimit`.
    func reverseTransfer(
        _ transferID: Int64, amount: Money?, memo: String?, tokenHash: [UInt8], idempotency: IdempotencyContext?,
        requestID: String
    ) throws -> Receipt<Movement>
    /// The transfer or reversal with this id, with the reversals made of it; nil when there is none such.
    func reversibleTransfer(id: Int64) throws -> ReversibleTransfer?

    /// Alerts with an id below `beforeID`, newest first: everyone's, or one user's.
    func alerts(ofUser userID: Int64?, beforeID: Int64, limit: Int) throws -> [Alert]

    /// Who the live token with this hash stands for; nil when it is unknown, expired or revoked.
    func caller(tokenHash: [UInt8]) throws -> Caller?
    /// The same with the token's expiry, in the same one round trip; nil when the token is not live.
    func liveToken(hash: [UInt8]) throws -> LiveToken?
    /// The user with this username (ignoring case) who can log in, and their password hash.
    func credentials(username: String) throws -> (user: User, passwordHash: String)?
    /// As `credentials`, with whether failed log-ins lock the username (one round trip).
    func loginState(username: String) throws -> LoginState
    /// Counts a failed log-in for `username` (ignoring case, known or not) under `limits`; returns the seconds
    /// for which the username is now locked (0: it is not).
    @discardableResult
    func recordFailedLogin(username: String, limits: LoginLimits) throws -> Int
    /// Forgets the failed log-ins of `username` (ignoring case): it logged in.
    func clearFailedLogins(username: String) throws
    /// Stores a token's hash for `caller`; nil lifetime means until revoked. Returns the expiry (µs since 1970).
    func issueToken(hash: [UInt8], for caller: Caller, lifetimeSeconds: Int?) throws -> Int64?
    /// Revokes a live token; false when there was none with that hash.
    func revokeToken(hash: [UInt8]) throws -> Bool

    func user(id: Int64) throws -> User?
    /// Who the token with this hash stands for, the user `userID`, and with `history` a page of that user's
    /// movements, newest first: read together, in one round trip and one snapshot. The caller decides what
    /// of it may be shown.
    func userView(_ userID: Int64, tokenHash: [UInt8], history: HistoryPage?) throws -> UserView
    /// Users with an id above `afterID`, by id, at most `limit`; only those whose name contains
    /// `nameContaining` (ignoring the case of ASCII letters) when it is given.
    func users(afterID: Int64, nameContaining: String?, limit: Int) throws -> [User]
    /// The totals of the service view, with movements and alerts counted from second `since` (since 1970) on.
    func stats(since: Int64) throws -> LedgerStats
    func movement(id: Int64) throws -> Movement?
    /// The user's movements with an id below `beforeID`, newest first, at most `limit`.
    func movements(ofUser userID: Int64, beforeID: Int64, limit: Int) throws -> [Movement]
    /// All movements with an id below `beforeID`, newest first, at most `limit`.
    func movements(beforeID: Int64, limit: Int) throws -> [Movement]
    /// True when the database answers.
    func isDatabaseUp() -> Bool

    /// What the request `caller` sent under `key` ended as; nil when no request of theirs used the key.
    func requestOutcome(caller: Caller, key: String) throws -> RequestOutcome?
    /// Stores `refusal` as the outcome of a replayed request under the key of the caller `tokenHash` stands for,
    /// when the ledger did not store it itself (`.forbidden`, `.tNotIncreasing`, `.eventTimeNotAllowed`): a client
    /// told 202 can then learn it. Does nothing when the token is not live (there is no caller to store it for)
    /// or the key is taken.
    func recordRefusal(
        _ refusal: Refusal, tokenHash: [UInt8], idempotency: IdempotencyContext, requestID: String) throws

    /// Serialization failures retried since this object was made (for the request log and metrics).
    var serializationRetries: Int { get }
}

extension LedgerOperations {
    /// Creates a user under the default limits.
    package func createUser(
        name: String, initialBalance: Money, credentials: NewCredentials?, idempotency: IdempotencyContext?,
        requestID: String
    ) throws -> Receipt<User> {
        try createUser(
            name: name, initialBalance: initialBalance, credentials: credentials, limits: AccountLimits(),
            idempotency: idempotency, requestID: requestID)
    }
}
