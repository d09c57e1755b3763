import Credentials
import Glibc
import Ledger
import LedgerStore
import Postgres
import Spool

extension TallyAPI {
    /// A money-moving request (a single movement or a batch) while the database is down: with an Idempotency-Key,
    /// a token the database accepted lately (`KnownTokens`) and a valid body that the token's caller may ask for,
    /// it is stored in the spool (on disk before the answer) and answered 202 pending; its token is checked again
    /// when it is replayed. What is stored is the parsed request, written compactly: padding the body costs the
    /// spool nothing. A batch counts as one request, and its record's bytes, against the quotas. Without a key,
    /// with a token not known, or with the spool full, the answer stays 503; over the token's or the client
    /// address's quota (`SpoolQuota`) it is 429.
    func store(_ request: HTTPRequest, endpoint: Endpoint, unavailable: PostgresError) throws -> HTTPResponse {
        guard let spool, request.idempotencyKey != nil else { throw unavailable }
        let token = try presentedToken(request)
        // A token of a token's form proves nothing: only one the database accepted lately may fill the spool.
        guard let caller = spool.knownTokens.caller(of: token.hash, now: Int64(time(nil))) else {
            return Self.notStored(
                request, because: "this bearer token has not been seen lately",
                logNote: "database unavailable (\(unavailable.message)); token not known to the spool")
        }
        guard let stored = try spoolable(request, endpoint: endpoint, caller: caller) else { throw unavailable }
        let spooled = SpooledRequest(
            acceptedAt: Int64(time(nil)), tokenHash: token.hash, idempotencyKey: stored.key,
            fingerprint: stored.fingerprint, method: "POST", path: stored.path, requestID: request.requestID,
            body: stored.body, clientAddress: request.clientAddress, isService: caller.isService)
        let acceptance: RequestSpool.Acceptance
        do {
            acceptance = try spool.accept(spooled)
        } catch {
            return Self.notStored(
                request, because: "the request could not be stored",
                logNote: "database unavailable (\(unavailable.message)); spool: \(error)")
        }
        switch acceptance {
        case .accepted:
            var response = Self.pendingResponse(spooled)
            response.logNote = "spooled: database unavailable (\(unavailable.message))"
            return response
        case .alreadyPending(let waiting):
            var response = Self.pendingResponse(waiting)
            response.headers.append(("Idempotency-Replayed", "true"))
            return response
        case .keyReused:
            throw APIError.keyReused()
        case .overQuota(let holder):
            let whose = holder == .token ? "this token" : "this client address"
            let alone = SpoolRecord.headerSize + spooled.encoded().count
            var error = APIError(
                status: 429, code: "rate_limited",
                message: "The database is unavailable and "
                    + (alone > spool.quota.bytes(of: holder)
                        ? "this request alone is larger than \(whose) may have waiting (\(alone) bytes as stored, of"
                            + " \(spool.quota.bytes(of: holder))); nothing was applied. Send it in smaller batches, or"
                            + " once the database is back."
                        : "\(whose) already has as many requests waiting as it may; nothing was applied. Retry later."))
            error.headers = [("Retry-After", String(SpoolQuota.retryAfterSeconds))]
            return error.response(
                requestID: request.requestID,
                logNote: "database unavailable (\(unavailable.message)); spool quota of the \(holder) reached")
        case .full:
            return Self.notStored(
                request, because: "the spool of pending requests is full",
                logNote: "database unavailable (\(unavailable.message)); spool full")
        }
    }

    /// What the spool stores of a money-moving request (its canonical path, its body written compactly, its key
    /// and the fingerprint a repeat is matched by), checked as far as it can be without the database: a
    /// malformed request is refused at once and never stored, and so is one its caller may not ask for (an
    /// atomic batch: its first such item, with the item's index, as the ledger would refuse it). A non-atomic
    /// batch is stored whole: its items refused for the caller's rights are refused item by item at replay, as
    /// they are live. Nil when the request has no key.
    private func spoolable(_ request: HTTPRequest, endpoint: Endpoint, caller: Caller) throws
        -> (path: String, body: [UInt8], key: String, fingerprint: String)?
    {
        if endpoint == .createBatch {
            let command = try BatchCommand.parse(body: request.body)
            guard let idempotency = try idempotencyContext(request, fingerprint: command.fingerprint) else {
                return nil
            }
            if command.atomic, let (index, refusal) = command.firstItemNotAllowed(for: caller) {
                throw Self.itemError(.refused(refusal), shownTo: caller).atItem(index)
            }
            return (
                "/api/batches", command.compactBody, idempotency.key, BatchCommand.spoolFingerprint(idempotency)
            )
        }
        guard let command = try MovementCommand.parse(endpoint, body: request.body),
            let idempotency = try idempotencyContext(request, fingerprint: command.fingerprint)
        else { return nil }
        guard command.isAllowed(for: caller) else {
            throw APIError.forbidden(
                command.requiresService ? Self.serviceOnly : "You may move money only from your own account.")
        }
        return (command.path, command.compactBody, idempotency.key, idempotency.fingerprint)
    }

    /// 503 for a request the spool could not take while the database is down: nothing was applied.
    private static func notStored(_ request: HTTPRequest, because reason: String, logNote: String) -> HTTPResponse {
        APIError.unavailable("The database is unavailable and \(reason); nothing was applied. Retry shortly.")
            .response(requestID: request.requestID, logNote: logNote)
    }

    static func pendingResponse(_ spooled: SpooledRequest) -> HTTPResponse {
        HTTPResponse(
            status: 202,
            json: .object([("status", .string("pending")), ("idempotency_key", .string(spooled.idempotencyKey))]))
    }

    /// GET /api/requests/{key}: where the caller's request under `key` stands. The database's record wins (the
    /// request was applied or refused, or was sent live); else the spool's (pending, matched by the token's
    /// hash, which works while the database is down); else 404.
    func requestStatus(_ request: HTTPRequest, key: String) throws -> HTTPResponse {
        let token = try presentedToken(request)
        do {
            let caller = try authenticate(request).caller
            if let outcome = try ledger.requestOutcome(caller: caller, key: key) {
                return HTTPResponse(status: 200, json: Self.outcome(outcome, key: key, shownTo: caller))
            }
        } catch let error as PostgresError where error.isUnavailable {
            guard let waiting = try? spool?.pending(tokenHash: token.hash, key: key) else { throw error }
            return HTTPResponse(status: 200, json: Self.pending(waiting))
        }
        if let waiting = try spool?.pending(tokenHash: token.hash, key: key) {
            return HTTPResponse(status: 200, json: Self.pending(waiting))
        }
        throw APIError.notFound("No request of yours was sent with the Idempotency-Key \(key.prefix(255)).")
    }

    static func pending(_ spooled: SpooledRequest) -> JSONValue {
        .object([
            ("status", .string("pending")),
            ("idempotency_key", .string(spooled.idempotencyKey)),
            ("accepted_at", .string(Timestamp.rfc3339(microsecondsSince1970: spooled.acceptedAt * 1_000_000))),
        ])
    }

    /// What a request under `key` ended as, as `viewer` (the key's owner) may see it: a user, their own balance
    /// only, and a refusal for going past the largest balance without the recipient's balance.
    static func outcome(_ outcome: RequestOutcome, key: String, shownTo viewer: Caller) -> JSONValue {
        var members: [(String, JSONValue)] = []
        switch outcome {
        case .applied(let movement):
            members = [
                ("status", .string("applied")),
                (
                    "movement",
                    movement.kind == .transfer || movement.kind == .reversal
                        ? Representation.transfer(movement, shownTo: viewer) : Representation.feedEntry(movement)
                ),
            ]
        case .createdUser(let id):
            members = [("status", .string("applied")), ("user_id", .integer(id))]
        case .batch(let id):
            members = [("status", .string("applied")), ("batch_id", .integer(id))]
        case .hold(let id):
            members = [("status", .string("applied")), ("hold_id", .integer(id))]
        case .refused, .itemKeyReused:
            let error =
                switch outcome {
                case .refused(let refusal): APIError.refusal(refusal, quotingRecipient: viewer.isService)
                default: Self.itemError(.keyReused, shownTo: viewer)
                }
            var detail: [(String, JSONValue)] = [("code", .string(error.code)), ("message", .string(error.message))]
            if let field = error.field { detail.append(("field", .string(field))) }
            members = [("status", .string("refused")), ("error", .object(detail))]
        }
        members.insert(("idempotency_key", .string(key)), at: 1)
        return .object(members)
    }
}
