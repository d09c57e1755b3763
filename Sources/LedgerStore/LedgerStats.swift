import Ledger

/// The ledger at a glance, for the service view: how many users there are, the money they hold together, and
/// how many movements and alerts there have been since a given moment.
package struct LedgerStats: Equatable, Sendable {
    package let userCount: Int64
    /// The sum of every user's balance (the outside world's account left out): the money in the system. It can
    /// exceed one balance's limit (each user may hold up to `Int64.max` minor units).
    package let moneyHeld: MoneyTotal
    package let movementsSince: Int64
    package let alertsSince: Int64

    package init(userCount: Int64, moneyHeld: MoneyTotal, movementsSince: Int64, alertsSince: Int64) {
        self.userCount = userCount
        self.moneyHeld = moneyHeld
        self.movementsSince = movementsSince
        self.alertsSince = alertsSince
    }
}
