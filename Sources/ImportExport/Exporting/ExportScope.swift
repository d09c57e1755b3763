/// What `tally export` writes: one user's history, or every movement. Each has the columns of its API
/// representation (GET /api/users/{id}/transactions, GET /api/transactions), newest first as the API pages them.
package enum ExportScope: Equatable, Sendable {
    case user(Int64)
    case everyone

    package var path: String {
        switch self {
        case .user(let id): "/api/users/\(id)/transactions"
        case .everyone: "/api/transactions"
        }
    }

    /// The header row: the fields of each movement, in this order.
    package var columns: [String] {
        switch self {
        case .user:
            [
                "id", "created_at", "kind", "amount", "counterparty_user_id", "balance_after", "memo", "batch_id",
            ]
        case .everyone:
            ["id", "created_at", "kind", "from_user_id", "to_user_id", "amount", "memo", "batch_id"]
        }
    }
}
