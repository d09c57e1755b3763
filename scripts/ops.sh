#!/usr/bin/env bash
# What a `make run` user reaches for, against the stack `make run` started (its database in var/pg):
#   scripts/ops.sh verify        tally verify: every balance recomputed from the journal, the total zero
#   scripts/ops.sh psql [ARGS]   a psql session on the ledger's database, as its owner
#   scripts/ops.sh admin-token   a new service-role token (it never expires; revoke it with POST /api/auth/logout)
# `make verify`, `make psql` and `make admin-token` call it.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

PG_DIR=$TALLY_ROOT/var/pg

main() {
    local command=${1:-}
    [ $# -eq 0 ] || shift
    pg_is_running "$PG_DIR" || die "make run's PostgreSQL (var/pg) is not running: start it with make run"
    local conninfo
    conninfo=$(pg_conninfo "$PG_DIR")
    case "$command" in
        verify) exec "$(build_release)" verify --database "$conninfo" ;;
        admin-token) exec "$(build_release)" admin-token --database "$conninfo" ;;
        psql) exec psql -X "$conninfo" "$@" ;;
        *) die "usage: scripts/ops.sh verify|psql|admin-token" ;;
    esac
}

main "$@"
