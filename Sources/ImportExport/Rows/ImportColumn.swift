/// A column of an import file (a CSV header name, an NDJSON member name).
///
/// A row is a user of the other system (`type` user: its `id` there, `name`, opening `balance`) or a movement
/// between the other system's ids: money goes `from` one user `to` another (transfer), into `to` from outside
/// (deposit), or out of `from` (withdrawal), for `amount`, with an optional `memo`.
package enum ImportColumn: String, CaseIterable, Sendable {
    case type, id, name, balance, from, to, amount, memo

    /// "type, id, name, ...", for messages.
    static let names = allCases.map(\.rawValue).joined(separator: ", ")

    /// The column's place in ImportFields.
    var position: Int {
        switch self {
        case .type: 0
        case .id: 1
        case .name: 2
        case .balance: 3
        case .from: 4
        case .to: 5
        case .amount: 6
        case .memo: 7
        }
    }

    /// (required, optional) columns of each row type; any other column must be empty.
    static func columns(of type: String) -> (required: [ImportColumn], optional: [ImportColumn])? {
        switch type {
        case "user": ([.id, .name], [.balance])
        case "transfer": ([.from, .to, .amount], [.memo])
        case "deposit": ([.to, .amount], [.memo])
        case "withdrawal": ([.from, .amount], [.memo])
        default: nil
        }
    }
}

/// The texts of one row by column; an empty text is no value. An array indexed by column, not a dictionary: a
/// million rows must not cost a million hash tables.
package struct ImportFields: Sendable {
    private var values = [String?](repeating: nil, count: ImportColumn.allCases.count)

    package init() {}

    package subscript(column: ImportColumn) -> String? {
        get { values[column.position] }
        set { values[column.position] = newValue }
    }
}
