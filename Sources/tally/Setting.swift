import ArgumentParser
import Glibc

/// One option of the command line with its environment variable and its default, declared once: `--help` shows
/// all three, and the value is looked up in that order (the command line first, then the environment, then the
/// default). Values are read here, not by the parser, so that a bad one is refused with the same message whether
/// it came from the command line or the environment.
struct Setting<Value>: Sendable {
    /// The long option, without its dashes: `workers` for `--workers`.
    let name: String
    /// TALLY_..., or nil for an option the environment cannot set.
    let environment: String?
    /// What `--help` (and docs/operations.md) say the default is; nil when there is none.
    let defaultDescription: String?
    let defaultValue: @Sendable () -> Value?
    let parse: @Sendable (_ text: String, _ option: String) throws(UsageError) -> Value

    /// The option's help: what it does, then its environment variable and default in one form that
    /// tests/e2e/test_cli.py reads back and compares with docs/operations.md.
    func help(_ abstract: String, valueName: String) -> ArgumentHelp {
        var notes: [String] = []
        if let environment { notes.append("env \(environment)") }
        if let defaultDescription { notes.append("default: \(defaultDescription)") }
        let suffix = notes.isEmpty ? "" : " (\(notes.joined(separator: "; ")))"
        return ArgumentHelp(abstract + suffix, valueName: valueName)
    }

    /// The text the command line or the environment gave, if either did.
    func text(_ commandLine: String?) -> String? {
        if let commandLine { return commandLine }
        guard let environment, let value = getenv(environment) else { return nil }
        return String(cString: value)
    }

    /// The command line's value, else the environment's, else the default; a value that does not read is refused.
    func value(_ commandLine: String?) throws(UsageError) -> Value? {
        guard let text = text(commandLine) else { return defaultValue() }
        return try parse(text, "--\(name)")
    }
}

extension Setting where Value == String {
    /// The command line's text, else the environment's, else the default: text is never refused.
    func string(_ commandLine: String?) -> String? {
        text(commandLine) ?? defaultValue()
    }

    /// Text taken as given.
    init(_ name: String, environment: String? = nil, default defaultValue: String? = nil, shown: String? = nil) {
        self.init(
            name: name, environment: environment, defaultDescription: shown ?? defaultValue,
            defaultValue: { defaultValue }, parse: { text, _ in text })
    }
}

extension Setting where Value == Int {
    /// A whole number, 0 or more.
    init(_ name: String, environment: String? = nil, default defaultValue: Int?, shown: String? = nil) {
        self.init(
            name: name, environment: environment, defaultDescription: shown ?? defaultValue.map(String.init),
            defaultValue: { defaultValue }, parse: Setting.wholeNumber)
    }

    /// A whole number whose default is worked out when asked (the worker count follows the cores).
    init(_ name: String, environment: String?, computedDefault: @escaping @Sendable () -> Int, shown: String) {
        self.init(
            name: name, environment: environment, defaultDescription: shown, defaultValue: computedDefault,
            parse: Setting.wholeNumber)
    }

    @Sendable static func wholeNumber(_ text: String, _ option: String) throws(UsageError) -> Int {
        guard let number = Int(text), number >= 0 else {
            throw UsageError(message: "\(option) takes a whole number, not \(text)")
        }
        return number
    }
}

extension Setting where Value == Double {
    /// A duration in seconds, such as 20 or 0.5 (0 to 86400); 0 where the option allows "off".
    init(seconds name: String, environment: String?, default defaultValue: Double) {
        let shown = defaultValue == defaultValue.rounded() ? String(Int(defaultValue)) : String(defaultValue)
        self.init(
            name: name, environment: environment, defaultDescription: shown, defaultValue: { defaultValue },
            parse: { text, option throws(UsageError) in
                guard let number = Double(text), number.isFinite, number >= 0, number <= 86_400 else {
                    throw UsageError(message: "\(option) takes seconds (0 to 86400), not \(text)")
                }
                return number
            })
    }
}

/// A value the command line or the environment gave that the command cannot use: exit code 2, as for an unknown
/// option.
struct UsageError: Error, CustomStringConvertible {
    let message: String

    var description: String { message }
}
