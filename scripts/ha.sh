#!/usr/bin/env bash
# The high-availability cluster's controls, for an operator and for the tests (scripts/ha-lib.sh builds it;
# `make run HA=1` starts one in var/ha).
#
# usage: scripts/ha.sh status              which node is primary, each node's role, lag and sync state
#        scripts/ha.sh switchover [NODE]   a planned switchover to NODE (default: the synchronous replica)
#        scripts/ha.sh kill NODE           SIGKILL every process in NODE's namespace: the host is lost
#        scripts/ha.sh isolate NODE        cut NODE's link: a partition from the other nodes and the pool
#        scripts/ha.sh heal NODE           restore NODE's link
#        scripts/ha.sh restart NODE        start NODE's etcd and Patroni again (after kill); it rejoins as a replica
#        scripts/ha.sh primary             the primary's name (n1..n3), or exit 1 when there is none
#        scripts/ha.sh psql [NODE]         psql as the owner on the primary (or on NODE, whatever its role)
# NODE is n1, n2 or n3. HA_STATE (default var/ha), HA_NAME (tally) and HA_NET (10.77.0) pick the cluster.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=ha-lib.sh
source "$(dirname "$0")/ha-lib.sh"

ha_configure "${HA_STATE:-$TALLY_ROOT/var/ha}" "${HA_NAME:-tally}" "${HA_NET:-10.77.0}"
[ -f "$HA_STATE/n1/patroni.yml" ] || die "no HA cluster in $HA_STATE (start one with make run HA=1)"

status() {
    ha_cluster_json | python3 -c '
import json, sys
cluster = json.load(sys.stdin)
row = "%-6s%-14s%-12s%9s%13s  %s"
print(row % ("node", "role", "state", "timeline", "lag (bytes)", "host"))
for m in sorted(cluster["members"], key=lambda m: m["name"]):
    print(row % (m["name"], m["role"], m.get("state", ""), m.get("timeline", ""), m.get("lag", ""), m["host"]))
' || die "no node's Patroni answers (is the cluster up?)"
    local primary
    if primary=$(ha_primary); then
        echo "primary: $primary (writes go there; a commit waits for the sync_standby)"
    else
        echo "primary: none (writes stop until Patroni promotes a synchronous replica)"
    fi
}

switchover() {
    local primary candidate=${1:-}
    primary=$(ha_primary) || die "there is no primary to switch over from"
    if [ -z "$candidate" ]; then
        candidate=$(ha_cluster_json | python3 -c '
import json, sys
print(next(m["name"] for m in json.load(sys.stdin)["members"] if m["role"] == "sync_standby"))') ||
            die "there is no synchronous replica to switch over to"
    else
        candidate=n$(ha_node_number "$candidate")
    fi
    log "Switching over from $primary to $candidate"
    patronictl -c "$(ha_node_dir 1)/patroni.yml" switchover "$HA_NAME" --leader "$primary" \
        --candidate "$candidate" --force
}

main() {
    local command=${1:-status}
    shift || true
    case "$command" in
        status) status ;;
        primary) ha_primary ;;
        switchover) switchover "$@" ;;
        kill) ha_kill_node "$(ha_node_number "${1:?kill NODE}")" ;;
        isolate) ha_isolate_node "$(ha_node_number "${1:?isolate NODE}")" ;;
        heal) ha_heal_node "$(ha_node_number "${1:?heal NODE}")" ;;
        restart)
            local i
            i=$(ha_node_number "${1:?restart NODE}")
            ha_kill_node "$i"
            ha_start_node "$i"
            ;;
        psql)
            if [ $# -gt 0 ]; then
                exec psql -X "$(ha_node_conninfo "$(ha_node_number "$1")" tally)"
            fi
            exec psql -X "$(ha_owner_conninfo)"
            ;;
        *) die "unknown command '$command' (status, primary, switchover, kill, isolate, heal, restart, psql)" ;;
    esac
}

main "$@"
