import Ledger

extension MovementCommand {
    /// The endpoint's path in its one canonical form ("/api/users/7/deposits").
    var path: String {
        switch self {
        case .transfer: "/api/transfers"
        case .cash(.deposit, let userID, _, _, _): "/api/users/\(userID)/deposits"
        case .cash(.withdrawal, let userID, _, _, _): "/api/users/\(userID)/withdrawals"
        case .event: "/api/event"
        }
    }

    /// The command as compact JSON that `parse` reads back to the same command: what the spool stores instead of
    /// the client's bytes, so that whitespace, repeated forms of a number or an unread padding cost the spool
    /// nothing. Amounts are written as strings with two fraction digits ("12.30"); absent members are left out.
    var compactBody: [UInt8] {
        var members: [(String, JSONValue)]
        switch self {
        case .transfer(let from, let to, let amount, let memo):
            members = [
                ("from_user_id", .integer(from)), ("to_user_id", .integer(to)), ("amount", .string(amount.description)),
            ]
            if let memo { members.append(("memo", .string(memo))) }
        case .cash(_, _, let amount, let memo, let t):
            members = [("amount", .string(amount.description))]
            if let memo { members.append(("memo", .string(memo))) }
            if let t { members.append(("t", .integer(t))) }
        case .event(let kind, let userID, let amount, let t):
            members = [
                ("type", .string(kind == .deposit ? "deposit" : "withdraw")), ("amount", .string(amount.description)),
                ("user_id", .integer(userID)), ("t", .integer(t)),
            ]
        }
        var bytes: [UInt8] = []
        JSONValue.object(members).write(to: &bytes)
        return bytes
    }

    /// True when `caller` may ask for this at all (their own account, or the service role): what the ledger
    /// checks again when the request runs, checked early where the database cannot be asked.
    func isAllowed(for caller: Caller) -> Bool {
        switch self {
        case .transfer(let from, _, _, _): caller.mayActOn(from)
        case .cash(_, let userID, _, _, _): caller.mayActOn(userID)
        case .event: caller.isService
        }
    }
}
