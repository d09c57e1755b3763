# shellcheck shell=bash
# The ha scenario of bench/bench.sh (issue 27): uniform transfers against a three-node Patroni cluster of its own
# (scripts/ha-lib.sh: synchronous_mode_strict, so each commit waits until a synchronous standby has flushed it),
# by turns with the same load on the single-node stack. The cluster, its pool and its nginx exist only while the
# scenario runs. The globals that say which stack is loaded and checked (STACK_GLOBALS: STATE, CONNINFO,
# BASE_URL, TOKEN, ...) are switched between the two (use_stack), so that the loads, checks and ceiling runs the
# other scenarios use (tally_transfers, in_rounds, verify_ledger) work on either unchanged. cleanup() in bench.sh
# tears the cluster down (ha_stack_down) when a run is cut short.
# Globals cross the benchmark's files, which shellcheck reads one at a time: this file sets some that bench.sh
# and the other bench/lib files read (SC2034) and reads some that bench.sh sets (SC2153).
# shellcheck disable=SC2034,SC2153

# The cluster's namespaces NAME-n1..3 on NET.0/24 (the names scripts/ha.sh takes too, for a look during a run):
# neither make run HA=1's (tally, 10.77.0) nor the tests'.
BENCH_HA_NAME=${HA_NAME:-tallyb}
BENCH_HA_NET=${HA_NET:-10.76.0}

STACK_GLOBALS=(STATE CONNINFO POOL_CONNINFO PORT BASE_URL TOKEN FIRST_USER)
declare -A SINGLE_STACK=() HA_STACK=()
SINGLE_NODE_CEILING=() # CEILING_PGENV of the single-node stack (the ceiling runs on the HA cluster meanwhile)
HA_UP=                 # set from the cluster's start until ha_stack_down

# keep_stack NAME: the stack globals into the associative array NAME; use_stack NAME: back from it.
keep_stack() {
    local -n into=$1
    local name
    for name in "${STACK_GLOBALS[@]}"; do into["$name"]=${!name}; done
}
use_stack() {
    local -n from=$1
    local name
    for name in "${STACK_GLOBALS[@]}"; do printf -v "$name" '%s' "${from["$name"]}"; done
}

# Starts the HA stack under STATE/ha (cluster, USERS users seeded as for the single node, WORKERS workers, nginx
# on a port of its own), keeps both stacks' globals (SINGLE_STACK, HA_STACK) and leaves the HA one's in use.
ha_stack_up() {
    ensure_packages ha
    local pids
    pids=$(ip netns pids "$BENCH_HA_NAME-n1" 2>/dev/null || true)
    [ -z "$pids" ] || die "ha: namespace $BENCH_HA_NAME-n1 already runs processes (another bench?); pick another cluster with HA_NAME=... HA_NET=..."
    keep_stack SINGLE_STACK
    SINGLE_NODE_CEILING=("${CEILING_PGENV[@]}")
    ha_configure "$STATE/ha" "$BENCH_HA_NAME" "$BENCH_HA_NET"
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
    serve_stack
    keep_stack HA_STACK
    log "== ha: cluster up, migrated and seeded in $((SECONDS - started)) s; primary $primary"
}

# Stops the HA stack front to back (nginx, the pool, Patroni and etcd), keeps its logs and wrk outputs with the
# single-node stack's (STATE/log/ha/, kept in var/bench-logs/ha/), removes the namespaces and STATE/ha, and puts
# the single-node stack's globals back. Every step goes on past a failure: it also runs from cleanup().
ha_stack_down() {
    [ -n "$HA_UP" ] || return 0
    use_stack SINGLE_STACK
    local i
    nginx_stop "$HA_STATE" || true
    pool_stop "$HA_STATE" || true
    ha_stop || true
    sweep_stack_processes "$HA_STATE" || true
    mkdir -p "$STATE/log/ha"
    cp -r "$HA_STATE/log/." "$STATE/log/ha/" 2>/dev/null || true
    for i in "${HA_NODES[@]}"; do
        cp "$HA_STATE/n$i/log/patroni.log" "$STATE/log/ha/n$i-patroni.log" 2>/dev/null || true
        cp "$HA_STATE/n$i/log/etcd.log" "$STATE/log/ha/n$i-etcd.log" 2>/dev/null || true
    done
    cp "$HA_STATE"/wrk-*.txt "$STATE/" 2>/dev/null || true
    cp "$HA_STATE/verify.txt" "$STATE/log/ha/" 2>/dev/null || true
    ha_network_down || true
    rm -rf "$HA_STATE"
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

# One PostgreSQL setting of the single-node cluster and of the HA primary: "name value", or "name single / HA".
setting_pair() {
    local single ha
    single=$(psql -X -tA "${SINGLE_STACK[CONNINFO]}" -c "SHOW $1")
    ha=$(psql -X -tA "${HA_STACK[CONNINFO]}" -c "SHOW $1")
    if [ "$single" = "$ha" ]; then printf '%s %s' "$1" "$single"; else printf '%s %s / %s' "$1" "$single" "$ha"; fi
}

# One round of the ha scenario, before in_rounds runs the ceiling on the HA cluster: the uniform load on the
# single node (ha-single), then on the HA cluster (ha), back to back, each checked as uniform's loads are. Leaves
# WRK_* and T_RETRIES of the HA load; the single node's figures go to SINGLE_ROUNDS ("rps p50 p99 non2xx ok
# retries").
SINGLE_ROUNDS=()
ha_round() {
    use_stack SINGLE_STACK
    tally_transfers ha-single uniform "$CONNS"
    SINGLE_ROUNDS+=("$WRK_RPS $WRK_P50 $WRK_P99 $WRK_NON2XX $WRK_OK $T_RETRIES")
    use_stack HA_STACK
    tally_transfers ha uniform "$CONNS"
}

# Uniform transfers on the HA cluster and on the single node by turns, ROUNDS rounds (ha_round, then the ceiling
# on the HA cluster: what the synchronous commit costs any client), so that the machine's drift falls on both
# alike; then tally verify on the cluster, the synchronous standby's copy of the journal, and no failover
# meanwhile. Beside them uniform's ceiling (run here on the single node when uniform did not run).
scenario_ha() {
    ensure_uniform_ceiling
    ha_stack_up
    local primary standby settings
    primary=$(ha_primary || echo none)
    standby=$(ha_sync_standby || true)
    settings="$(setting_pair shared_buffers), $(setting_pair max_wal_size), $(setting_pair fsync),"
    settings+=" $(setting_pair synchronous_commit), $(setting_pair wal_log_hints)"
    SINGLE_ROUNDS=()
    in_rounds uniform "$CONNS" ha_round
    local single
    single=$(printf '%s\n' "${SINGLE_ROUNDS[@]}" | awk '{ r += $1; p50[NR] = $2; p99[NR] = $3; non += $4; ok += $5
            if ($6 != "-") retried += $6 * $5 / 1000; else noretries = 1 }
        function median(v, n,    i, j, t) { for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
            return v[int((n + 1) / 2)] }
        END { printf "%d %s %s %d ", r / NR, median(p50, NR), median(p99, NR), non
            if (noretries || ok == 0) print "-"; else printf "%.1f\n", 1000 * retried / ok }')
    local s_rps s_p50 s_p99 s_non s_retries
    read -r s_rps s_p50 s_p99 s_non s_retries <<<"$single"
    add_row ha-single "$s_rps" - "$s_p50" - "$s_p99" - "$s_retries" "$s_non" - "- (the single node, by turns with ha)"
    local rps=$WRK_RPS p50=$WRK_P50 p99=$WRK_P99 ceil_rps=$CEIL_RPS
    add_row ha "$WRK_RPS" "$CEIL_RPS" "$WRK_P50" "$CEIL_P50" "$WRK_P99" "$CEIL_P99" "$T_RETRIES" "$WRK_NON2XX" \
        "$CEIL_NON2XX" "- ($(ratio "$rps" "$s_rps")x ha-single; $(ratio "$rps" "${UNIFORM_CEIL[0]}") of uniform's ceiling)"
    ha_checks "$primary" "$standby"
    add_block "$(ha_block "$primary" "$standby" "$settings" "$rps $p50 $p99 $ceil_rps" "$s_rps $s_p50 $s_p99")"
    ha_stack_down
    log "ha: ${rps}/s against the single node's ${s_rps}/s by turns ($(ratio "$rps" "$s_rps")x)"
}

# ha_checks PRIMARY STANDBY: tally verify on the HA cluster; the synchronous standby holds as many movements as
# the primary (it flushed each commit before its answer; replaying them may lag a moment); the same primary as
# before the load (a failover meanwhile would have measured something else).
ha_checks() {
    local primary=$1 standby=$2 ok=0 text movements copied=- k now
    verify_ledger || ok=1
    movements=$(journal_size)
    text="tally verify on the HA cluster over $movements movements: $(tail -1 "$STATE/verify.txt")"
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
    text+="; primary $primary before the loads, $now after"
    add_check ha "$ok" "$text"
}

# ha_block PRIMARY STANDBY SETTINGS "RPS P50 P99 CEILING" "RPS P50 P99": the HA figures beside the single node's.
ha_block() {
    local primary=$1 standby=$2 settings=$3 ha single format='  %-30s %11s %8s %8s %10s\n'
    read -r -a ha <<<"$4"
    read -r -a single <<<"$5"
    echo "HA (issue 27): uniform transfers against a three-node Patroni cluster (synchronous_mode_strict: a commit"
    echo "is acknowledged once the synchronous standby has flushed it; primary $primary, synchronous standby"
    echo "${standby:-(none)}), its pool reaching the primary over TCP (libpq multi-host, target_session_attrs=read-write),"
    echo "and on the single node (unix socket) by turns: $ROUNDS rounds of the single node, HA and the ceiling on the HA"
    echo "cluster, ${ROUND_SECS} s each; $WORKERS workers and $CONNS connections on both."
    # shellcheck disable=SC2059
    printf "$format" "" transfers/s "p50 ms" "p99 ms" ceiling/s
    # shellcheck disable=SC2059
    printf "$format" "single node (ha-single)" "${single[0]}" "$(one_decimal "${single[1]}")" \
        "$(one_decimal "${single[2]}")" "${UNIFORM_CEIL[0]}"
    # shellcheck disable=SC2059
    printf "$format" "HA (ha)" "${ha[0]}" "$(one_decimal "${ha[1]}")" "$(one_decimal "${ha[2]}")" "${ha[3]}"
    echo "  HA / single node $(ratio "${ha[0]}" "${single[0]}"); HA to its own ceiling $(ratio "${ha[0]}" "${ha[3]}"), to the single node's" \
        "$(ratio "${ha[0]}" "${UNIFORM_CEIL[0]}"); the ceilings, HA / single node $(ratio "${ha[3]}" "${UNIFORM_CEIL[0]}")"
    echo "  (the single node's ceiling: uniform's, or one load just before ha when uniform did not run; not by turns)"
    [ -z "$UNIFORM_RPS" ] ||
        echo "  uniform earlier in this run, before the HA cluster was up: $UNIFORM_RPS/s; HA / uniform $(ratio "${ha[0]}" "$UNIFORM_RPS")"
    echo "  PostgreSQL (single / HA where they differ): $settings"
}
