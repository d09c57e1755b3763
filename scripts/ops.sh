#!/usr/bin/env bash
# What a `make run` user reaches for, against the stack `make run` started (its database in var/pg):
#   scripts/ops.sh verify        tally verify: every balance recomputed from the journal, the total zero
#   scripts/ops.sh psql [ARGS]   a psql session on the ledger's database, as its owner
#   scripts/ops.sh admin-token   a new service-role token (it never expires; revoke it with POST /api/auth/logout)
# `make verify`, `make psql` and `make admin-token` call it. With `make run HA=1` running, they reach its cluster's
# primary (var/ha) instead.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=ha-lib.sh
source "$(dirname "$0")/ha-lib.sh"

PG_DIR=$TALLY_ROOT/var/pg

main() {
    local command=${1:-}
    [ $# -eq 0 ] || shift
    local conninfo
    ha_configure "$TALLY_ROOT/var/ha"
    if pg_is_running "$PG_DIR"; then
        conninfo=$(pg_conninfo "$PG_DIR")
    elif [ -f "$HA_STATE/secrets/owner.pgpass" ] && ha_primary >/dev/null; then
        conninfo=$(ha_owner_conninfo)
    else
        die "make run's PostgreSQL (var/pg, or var/ha with HA=1) is not running: start it with make run"
    fi
    case "$command" in
        verify) exec "$(build_release)" verify --database "$conninfo" ;;
        admin-token) exec "$(build_release)" admin-token --database "$conninfo" ;;
        psql) exec psql -X "$conninfo" "$@" ;;
        *) die "usage: scripts/ops.sh verify|psql|admin-token" ;;
    esac
}

main "$@"
