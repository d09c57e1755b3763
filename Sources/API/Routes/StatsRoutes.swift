import Glibc
import Ledger
import LedgerStore

extension TallyAPI {
    /// The latest `since` accepted: the last second of the year 9999, as far as RFC 3339 times go.
    static let latestStatsSince: Int64 = 253_402_300_799

    /// GET /api/stats: the service view's totals (service role only). Movements and alerts are counted from
    /// `since` (whole seconds since 1970) on: the dashboard sends its viewer's local midnight, so "today" is
    /// the viewer's day; without it, the current UTC day.
    func stats(_ request: HTTPRequest) throws -> HTTPResponse {
        try requireService(authenticate(request).caller)
        let since: Int64
        if let text = QueryString(request.query)["since"] {
            guard text.utf8.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }),
                let value = Int64(text), value <= Self.latestStatsSince
            else {
                throw APIError.validation(
                    "since", "since must be a whole number of seconds since 1970, from 0 to \(Self.latestStatsSince).")
            }
            since = value
        } else {
            let now = Int64(time(nil))
            since = now - now % 86_400
        }
        let stats = try ledger.stats(since: since)
        return HTTPResponse(status: 200, json: Representation.stats(stats, since: since))
    }
}

extension Representation {
    static func stats(_ stats: LedgerStats, since: Int64) -> JSONValue {
        .object([
            ("users", .integer(stats.userCount)),
            ("balance_total", .string(stats.moneyHeld.description)),
            // Exact digits, however many: the total can exceed an int64 (see Stats in openapi.yaml).
            ("balance_total_minor", .number(String(stats.moneyHeld.minorUnits))),
            ("since", .string(Timestamp.rfc3339(microsecondsSince1970: since * 1_000_000))),
            ("movements", .integer(stats.movementsSince)),
            ("alerts", .integer(stats.alertsSince)),
        ])
    }
}
