import CLibPQ
import Glibc

/// The names of a result's columns and where each is. A prepared statement's results always have the same
/// columns, so a connection keeps one layout per statement instead of building a new index for every result.
package final class ColumnLayout: Sendable {
    package let columns: [String]
    /// The names' lengths in bytes, in column order: most names asked for are told apart by length alone.
    private let lengths: [Int]
    /// The names as libpq gives them, to compare a later result's with.
    private let cNames: [ContiguousArray<CChar>]

    init(reading result: OpaquePointer) {
        columns = (0..<PQnfields(result)).map { String(cString: PQfname(result, $0)) }
        lengths = columns.map(\.utf8.count)
        cNames = columns.map(\.utf8CString)
    }

    /// The position of the first column named `name`. A scan, not a dictionary: a result has a handful of
    /// columns, and comparing lengths first costs a fraction of hashing the name for every value read.
    func index(of name: String) -> Int? {
        let length = name.utf8.count
        for position in lengths.indices where lengths[position] == length && columns[position] == name {
            return position
        }
        return nil
    }

    /// Whether `result` has exactly these columns.
    func describes(_ result: OpaquePointer) -> Bool {
        guard PQnfields(result) == cNames.count else { return false }
        for (number, name) in cNames.enumerated() {
            guard let field = PQfname(result, Int32(number)),
                name.withUnsafeBufferPointer({ strcmp($0.baseAddress!, field) }) == 0
            else { return false }
        }
        return true
    }
}

/// The rows of a result, copied out of libpq at once (text format). `nil` is SQL NULL.
package struct Rows: Sendable {
    package let layout: ColumnLayout
    package let values: [[String?]]

    /// Copies `result`'s rows; `layout` is the one to reuse when it still describes the result's columns.
    init(reading result: OpaquePointer, layout known: ColumnLayout? = nil) {
        layout = known.flatMap { $0.describes(result) ? $0 : nil } ?? ColumnLayout(reading: result)
        let columnCount = PQnfields(result)
        values = (0..<PQntuples(result)).map { row in
            (0..<columnCount).map { column in
                PQgetisnull(result, row, column) == 1 ? nil : String(cString: PQgetvalue(result, row, column))
            }
        }
    }

    package var columns: [String] { layout.columns }
    package var count: Int { values.count }
    package var isEmpty: Bool { values.isEmpty }

    /// The rows as `Row` values that read columns by name.
    package var rows: [Row] {
        values.map { Row(values: $0, layout: layout) }
    }

    package var first: Row? { values.first.map { Row(values: $0, layout: layout) } }
}

/// One row of a result, read by column name.
package struct Row: Sendable {
    let values: [String?]
    let layout: ColumnLayout

    package subscript(_ column: String) -> String? {
        guard let index = layout.index(of: column) else { return nil }
        return values[index]
    }

    package func int64(_ column: String) -> Int64? {
        self[column].flatMap { Int64($0) }
    }

    package func bool(_ column: String) -> Bool? {
        self[column].map { $0 == "t" }
    }
}
