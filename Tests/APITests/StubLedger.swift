import Ledger
import LedgerStore
import Postgres

/// A ledger in memory for route tests: records what it was asked, answers what the test sets.
final class StubLedger: LedgerOperations {
    var users: [Int64: User] = [:]
    var movementsByID: [Int64: Movement] = [:]
    var moveCalls: [(kind: MovementKind, debit: Int64, credit: Int64, amount: Money, key: IdempotencyContext?)] = []
    var nextMoveResult: Receipt<Movement>.Result?
    var nextMoveIsReplay = false
    var failure: (any Error)?
    var databaseUp = true
    var serializationRetries = 0

    func createUser(name: String, initialBalance: Money, idempotency: IdempotencyContext?, requestID: String) throws
        -> Receipt<User>
    {
        if let failure { throw failure }
        let user = User(id: Int64(users.count + 1), name: name, balance: initialBalance, createdAt: 0)
        users[user.id] = user
        return Receipt(result: .applied(user), isReplay: false, requestID: requestID)
    }

    func move(
        _ kind: MovementKind, debitUserID: Int64, creditUserID: Int64, amount: Money, memo: String?,
        idempotency: IdempotencyContext?, requestID: String
    ) throws -> Receipt<Movement> {
        if let failure { throw failure }
        moveCalls.append((kind, debitUserID, creditUserID, amount, idempotency))
        let movement = Movement(
            id: 1, kind: kind, debitUserID: debitUserID, creditUserID: creditUserID, amount: amount,
            debitBalanceAfter: .zero, creditBalanceAfter: amount, memo: memo, createdAt: 1_700_000_000_123_000)
        return Receipt(result: nextMoveResult ?? .applied(movement), isReplay: nextMoveIsReplay, requestID: requestID)
    }

    func user(id: Int64) throws -> User? {
        if let failure { throw failure }
        return users[id]
    }

    func users(afterID: Int64, limit: Int) throws -> [User] {
        Array(users.values.filter { $0.id > afterID }.sorted { $0.id < $1.id }.prefix(limit))
    }

    func movement(id: Int64) throws -> Movement? { movementsByID[id] }

    func movements(ofUser userID: Int64, beforeID: Int64, limit: Int) throws -> [Movement] { [] }

    func movements(beforeID: Int64, limit: Int) throws -> [Movement] {
        Array(movementsByID.values.filter { $0.id < beforeID }.sorted { $0.id > $1.id }.prefix(limit))
    }

    func isDatabaseUp() -> Bool { databaseUp }
}
