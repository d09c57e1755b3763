# shellcheck shell=bash
# The ha scenario of bench/bench.sh (issue 27): the uniform transfers again, against a three-node Patroni cluster
# of its own (scripts/ha-lib.sh: synchronous_mode_strict, so each commit waits until a synchronous standby has
# flushed it), printed beside the single-node uniform load of the same run. The cluster, its pool and its nginx
# exist only while the scenario runs; for that long the HA stack's values stand in for the single-node stack's
# globals (STATE, CONNINFO, BASE_URL, TOKEN, ...), so that the loads, checks and ceiling runs the other scenarios
# use (tally_transfers, in_rounds, verify_ledger) work on it unchanged. cleanup() in bench.sh tears it down
# (ha_stack_down) when a run is cut short.
# Globals cross the benchmark's files, which shellcheck reads one at a time: this file sets some that bench.sh
# and the other bench/lib files read (SC2034) and reads some that bench.sh sets (SC2153).
# shellcheck disable=SC2034,SC2153

# The cluster's namespaces NAME-n1..3 on NET.0/24 (the names scripts/ha.sh takes too, for a look during a run):
# neither make run HA=1's (tally, 10.77.0) nor the tests'.
BENCH_HA_NAME=${HA_NAME:-tallyb}
BENCH_HA_NET=${HA_NET:-10.76.0}

HA_UP=            # set while the HA stack stands in for the single-node one
SINGLE_NODE=()    # the single-node stack's globals meanwhile
SINGLE_NODE_CEILING=()

# Starts the HA stack under STATE/ha (cluster, USERS users seeded as for the single node, WORKERS workers, nginx
# on a port of its own) and points the globals at it.
ha_stack_up() {
    ensure_packages ha
    local ns
    ns=$(ip netns pids "$BENCH_HA_NAME-n1" 2>/dev/null || true)
    [ -z "$ns" ] || die "ha: namespace $BENCH_HA_NAME-n1 already runs processes (another bench?); pick another cluster with HA_NAME=... HA_NET=..."
    SINGLE_NODE=("$STATE" "$CONNINFO" "$POOL_CONNINFO" "$PORT" "$BASE_URL" "$TOKEN" "$FIRST_USER")
    SINGLE_NODE_CEILING=("${CEILING_PGENV[@]}")
    ha_configure "${SINGLE_NODE[0]}/ha" "$BENCH_HA_NAME" "$BENCH_HA_NET"
    HA_UP=1
    STATE=$HA_STATE
    mkdir -p "$STATE"
    chmod 755 "$STATE"
    local started=$SECONDS
    log "== ha: starting a three-node cluster in namespaces $(ha_netns 1), $(ha_netns 2), $(ha_netns 3) ($HA_NET.0/24)"
    ha_start
    CONNINFO=$(ha_owner_conninfo)
    POOL_CONNINFO=$(ha_pool_conninfo)
    # The ceiling on the primary alone: run.sh creates its database and connects to it at once, before a replica
    # listed first in the multi-host string may have it (see ha_wait_database).
    local primary
    primary=$(ha_primary) || die "ha: no primary"
    CEILING_PGENV=(PGHOST="$(ha_node_ip "${primary#n}")" PGPORT=5432 PGUSER="$PG_USER"
        PGPASSFILE="$HA_STATE/secrets/owner.pgpass" PGTARGETSESSIONATTRS=read-write)
    "$BIN" migrate --database "$CONNINFO" >/dev/null
    ha_set_pool_password
    seed_users
    TOKEN=$("$BIN" admin-token --database "$CONNINFO")
    PORT=$(free_port)
    BASE_URL=http://127.0.0.1:$PORT
    restart_pool "$WORKERS"
    nginx_render "$PORT" "$(stack_socket "$STATE")" "$TALLY_ROOT/www" "$STATE"
    nginx_start "$STATE" "$PORT"
    log "== ha: cluster up, migrated and seeded in $((SECONDS - started)) s; primary $(ha_primary || echo none)"
}

# Stops the HA stack front to back (nginx, the pool, Patroni and etcd), keeps its logs and wrk outputs with the
# single-node stack's (STATE/log/ha/, kept in var/bench-logs/ha/), removes the namespaces and STATE/ha, and gives
# the globals back to the single-node stack. Every step goes on past a failure: it also runs from cleanup().
ha_stack_down() {
    [ -n "$HA_UP" ] || return 0
    local ha_state=$STATE main=${SINGLE_NODE[0]} i
    nginx_stop "$ha_state" || true
    pool_stop "$ha_state" || true
    ha_stop || true
    sweep_stack_processes "$ha_state" || true
    mkdir -p "$main/log/ha"
    cp -r "$ha_state/log/." "$main/log/ha/" 2>/dev/null || true
    for i in "${HA_NODES[@]}"; do
        cp "$ha_state/n$i/log/patroni.log" "$main/log/ha/n$i-patroni.log" 2>/dev/null || true
        cp "$ha_state/n$i/log/etcd.log" "$main/log/ha/n$i-etcd.log" 2>/dev/null || true
    done
    cp "$ha_state"/wrk-*.txt "$main/" 2>/dev/null || true
    cp "$ha_state/verify.txt" "$main/log/ha/" 2>/dev/null || true
    ha_network_down || true
    rm -rf "$ha_state"
    STATE=${SINGLE_NODE[0]} CONNINFO=${SINGLE_NODE[1]} POOL_CONNINFO=${SINGLE_NODE[2]} PORT=${SINGLE_NODE[3]}
    BASE_URL=${SINGLE_NODE[4]} TOKEN=${SINGLE_NODE[5]} FIRST_USER=${SINGLE_NODE[6]}
    CEILING_PGENV=("${SINGLE_NODE_CEILING[@]}")
    HA_UP=
}

# The node (n1..n3) Patroni names synchronous standby, if any.
ha_sync_standby() {
    ha_cluster_json | python3 -c '
import json, sys
names = [m["name"] for m in json.load(sys.stdin)["members"] if m["role"] == "sync_standby"]
print(names[0] if names else "")'
}

# ha_node_value NODE SQL: one value from node NODE's database tally (whatever its role), as the owner.
ha_node_value() { psql -X -q -tA "$(ha_node_conninfo "${1#n}" tally)" -c "$2"; }

# One PostgreSQL setting of the bench's single-node cluster and of the HA primary: "single / HA".
setting_pair() {
    local single ha
    single=$(psql -X -tA "${SINGLE_NODE[1]}" -c "SHOW $1")
    ha=$(sql_value "SHOW $1")
    if [ "$single" = "$ha" ]; then printf '%s %s' "$1" "$single"; else printf '%s %s / %s' "$1" "$single" "$ha"; fi
}

# Uniform transfers on the HA cluster in ROUNDS rounds by turns with the ceiling run on that same cluster, each
# round checked as the single-node loads are (journal, pool, sum of balances); then tally verify on it, the
# synchronous standby's copy of the journal, and no failover meanwhile. The row's ceiling is the one on the HA
# cluster (what the synchronous commit costs any client); beside it the single-node uniform load of this run
# (run first when SCENARIOS has no uniform before ha) and its ceiling.
scenario_ha() {
    if [ -z "$UNIFORM_RPS" ]; then
        log "ha: first the single-node uniform load it is compared with"
        scenario_uniform
    fi
    ha_stack_up
    local primary standby settings
    primary=$(ha_primary || echo none)
    standby=$(ha_sync_standby || true)
    settings="$(setting_pair shared_buffers), $(setting_pair max_wal_size), $(setting_pair fsync),"
    settings+=" $(setting_pair synchronous_commit), $(setting_pair wal_log_hints)"
    in_rounds uniform "$CONNS" tally_transfers ha uniform "$CONNS"
    local rps=$WRK_RPS p50=$WRK_P50 p99=$WRK_P99 ceil_rps=$CEIL_RPS
    add_row ha "$WRK_RPS" "$CEIL_RPS" "$WRK_P50" "$CEIL_P50" "$WRK_P99" "$CEIL_P99" "$T_RETRIES" "$WRK_NON2XX" \
        "$CEIL_NON2XX" "- ($(ratio "$rps" "$UNIFORM_RPS")x uniform; $(ratio "$rps" "${UNIFORM_CEIL[0]}") of its ceiling)"
    ha_checks "$primary" "$standby"
    local after
    after=$(ha_primary || echo none)
    add_block "$(ha_block "$primary" "$standby" "$settings" "$rps" "$p50" "$p99" "$ceil_rps")"
    ha_stack_down
    log "ha: ${rps}/s against the single node's ${UNIFORM_RPS}/s ($(ratio "$rps" "$UNIFORM_RPS")x); primary $primary before, $after after"
}

# ha_checks PRIMARY STANDBY: tally verify on the HA cluster; the synchronous standby holds as many movements as
# the primary (it flushed each commit before its answer; replaying them may lag a moment); the same primary as
# before the load (a failover meanwhile would have measured something else).
ha_checks() {
    local primary=$1 standby=$2 ok=0 text movements copied=- k now
    verify_ledger || ok=1
    text="tally verify on the HA cluster over $(journal_size) movements: $(tail -1 "$STATE/verify.txt")"
    movements=$(journal_size)
    if [ -n "$standby" ]; then
        for ((k = 0; k < 20; k++)); do
            copied=$(ha_node_value "$standby" "SELECT count(*) FROM movements" || echo -)
            [ "$copied" != "$movements" ] || break
            sleep 0.5
        done
    fi
    [ "$copied" = "$movements" ] || ok=1
    text+="; the synchronous standby ${standby:-(none)} has $copied of the primary's $movements movements"
    now=$(ha_primary || echo none)
    [ "$now" = "$primary" ] && [ "$primary" != none ] || ok=1
    text+="; primary $primary before the load, $now after"
    add_check ha "$ok" "$text"
}

# ha_block PRIMARY STANDBY SETTINGS RPS P50 P99 CEILING_RPS: the ha scenario's figures beside the single node's.
ha_block() {
    local primary=$1 standby=$2 settings=$3 rps=$4 p50=$5 p99=$6 ceil=$7 format='  %-34s %11s %8s %8s %10s\n'
    echo "HA (issue 27): the uniform load against a three-node Patroni cluster (synchronous_mode_strict: a commit"
    echo "is acknowledged once the synchronous standby has flushed it), its pool reaching the primary over TCP"
    echo "(libpq multi-host, target_session_attrs=read-write); $WORKERS workers and $CONNS connections as for the"
    echo "single node; primary $primary, synchronous standby ${standby:-(none)}."
    # shellcheck disable=SC2059
    printf "$format" "" transfers/s "p50 ms" "p99 ms" ceiling/s
    # shellcheck disable=SC2059
    printf "$format" "single node (uniform, unix socket)" "$UNIFORM_RPS" "$(one_decimal "$UNIFORM_P50")" \
        "$(one_decimal "$UNIFORM_P99")" "${UNIFORM_CEIL[0]}"
    # shellcheck disable=SC2059
    printf "$format" "HA (ha)" "$rps" "$(one_decimal "$p50")" "$(one_decimal "$p99")" "$ceil"
    echo "  HA / single node: $(ratio "$rps" "$UNIFORM_RPS") (the ceilings: $(ratio "$ceil" "${UNIFORM_CEIL[0]}"));" \
        "HA to the single node's ceiling $(ratio "$rps" "${UNIFORM_CEIL[0]}"), to its own $(ratio "$rps" "$ceil")"
    echo "  PostgreSQL (single / HA where they differ): $settings"
}
