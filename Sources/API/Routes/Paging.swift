/// The `limit` and `cursor` of a list request.
struct Paging {
    static let defaultLimit = 20
    static let maximumLimit = 100

    let limit: Int
    /// The id the cursor continues from, nil for the first page.
    let continuation: Int64?

    init(query: QueryString) throws(APIError) {
        if let text = query["limit"] {
            guard let limit = Int(text), (1...Self.maximumLimit).contains(limit) else {
                throw .validation("limit", "limit must be a whole number from 1 to \(Self.maximumLimit).")
            }
            self.limit = limit
        } else {
            limit = Self.defaultLimit
        }
        if let cursor = query["cursor"], !cursor.isEmpty {
            guard let id = Cursor.decode(cursor) else {
                throw .validation("cursor", "cursor is not one this API gave out; use next_cursor from a page.")
            }
            continuation = id
        } else {
            continuation = nil
        }
    }

    /// A page of `items` fetched with one extra row, which tells whether there is a next page.
    func page<Item>(_ fetched: [Item], id: (Item) -> Int64, render: (Item) -> JSONValue) -> JSONValue {
        let shown = Array(fetched.prefix(limit))
        let next = fetched.count > limit ? shown.last.map { Cursor.encode(id($0)) } : nil
        return Representation.page(shown.map(render), nextCursor: next)
    }
}
