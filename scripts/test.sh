#!/usr/bin/env bash
# `make test`: every test, against a stack of its own that never collides with a `make run`:
#   1. lint: swift-format and shellcheck (scripts/lint.sh, what `make lint` runs), a few seconds,
#   2. unit and integration tests (`swift test`; the integration ones use TALLY_TEST_DATABASE),
#   3. the JSON parser under libFuzzer for 30 s (tests/fuzz),
#   4. end-to-end tests (pytest tests/e2e) over HTTP through a real nginx and pool,
#   5. the fault suite (pytest tests/faults) on that same stack: it restarts and kills the pool and the
#      database and empties nginx's rate-limit buckets, so it runs on its own, after the end-to-end tests,
#   6. schemathesis on that same stack: generated requests for every operation of www/openapi.yaml,
#   7. browser tests (pytest tests/browser): the dashboard in headless chromium, through the same stack,
#   8. the high-availability suite (pytest tests/ha) on a stack of its own: a three-node Patroni/etcd cluster
#      in network namespaces tallyt-n1..3 (10.78.0.0/24; TALLY_HA_NAME and TALLY_HA_NET choose others), a pool
#      and nginx; it kills, isolates and switches over the database's hosts under load,
#   9. the Docker deployment, checked without Docker (scripts/check-deploy.sh).
# The stack (PostgreSQL cluster, pool, nginx on a free port) lives in a throwaway folder under /tmp and is
# stopped and removed on exit, whatever happens; its logs are kept in var/test-logs/ for a look afterwards
# (the HA stack's, its nodes' Patroni and etcd logs included, in var/test-logs/ha/).
# Exits non-zero when anything fails.
#
# While working on one part: TALLY_TEST_SUITES=lint,swift,fuzz,e2e,faults,schemathesis,browser,ha,deploy (any
# of them; all by default) runs only those, TALLY_E2E_ARGS="tests/e2e/test_x.py -k name" narrows pytest's e2e
# run, TALLY_FAULTS_ARGS="tests/faults/test_x.py -k name" the fault suite's, TALLY_HA_ARGS the HA suite's and
# TALLY_BROWSER_ARGS (the same) the browser tests'.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=ha-lib.sh
source "$(dirname "$0")/ha-lib.sh"

VENV=$TALLY_ROOT/.venv
E2E_DIR=$TALLY_ROOT/tests/e2e
FAULTS_DIR=$TALLY_ROOT/tests/faults
BROWSER_DIR=$TALLY_ROOT/tests/browser
HA_DIR=$TALLY_ROOT/tests/ha
LOG_KEEP=$TALLY_ROOT/var/test-logs
STATE=
STATE_HA=

# --- setup --------------------------------------------------------------------------------------------------

# pytest and requests in a venv of the project's own (the system python stays untouched).
ensure_venv() {
    # A venv whose python is gone (the system python changed) is made anew.
    "$VENV/bin/python" -c '' 2>/dev/null || python3 -m venv --clear "$VENV"
    local requirements=() file
    for file in "$E2E_DIR/requirements.txt" "$BROWSER_DIR/requirements.txt"; do
        [ ! -f "$file" ] || requirements+=(-r "$file")
    done
    if [ ${#requirements[@]} -gt 0 ]; then
        "$VENV/bin/pip" install -q --disable-pip-version-check "${requirements[@]}"
    elif ! "$VENV/bin/python" -c 'import pytest, requests' 2>/dev/null; then
        "$VENV/bin/pip" install -q --disable-pip-version-check pytest requests
    fi
}

# The throwaway stack folder. /tmp keeps socket paths short and is traversable by postgres and www-data.
make_state_dir() {
    STATE=$(mktemp -d /tmp/tally-test.XXXXXX)
    chmod 755 "$STATE"
}

# Stops everything this run started, in order, then sweeps up anything left (a worker orphaned by a test's
# kill -9, say), keeps the logs and removes the folder. Runs on every exit.
cleanup() {
    local status=$?
    trap - EXIT INT TERM
    [ -z "$STATE_HA" ] || ha_stack_teardown
    [ -z "$STATE" ] || stack_teardown "$STATE" "$LOG_KEEP"
    exit "$status"
}

# --- the suites ---------------------------------------------------------------------------------------------

# swift test (debug build) with a database of its own in the test cluster.
run_swift_tests() {
    # (Called in an `||` list, where set -e is off: each setup step says for itself that it failed.)
    pg_create_database "$STATE/pg" tally_integration || return
    log "== swift test (unit and integration)"
    (cd "$TALLY_ROOT" && TALLY_TEST_DATABASE=$(pg_conninfo "$STATE/pg" tally_integration) swift test)
}

# The JSON parser under libFuzzer (tests/fuzz): the parser's three source files and the harness, built with the
# toolchain's -sanitize=fuzzer,address outside SwiftPM (the package and the tally binary never see the fuzzer),
# then run for TALLY_FUZZ_SECONDS (30) from the committed seed corpus. New inputs it finds go to a throwaway
# folder; a crash (or a broken property: see tests/fuzz/JSONFuzz.swift) fails, with the input kept in
# var/test-logs/fuzz/ (replay it: .build/fuzz/json-fuzz var/test-logs/fuzz/crash-...).
FUZZ_RUNS=
run_fuzz() {
    local sources=("$TALLY_ROOT"/Sources/API/JSON/{JSONParser,JSONValue,JSONValue+Serialization}.swift
        "$TALLY_ROOT"/tests/fuzz/*.swift)
    local fuzzer=$TALLY_ROOT/.build/fuzz/json-fuzz out=$STATE/log/fuzz seconds=${TALLY_FUZZ_SECONDS:-30}
    mkdir -p "$(dirname "$fuzzer")" "$out" "$STATE/fuzz-corpus"
    local source stale=0
    for source in "${sources[@]}"; do [ "$source" -nt "$fuzzer" ] && stale=1; done
    if [ "$stale" = 1 ] || [ ! -x "$fuzzer" ]; then
        log "== building the JSON parser's fuzz target (.build/fuzz/json-fuzz)"
        swiftc -O -sanitize=fuzzer,address -use-ld=lld -parse-as-library -module-name JSONFuzz -package-name tally \
            "${sources[@]}" -o "$fuzzer" || return
    fi
    log "== fuzzing the JSON parser for ${seconds} s (tests/fuzz/json-corpus; output in var/test-logs/fuzz/)"
    local status=0
    # The Swift runtime's own crash handler would fight ASan's; libFuzzer reports the crash.
    SWIFT_BACKTRACE=enable=no "$fuzzer" -max_total_time="$seconds" -max_len=4096 -timeout=10 -rss_limit_mb=1024 \
        -print_final_stats=1 -dict="$TALLY_ROOT/tests/fuzz/json.dict" -artifact_prefix="$out/" \
        "$STATE/fuzz-corpus" "$TALLY_ROOT/tests/fuzz/json-corpus" >"$out/fuzz.log" 2>&1 || status=$?
    FUZZ_RUNS=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out/fuzz.log")
    if [ "$status" -ne 0 ]; then
        grep -a -m 3 -E 'Fatal error|ERROR:|Test unit written' "$out/fuzz.log" >&2 || true
        log "error: the JSON parser's fuzz target failed ($status); the input is in var/test-logs/fuzz/"
    fi
    return "$status"
}

# The stack's port and database, set by start_stack for both pytest suites: CONNINFO is the owner's
# (migrations, admin tokens, the tests' look-ups), POOL_CONNINFO the pool's own role's (tally_pool).
PORT=
CONNINFO=
POOL_CONNINFO=

# Migrates the test database and starts the pool and nginx on a free port.
start_stack() {
    local bin=$1
    CONNINFO=$(pg_conninfo "$STATE/pg" tally) || return
    POOL_CONNINFO=$(pg_pool_conninfo "$STATE/pg" tally) || return
    PORT=$(free_port)
    "$bin" migrate --database "$CONNINFO" || return
    # Log-in tokens live 8 s here, so that a test can watch one expire; the service token never expires.
    export TALLY_TOKEN_TTL=8
    # Each worker's turn at purging expired keys and ended tokens every second (60 s by default), so that a
    # test can watch a purge happen.
    export TALLY_PURGE_INTERVAL=1
    pool_start "$bin" "$STATE" "$POOL_CONNINFO" || return
    nginx_render "$PORT" "$(stack_socket "$STATE")" "$TALLY_ROOT/www" "$STATE" || return
    nginx_start "$STATE" "$PORT" || return
}

# run_stack_pytest BIN SUITE TARGETS...: pytest (tests/e2e or tests/faults) through nginx on the stack; the tests
# get what they need to look behind the API (see tests/e2e/tally_fixtures.py).
run_stack_pytest() {
    local bin=$1 suite=$2
    shift 2
    local admin_token supervisor status=0
    admin_token=$("$bin" admin-token --database "$CONNINFO") || return
    supervisor=$(pool_pid "$STATE") || return
    log "== pytest tests/$suite against http://127.0.0.1:$PORT"
    (
        cd "$TALLY_ROOT"
        exec env TALLY_URL="http://127.0.0.1:$PORT" TALLY_DATABASE="$CONNINFO" TALLY_POOL_DATABASE="$POOL_CONNINFO" \
            TALLY_BIN="$bin" TALLY_SOCKET="$(stack_socket "$STATE")" TALLY_STACK_DIR="$STATE" \
            TALLY_SUPERVISOR_PID="$supervisor" TALLY_POOL_START="bash $TALLY_ROOT/scripts/pool.sh start" \
            TALLY_POOL_STOP="bash $TALLY_ROOT/scripts/pool.sh stop" TALLY_LOG_DIR="$STATE/log" \
            TALLY_ADMIN_TOKEN="$admin_token" PATH="$VENV/bin:$PATH" \
            "$VENV/bin/python" -m pytest "$@" -ra -p no:cacheprovider
    ) || status=$?
    # pytest's 5 means it collected no test at all: a suite that silently ran nothing is a failure here.
    [ "$status" -ne 5 ] || log "error: pytest collected no tests in tests/$suite"
    return "$status"
}

# pytest tests/e2e: the API as a client meets it, on a stack nothing disrupts.
run_e2e_tests() {
    local targets
    read -r -a targets <<<"${TALLY_E2E_ARGS:-$E2E_DIR}"
    # Options alone ("-k batch") narrow the suite's own folder, not every test of the checkout.
    [[ "${targets[0]}" != -* ]] || targets=("$E2E_DIR" "${targets[@]}")
    run_stack_pytest "$1" e2e "${targets[@]}"
}

# pytest tests/faults, after the e2e suite on the same stack: the tests that restart or kill the pool or the
# database, or empty nginx's rate-limit buckets. Each leaves the stack as it found it, healthy.
run_fault_tests() {
    local targets
    read -r -a targets <<<"${TALLY_FAULTS_ARGS:-$FAULTS_DIR}"
    [[ "${targets[0]}" != -* ]] || targets=("$FAULTS_DIR" "${targets[@]}")
    run_stack_pytest "$1" faults "${targets[@]}"
}

# pytest tests/browser: the dashboard in headless chromium through the same nginx. It runs after the e2e and
# fault suites, on a pool restarted with log-in tokens that live 10 minutes: a person's session in the browser
# must outlast the 8 s the e2e suite uses to watch a token expire.
run_browser_tests() {
    local bin=$1
    log "== pytest tests/browser (headless chromium) against http://127.0.0.1:$PORT"
    TALLY_TOKEN_TTL=600 pool_start "$bin" "$STATE" "$POOL_CONNINFO" || return
    local admin_token status=0 targets
    read -r -a targets <<<"${TALLY_BROWSER_ARGS:-$BROWSER_DIR}"
    admin_token=$("$bin" admin-token --database "$CONNINFO") || return
    (
        cd "$TALLY_ROOT"
        # TALLY_BIN and TALLY_DATABASE for tests that mint a service token of their own (to revoke it from the page).
        exec env TALLY_URL="http://127.0.0.1:$PORT" TALLY_ADMIN_TOKEN="$admin_token" TALLY_BIN="$bin" \
            TALLY_DATABASE="$CONNINFO" TALLY_SCREENSHOTS="$TALLY_ROOT/var/test-screenshots" PATH="$VENV/bin:$PATH" \
            "$VENV/bin/python" -m pytest "${targets[@]}" -ra -p no:cacheprovider
    ) || status=$?
    [ "$status" -ne 5 ] || log "error: pytest collected no tests in tests/browser"
    log "== screenshots of the dashboard: $TALLY_ROOT/var/test-screenshots/"
    return "$status"
}

# schemathesis through nginx on the e2e stack, which pytest leaves up and healthy: valid and invalid requests
# generated from www/openapi.yaml for every operation (tests/schemathesis/schemathesis.toml says how many and
# which checks). No answer may be a 5xx, and each must be what the document says. Bounded: a fixed number of
# examples per operation, and a timeout over the whole run. TALLY_SCHEMATHESIS_SEED=N tries other inputs.
run_schemathesis() {
    local bin=$1
    local url=http://127.0.0.1:$PORT
    local i
    # The fault suite restarts the pool and the database: wait until it answers again.
    for ((i = 0; i < 300; i++)); do
        [ "$(curl -s -o /dev/null -w '%{http_code}' "$url/api/health")" = 200 ] && break
        sleep 0.1
    done
    local work=$STATE/schemathesis reports=$STATE/log/schemathesis
    mkdir -p "$work" "$reports"
    log "== schemathesis against $url (www/openapi.yaml, tests/schemathesis/schemathesis.toml)"
    (
        # hypothesis and schemathesis keep folders in the working directory: the stack's, not the checkout.
        cd "$work"
        # Two service-role tokens of its own: one for every operation, one for log-out, which revokes it.
        local admin_token logout_token seed=()
        admin_token=$("$bin" admin-token --database "$CONNINFO")
        logout_token=$("$bin" admin-token --database "$CONNINFO")
        [ -z "${TALLY_SCHEMATHESIS_SEED:-}" ] || seed=(--seed "$TALLY_SCHEMATHESIS_SEED")
        exec env TALLY_ADMIN_TOKEN="$admin_token" TALLY_LOGOUT_TOKEN="$logout_token" \
            timeout --kill-after=10 600 "$VENV/bin/st" --config-file "$TALLY_ROOT/tests/schemathesis/schemathesis.toml" \
            run "$TALLY_ROOT/www/openapi.yaml" --url "$url" --no-color "${seed[@]}" \
            --report junit,ndjson --report-dir "$reports"
    )
}

# --- the high-availability suite ------------------------------------------------------------------------------

# The HA suite's stack, apart from the others': its state folder (STATE_HA, set when it is made, emptied once
# it is torn down) and nginx's port.
HA_PORT=

# A three-node Patroni/etcd cluster (scripts/ha-lib.sh) in namespaces TALLY_HA_NAME-n1..3 (tallyt) on
# TALLY_HA_NET (10.78.0), migrated, with a pool and nginx on a free port. The pool waits up to 20 s for a
# failover to settle a commit left in doubt, inside nginx's 30 s, as `make run HA=1` does.
start_ha_stack() {
    local bin=$1
    STATE_HA=$(mktemp -d /tmp/tally-ha.XXXXXX)
    chmod 755 "$STATE_HA"
    ha_configure "$STATE_HA" "${TALLY_HA_NAME:-tallyt}" "${TALLY_HA_NET:-10.78.0}"
    HA_PORT=$(free_port)
    log "== starting the HA cluster: etcd, Patroni and PostgreSQL in namespaces $(ha_netns 1), $(ha_netns 2), $(ha_netns 3)"
    # In a subshell: a step that dies ends this stack's start (torn down by ha_stack_teardown), not the run.
    (
        # A throwaway cluster: fsync off costs nothing the faults here could show (a SIGKILL of a host's
        # processes leaves the kernel's page cache); synchronous_commit stays on, it is what is tested.
        HA_PG_EXTRA="fsync: 'off'"
        # What Patroni decided, loop by loop, in the logs kept after a failure.
        HA_PATRONI_LOG_LEVEL=INFO
        ha_start &&
            "$bin" migrate --database "$(ha_owner_conninfo)" &&
            ha_set_pool_password &&
            TALLY_IN_DOUBT_PATIENCE=20 TALLY_REQUEST_TIMEOUT=28 pool_start "$bin" "$STATE_HA" "$(ha_pool_conninfo)" &&
            nginx_render "$HA_PORT" "$(stack_socket "$STATE_HA")" "$TALLY_ROOT/www" "$STATE_HA" &&
            nginx_start "$STATE_HA" "$HA_PORT"
    )
}

# pytest tests/ha through the HA stack's nginx; the tests drive the cluster with scripts/ha.sh (HA_STATE,
# HA_NAME, HA_NET) and reach each node's PostgreSQL through its unix socket.
run_ha_tests() {
    local bin=$1 targets admin_token supervisor conninfo status=0
    read -r -a targets <<<"${TALLY_HA_ARGS:-$HA_DIR}"
    [[ "${targets[0]}" != -* ]] || targets=("$HA_DIR" "${targets[@]}")
    # (The owner's multi-host conninfo: the tests' look-ups follow the primary wherever it is.)
    conninfo=$(ha_owner_conninfo)
    admin_token=$("$bin" admin-token --database "$conninfo") || return
    supervisor=$(pool_pid "$STATE_HA") || return
    log "== pytest tests/ha against http://127.0.0.1:$HA_PORT (nodes $(ha_hosts))"
    (
        cd "$TALLY_ROOT"
        exec env TALLY_URL="http://127.0.0.1:$HA_PORT" TALLY_DATABASE="$conninfo" TALLY_BIN="$bin" \
            TALLY_SOCKET="$(stack_socket "$STATE_HA")" TALLY_STACK_DIR="$STATE_HA" \
            TALLY_SUPERVISOR_PID="$supervisor" TALLY_LOG_DIR="$STATE_HA/log" TALLY_ADMIN_TOKEN="$admin_token" \
            HA_STATE="$STATE_HA" HA_NAME="$HA_NAME" HA_NET="$HA_NET" PATH="$VENV/bin:$PATH" \
            "$VENV/bin/python" -m pytest "${targets[@]}" -ra -p no:cacheprovider
    ) || status=$?
    [ "$status" -ne 5 ] || log "error: pytest collected no tests in tests/ha"
    return "$status"
}

# Stops the HA stack front to back (nginx, the pool, the nodes), removes its namespaces and bridge, sweeps up
# anything of it still running, and keeps its logs (the pool's, nginx's, each node's patroni.log and etcd.log)
# in the main stack's log folder, which cleanup carries to var/test-logs/ha/.
ha_stack_teardown() {
    local keep=${STATE:+$STATE/log/ha} i name
    keep=${keep:-$LOG_KEEP/ha}
    nginx_stop "$STATE_HA" || true
    pool_stop "$STATE_HA" || true
    ha_stop || true
    ha_network_down || true
    sweep_stack_processes "$STATE_HA" || true
    rm -rf "$keep"
    mkdir -p "$keep"
    cp -r "$STATE_HA/log/." "$keep/" 2>/dev/null || true
    for i in "${HA_NODES[@]}"; do
        for name in patroni etcd; do
            cp "$(ha_node_dir "$i")/log/$name.log" "$keep/n$i-$name.log" 2>/dev/null || true
        done
    done
    rm -rf "$STATE_HA"
    STATE_HA=
}

# True when SUITE is among TALLY_TEST_SUITES (every suite when that is unset).
wanted() {
    [ -z "${TALLY_TEST_SUITES:-}" ] || [[ ",$TALLY_TEST_SUITES," == *",$1,"* ]]
}

# outcome SUITE STATUS: how the summary shows a suite.
outcome() {
    if ! wanted "$1"; then
        echo "not run (TALLY_TEST_SUITES=$TALLY_TEST_SUITES)"
    elif [ "$2" -eq 0 ]; then
        echo passed
    else
        echo "FAILED ($2)"
    fi
}

main() {
    local lint_status=0 needs=()
    if wanted lint; then needs+=(shellcheck); fi
    if wanted ha; then needs+=(ha); fi
    ensure_packages python browser "${needs[@]}"
    # First, and in seconds: a line out of style fails the run before the long suites start (they still run).
    ! wanted lint || bash "$TALLY_ROOT/scripts/lint.sh" || lint_status=$?
    ensure_venv
    log "== swift build -c release"
    local bin
    bin=$(build_release)
    make_state_dir
    trap cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    # A throwaway cluster: durability buys nothing here and fsync costs seconds.
    pg_start "$STATE/pg" "fsync = off" "synchronous_commit = off" "full_page_writes = off"

    local swift_status=0 fuzz_status=0 e2e_status=0 faults_status=0 schemathesis_status=0 browser_status=0
    local ha_status=0 deploy_status=0
    ! wanted swift || run_swift_tests || swift_status=$?
    ! wanted fuzz || run_fuzz || fuzz_status=$?
    if ! wanted e2e && ! wanted faults && ! wanted schemathesis && ! wanted browser; then
        :
    elif start_stack "$bin"; then
        ! wanted e2e || run_e2e_tests "$bin" || e2e_status=$?
        ! wanted faults || run_fault_tests "$bin" || faults_status=$?
        ! wanted schemathesis || run_schemathesis "$bin" || schemathesis_status=$?
        ! wanted browser || run_browser_tests "$bin" || browser_status=$?
    else
        e2e_status=1
        faults_status=1
        schemathesis_status=1
        browser_status=1
    fi
    if wanted ha; then
        if start_ha_stack "$bin"; then
            run_ha_tests "$bin" || ha_status=$?
        else
            ha_status=1
        fi
        ha_stack_teardown
    fi
    if wanted deploy; then
        log "== the Docker deployment, checked without Docker (scripts/check-deploy.sh)"
        bash "$TALLY_ROOT/scripts/check-deploy.sh" || deploy_status=$?
    fi

    log "== lint:           $(outcome lint "$lint_status") (swift-format, shellcheck: make lint)"
    log "== swift test:     $(outcome swift "$swift_status")"
    log "== fuzz (JSON):    $(outcome fuzz "$fuzz_status")$([ "$fuzz_status" -ne 0 ] || ! wanted fuzz || echo " (${FUZZ_RUNS:-?} inputs)") (output and any crashing input in var/test-logs/fuzz/)"
    log "== e2e tests:      $(outcome e2e "$e2e_status") (logs in var/test-logs/)"
    log "== fault tests:    $(outcome faults "$faults_status") (figures in var/test-logs/figures.txt)"
    log "== schemathesis:   $(outcome schemathesis "$schemathesis_status") (reports in var/test-logs/schemathesis/)"
    log "== browser tests:  $(outcome browser "$browser_status") (screenshots in var/test-screenshots/)"
    log "== HA tests:       $(outcome ha "$ha_status") (figures, the pool's and the nodes' logs in var/test-logs/ha/)"
    log "== deploy check:   $(outcome deploy "$deploy_status")"
    [ "$lint_status" -eq 0 ] && [ "$swift_status" -eq 0 ] && [ "$fuzz_status" -eq 0 ] && [ "$e2e_status" -eq 0 ] &&
        [ "$faults_status" -eq 0 ] && [ "$schemathesis_status" -eq 0 ] && [ "$browser_status" -eq 0 ] &&
        [ "$ha_status" -eq 0 ] && [ "$deploy_status" -eq 0 ]
}

main "$@"
