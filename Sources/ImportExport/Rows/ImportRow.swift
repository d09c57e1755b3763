import Ledger

/// One row of an import file, read and checked: a user to create or a movement to apply.
package enum ImportRow: Equatable, Sendable {
    case user(ImportUser)
    case movement(ImportMovement)

    /// The file's line the row starts on.
    package var line: Int {
        switch self {
        case .user(let user): user.line
        case .movement(let movement): movement.line
        }
    }
}

/// A user of the other system, created in Tally with their opening balance (a deposit, as `POST /api/users`
/// records `initial_balance`).
package struct ImportUser: Equatable, Sendable {
    package let line: Int
    /// The user's id in the other system, which the file's movements use.
    package let externalID: String
    package let name: String
    package let openingBalance: Money

    package init(line: Int, externalID: String, name: String, openingBalance: Money) {
        self.line = line
        self.externalID = externalID
        self.name = name
        self.openingBalance = openingBalance
    }
}

/// A movement between users of the other system, named by their ids there.
package struct ImportMovement: Equatable, Sendable {
    package enum Kind: String, Sendable {
        case transfer, deposit, withdrawal
    }

    package let line: Int
    package let kind: Kind
    /// The paying user (transfers and withdrawals), an id of the other system.
    package let from: String?
    /// The paid user (transfers and deposits), an id of the other system.
    package let to: String?
    package let amount: Money
    package let memo: String?

    package init(line: Int, kind: Kind, from: String?, to: String?, amount: Money, memo: String?) {
        self.line = line
        self.kind = kind
        self.from = from
        self.to = to
        self.amount = amount
        self.memo = memo
    }
}
