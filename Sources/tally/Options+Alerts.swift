import Ledger

extension Options {
    /// The alert thresholds' options and their environment variables.
    static let alertOptions = [
        ("alert-large-withdrawal", "TALLY_ALERT_LARGE_WITHDRAWAL"),
        ("alert-consecutive-withdrawals", "TALLY_ALERT_CONSECUTIVE_WITHDRAWALS"),
        ("alert-increasing-deposits", "TALLY_ALERT_INCREASING_DEPOSITS"),
        ("alert-window-seconds", "TALLY_ALERT_WINDOW_SECONDS"),
        ("alert-window-total", "TALLY_ALERT_WINDOW_TOTAL"),
    ]

    /// The alert thresholds from the command line or environment, defaults for the rest.
    func alertThresholds() throws(UsageError) -> AlertThresholds {
        var thresholds = AlertThresholds()
        func amount(_ name: String, _ environment: String) throws(UsageError) -> Money? {
            guard let text = value(name, environment: environment) else { return nil }
            guard let money = try? Money(parsing: text) else {
                throw UsageError(message: "--\(name) takes an amount such as 100.00, not \(text)")
            }
            return money
        }
        thresholds.largeWithdrawal =
            try amount("alert-large-withdrawal", "TALLY_ALERT_LARGE_WITHDRAWAL") ?? thresholds.largeWithdrawal
        thresholds.windowTotal = try amount("alert-window-total", "TALLY_ALERT_WINDOW_TOTAL") ?? thresholds.windowTotal
        thresholds.consecutiveWithdrawals = try integer(
            "alert-consecutive-withdrawals", environment: "TALLY_ALERT_CONSECUTIVE_WITHDRAWALS",
            default: thresholds.consecutiveWithdrawals)
        thresholds.increasingDeposits = try integer(
            "alert-increasing-deposits", environment: "TALLY_ALERT_INCREASING_DEPOSITS",
            default: thresholds.increasingDeposits)
        thresholds.windowSeconds = Int64(
            try integer(
                "alert-window-seconds", environment: "TALLY_ALERT_WINDOW_SECONDS",
                default: Int(thresholds.windowSeconds)))
        // A rule over fewer movements than this would raise on nearly everything, or on nothing.
        guard thresholds.consecutiveWithdrawals >= 1 else {
            throw UsageError(message: "--alert-consecutive-withdrawals must be at least 1")
        }
        guard thresholds.increasingDeposits >= 2 else {
            throw UsageError(message: "--alert-increasing-deposits must be at least 2")
        }
        guard thresholds.windowSeconds >= 1 else {
            throw UsageError(message: "--alert-window-seconds must be at least 1")
        }
        return thresholds
    }
}
