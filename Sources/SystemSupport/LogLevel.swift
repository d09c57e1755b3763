/// How much a log line matters, as its `level` field says: the supervisor's lines and the executable's share it.
package enum LogLevel: String, Sendable {
    case info
    case warning
    case error
}
