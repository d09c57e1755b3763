# shellcheck shell=bash
# The benchmark's own throwaway stack (PostgreSQL cluster, pool, nginx under one temporary folder STATE, as
# scripts/lib.sh builds them; make run's data is left alone) and what the scenarios read from its database.
# Sourced by bench.sh; sets and uses its globals (STATE, PG_DIR, BIN, CONNINFO, POOL_CONNINFO, PORT, BASE_URL, TOKEN, ...).
# Globals cross the benchmark's files, which shellcheck reads one at a time: this file sets some that bench.sh
# and the other bench/lib files read (SC2034).
# shellcheck disable=SC2034

# sql [psql args...]: psql on the bench database, as its owner (CONNINFO: the HA cluster's while the ha
# scenario runs, bench/lib/ha.sh).
sql() { psql -X -q -v ON_ERROR_STOP=1 "$CONNINFO" "$@"; }
sql_value() { sql -tA -c "$1"; }

# Starts the stack with USERS seeded users and WORKERS workers, and sets FIRST_USER, TOKEN and BASE_URL.
stack_up() {
    STATE=$(mktemp -d /tmp/tally-bench.XXXXXX)
    chmod 755 "$STATE"
    PG_DIR=$STATE/pg
    # Default (durable) settings: the ceiling runs on this same cluster, so both pay the same commit cost.
    # A larger max_wal_size only spares the seeding of millions of movements a checkpoint every few seconds.
    pg_start "$PG_DIR" "max_wal_size = 4GB"
    # The owner's conninfo (migrations, seeding, verify, admin-token); the pool connects as tally_pool.
    CONNINFO=$(pg_conninfo "$PG_DIR")
    POOL_CONNINFO=$(pg_pool_conninfo "$PG_DIR")
    CEILING_PGENV=(PGHOST="$(pg_socket_dir "$PG_DIR")" PGPORT=5432 PGUSER="$PG_USER")
    "$BIN" migrate --database "$CONNINFO" >/dev/null
    seed_users
    serve_stack
}

# USERS users in SQL (bench/sql/users.sql) on the database at CONNINFO; sets FIRST_USER.
seed_users() {
    sql -v users="$USERS" -f "$BENCH_DIR/sql/users.sql"
    local range last count
    range=$(sql_value "SELECT min(id), max(id), count(*) FROM users WHERE NOT is_system" | tr '|' ' ')
    read -r FIRST_USER last count <<<"$range"
    { [ "$count" -eq "$USERS" ] && [ $((last - FIRST_USER + 1)) -eq "$USERS" ]; } ||
        die "expected $USERS users with consecutive ids, got: $range"
}

# The service role's token, and the pool and nginx (on a free port) of the stack in STATE over CONNINFO's database;
# sets TOKEN, PORT and BASE_URL.
serve_stack() {
    TOKEN=$("$BIN" admin-token --database "$CONNINFO")
    PORT=$(free_port)
    BASE_URL=http://127.0.0.1:$PORT
    restart_pool "$WORKERS"
    nginx_render "$PORT" "$(stack_socket "$STATE")" "$TALLY_ROOT/www" "$STATE"
    nginx_start "$STATE" "$PORT"
}

# restart_pool N: the pool anew with N workers (nginx keeps the same socket path), started fresh so that its
# counters and its workers' memory start from zero.
restart_pool() {
    pool_start "$BIN" "$STATE" "$POOL_CONNINFO" --workers "$1"
    # The socket is open before every worker has its database connection: wait until they all do.
    local i
    for ((i = 0; i < 100; i++)); do
        [ "$(worker_pids | wc -l)" -ge "$1" ] && break
        sleep 0.1
    done
    sleep 0.5
}

# The worker processes of the running pool's main lane (the batch lane's are named batches-N).
worker_pids() { pgrep -P "$(pool_pid "$STATE")" -f 'worker-slot [0-9]' | sort -n; }

# Resident memory of a process in kB (VmRSS), or 0 when it is gone.
rss_kb() { awk '/^VmRSS:/ {print $2; found = 1} END {if (!found) print 0}' "/proc/$1/status" 2>/dev/null || echo 0; }

journal_size() { sql_value "SELECT count(*) FROM movements"; }
transfers_in_journal() { sql_value "SELECT count(*) FROM movements WHERE kind = 'transfer'"; }
pending_holds() { sql_value "SELECT count(*) FROM holds WHERE status = 'pending' AND expires_at > now()"; }
balances_sum() { sql_value "SELECT sum(balance) FROM users WHERE NOT is_system"; }

# grow_journal TARGET: adds transfer pairs in SQL (bench/sql/movements.sql) until the journal holds about
# TARGET movements, then VACUUM ANALYZE (as autovacuum would have done by then) and a checkpoint, so that the
# load measured next does not pay for the seeding.
grow_journal() {
    local target=$1 now pairs started
    now=$(journal_size)
    pairs=$(((target - now) / 2))
    if [ "$pairs" -gt 0 ]; then
        log "== journal: $now movements; adding $((2 * pairs)) in SQL"
        started=$SECONDS
        sql -v pairs="$pairs" -v first="$FIRST_USER" -v users="$USERS" -f "$BENCH_DIR/sql/movements.sql"
        sql -c "VACUUM ANALYZE movements" -c "CHECKPOINT"
        log "== journal: $(journal_size) movements ($((SECONDS - started)) s to seed)"
    fi
}

old_keys() { sql_value "SELECT count(*) FROM idempotency_keys WHERE created_at < now() - interval '1 day'"; }

# Runs the workers' purge batch (bench/sql/purge.sql: 1,000 keys past 24 h, each batch its own READ COMMITTED
# transaction, as in the pool) in one psql session after another until no old key is left, and prints
# "PURGED SECONDS FAILED": a batch that fails (a deadlock, say) is simply run again later.
purge_old_keys() {
    local purged=0 failed=0 round i left started
    started=$(date +%s.%N)
    for ((round = 0; round < 10; round++)); do
        left=$(old_keys)
        [ "$left" -gt 0 ] || break
        for ((i = 0; i < left / 1000 + 2; i++)); do cat "$BENCH_DIR/sql/purge.sql"; done |
            PGOPTIONS="-c default_transaction_isolation=read\\ committed" \
                sql -v ON_ERROR_STOP=0 -tA -v retention=86400 -f - >"$STATE/purge.batches" 2>"$STATE/purge.errors" || true
        purged=$((purged + $(awk '{ n += $1 } END { print n + 0 }' "$STATE/purge.batches")))
        failed=$((failed + $(grep -c 'ERROR' "$STATE/purge.errors" || true)))
    done
    echo "$purged $(awk -v a="$started" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') $failed"
}

# The nginx access log's length, and what came after a given line.
access_log_lines() { wc -l <"$STATE/log/nginx-access.log"; }
access_log_since() { tail -n +"$(($1 + 1))" "$STATE/log/nginx-access.log"; }

# verify_ledger: `tally verify` (every balance against the journal; the books sum to zero); 0 when clean.
verify_ledger() { "$BIN" verify --database "$CONNINFO" >"$STATE/verify.txt" 2>&1; }
