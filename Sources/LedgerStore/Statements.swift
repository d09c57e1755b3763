/// The SQL the ledger runs, prepared once per connection. Values are always `$n` parameters.
enum Statement: String, CaseIterable {
    case move
    case createUser
    case userByID
    case usersAfter
    case usersNamedAfter
    case stats
    case movementByID
    case entriesOfUser
    case movementsBefore
    case ping
    case purgeIdempotencyKeys
    case purgeEndedTokens
    case caller
    case liveToken
    case credentials
    case loginState
    case loginFailed
    case clearLoginFailures
    case issueToken
    case revokeToken
    case cashContext
    case cashEvent
    case alertsBefore
    case alertsOfUser
    case requestOutcome
    case recordRefusal
    case lockAccount
    case lockAccounts
    case unlockAccounts
    case waitForAccounts
    case inDoubt
    case lockBatches
    case lockBatchAccounts
    case holdBatchRows
    case waitForManyAccounts
    case batchStart
    case batchTransfers
    case recordBatch
    case refuseBatchKey
    case batchByID
    case batchMovements
    case movementBatches
    case changeLimits
    case placeHold
    case captureHold
    case voidHold
    case holdByID
    case holdsOfUser
    case holdParties
    case reverse
    case transferParties
    case reversalsOf

    var sql: String {
        switch self {
        // Per-account locks taken before a movement's transaction (see PostgresLedger.lockedSteps).
        case .lockAccount: "SELECT pg_advisory_lock($1)"
        case .lockAccounts: "SELECT pg_advisory_lock($1), pg_advisory_lock($2)"
        case .unlockAccounts: "SELECT pg_advisory_unlock_all()"
        // Run READ COMMITTED (no predicate locks): returns once nobody else holds the accounts' rows.
        case .waitForAccounts: "SELECT FROM users WHERE id IN ($1, $2) ORDER BY id FOR NO KEY UPDATE"
        // Whether a movement ($1), a user ($2), a batch ($3) or a hold ($5: placed, whatever became of it since;
        // or settled as $6) whose commit was not confirmed is there, and whether
        // the server process of the session that made it ($4) still runs (and so could still commit it).
        case .inDoubt:
            """
            SELECT EXISTS (SELECT FROM movements WHERE id = $1) OR EXISTS (SELECT FROM users WHERE id = $2) \
            OR EXISTS (SELECT FROM batches WHERE id = $3) \
            OR EXISTS (SELECT FROM holds WHERE id = $5 AND ($6 = 'pending' OR status = $6)) AS committed, \
            EXISTS (SELECT FROM pg_stat_activity WHERE pid = $4) AS session_alive
            """
        // Batches take turns (see PostgresLedger.applyBatch): one lock, in the two-key space, apart from the
        // accounts' one-key locks.
        case .lockBatches: "SELECT pg_advisory_lock(1952541042, 1)"
        // A batch's accounts, each with the per-account lock contended single movements take (lockedSteps), in
        // id order; the outside world (0) has none.
        case .lockBatchAccounts:
            """
            SELECT count(pg_advisory_lock(a.id)) AS locked
            FROM (SELECT DISTINCT id FROM unnest($1::bigint[]) AS id WHERE id > 0 ORDER BY id) a
            """
        // A batch going item by item takes its accounts' rows first, in id order, as every movement does: items
        // in their own order could otherwise meet a single movement taking the same rows the other way round.
        case .holdBatchRows, .waitForManyAccounts:
            """
            SELECT count(*) AS held FROM (SELECT FROM users WHERE id = ANY($1) ORDER BY id FOR NO KEY UPDATE) AS rows
            """
        case .batchStart: "SELECT * FROM tally_batch_start($1, $2, $3, $4)"
        case .batchTransfers: "SELECT * FROM tally_batch_transfers($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
        case .recordBatch:
            // `applied` names what the batch's transaction made, for settling a commit in doubt.
            """
            INSERT INTO batches (id, atomic, sender_user_id, movement_ids, outcomes, details, request_id)
            SELECT $1, $2, c.user_id, $4, $5, $6, $7 FROM tally_caller($3) c
            RETURNING 'applied' AS outcome, id AS batch_id, \
            (extract(epoch FROM created_at) * 1000000)::bigint AS created_at_us
            """
        case .refuseBatchKey:
            """
            UPDATE idempotency_keys SET outcome = $3, detail = $4, batch_index = $5, result_id = NULL
            WHERE owner = $1 AND key = $2
            """
        case .movementBatches: "SELECT id, batch_id FROM movements WHERE id = ANY($1)"
        case .batchByID:
            """
            SELECT id, atomic, sender_user_id, movement_ids, outcomes, details, \
            (extract(epoch FROM created_at) * 1000000)::bigint AS created_at_us FROM batches WHERE id = $1
            """
        case .batchMovements:
            // A deposit's or withdrawal's alert codes beside it, as its own answer gave them.
            """
            SELECT \(Self.movementColumns), CASE WHEN kind IN ('deposit', 'withdrawal') THEN \
            ARRAY(SELECT a.code FROM alerts a WHERE a.movement_id = m.id ORDER BY a.code) END AS alert_codes
            FROM movements m WHERE id = ANY((SELECT movement_ids FROM batches WHERE id = $1)::bigint[])
            """
        case .move:
            // One row of tally_move_result (migration 8). Called in FROM: with a named row type, that was
            // cheaper than the select-list form `(m).*` (callgrind, single-user postgres).
            "SELECT * FROM tally_move($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        case .createUser:
            "SELECT *, 0::bigint AS held FROM tally_create_limited_user($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        case .changeLimits:
            "SELECT * FROM tally_change_limits($1, $2, $3, $4, $5)"
        // Holds (migration 17): each function's row is the outcome and the hold (tally_hold_result).
        case .placeHold: "SELECT * FROM tally_hold_place($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        case .captureHold: "SELECT * FROM tally_hold_capture($1, $2, $3, $4, $5, $6)"
        case .voidHold: "SELECT * FROM tally_hold_void($1, $2, $3, $4, $5)"
        case .holdByID: "SELECT v.* FROM holds h, tally_hold_view(h) v WHERE h.id = $1"
        case .holdsOfUser:
            // As payer or payee (two index scans, merged), newest first; $3 filters by the status as of now.
            """
            SELECT v.* FROM holds h, tally_hold_view(h) v
            WHERE (h.payer_user_id = $1 OR h.payee_user_id = $1) AND h.id < $2
              AND ($3::text IS NULL OR v.hold_status = $3)
            ORDER BY h.id DESC LIMIT $4
            """
        // The accounts a capture or void will touch, read before its transaction to queue for their locks.
        case .holdParties: "SELECT payer_user_id AS debit, payee_user_id AS credit FROM holds WHERE id = $1"
        case .reverse: "SELECT * FROM tally_reverse($1, $2, $3, $4, $5, $6, $7)"
        case .transferParties:
            "SELECT credit_user_id AS debit, debit_user_id AS credit FROM movements WHERE id = $1"
        case .reversalsOf:
            "SELECT \(Self.movementColumns) FROM movements WHERE reversal_of = $1 ORDER BY id"
        case .userByID:
            "SELECT \(Self.userColumns) FROM users WHERE id = $1 AND NOT is_system"
        case .usersAfter:
            "SELECT \(Self.userColumns) FROM users WHERE id > $1 AND NOT is_system ORDER BY id LIMIT $2"
        case .usersNamedAfter:
            // strpos, not LIKE: the search text needs no escaping of % and _.
            """
            SELECT \(Self.userColumns) FROM users
            WHERE id > $1 AND NOT is_system AND strpos(lower(name), lower($3)) > 0 ORDER BY id LIMIT $2
            """
        case .stats:
            // The sum stays numeric: every balance may reach the bigint's largest value, so two already exceed it.
            """
            SELECT (SELECT count(*) FROM users WHERE NOT is_system) AS users,
                   (SELECT coalesce(sum(balance), 0) FROM users WHERE NOT is_system) AS money,
                   (SELECT count(*) FROM movements WHERE created_at >= to_timestamp($1::bigint)) AS movements,
                   (SELECT count(*) FROM alerts WHERE created_at >= to_timestamp($1::bigint)) AS alerts
            """
        case .movementByID:
            "SELECT \(Self.movementColumns) FROM movements WHERE id = $1"
        case .entriesOfUser:
            // Two index scans, each already newest first and limited, merged: no sort of the whole history.
            """
            SELECT * FROM (
                (SELECT \(Self.movementColumns) FROM movements
                 WHERE debit_user_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3)
                UNION ALL
                (SELECT \(Self.movementColumns) FROM movements
                 WHERE credit_user_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3)
            ) AS entries ORDER BY id DESC LIMIT $3
            """
        case .movementsBefore:
            "SELECT \(Self.movementColumns) FROM movements WHERE id < $1 ORDER BY id DESC LIMIT $2"
        case .ping:
            "SELECT 1"
        case .purgeIdempotencyKeys:
            """
            WITH gone AS (
                DELETE FROM idempotency_keys WHERE (owner, key) IN (
                    SELECT owner, key FROM idempotency_keys WHERE created_at < now() - make_interval(secs => $1)
                    ORDER BY created_at LIMIT $2)
                RETURNING 1)
            SELECT count(*) AS purged FROM gone
            """
        case .purgeEndedTokens:
            // least() skips a NULL: the moment the token ended, whichever came first (tokens_ended_at indexes it).
            """
            WITH gone AS (
                DELETE FROM tokens WHERE hash IN (
                    SELECT hash FROM tokens
                    WHERE least(revoked_at, expires_at) < now() - make_interval(secs => $1)
                    ORDER BY least(revoked_at, expires_at) LIMIT $2)
                RETURNING 1)
            SELECT count(*) AS purged FROM gone
            """
        case .caller:
            "SELECT user_id, role FROM tally_caller($1)"
        case .liveToken:
            // tally_caller decides whether the token is live; its expiry is read beside it.
            """
            SELECT c.user_id, c.role, (extract(epoch FROM t.expires_at) * 1000000)::bigint AS expires_at_us
            FROM tally_caller($1) c JOIN tokens t ON t.hash = $1
            """
        case .credentials:
            """
            SELECT \(Self.userColumns), password_hash FROM users
            WHERE lower(username) = lower($1) AND password_hash IS NOT NULL
            """
        case .loginState:
            // One row whether or not the user exists: the failures are counted by username, known or not.
            """
            SELECT u.id, u.name, u.username, u.balance,
                   (extract(epoch FROM u.created_at) * 1000000)::bigint AS created_at_us, u.password_hash,
                   f.username_key IS NOT NULL AS has_failures,
                   greatest(coalesce(ceil(extract(epoch FROM f.locked_until - now())), 0), 0)::integer AS locked_for
            FROM (SELECT lower($1) AS username_key) k
            LEFT JOIN users u ON lower(u.username) = k.username_key AND u.password_hash IS NOT NULL
            LEFT JOIN login_failures f ON f.username_key = k.username_key
            """
        case .loginFailed:
            "SELECT tally_login_failed($1, $2, $3, $4, $5, $6) AS locked_for"
        case .clearLoginFailures:
            "DELETE FROM login_failures WHERE username_key = lower($1)"
        case .issueToken:
            """
            INSERT INTO tokens (hash, user_id, role, expires_at)
            VALUES ($1, $2, $3, CASE WHEN $4::bigint IS NULL THEN NULL ELSE now() + make_interval(secs => $4) END)
            RETURNING (extract(epoch FROM expires_at) * 1000000)::bigint AS expires_at_us
            """
        case .cashContext:
            "SELECT * FROM tally_cash_context($1, $2, $3, $4, $5)"
        case .cashEvent:
            "SELECT * FROM tally_cash_event($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
        case .alertsBefore:
            """
            SELECT \(Self.alertColumns) FROM alerts a LEFT JOIN movements m ON m.id = a.movement_id
            WHERE a.id < $1 ORDER BY a.id DESC LIMIT $2
            """
        case .alertsOfUser:
            """
            SELECT \(Self.alertColumns) FROM alerts a LEFT JOIN movements m ON m.id = a.movement_id
            WHERE a.user_id = $1 AND a.id < $2 ORDER BY a.id DESC LIMIT $3
            """
        case .requestOutcome:
            // An applied movement stores no detail; a created user stores its initial balance there, and its
            // result_id is the user's id, not a movement's.
            """
            SELECT k.outcome, k.detail, k.result_id, k.hold_id AS placed_hold_id, m.*
            FROM idempotency_keys k
            LEFT JOIN LATERAL (
                SELECT \(Self.movementColumns) FROM movements
                WHERE id = k.result_id AND k.outcome = 'applied' AND k.detail IS NULL
            ) m ON true
            WHERE k.owner = $1 AND k.key = $2 AND k.outcome <> 'pending'
            """
        case .recordRefusal:
            """
            INSERT INTO idempotency_keys (owner, key, fingerprint, outcome, detail, request_id)
            SELECT COALESCE(c.user_id, 0), $2, sha256(convert_to($3, 'UTF8')), $4, $5, $6 FROM tally_caller($1) c
            ON CONFLICT DO NOTHING
            RETURNING key
            """
        case .revokeToken:
            """
            UPDATE tokens SET revoked_at = now()
            WHERE hash = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())
            RETURNING role
            """
        }
    }

    static let alertColumns = """
        a.id, a.code, a.user_id, a.movement_id, COALESCE(m.kind, a.refused_kind) AS kind, \
        COALESCE(m.amount, a.refused_amount) AS amount, \
        (extract(epoch FROM a.created_at) * 1000000)::bigint AS created_at_us
        """
    /// A user's columns; `held` as of now: holds past their expiry that no debit has released yet are left out.
    static let userColumns = """
        id, name, username, balance, (extract(epoch FROM created_at) * 1000000)::bigint AS created_at_us, \
        credit_limit, daily_debit_limit, time_zone, \
        CASE WHEN next_hold_expiry IS NULL OR next_hold_expiry > now() THEN held ELSE \
        (SELECT COALESCE(sum(h.amount), 0) FROM holds h \
        WHERE h.payer_user_id = users.id AND h.status = 'pending' AND h.expires_at > now()) END AS held
        """
    static let movementColumns = """
        id, kind, debit_user_id, credit_user_id, amount, debit_balance_after, credit_balance_after, memo, \
        (extract(epoch FROM created_at) * 1000000)::bigint AS created_at_us, batch_id, hold_id, reversal_of
        """
}
