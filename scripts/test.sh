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
#   8. the Docker deployment, checked without Docker (scripts/check-deploy.sh).
# The stack (PostgreSQL cluster, pool, nginx on a free port) lives in a throwaway folder under /tmp and is
# stopped and removed on exit, whatever happens; its logs are kept in var/test-logs/ for a look afterwards.
# Exits non-zero when anything fails.
#
# While working on one part: TALLY_TEST_SUITES=lint,swift,fuzz,e2e,faults,schemathesis,browser,deploy (any of
# them; all by default) runs only those, TALLY_E2E_ARGS="tests/e2e/test_x.py -k name" narrows pytest's e2e run
# TALLY_FAULTS_ARGS="tests/faults/test_x.py -k name" the fault suite's and TALLY_BROWSER_ARGS (the same) the
# browser tests'.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

VENV=$TALLY_ROOT/.venv
E2E_DIR=$TALLY_ROOT/tests/e2e
FAULTS_DIR=$TALLY_ROOT/tests/faults
BROWSER_DIR=$TALLY_ROOT/tests/browser
LOG_KEEP=$TALLY_ROOT/var/test-logs
STATE=

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
    local lint_status=0 lint_needs=()
    if wanted lint; then lint_needs=(shellcheck); fi
    ensure_packages python browser "${lint_needs[@]}"
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
    local deploy_status=0
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
    log "== deploy check:   $(outcome deploy "$deploy_status")"
    [ "$lint_status" -eq 0 ] && [ "$swift_status" -eq 0 ] && [ "$fuzz_status" -eq 0 ] && [ "$e2e_status" -eq 0 ] &&
        [ "$faults_status" -eq 0 ] && [ "$schemathesis_status" -eq 0 ] && [ "$browser_status" -eq 0 ] &&
        [ "$deploy_status" -eq 0 ]
}

main "$@"
