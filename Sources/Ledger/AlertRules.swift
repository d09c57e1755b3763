/// The thresholds the alert rules use; each is configuration, with these defaults.
package struct AlertThresholds: Sendable, Equatable {
    /// 1100: a withdrawal of more than this.
    package var largeWithdrawal = Money(minorUnits: 100_00)
    /// 30: this many movements in a row, the newest included, are withdrawals.
    package var consecutiveWithdrawals = 3
    /// 300: this many deposits in a row (withdrawals between them do not count), each larger than the one before.
    package var increasingDeposits = 3
    /// 123: deposits with t in the last `windowSeconds` seconds, up to and including this event's t ...
    package var windowSeconds: Int64 = 30
    /// ... sum to more than this.
    package var windowTotal = Money(minorUnits: 200_00)

    package init() {}
}

/// A deposit or withdrawal as the alert rules see it.
package struct CashEvent: Sendable, Equatable {
    package enum Kind: Sendable, Equatable {
        case deposit, withdrawal

        /// The journal's name for the movement.
        package var movementKind: MovementKind { self == .deposit ? .deposit : .withdrawal }
    }

    package let kind: Kind
    package let amount: Money
    /// The second the event happened; strictly increasing per user.
    package let t: Int64

    package init(kind: Kind, amount: Money, t: Int64) {
        self.kind = kind
        self.amount = amount
        self.t = t
    }
}

/// What the rules need to know of a user's earlier deposits and withdrawals (transfers do not count).
package struct CashHistory: Sendable, Equatable {
    /// The kinds of the most recent events, newest first (at least `consecutiveWithdrawals - 1` of them
    /// when there are that many).
    package var recentKinds: [CashEvent.Kind]
    /// The amounts of the most recent deposits, newest first (at least `increasingDeposits - 1`).
    package var recentDepositAmounts: [Money]
    /// The sum of earlier deposits with t inside the window that ends at the new event's t. Exact: deposits
    /// and withdrawals of the largest amount in turn make it larger than any one amount.
    package var depositsInWindow: MoneyTotal

    package init(
        recentKinds: [CashEvent.Kind] = [], recentDepositAmounts: [Money] = [], depositsInWindow: MoneyTotal = .zero
    ) {
        self.recentKinds = recentKinds
        self.recentDepositAmounts = recentDepositAmounts
        self.depositsInWindow = depositsInWindow
    }
}

/// The activity alert rules: which codes an event raises, given the user's history. Pure: no I/O.
package struct AlertRules: Sendable {
    package static let largeWithdrawalCode = 1100
    package static let consecutiveWithdrawalsCode = 30
    package static let increasingDepositsCode = 300
    package static let windowTotalCode = 123
    /// Raised, with no movement, when a debit is refused for the user's daily debit limit (`AccountLimits`).
    package static let dailyDebitLimitCode = 2000

    package let thresholds: AlertThresholds

    package init(thresholds: AlertThresholds = AlertThresholds()) {
        self.thresholds = thresholds
    }

    /// The first t that lies inside the window ending at `t`: the window is (t - windowSeconds, t].
    package func windowStart(endingAt t: Int64) -> Int64 {
        t - thresholds.windowSeconds + 1
    }

    /// The codes `event` raises, ascending.
    package func codes(for event: CashEvent, after history: CashHistory) -> [Int] {
        var codes: [Int] = []
        if event.kind == .withdrawal && event.amount > thresholds.largeWithdrawal {
            codes.append(Self.largeWithdrawalCode)
        }
        let needed = thresholds.consecutiveWithdrawals
        if event.kind == .withdrawal, needed >= 1, history.recentKinds.count >= needed - 1,
            history.recentKinds.prefix(needed - 1).allSatisfy({ $0 == .withdrawal })
        {
            codes.append(Self.consecutiveWithdrawalsCode)
        }
        let increasing = thresholds.increasingDeposits
        if event.kind == .deposit, increasing >= 2, history.recentDepositAmounts.count >= increasing - 1 {
            // Oldest first: each must be smaller than the next, ending with this deposit.
            let run = Array(history.recentDepositAmounts.prefix(increasing - 1).reversed()) + [event.amount]
            if zip(run, run.dropFirst()).allSatisfy({ $0 < $1 }) {
                codes.append(Self.increasingDepositsCode)
            }
        }
        let windowTotal = history.depositsInWindow + (event.kind == .deposit ? event.amount : .zero)
        if windowTotal > MoneyTotal(thresholds.windowTotal) {
            codes.append(Self.windowTotalCode)
        }
        return codes.sorted()
    }
}
