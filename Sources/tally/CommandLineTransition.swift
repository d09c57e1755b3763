import API
import SystemSupport

// What the command files (ServeCommand, ReplayCommand) still use in their old form, kept so that this branch and
// the swift-argument-parser rewrite of those files merge without a broken build in between. Once merged: give
// ReplayCommand.swift `import SystemSupport`, pass `LogLevel`s (`Log.event(.warning, ...)`), and delete this file.

/// The clock moved from LedgerStore to SystemSupport; ReplayCommand.swift does not import it yet.
typealias MonotonicClock = SystemSupport.MonotonicClock

extension Log {
    @available(*, deprecated, message: "pass a LogLevel: Log.event(.warning, ...)")
    static func event(_ level: String, _ message: String, _ fields: [(String, JSONValue)] = []) {
        line([("level", .string(level)), ("message", .string(message))] + fields)
    }
}
