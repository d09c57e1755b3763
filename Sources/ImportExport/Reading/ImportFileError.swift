/// Why an import file cannot be read on: its CSV is broken (a quote never closed), its header names a column that
/// does not exist, it is not UTF-8. Unlike a refused row, nothing after it can be trusted, so the import stops.
package struct ImportFileError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The file's line (1 for the first) where the problem starts; nil when it is not about one line.
    package let line: Int?
    package let reason: String

    package init(line: Int?, reason: String) {
        self.line = line
        self.reason = reason
    }

    package var description: String { line.map { "line \($0): \(reason)" } ?? reason }
}
