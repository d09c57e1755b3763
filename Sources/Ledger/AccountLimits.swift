/// The limits one user's debits are held to (issue 26): how far below zero the balance may go, and how much
/// may leave the account per day, counted from midnight in the user's time zone.
package struct AccountLimits: Equatable, Sendable {
    /// The overdraft allowed: the balance may go down to minus this. Zero by default.
    package var creditLimit: Money
    /// The most the user's debits may add up to per day; nil when there is no such limit.
    package var dailyDebitLimit: Money?
    /// The IANA time zone whose midnight starts the user's day (PostgreSQL checks the name).
    package var timeZone: String

    package static let defaultTimeZone = "UTC"

    package init(creditLimit: Money = .zero, dailyDebitLimit: Money? = nil, timeZone: String = Self.defaultTimeZone) {
        self.creditLimit = creditLimit
        self.dailyDebitLimit = dailyDebitLimit
        self.timeZone = timeZone
    }
}

/// A change to a user's limits (PATCH /api/users/{id}): nil leaves a limit as it is.
package struct LimitsChange: Equatable, Sendable {
    package var creditLimit: Money?
    /// `.some(nil)` removes the daily limit.
    package var dailyDebitLimit: Money??
    package var timeZone: String?

    package init(creditLimit: Money? = nil, dailyDebitLimit: Money?? = nil, timeZone: String? = nil) {
        self.creditLimit = creditLimit
        self.dailyDebitLimit = dailyDebitLimit
        self.timeZone = timeZone
    }

    package var isEmpty: Bool { creditLimit == nil && dailyDebitLimit == nil && timeZone == nil }
}
