import CLibPQ

/// The rows of a result, copied out of libpq at once (text format). `nil` is SQL NULL.
public struct Rows: Sendable {
    public let columns: [String]
    public let values: [[String?]]
    private let columnIndex: [String: Int]

    init(reading result: OpaquePointer) {
        let columnCount = PQnfields(result)
        let rowCount = PQntuples(result)
        columns = (0..<columnCount).map { String(cString: PQfname(result, $0)) }
        columnIndex = Dictionary(columns.enumerated().map { ($1, $0) }, uniquingKeysWith: { first, _ in first })
        values = (0..<rowCount).map { row in
            (0..<columnCount).map { column in
                PQgetisnull(result, row, column) == 1 ? nil : String(cString: PQgetvalue(result, row, column))
            }
        }
    }

    public var count: Int { values.count }
    public var isEmpty: Bool { values.isEmpty }

    /// The rows as `Row` values that read columns by name.
    public var rows: [Row] {
        values.map { Row(values: $0, columnIndex: columnIndex) }
    }

    public var first: Row? { values.first.map { Row(values: $0, columnIndex: columnIndex) } }
}

/// One row of a result, read by column name.
public struct Row: Sendable {
    let values: [String?]
    let columnIndex: [String: Int]

    public subscript(_ column: String) -> String? {
        guard let index = columnIndex[column] else { return nil }
        return values[index]
    }

    public func int64(_ column: String) -> Int64? {
        self[column].flatMap { Int64($0) }
    }

    public func bool(_ column: String) -> Bool? {
        self[column].map { $0 == "t" }
    }
}
