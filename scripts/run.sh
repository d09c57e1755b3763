#!/usr/bin/env bash
# `make run`: installs what is missing, builds Tally in release mode, starts (or reuses) the PostgreSQL cluster
# in var/pg, applies migrations, starts the FastCGI pool and nginx, and stays in the foreground until Ctrl-C
# or SIGTERM, which stop nginx, the pool and PostgreSQL in that order. The cluster's data is kept in var/pg.
#
# With HA=1 the database is instead a three-node Patroni cluster in network namespaces tally-n1..3 (scripts/ha-lib.sh,
# its state in var/ha; scripts/ha.sh controls it), which Ctrl-C stops and removes, namespaces included.
#
# usage: scripts/run.sh            (PORT=8080 by default; TALLY_WORKERS sets the pool size;
#                                  SPOOL=1 turns store and forward on, with the spool in var/spool; HA=1)
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=ha-lib.sh
source "$(dirname "$0")/ha-lib.sh"

PORT=${PORT:-8080}
STATE=$TALLY_ROOT/var
PG_DIR=$STATE/pg
HA=${HA:-0}
[ "$HA" = 0 ] || ha_configure "$STATE/ha"

stop_all() {
    # A second Ctrl-C or SIGTERM (an impatient user; `make` passing SIGTERM on to this script) must not cut
    # the stop short and leave the pool or PostgreSQL running: ignored until everything is down.
    trap '' INT TERM HUP
    trap - EXIT
    log "Stopping nginx, the pool and PostgreSQL..."
    # Front to back: nginx stops taking requests, the pool finishes what it holds, then the database.
    nginx_stop "$STATE" || true
    pool_stop "$STATE" || true
    if [ "$HA" = 0 ]; then
        pg_stop "$PG_DIR" || true
    else
        ha_stop || true
        ha_network_down || true
    fi
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
    if [ "$HA" = 0 ]; then
        # shellcheck disable=SC2119 # its arguments are optional needs (python, wrk, ...): the stack's own take none
        ensure_packages
    else
        ensure_packages ha
    fi
    check_port_free
    local bin
    bin=$(build_release)
    mkdir -p "$STATE"
    # A requested stop (Ctrl-C, SIGTERM) that ends cleanly is a success.
    trap 'exit 0' INT TERM HUP
    trap stop_all EXIT
    # Migrations and the admin token as the owner; the pool as its own role (tally_pool, no superuser).
    local conninfo pool_conninfo
    if [ "$HA" = 0 ]; then
        pg_start "$PG_DIR"
        conninfo=$(pg_conninfo "$PG_DIR")
        pool_conninfo=$(pg_pool_conninfo "$PG_DIR")
        "$bin" migrate --database "$conninfo"
    else
        log "Starting the HA cluster: etcd, Patroni and PostgreSQL in namespaces $(ha_netns 1), $(ha_netns 2), $(ha_netns 3)"
        ha_start
        conninfo=$(ha_owner_conninfo)
        pool_conninfo=$(ha_pool_conninfo)
        "$bin" migrate --database "$conninfo"
        ha_set_pool_password
        # A request whose commit a failover left unconfirmed waits for the new primary (about 10 s) to settle it,
        # inside nginx's 30 s: see docs/operations.md#high-availability.
        export TALLY_IN_DOUBT_PATIENCE=${TALLY_IN_DOUBT_PATIENCE:-20} TALLY_REQUEST_TIMEOUT=${TALLY_REQUEST_TIMEOUT:-28}
    fi
    local spool_args=()
    [ "${SPOOL:-0}" = 0 ] || spool_args=(--spool "$STATE/spool")
    pool_start "$bin" "$STATE" "$pool_conninfo" "${spool_args[@]}"
    nginx_render "$PORT" "$(stack_socket "$STATE")" "$TALLY_ROOT/www" "$STATE"
    nginx_start "$STATE" "$PORT"
    # (Each database has tokens of its own: the HA cluster's is kept apart from var/pg's.)
    local admin_token token_file=$STATE/admin-token
    [ "$HA" = 0 ] || token_file=$HA_STATE/admin-token
    admin_token=$(ensure_admin_token "$bin" "$conninfo" "$token_file" "http://127.0.0.1:$PORT")
    if [ "$HA" = 0 ]; then
        log "Logs: $STATE/log/ (tally.log, nginx-access.log), $PG_DIR/log/postgresql.log. Ctrl-C stops everything."
    else
        log "Logs: $STATE/log/ (tally.log, nginx-access.log), $HA_STATE/n1..n3/log/ (etcd, Patroni and PostgreSQL)."
        log "The cluster: bash scripts/ha.sh status (switchover, kill, isolate, heal, restart). Ctrl-C stops everything."
    fi
    echo "Tally is up at http://127.0.0.1:$PORT"
    echo "Admin token (service role, also in ${token_file#"$TALLY_ROOT"/}): $admin_token"
    wait_for_exit
}

main "$@"
