import Ledger

extension MovementCommand {
    /// The endpoint's path in its one canonical form ("/api/users/7/deposits").
    var path: String {
        switch self {
        case .transfer: "/api/transfers"
        case .cash(.deposit, let userID, _, _, _): "/api/users/\(userID)/deposits"
        case .cash(.withdrawal, let userID, _, _, _): "/api/users/\(userID)/withdrawals"
        case .event: "/api/event"
        case .hold: "/api/holds"
        case .capture(let holdID, _): "/api/holds/\(holdID)/capture"
        case .void(let holdID): "/api/holds/\(holdID)/void"
        case .reversal(let transferID, _, _): "/api/transfers/\(transferID)/reversals"
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
        case .hold(let from, let to, let amount, let memo, let expiresIn):
            members = [
                ("from_user_id", .integer(from)), ("to_user_id", .integer(to)), ("amount", .string(amount.description)),
            ]
            if let memo { members.append(("memo", .string(memo))) }
            members.append(("expires_in", .integer(Int64(expiresIn))))
        case .capture(_, let amount):
            members = amount.map { [("amount", .string($0.description))] } ?? []
        case .void:
            members = []
        case .reversal(_, let amount, let memo):
            members = amount.map { [("amount", .string($0.description))] } ?? []
            if let memo { members.append(("memo", .string(memo))) }
        }
        var bytes: [UInt8] = []
        JSONValue.object(members).write(to: &bytes)
        return bytes
    }

    /// True when `caller` may ask for this at all (their own account, or the service role): what the ledger
    /// checks again when the request runs, checked early where the database cannot be asked. Who may capture,
    /// void or reverse depends on the hold's or the transfer's parties, which only the database knows: those
    /// are taken here and checked at replay.
    func isAllowed(for caller: Caller) -> Bool {
        switch self {
        case .transfer(let from, _, _, _): caller.mayActOn(from)
        case .cash(_, let userID, _, _, _): caller.mayActOn(userID)
        case .event: caller.isService
        case .hold(let from, _, _, _, _): caller.mayActOn(from)
        case .capture, .void, .reversal: true
        }
    }
}
