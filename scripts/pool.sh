#!/usr/bin/env bash
# Starts and stops the FastCGI pool of a running test stack, for end-to-end tests that stop the pool (to see
# nginx's JSON 502) or kill it, and then want it back exactly as test.sh started it.
#
# usage: scripts/pool.sh start|stop|pid
#   start  starts `tally serve` on the stack's socket and prints the supervisor's pid
#   stop   SIGTERM, waits for it (SIGKILL to the group after 20 s), removes the socket
#   pid    prints the supervisor's pid (exit 1 when none runs)
# Environment (test.sh exports these): TALLY_BIN, TALLY_POOL_DATABASE (the pool's role's conninfo),
# TALLY_STACK_DIR; optional TALLY_WORKERS.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

: "${TALLY_STACK_DIR:?TALLY_STACK_DIR is not set (run under make test)}"
: "${TALLY_BIN:?TALLY_BIN is not set}"
: "${TALLY_POOL_DATABASE:?TALLY_POOL_DATABASE is not set}"

case "${1:-}" in
    start)
        pool_start "$TALLY_BIN" "$TALLY_STACK_DIR" "$TALLY_POOL_DATABASE"
        pool_pid "$TALLY_STACK_DIR"
        ;;
    stop) pool_stop "$TALLY_STACK_DIR" ;;
    pid) pool_pid "$TALLY_STACK_DIR" ;;
    *) sed -n '2,10p' "$0" >&2; exit 2 ;;
esac
