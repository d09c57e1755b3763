import API
import SystemSupport

// What the command files (ServeCommand, ReplayCommand) still use in their old form, kept so that this branch and
// the swift-argument-parser rewrite of those files merge without a broken build in between. Once merged:
// - give the files that read the clock `import SystemSupport`;
// - pass `LogLevel`s (`Log.event(.warning, ...)`; ReplayCommand's outcome lines `.string(LogLevel.info.rawValue)`);
// - delete this file, and enable MemberImportVisibility for tally too (Package.swift's last lines).

/// The clock moved from LedgerStore to SystemSupport; ReplayCommand.swift does not import it yet.
typealias MonotonicClock = SystemSupport.MonotonicClock

extension Log {
    @available(*, deprecated, message: "pass a LogLevel: Log.event(.warning, ...)")
    static func event(_ level: String, _ message: String, _ fields: [(String, JSONValue)] = []) {
        line([("level", .string(level)), ("message", .string(message))] + fields)
    }
}
