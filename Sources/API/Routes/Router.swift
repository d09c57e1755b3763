/// The API's endpoints.
enum Endpoint: Equatable {
    case health, ping
    case listUsers, createUser
    case getUser(Int64)
    /// PATCH /api/users/{id}: the service role changes a user's limits.
    case changeLimits(userID: Int64)
    case deposit(userID: Int64), withdraw(userID: Int64)
    case userTransactions(userID: Int64)
    case createTransfer
    case getTransfer(Int64)
    case reverseTransfer(transferID: Int64)
    case createHold
    case getHold(Int64)
    case captureHold(holdID: Int64), voidHold(holdID: Int64)
    case userHolds(userID: Int64)
    case createBatch
    case getBatch(Int64)
    case listTransactions
    case register, login, logout, me
    case event
    case listAlerts
    case userAlerts(userID: Int64)
    case stats
    /// Where a request sent with an Idempotency-Key stands (pending in the spool, applied, refused).
    case requestStatus(key: String)
}

extension Endpoint {
    /// The route's label in the pool's metrics: method and path with `{id}` for ids.
    var template: String {
        switch self {
        case .health: "GET /api/health"
        case .ping: "GET /api/ping"
        case .stats: "GET /api/stats"
        case .listUsers: "GET /api/users"
        case .createUser: "POST /api/users"
        case .getUser: "GET /api/users/{id}"
        case .changeLimits: "PATCH /api/users/{id}"
        case .deposit: "POST /api/users/{id}/deposits"
        case .withdraw: "POST /api/users/{id}/withdrawals"
        case .userTransactions: "GET /api/users/{id}/transactions"
        case .createTransfer: "POST /api/transfers"
        case .getTransfer: "GET /api/transfers/{id}"
        case .reverseTransfer: "POST /api/transfers/{id}/reversals"
        case .createHold: "POST /api/holds"
        case .getHold: "GET /api/holds/{id}"
        case .captureHold: "POST /api/holds/{id}/capture"
        case .voidHold: "POST /api/holds/{id}/void"
        case .userHolds: "GET /api/users/{id}/holds"
        case .createBatch: "POST /api/batches"
        case .getBatch: "GET /api/batches/{id}"
        case .listTransactions: "GET /api/transactions"
        case .register: "POST /api/auth/register"
        case .login: "POST /api/auth/login"
        case .logout: "POST /api/auth/logout"
        case .me: "GET /api/me"
        case .event: "POST /api/event"
        case .listAlerts: "GET /api/alerts"
        case .userAlerts: "GET /api/users/{id}/alerts"
        case .requestStatus: "GET /api/requests/{key}"
        }
    }

    /// A POST that moves money: what the spool may store while the database is down.
    var movesMoney: Bool {
        switch self {
        case .createTransfer, .deposit, .withdraw, .event, .createBatch, .createHold, .captureHold, .voidHold,
            .reverseTransfer:
            true
        default: false
        }
    }

    /// One of each endpoint, for the list of metrics labels.
    static let examples: [Endpoint] = [
        .health, .ping, .stats, .listUsers, .createUser, .getUser(1), .deposit(userID: 1), .withdraw(userID: 1),
        .userTransactions(userID: 1), .createTransfer, .getTransfer(1), .createBatch, .getBatch(1), .listTransactions,
        .register, .login,
        .logout, .me, .event, .listAlerts, .userAlerts(userID: 1), .requestStatus(key: "k"),
        .changeLimits(userID: 1), .reverseTransfer(transferID: 1), .createHold, .getHold(1), .captureHold(holdID: 1),
        .voidHold(holdID: 1), .userHolds(userID: 1),
    ]
}

/// Finds the endpoint for a method and path, or the error that says why there is none.
enum Router {
    /// `path`: the decoded path (nginx's DOCUMENT_URI); `requestURI`: the URI as sent, when known. Only the
    /// canonical spelling of a path routes (see `CanonicalPath`); any other is 404, never a second way in.
    static func route(method: String, path: String, requestURI: String? = nil) throws(APIError) -> Endpoint {
        guard var segments = CanonicalPath.segments(of: path, requestURI: requestURI), segments.first == "api" else {
            throw noRoute(path)
        }
        segments.removeFirst()

        // Each path: the endpoint for each method it answers.
        let methods: KeyValuePairs<String, Endpoint>
        switch segments.count {
        case 1 where segments[0] == "health":
            methods = ["GET": .health]
        case 1 where segments[0] == "ping":
            methods = ["GET": .ping]
        case 1 where segments[0] == "users":
            methods = ["GET": .listUsers, "POST": .createUser]
        case 1 where segments[0] == "transfers":
            methods = ["POST": .createTransfer]
        case 1 where segments[0] == "holds":
            methods = ["POST": .createHold]
        case 1 where segments[0] == "batches":
            methods = ["POST": .createBatch]
        case 1 where segments[0] == "transactions":
            methods = ["GET": .listTransactions]
        case 1 where segments[0] == "me":
            methods = ["GET": .me]
        case 1 where segments[0] == "event":
            methods = ["POST": .event]
        case 1 where segments[0] == "alerts":
            methods = ["GET": .listAlerts]
        case 1 where segments[0] == "stats":
            methods = ["GET": .stats]
        case 2 where segments[0] == "auth":
            switch segments[1] {
            case "register": methods = ["POST": .register]
            case "login": methods = ["POST": .login]
            case "logout": methods = ["POST": .logout]
            default: throw noRoute(path)
            }
        case 2 where segments[0] == "users":
            let id = try pathID(segments[1], of: "user")
            methods = ["GET": .getUser(id), "PATCH": .changeLimits(userID: id)]
        case 2 where segments[0] == "requests":
            methods = ["GET": .requestStatus(key: segments[1])]
        case 2 where segments[0] == "transfers":
            let id = try pathID(segments[1], of: "transfer")
            methods = ["GET": .getTransfer(id)]
        case 2 where segments[0] == "holds":
            let id = try pathID(segments[1], of: "hold")
            methods = ["GET": .getHold(id)]
        case 3 where segments[0] == "transfers" && segments[2] == "reversals":
            let id = try pathID(segments[1], of: "transfer")
            methods = ["POST": .reverseTransfer(transferID: id)]
        case 3 where segments[0] == "holds":
            let id = try pathID(segments[1], of: "hold")
            switch segments[2] {
            case "capture": methods = ["POST": .captureHold(holdID: id)]
            case "void": methods = ["POST": .voidHold(holdID: id)]
            default: throw noRoute(path)
            }
        case 2 where segments[0] == "batches":
            let id = try pathID(segments[1], of: "batch")
            methods = ["GET": .getBatch(id)]
        case 3 where segments[0] == "users":
            let id = try pathID(segments[1], of: "user")
            switch segments[2] {
            case "deposits": methods = ["POST": .deposit(userID: id)]
            case "withdrawals": methods = ["POST": .withdraw(userID: id)]
            case "transactions": methods = ["GET": .userTransactions(userID: id)]
            case "alerts": methods = ["GET": .userAlerts(userID: id)]
            case "holds": methods = ["GET": .userHolds(userID: id)]
            default: throw noRoute(path)
            }
        default:
            throw noRoute(path)
        }
        // HEAD is answered as GET by nginx's rules for static files; the API keeps to its documented methods.
        guard let endpoint = methods.first(where: { $0.key == method })?.value else {
            throw .methodNotAllowed(method, allowed: methods.map(\.key).sorted())
        }
        return endpoint
    }

    /// An id in its one spelling: decimal digits without a sign or a leading zero, at most Int64.max. `+5` and
    /// `05` are not user 5 (Int64("+5") would read them so).
    private static func pathID(_ segment: String, of resource: String) throws(APIError) -> Int64 {
        let digits = segment.utf8
        guard let first = digits.first, (UInt8(ascii: "1")...UInt8(ascii: "9")).contains(first),
            digits.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }), let id = Int64(segment)
        else {
            throw .notFound("There is no \(resource) with id \(segment.prefix(40)); ids are positive integers.")
        }
        return id
    }

    private static func noRoute(_ path: String) -> APIError {
        .notFound("There is no API endpoint at \(path.prefix(200)).")
    }
}
