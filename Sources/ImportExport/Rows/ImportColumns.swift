/// The columns of an import file (CSV header names, NDJSON member names) and which row type uses which.
///
/// A row is a user of the other system (`type` user: its `id` there, `name`, opening `balance`) or a movement
/// between the other system's ids: money goes `from` one user `to` another (transfer), into `to` from outside
/// (deposit), or out of `from` (withdrawal), for `amount`, with an optional `memo`.
package enum ImportColumns {
    package static let all = ["type", "id", "name", "balance", "from", "to", "amount", "memo"]

    /// (required, optional) columns of each row type; any other column must be empty.
    static func columns(of type: String) -> (required: [String], optional: [String])? {
        switch type {
        case "user": (["id", "name"], ["balance"])
        case "transfer": (["from", "to", "amount"], ["memo"])
        case "deposit": (["to", "amount"], ["memo"])
        case "withdrawal": (["from", "amount"], ["memo"])
        default: nil
        }
    }
}
