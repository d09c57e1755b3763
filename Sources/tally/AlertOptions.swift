import ArgumentParser
import Ledger

/// The alert thresholds (docs/alerts.md): `serve` reads them from its command line or the environment and
/// passes them on to its workers and its replayer, which read them again.
struct AlertOptions: ParsableArguments {
    static let largeWithdrawal = Setting<Money>(
        amount: "alert-large-withdrawal", environment: "TALLY_ALERT_LARGE_WITHDRAWAL",
        default: AlertThresholds().largeWithdrawal)
    static let consecutiveWithdrawals = Setting<Int>(
        "alert-consecutive-withdrawals", environment: "TALLY_ALERT_CONSECUTIVE_WITHDRAWALS",
        default: AlertThresholds().consecutiveWithdrawals)
    static let increasingDeposits = Setting<Int>(
        "alert-increasing-deposits", environment: "TALLY_ALERT_INCREASING_DEPOSITS",
        default: AlertThresholds().increasingDeposits)
    static let windowSeconds = Setting<Int>(
        "alert-window-seconds", environment: "TALLY_ALERT_WINDOW_SECONDS",
        default: Int(AlertThresholds().windowSeconds))
    static let windowTotal = Setting<Money>(
        amount: "alert-window-total", environment: "TALLY_ALERT_WINDOW_TOTAL", default: AlertThresholds().windowTotal)

    @Option(
        parsing: .unconditional,
        help: largeWithdrawal.help("alert 1100: a withdrawal of more than this", valueName: "A"))
    var alertLargeWithdrawal: String?
    @Option(
        parsing: .unconditional,
        help: consecutiveWithdrawals.help("alert 30: this many withdrawals in a row", valueName: "N"))
    var alertConsecutiveWithdrawals: String?
    @Option(
        parsing: .unconditional,
        help: increasingDeposits.help(
            "alert 300: this many deposits, each larger than the one before", valueName: "N"))
    var alertIncreasingDeposits: String?
    @Option(parsing: .unconditional, help: windowSeconds.help("alert 123: the window (t − S, t]", valueName: "S"))
    var alertWindowSeconds: String?
    @Option(
        parsing: .unconditional,
        help: windowTotal.help("alert 123: deposits in the window summing to more than this", valueName: "A"))
    var alertWindowTotal: String?

    /// The thresholds from the command line or the environment, defaults for the rest.
    func thresholds() throws(UsageError) -> AlertThresholds {
        var thresholds = AlertThresholds()
        thresholds.largeWithdrawal = try Self.largeWithdrawal.value(alertLargeWithdrawal) ?? thresholds.largeWithdrawal
        thresholds.windowTotal = try Self.windowTotal.value(alertWindowTotal) ?? thresholds.windowTotal
        thresholds.consecutiveWithdrawals =
            try Self.consecutiveWithdrawals.value(alertConsecutiveWithdrawals) ?? thresholds.consecutiveWithdrawals
        thresholds.increasingDeposits =
            try Self.increasingDeposits.value(alertIncreasingDeposits) ?? thresholds.increasingDeposits
        thresholds.windowSeconds = Int64(
            try Self.windowSeconds.value(alertWindowSeconds) ?? Int(thresholds.windowSeconds))
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

    /// The thresholds given on the command line or in the environment, as options for a worker or the replayer.
    var arguments: [String] {
        [
            (Self.largeWithdrawal.name, Self.largeWithdrawal.text(alertLargeWithdrawal)),
            (Self.consecutiveWithdrawals.name, Self.consecutiveWithdrawals.text(alertConsecutiveWithdrawals)),
            (Self.increasingDeposits.name, Self.increasingDeposits.text(alertIncreasingDeposits)),
            (Self.windowSeconds.name, Self.windowSeconds.text(alertWindowSeconds)),
            (Self.windowTotal.name, Self.windowTotal.text(alertWindowTotal)),
        ].flatMap { name, value in value.map { ["--\(name)", $0] } ?? [] }
    }
}

extension Setting where Value == Money {
    /// An amount such as 100.00.
    init(amount name: String, environment: String, default defaultValue: Money) {
        self.init(
            name: name, environment: environment, defaultDescription: defaultValue.description,
            defaultValue: { defaultValue },
            parse: { text, option throws(UsageError) in
                guard let money = try? Money(parsing: text) else {
                    throw UsageError(message: "\(option) takes an amount such as 100.00, not \(text)")
                }
                return money
            })
    }
}
