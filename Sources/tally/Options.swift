/// The command line: `tally COMMAND [--name value]...`, each option also settable from the environment.
struct Options {
    let command: String
    private var values: [String: String] = [:]

    init(arguments: [String]) throws(UsageError) {
        var remaining = arguments.dropFirst()
        command = remaining.popFirst() ?? "help"
        while let name = remaining.popFirst() {
            guard name.hasPrefix("--"), let value = remaining.popFirst() else {
                throw UsageError(message: "expected --option value, found \(name)")
            }
            values[String(name.dropFirst(2))] = value
        }
    }

    /// True when the option is on the command line (not only in the environment).
    func isGiven(_ name: String) -> Bool { values[name] != nil }

    /// The option's value: the command line first, then `environmentName`, then `defaultValue`.
    func value(_ name: String, environment environmentName: String? = nil, default defaultValue: String? = nil)
        -> String?
    {
        if let value = values[name] { return value }
        if let environmentName, let value = getenv(environmentName) { return String(cString: value) }
        return defaultValue
    }

    func integer(_ name: String, environment: String? = nil, default defaultValue: Int) throws(UsageError) -> Int {
        guard let text = value(name, environment: environment) else { return defaultValue }
        guard let number = Int(text), number >= 0 else {
            throw UsageError(message: "--\(name) takes a whole number, not \(text)")
        }
        return number
    }

    /// A duration in seconds, such as 20 or 0.5; 0 where the option allows "off".
    func seconds(_ name: String, environment: String? = nil, default defaultValue: Double) throws(UsageError) -> Double
    {
        guard let text = value(name, environment: environment) else { return defaultValue }
        guard let number = Double(text), number.isFinite, number >= 0, number <= 86_400 else {
            throw UsageError(message: "--\(name) takes seconds (0 to 86400), not \(text)")
        }
        return number
    }

    /// The libpq conninfo string for the database.
    var database: String {
        value("database", environment: "TALLY_DATABASE", default: "dbname=tally")!
    }
}

struct UsageError: Error {
    let message: String
}

import Glibc
