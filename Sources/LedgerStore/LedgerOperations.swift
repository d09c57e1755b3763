import Ledger

/// Everything the API asks of the ledger. `PostgresLedger` is the implementation; the protocol lets routes
/// be tested without a database.
public protocol LedgerOperations: AnyObject {
    func createUser(
        name: String, initialBalance: Money, idempotency: IdempotencyContext?, requestID: String
    ) throws -> Receipt<User>

    /// Moves `amount` from `debitUserID` to `creditUserID`; `Movement.systemAccountID` is the outside world.
    func move(
        _ kind: MovementKind, debitUserID: Int64, creditUserID: Int64, amount: Money, memo: String?,
        idempotency: IdempotencyContext?, requestID: String
    ) throws -> Receipt<Movement>

    func user(id: Int64) throws -> User?
    /// Users with an id above `afterID`, by id, at most `limit`.
    func users(afterID: Int64, limit: Int) throws -> [User]
    func movement(id: Int64) throws -> Movement?
    /// The user's movements with an id below `beforeID`, newest first, at most `limit`.
    func movements(ofUser userID: Int64, beforeID: Int64, limit: Int) throws -> [Movement]
    /// All movements with an id below `beforeID`, newest first, at most `limit`.
    func movements(beforeID: Int64, limit: Int) throws -> [Movement]
    /// True when the database answers.
    func isDatabaseUp() -> Bool

    /// Serialization failures retried since this object was made (for the request log and metrics).
    var serializationRetries: Int { get }
}
