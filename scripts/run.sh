#!/usr/bin/env bash
# `make run`: installs what is missing, builds Tally in release mode, starts (or reuses) the PostgreSQL cluster
# in var/pg, applies migrations, starts the FastCGI pool and nginx, and stays in the foreground until Ctrl-C
# or SIGTERM, which stop nginx, the pool and PostgreSQL in that order. The cluster's data is kept in var/pg.
#
# usage: scripts/run.sh            (PORT=8080 by default; TALLY_WORKERS sets the pool size;
#                                  SPOOL=1 turns store and forward on, with the spool in var/spool)
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

PORT=${PORT:-8080}
STATE=$TALLY_ROOT/var
PG_DIR=$STATE/pg

stop_all() {
    # A second Ctrl-C or SIGTERM (an impatient user; `make` passing SIGTERM on to this script) must not cut
    # the stop short and leave the pool or PostgreSQL running: ignored until everything is down.
    trap '' INT TERM HUP
    trap - EXIT
    log "Stopping nginx, the pool and PostgreSQL..."
    # Front to back: nginx stops taking requests, the pool finishes what it holds, then the database.
    nginx_stop "$STATE" || true
    pool_stop "$STATE" || true
    pg_stop "$PG_DIR" || true
    log "Stopped."
}

# A port already taken (by another program, or a make run in another checkout) is better reported up front
# than as an nginx bind error.
check_port_free() {
    if curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$PORT/" ||
        ss -ltnH "sport = :$PORT" 2>/dev/null | grep -q .; then
        # Our own nginx from a killed run is fine: nginx_start replaces it.
        nginx_pid "$STATE" >/dev/null || die "port $PORT is in use; choose another with PORT=..."
    fi
}

# Waits for nginx or the pool to exit; either one dying takes the whole stack down.
wait_for_exit() {
    local nginx pool
    nginx=$(nginx_pid "$STATE")
    pool=$(pool_pid "$STATE")
    while kill -0 "$nginx" 2>/dev/null && kill -0 "$pool" 2>/dev/null; do
        # `wait -n` returns when a child exits, and at once (through the trap) on SIGINT/SIGTERM.
        wait -n "$nginx" "$pool" 2>/dev/null || true
        sleep 0.2 # no busy loop should wait ever return early
    done
    log "error: $(kill -0 "$nginx" 2>/dev/null && echo 'the pool' || echo nginx) exited unexpectedly; see $STATE/log/"
    return 1
}

main() {
    # shellcheck disable=SC2119 # its arguments are optional needs (python, wrk, ...): the stack's own take none
    ensure_packages
    check_port_free
    local bin
    bin=$(build_release)
    mkdir -p "$STATE"
    # A requested stop (Ctrl-C, SIGTERM) that ends cleanly is a success.
    trap 'exit 0' INT TERM HUP
    trap stop_all EXIT
    pg_start "$PG_DIR"
    local conninfo
    conninfo=$(pg_conninfo "$PG_DIR")
    "$bin" migrate --database "$conninfo"
    local spool_args=()
    [ "${SPOOL:-0}" = 0 ] || spool_args=(--spool "$STATE/spool")
    # Migrations and the admin token as the owner; the pool as its own role (tally_pool, no superuser).
    pool_start "$bin" "$STATE" "$(pg_pool_conninfo "$PG_DIR")" "${spool_args[@]}"
    nginx_render "$PORT" "$(stack_socket "$STATE")" "$TALLY_ROOT/www" "$STATE"
    nginx_start "$STATE" "$PORT"
    local admin_token
    admin_token=$(ensure_admin_token "$bin" "$conninfo" "$STATE/admin-token" "http://127.0.0.1:$PORT")
    log "Logs: $STATE/log/ (tally.log, nginx-access.log), $PG_DIR/log/postgresql.log. Ctrl-C stops everything."
    echo "Tally is up at http://127.0.0.1:$PORT"
    echo "Admin token (service role, also in var/admin-token): $admin_token"
    wait_for_exit
}

main "$@"
