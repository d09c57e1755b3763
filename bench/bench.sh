#!/usr/bin/env bash
# `make bench`: every target of issue 6 measured in one run, Tally beside the ceiling of this machine
# (../shared/ceiling/run.sh: a minimal C responder on the same nginx -> libfcgi -> libpq -> PostgreSQL path,
# run against the same cluster with the same connections, duration and workers). Absolute figures drift on
# shared machines; the ratio within one run is the figure to quote.
#
#   make bench            every scenario below, in about 15 minutes (16 with ha)
#   make bench QUICK=1    a four-minute subset: uniform, ha, hot, holds, ping, reads (200k journal), memory (100,000
#                         requests), growth (1M journal), batches of 100 and 1,000 (one round), 5 s loads; no
#                         scaling, no purge
#   make bench SCENARIOS="batch"   some scenarios only (here the batch ones); the same as BENCH_SCENARIOS=
#   make bench URL=http://host:port TOKEN=...   the load scenarios against a running Tally (no ceiling, no
#                         SQL): 1,000 users made through the API, then uniform, hot, hot-64, holds, ping, reads,
#                         batches
#
# A throwaway stack (bench/lib/stack.sh: own PostgreSQL cluster, pool, nginx on a free port; make run's data
# is left alone) seeded with 10,000 users; the loads are wrk scripts (bench/lua), the seeds SQL (bench/sql).
# Scenarios (BENCH_SCENARIOS, in this order; bench/lib/scenarios.sh):
#   uniform   POST /api/transfers between random users            ceiling: default mode
#   ha        uniform against a three-node Patroni cluster of its own (synchronous: a commit waits until a
#             standby has flushed it), by turns with uniform on the single node   ceiling: default mode, on that
#             cluster; and uniform's (bench/lib/ha.sh). Right after uniform: its ceiling is the single node's
#             figure beside, and the single-node loads by turns see the same small journal. Its cluster
#             (namespaces HA_NAME-n1..3, default tallyb, on HA_NET.0/24, default 10.76.0), pool and nginx exist
#             only while it runs, and the later scenarios grow the journal to sizes of their own: they run as
#             they would without it.
#   hot       every transfer debits one of 10 users (contention)   ceiling: --hot
#   hot-64    the same at 64 connections                           ceiling: --hot -c 64
#   events    POST /api/event, judged by the alert rules           the uniform ceiling's figures
#   ping      GET /api/ping: the pool without the database         ceiling: --noop
#   scaling   uniform at 1-256 connections and 4-32 workers        ceiling: same connections and workers
#   memory    each worker's VmRSS after 10,000 and 1,000,000 requests (GET /api/ping and /api/users/{id})
#   reads     GET /api/users/{id} and a user's first history page with 1,000,000 movements in the journal
#   purge     keyed transfers, then the same while 200,000 expired idempotency keys are purged
#   growth    uniform with 5,000,000 movements in the journal      uniform earlier in the run (each to its ceiling)
#   batches   POST /api/batches: atomic batches of 1, 10, 100 and 1,000 transfers, uniform and hot, at 4 and 16
#             connections (QUICK: 100 and 1,000 at 16); transfers/s    ceiling: --batch N [--hot]; and Tally's
#             single transfers (POST /api/transfers) just before
#   batches-mixed  single transfers (4 connections) beside batches of 100 (16 connections): their p99
#   holds     a payment as POST /api/holds then its capture (two requests), payments/s beside single uniform
#             transfers just before (no ceiling). Last: it leaves a few holds pending, and a batch touching an
#             account with holds goes item by item, so batches measured after it measured that instead.
# BENCH_SCENARIOS=batch (or `make bench SCENARIOS=batch`) is short for "batches batches-mixed".
# After each transfer load: the journal grew by the 201s (nothing lost or doubled), the sum of balances is
# unchanged; after hot loads and at the end, `tally verify` (ha: on its cluster, whose synchronous standby must
# hold the same journal). The report goes to var/bench-results.txt (with a
# chart of the ratios, var/bench-results.svg), wrk's output and the logs to var/bench-logs/; a full run also
# copies the report and chart to docs/bench/ (results.txt, ratios.svg), which docs/performance.md links to.
# Knobs: BENCH_CONNECTIONS (16), BENCH_SECONDS (10; QUICK 5), BENCH_WORKERS (the pool's default, 4 x cores and at least 8; both pools), BENCH_ROUNDS (3)
# and BENCH_ROUND_SECONDS (5; QUICK 3) for the loads compared with the ceiling, BENCH_SCALING_SECONDS (5), BENCH_MEMORY_REQUESTS, BENCH_MEMORY_READ (mixed, user or ping), BENCH_READS_JOURNAL,
# BENCH_GROWTH_JOURNAL, BENCH_PURGE_KEYS; for batches BENCH_BATCH_SIZES (1 10 100 1000), BENCH_BATCH_CONNECTIONS
# (4 16), BENCH_BATCH_SECONDS (5; QUICK 3: the loads not in rounds, and the single transfers compared with),
# BENCH_BATCH_SHORT_SECONDS (3: batches under 100 items), BENCH_BATCH_ROUNDS (BENCH_ROUNDS; QUICK 1: the rounds
# of the batch targets), BENCH_MIXED_BATCH (100).
set -euo pipefail
BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../scripts/lib.sh
source "$BENCH_DIR/../scripts/lib.sh"
# shellcheck source=../scripts/ha-lib.sh
source "$BENCH_DIR/../scripts/ha-lib.sh"
# shellcheck source=lib/measure.sh
source "$BENCH_DIR/lib/measure.sh"
# shellcheck source=lib/report.sh
source "$BENCH_DIR/lib/report.sh"
# shellcheck source=lib/stack.sh
source "$BENCH_DIR/lib/stack.sh"
# shellcheck source=lib/scenarios.sh
source "$BENCH_DIR/lib/scenarios.sh"
# shellcheck source=lib/ha.sh
source "$BENCH_DIR/lib/ha.sh"

USERS=10000
CONNS=${BENCH_CONNECTIONS:-16}
WORKERS=${BENCH_WORKERS:-$(default_workers)}
SCALING_SECS=${BENCH_SCALING_SECONDS:-5}
# uniform, hot, hot-64 and ping alternate Tally and the ceiling in ROUNDS rounds of ROUND_SECS each.
ROUNDS=${BENCH_ROUNDS:-3}
MEMORY_READ=${BENCH_MEMORY_READ:-mixed}
PURGE_KEYS=${BENCH_PURGE_KEYS:-200000}
if [ -n "${QUICK:-}" ]; then
    SECS=${BENCH_SECONDS:-5}
    ROUND_SECS=${BENCH_ROUND_SECONDS:-3}
    SCENARIOS=${BENCH_SCENARIOS:-uniform ha hot ping reads memory growth batches holds}
    BATCH_SIZES=${BENCH_BATCH_SIZES:-100 1000}
    BATCH_CONNS=${BENCH_BATCH_CONNECTIONS:-$CONNS}
    BATCH_SECS=${BENCH_BATCH_SECONDS:-3}
    BATCH_ROUNDS=${BENCH_BATCH_ROUNDS:-1}
    READS_JOURNAL=${BENCH_READS_JOURNAL:-200000}
    GROWTH_JOURNAL=${BENCH_GROWTH_JOURNAL:-1000000}
    MEMORY_REQUESTS=${BENCH_MEMORY_REQUESTS:-100000}
else
    SECS=${BENCH_SECONDS:-10}
    ROUND_SECS=${BENCH_ROUND_SECONDS:-5}
    # The batches last: they add millions of movements, which would change the journals reads and growth
    # are measured at.
    SCENARIOS=${BENCH_SCENARIOS:-uniform ha hot hot-64 events ping scaling memory reads purge growth batches batches-mixed holds}
    BATCH_SIZES=${BENCH_BATCH_SIZES:-1 10 100 1000}
    BATCH_CONNS=${BENCH_BATCH_CONNECTIONS:-4 $CONNS}
    BATCH_SECS=${BENCH_BATCH_SECONDS:-5}
    BATCH_ROUNDS=${BENCH_BATCH_ROUNDS:-$ROUNDS}
    READS_JOURNAL=${BENCH_READS_JOURNAL:-1000000}
    GROWTH_JOURNAL=${BENCH_GROWTH_JOURNAL:-5000000}
    MEMORY_REQUESTS=${BENCH_MEMORY_REQUESTS:-1000000}
fi
BATCH_SHORT_SECS=${BENCH_BATCH_SHORT_SECONDS:-3}
MIXED_BATCH=${BENCH_MIXED_BATCH:-100}
# "batch" in a list of scenarios: the batch ones.
expand_scenarios() {
    local scenario out=()
    for scenario in $1; do
        if [ "$scenario" = batch ]; then out+=(batches batches-mixed); else out+=("$scenario"); fi
    done
    echo "${out[*]}"
}
SCENARIOS=$(expand_scenarios "$SCENARIOS")
TARGET_URL=${URL:-}
TOKEN=${TOKEN:-}
# BENCH_CEILING: another path to it (a git worktree of the project sits elsewhere than ../shared).
CEILING=${BENCH_CEILING:-$(cd "$TALLY_ROOT/.." && pwd)/shared/ceiling/run.sh}
RESULTS=$TALLY_ROOT/var/bench-results.txt
# A full run on the bench's own stack (no QUICK, no BENCH_SCENARIOS) also publishes its table and chart here,
# where docs/performance.md links to them.
PUBLISHED=$TALLY_ROOT/docs/bench
LOG_KEEP=$TALLY_ROOT/var/bench-logs

LOCAL=        # set when the stack is our own
STATE=        # the stack's (or, with URL=, the wrk outputs') temporary folder
PG_DIR=
BIN=
CONNINFO=
POOL_CONNINFO=
CEILING_PGENV=() # libpq's environment for the ceiling: which cluster it runs on
PORT=
BASE_URL=
FIRST_USER=   # the users are ids FIRST_USER.. (seeded in SQL), or those listed in the file USER_IDS (made
USER_IDS=     # through the API, where retried inserts leave gaps in the ids)
LOAD_PID=     # a background load or purge to stop on the way out
PURGE_PID=
UNIFORM_RPS=
UNIFORM_CEIL=()

cleanup() {
    local status=$?
    trap - EXIT INT TERM
    [ -z "$LOAD_PID" ] || kill -INT "$LOAD_PID" 2>/dev/null || true
    [ -z "$PURGE_PID" ] || kill "$PURGE_PID" 2>/dev/null || true
    ha_stack_down
    if [ -n "$LOCAL" ] && [ -n "$STATE" ]; then
        # Keep the logs (pool, nginx, wrk output) for a look at what the figures hide.
        stack_teardown "$STATE" "$LOG_KEEP" "$STATE"/wrk-*.txt "$STATE"/verify.txt
    elif [ -n "$STATE" ]; then
        rm -rf "$STATE"
    fi
    exit "$status"
}

# Rough seconds each scenario takes in a full run (QUICK: about half), for the progress lines.
scenario_estimate() {
    local seconds
    case "$1" in
        uniform | hot | hot-64 | ping) seconds=$((ROUNDS * ROUND_SECS * 2 + 10)) ;;
        ha) seconds=$((ROUNDS * (ROUND_SECS * 3 + 5) + 40)) ;;
        events) seconds=$((SECS + 10)) ;;
        holds) seconds=$((2 * SECS + 15)) ;;
        scaling) seconds=$((9 * SCALING_SECS * 2 + 20)) ;;
        memory) seconds=$((MEMORY_REQUESTS / 8000 + 10)) ;;
        reads) seconds=$((READS_JOURNAL / 80000 + 2 * SECS)) ;;
        purge) seconds=$((PURGE_KEYS / 10000 + 3 * SECS)) ;;
        growth) seconds=$((GROWTH_JOURNAL / 80000 + 4 * SECS)) ;;
        batches) seconds=$(batches_estimate) ;;
        batches-mixed) seconds=$((SECS + 8)) ;;
        *) seconds=30 ;;
    esac
    echo "$seconds"
}

# Rough seconds of the batches scenario: per connection count and mode, the single transfers, then each size
# beside the ceiling (whose run.sh takes some 3 s to set up each time).
batches_estimate() {
    local conns size total=0
    for conns in $BATCH_CONNS; do
        total=$((total + 2 * BATCH_SECS))
        for size in $BATCH_SIZES; do
            if [ "$size" -ge 100 ] && [ "$conns" -eq "$CONNS" ]; then
                total=$((total + 2 * BATCH_ROUNDS * (2 * ROUND_SECS + 4)))
            elif [ "$size" -ge 100 ]; then
                total=$((total + 2 * (2 * BATCH_SECS + 4)))
            else
                total=$((total + 2 * (2 * BATCH_SHORT_SECS + 4)))
            fi
        done
    done
    echo $((total + 20))
}

# Logs which scenario starts (N of M), the time spent so far and about how long the rest will take.
log_progress() {
    local name=$1 index=0 total=0 left=0 scenario
    for scenario in $SCENARIOS; do
        total=$((total + 1))
        [ "$scenario" != "$name" ] || index=$total
        [ "$index" -eq 0 ] || left=$((left + $(scenario_estimate "$scenario")))
    done
    log "== $name (scenario $index of $total; $((SECONDS / 60)) min $((SECONDS % 60)) s so far, about $(((left + 59) / 60)) min left)"
}

run_scenario() {
    local started=$SECONDS
    log_progress "$1"
    case "$1" in
        uniform) scenario_uniform ;;
        hot) scenario_hot "$CONNS" ;;
        hot-64) scenario_hot 64 ;;
        events) scenario_events ;;
        holds) scenario_holds ;;
        ping) scenario_ping ;;
        reads) scenario_reads ;;
        batches) scenario_batches ;;
        batches-mixed) scenario_batches_mixed ;;
        scaling | memory | purge | growth | ha)
            [ -n "$LOCAL" ] || { log "$1: only on the bench's own stack (not with URL=)"; return; }
            "scenario_$1"
            ;;
        *) die "unknown scenario '$1' (BENCH_SCENARIOS)" ;;
    esac
    log "== $1: $((SECONDS - started)) s"
}

# The bench's own stack: everything, beside the ceiling.
bench_local() {
    ensure_packages wrk gcc
    [ -f "$CEILING" ] || die "the ceiling is missing: $CEILING"
    BIN=$(build_release)
    LOCAL=1
    local load
    load=$(cut -d' ' -f1-3 /proc/loadavg)
    stack_up
    local scenario
    for scenario in $SCENARIOS; do run_scenario "$scenario"; done
    log "== tally verify ($(journal_size) movements)"
    local ok=0
    verify_ledger || ok=1
    add_check "end" "$ok" "tally verify over $(journal_size) movements: $(tail -1 "$STATE/verify.txt")"
    report "$(nproc) cores, $(awk '/MemTotal/ { printf "%.0f", $2 / 1048576 }' /proc/meminfo) GiB, load average $load at the start;" \
        "$CONNS connections (hot-64: 64), ${SECS} s a load ($ROUNDS rounds of ${ROUND_SECS} s each, Tally and the ceiling by turns, for the loads beside the ceiling), $WORKERS workers (Tally and the ceiling)"
}

# URL=... TOKEN=...: users made through the API, then the load scenarios alone.
bench_remote() {
    [ -n "$TOKEN" ] || die "URL= needs TOKEN= (a service-role token: tally admin-token)"
    command -v wrk >/dev/null || apt_install wrk
    command -v curl >/dev/null || apt_install curl
    STATE=$(mktemp -d /tmp/tally-bench.XXXXXX)
    BASE_URL=${TARGET_URL%/}
    USERS=1000
    create_users_through_api
    local scenario
    SCENARIOS=${BENCH_SCENARIOS:-uniform hot hot-64 ping reads batches batches-mixed holds}
    SCENARIOS=$(expand_scenarios "$SCENARIOS")
    for scenario in $SCENARIOS; do run_scenario "$scenario"; done
    report "against $BASE_URL, no ceiling; $CONNS connections (hot-64: 64), ${SECS} s a load;" \
        "$USERS users made for this run"
}

# USERS users with 1,000.00 each through POST /api/users, 8 at a time; their ids go to USER_IDS.
create_users_through_api() {
    log "== creating $USERS users on $BASE_URL"
    seq "$USERS" | xargs -P 8 -I{} curl -sf -w '\n' -H "Authorization: Bearer $TOKEN" \
        -H 'Content-Type: application/json' -d '{"name":"bench user {}","initial_balance":"1000.00"}' \
        "$BASE_URL/api/users" >"$STATE/users.json" || die "could not create users on $BASE_URL (is TOKEN a service-role token?)"
    USER_IDS=$STATE/user-ids
    grep -o '"id":[0-9]*' "$STATE/users.json" | cut -d: -f2 | sort -n >"$USER_IDS"
    [ "$(wc -l <"$USER_IDS")" -eq "$USERS" ] || die "made $(wc -l <"$USER_IDS") users, not $USERS"
}

# report WORDS...: prints the report and keeps it in var/bench-results.txt.
report() {
    mkdir -p "$(dirname "$RESULTS")"
    local mode="full" header
    [ -z "${QUICK:-}" ] || mode="QUICK=1"
    header="Tally benchmark $(date -u +%Y-%m-%dT%H:%M:%SZ) ($mode, $SECONDS s): $*"
    [ -z "${QUICK:-}" ] || [ -n "$TARGET_URL" ] || header+=$'\n'"QUICK=1 is a subset: reads at $READS_JOURNAL movements and growth at $GROWTH_JOURNAL (the full run: 1,000,000 and
5,000,000), memory after $MEMORY_REQUESTS requests (full: 1,000,000), batches of $BATCH_SIZES at $BATCH_CONNS connections (full: 1 to
1,000 at 4 and 16); no hot-64, events, scaling, purge or batches-mixed."
    print_report "$header" | tee "$RESULTS"
    local rows=$RESULTS.rows
    printf '%s\n' "${ROWS[@]}" >"$rows"
    python3 "$BENCH_DIR/chart.py" "$rows" "${RESULTS%.txt}.svg" "Tally benchmark, $(date -u +%Y-%m-%d) ($mode)"
    rm -f "$rows"
    if [ -n "$LOCAL" ] && [ -z "${QUICK:-}" ] && [ -z "${BENCH_SCENARIOS:-}" ]; then
        mkdir -p "$PUBLISHED"
        cp "$RESULTS" "$PUBLISHED/results.txt"
        cp "${RESULTS%.txt}.svg" "$PUBLISHED/ratios.svg"
        log "Published to docs/bench/ (results.txt, ratios.svg): commit them with the change they measure."
    fi
}

main() {
    trap cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    if [ -n "$TARGET_URL" ]; then bench_remote; else bench_local; fi
    [ "$FAILED_CHECKS" -eq 0 ] || exit 1
}

main "$@"
