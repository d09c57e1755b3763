#!/usr/bin/env bash
# `make bench`: Tally's transfers/s through nginx beside the ceiling of this machine, taken in the same run.
#
# A throwaway stack (own PostgreSQL cluster, pool, nginx on a free port; make run's data is left alone) is
# seeded with 10,000 users, then wrk POSTs /api/transfers of 0.01 between random users. The ceiling
# (../shared/ceiling/run.sh: a minimal C responder, same nginx -> libfcgi -> libpq -> PostgreSQL path) runs
# against the same cluster with the same connections, duration and worker count. Absolute figures drift on
# shared machines; the ratio is the figure to quote. `tally verify` runs at the end.
#
# Scenarios (BENCH_SCENARIOS, default "uniform hot hot-64 uniform-key events ping"; QUICK=1: "uniform hot ping",
# 5 s each):
#   uniform      from and to drawn at random among the 10,000 users (ceiling: default mode)
#   hot          from one of 10 users, to any other (contention; ceiling: --hot)
#   hot-64       the same with 64 connections (ceiling: --hot -c 64)
#   ping         GET /api/ping: the pool without the database (ceiling: --noop)
#   uniform-key  as uniform, each request with its own Idempotency-Key (compared with the uniform ceiling)
#   events       POST /api/event: deposits and withdrawals of 0.01-1.00 across the first 1,000 users, each
#                judged by the alert rules (two round trips: the rules read the user's history first);
#                compared with the uniform ceiling, beside the transfers of the same run
# Knobs: BENCH_CONNECTIONS (16), BENCH_SECONDS (10), BENCH_WORKERS (16, for both pools).
set -euo pipefail
source "$(dirname "$0")/../scripts/lib.sh"

USERS=10000
CONNS=${BENCH_CONNECTIONS:-16}
WORKERS=${BENCH_WORKERS:-16}
if [ -n "${QUICK:-}" ]; then
    SECS=${BENCH_SECONDS:-5}
    SCENARIOS=${BENCH_SCENARIOS:-uniform hot ping}
else
    SECS=${BENCH_SECONDS:-10}
    SCENARIOS=${BENCH_SCENARIOS:-uniform hot hot-64 uniform-key events ping}
fi
# URL=http://host:port TOKEN=... : load a running Tally instead (no ceiling, no SQL seeding).
TARGET_URL=${URL:-}
TARGET_TOKEN=${TOKEN:-}
CEILING=$(cd "$TALLY_ROOT/.." && pwd)/shared/ceiling/run.sh
RESULTS=$TALLY_ROOT/var/bench-results.txt
LOG_KEEP=$TALLY_ROOT/var/bench-logs
STATE=
PORT=
FIRST_USER=
BASE_URL=
# Set when the stack is ours: its logs and database can be read.
STATE_LOGS=

cleanup() {
    local status=$?
    trap - EXIT INT TERM
    # Keep the logs (pool, nginx, wrk output) for a look at what the figures hide.
    [ -z "$STATE" ] || stack_teardown "$STATE" "$LOG_KEEP" "$STATE"/wrk-*.txt
    exit "$status"
}

# 10,000 users with 1,000.00 each, through the real schema: every balance has its deposit in the journal,
# so that `tally verify` holds. (SQL rather than 10,000 API calls: the seed is not what is measured.)
seed_users() {
    pg_psql "$STATE/pg" tally <<SQL
BEGIN;
INSERT INTO users (name, balance) SELECT 'bench user ' || g, 100000 FROM generate_series(1, $USERS) AS g;
INSERT INTO movements (kind, debit_user_id, credit_user_id, amount, debit_balance_after, credit_balance_after, memo)
    SELECT 'deposit', 0, id, balance, NULL, balance, 'bench seed' FROM users WHERE NOT is_system ORDER BY id;
COMMIT;
ANALYZE;
SQL
    local range
    range=$(pg_psql "$STATE/pg" tally -tA -F ' ' -c "SELECT min(id), max(id), count(*) FROM users WHERE NOT is_system")
    read -r FIRST_USER last count <<<"$range"
    [ "$count" -eq "$USERS" ] && [ $((last - FIRST_USER + 1)) -eq "$USERS" ] ||
        die "expected $USERS users with consecutive ids, got: $range"
}

# The wrk script for a scenario. Same draw as the ceiling's (math.random, unseeded), ids shifted to ours,
# and never a transfer to oneself (Tally refuses those; the ceiling does not check).
write_lua() {
    local scenario=$1 file=$2
    if [ "$scenario" = events ]; then
        write_events_lua "$file"
        return
    fi
    if [ "$scenario" = ping ]; then
        # With the token: nginx does not rate-limit requests that carry one (ping itself ignores it).
        printf 'wrk.method = "GET"\nwrk.path = "/api/ping"\nwrk.headers["Authorization"] = "Bearer %s"\n' \
            "$ADMIN_TOKEN" >"$file"
        return
    fi
    cat >"$file" <<LUA
local lo, n = $FIRST_USER, $USERS
local hot = "$scenario" == "hot" or "$scenario" == "hot-64"
local keyed = "$scenario" == "uniform-key"
local prefix = tostring(os.time())
local counter = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $ADMIN_TOKEN"
function setup(thread)
  thread:set("tid", tostring(math.random(1, 1000000000)))
end
request = function()
  local s, d
  if hot then
    s = lo + math.random(0, 9); d = lo + math.random(10, n - 1)
  else
    s = lo + math.random(0, n - 1); d = lo + math.random(0, n - 2)
    if d >= s then d = d + 1 end
  end
  local headers = nil
  if keyed then
    counter = counter + 1
    -- Random first, as a client's UUIDs would be (keys that all sort together would crowd one index page);
    -- the thread and counter make each key unique.
    -- A headers table replaces wrk.headers: repeat the ones every request needs.
    headers = { ["Content-Type"] = "application/json", ["Authorization"] = "Bearer $ADMIN_TOKEN",
      ["Idempotency-Key"] = string.format("%08x%08x-%s-%s-%d",
      math.random(0, 0x7fffffff), math.random(0, 0x7fffffff), prefix, tid, counter) }
  end
  return wrk.format(nil, "/api/transfers", headers,
    string.format('{"from_user_id":%d,"to_user_id":%d,"amount":"0.01"}', s, d))
end
LUA
}

# The events scenario: t must increase per user, so each wrk thread keeps its own users (thread k takes the
# users whose offset is k modulo the thread count) and a clock that only goes up. Two connections of one
# thread can still deliver one user's events out of order; those rare 422s show in the non-2xx column.
write_events_lua() {
    cat >"$1" <<LUA
local lo, n = $FIRST_USER, 1000
local threads, next_tid = 2, 0
local clock = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $ADMIN_TOKEN"
function setup(thread)
  thread:set("tid", next_tid)
  next_tid = next_tid + 1
end
request = function()
  clock = clock + 1
  local user = lo + tid + threads * math.random(0, n / threads - 1)
  local kind = (math.random(1, 2) == 1) and "deposit" or "withdraw"
  return wrk.format(nil, "/api/event", nil, string.format(
    '{"type":"%s","amount":"%d.%02d","user_id":%d,"t":%d}', kind, 0, math.random(1, 99), user, clock))
end
LUA
}

# Milliseconds from one of wrk's latency figures (850.00us, 1.20ms, 1.02s).
ms() { awk -v v="$1" 'BEGIN { if (v ~ /us$/) printf "%.3f", v/1000; else if (v ~ /ms$/) printf "%.3f", v+0; else printf "%.3f", v*1000 }'; }

access_log_lines() { wc -l <"$STATE/log/nginx-access.log"; }

# "201=N 503=M ..." for the access log's lines after line FROM: what the non-2xx were.
statuses_since() {
    tail -n +"$(($1 + 1))" "$STATE/log/nginx-access.log" |
        grep -o '"status":[0-9]*' | cut -d: -f2 | sort | uniq -c | awk '{printf "%s=%s ", $2, $1}'
}

connections_for() { [ "$1" = hot-64 ] && echo 64 || echo "$CONNS"; }

# The pool's serialization retries so far (GET /api/status, which nginx answers to this host).
retries_so_far() {
    curl -s "$BASE_URL/api/status" | python3 -c 'import json, sys; print(json.load(sys.stdin)["serialization_retries"])' \
        2>/dev/null || echo 0
}

# Transfers in the journal (to check each 201 is there once: nothing lost, nothing doubled).
transfers_in_journal() {
    pg_psql "$STATE/pg" tally -tA -c "SELECT count(*) FROM movements WHERE kind = 'transfer'"
}

# Runs wrk for a scenario against Tally and prints "rps p50_ms p99_ms non2xx retries_per_1000".
bench_tally() {
    local scenario=$1 lua=$STATE/$1.lua out before retries_before journal_before=0
    write_lua "$scenario" "$lua"
    [ -z "$STATE_LOGS" ] || before=$(access_log_lines)
    retries_before=$(retries_so_far)
    [ -n "$TARGET_URL" ] || journal_before=$(transfers_in_journal)
    out=$(wrk -t2 -c"$(connections_for "$scenario")" -d"${SECS}s" --latency -s "$lua" "$BASE_URL/")
    printf '%s\n' "$out" >"$STATE/wrk-$scenario.txt"
    local rps p50 p99 non2xx errors
    rps=$(awk '/Requests\/sec/ {printf "%d", $2}' <<<"$out")
    p50=$(ms "$(awk '$1=="50%" {print $2}' <<<"$out")")
    p99=$(ms "$(awk '$1=="99%" {print $2}' <<<"$out")")
    non2xx=$(awk '/Non-2xx/ {print $NF}' <<<"$out")
    errors=$(awk '/Socket errors/ {print}' <<<"$out")
    [ -z "$errors" ] || log "tally $scenario: $errors"
    local total ok retries per_thousand
    total=$(awk '/requests in/ {print $1}' <<<"$out")
    ok=$((total - ${non2xx:-0}))
    retries=$(($(retries_so_far) - retries_before))
    per_thousand=$(awk -v r="$retries" -v n="$ok" 'BEGIN { if (n > 0) printf "%.1f", 1000 * r / n; else print "-" }')
    if [ -n "$STATE_LOGS" ]; then
        log "tally $scenario: responses by status: $(statuses_since "$before")"
        case "$scenario" in
            uniform | hot | hot-64 | uniform-key)
                # Every 2xx transfer is in the journal once: the journal grew by exactly the successes.
                # (nginx's log, not wrk's count: wrk stops counting at the deadline, answers still arriving.)
                # A request wrk abandoned at the deadline (nginx logs 499) may have committed or not.
                local grown created abandoned
                grown=$(($(transfers_in_journal) - journal_before))
                created=$(tail -n +"$((before + 1))" "$STATE/log/nginx-access.log" |
                    grep '"uri":"/api/transfers"' | grep -c '"status":201' || true)
                abandoned=$(tail -n +"$((before + 1))" "$STATE/log/nginx-access.log" |
                    grep '"uri":"/api/transfers"' | grep -c '"status":499' || true)
                [ "$grown" -ge "$created" ] && [ "$grown" -le $((created + abandoned)) ] ||
                    die "tally $scenario: $created transfers answered 201 ($abandoned abandoned), the journal grew by $grown"
                log "tally $scenario: the journal grew by $grown: the $created answered 201, and $((grown - created)) of $abandoned abandoned at the end"
                ;;
        esac
    fi
    echo "$rps $p50 $p99 ${non2xx:-0} $per_thousand"
}

# Runs the ceiling against the same cluster and prints "rps p50_ms p99_ms non2xx".
bench_ceiling() {
    local mode_flag=() line
    case "$1" in
        hot | hot-64) mode_flag=(--hot) ;;
        ping) mode_flag=(--noop) ;;
    esac
    line=$(PGHOST=$(pg_socket_dir "$STATE/pg") PGPORT=5432 PGUSER=$PG_USER \
        "$CEILING" -c "$(connections_for "$1")" -d "$SECS" -w "$WORKERS" "${mode_flag[@]}")
    log "$line"
    awk '{ for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
           print v["requests_per_s"], v["p50_ms"], v["p99_ms"], v["non2xx"] }' <<<"$line"
}

print_table() {
    local rows=$1
    printf '%-12s %9s %10s %6s %17s %17s %12s %15s\n' scenario tally/s ceiling/s ratio "p50 ms (t / c)" \
        "p99 ms (t / c)" "retries/1000" "non-2xx (t / c)"
    local scenario t_rps t_p50 t_p99 t_non t_retries c_rps c_p50 c_p99 c_non ratio
    while read -r scenario t_rps t_p50 t_p99 t_non t_retries c_rps c_p50 c_p99 c_non; do
        ratio=$(awk -v a="$t_rps" -v b="$c_rps" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }')
        printf '%-12s %9s %10s %6s %17s %17s %12s %15s\n' "$scenario" "$t_rps" "$c_rps" "$ratio" \
            "$t_p50 / $c_p50" "$t_p99 / $c_p99" "$t_retries" "$t_non / $c_non"
    done <<<"$rows"
}

# URL=... TOKEN=...: users made through the API (1,000, 1,000.00 each), then the load scenarios alone.
bench_target() {
    [ -n "$TARGET_TOKEN" ] || die "URL= needs TOKEN= (a service-role token: tally admin-token)"
    BASE_URL=${TARGET_URL%/}
    ADMIN_TOKEN=$TARGET_TOKEN
    USERS=1000
    log "== creating $USERS users on $BASE_URL"
    local i id first=""
    for ((i = 0; i < USERS; i++)); do
        id=$(curl -sf -H "Authorization: Bearer $ADMIN_TOKEN" -H 'Content-Type: application/json' \
            -d "{\"name\":\"bench user $i\",\"initial_balance\":\"1000.00\"}" "$BASE_URL/api/users" |
            python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])') || die "could not create a user on $BASE_URL"
        [ -n "$first" ] || first=$id
        [ "$id" -eq $((first + i)) ] || die "user ids are not consecutive (another client creates users?)"
    done
    FIRST_USER=$first
    local rows="" scenario
    for scenario in $SCENARIOS; do
        [ "$scenario" != events ] || continue
        log "== $scenario: $(connections_for "$scenario") connections, ${SECS}s"
        rows+="$scenario $(bench_tally "$scenario") - - - -"$'\n'
    done
    print_table "${rows%$'\n'}"
}

main() {
    if [ -n "$TARGET_URL" ]; then
        ensure_packages wrk
        STATE=$(mktemp -d /tmp/tally-bench.XXXXXX)
        trap 'rm -rf "$STATE"' EXIT
        bench_target
        return
    fi
    ensure_packages wrk gcc
    [ -x "$CEILING" ] || [ -f "$CEILING" ] || die "the ceiling is missing: $CEILING"
    local bin
    bin=$(build_release)
    STATE=$(mktemp -d /tmp/tally-bench.XXXXXX)
    chmod 755 "$STATE"
    trap cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    # Default (durable) settings: the ceiling runs on this same cluster, so both pay the same commit cost.
    pg_start "$STATE/pg"
    local conninfo
    conninfo=$(pg_conninfo "$STATE/pg")
    "$bin" migrate --database "$conninfo" >/dev/null
    seed_users
    ADMIN_TOKEN=$("$bin" admin-token --database "$conninfo")
    pool_start "$bin" "$STATE" "$conninfo" --workers "$WORKERS"
    PORT=$(free_port)
    nginx_render "$PORT" "$(stack_socket "$STATE")" "$TALLY_ROOT/www" "$STATE"
    nginx_start "$STATE" "$PORT"
    BASE_URL=http://127.0.0.1:$PORT
    STATE_LOGS=1

    local rows="" scenario tally ceiling uniform_ceiling=""
    for scenario in $SCENARIOS; do
        log "== $scenario: tally, $CONNS connections, ${SECS}s, $WORKERS workers"
        tally=$(bench_tally "$scenario")
        case "$scenario" in
            uniform-key | events)
                [ -n "$uniform_ceiling" ] || uniform_ceiling=$(bench_ceiling uniform)
                ceiling=$uniform_ceiling
                ;;
            *)
                log "== $scenario: ceiling"
                ceiling=$(bench_ceiling "$scenario")
                [ "$scenario" != uniform ] || uniform_ceiling=$ceiling
                ;;
        esac
        rows+="$scenario $tally $ceiling"$'\n'
    done

    mkdir -p "$(dirname "$RESULTS")"
    {
        echo "Tally benchmark $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores, $CONNS connections (hot-64: 64), ${SECS}s, $WORKERS workers each"
        print_table "${rows%$'\n'}"
    } | tee "$RESULTS"
    log "== tally verify"
    "$bin" verify --database "$conninfo"
}

main "$@"
