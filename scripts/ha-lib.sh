#!/usr/bin/env bash
# The high-availability database: three PostgreSQL nodes managed by Patroni with an etcd cluster, in synchronous
# mode (a commit is acknowledged once a second node has it; only a synchronous node may be promoted). On one
# machine each node is a host of its own: a network namespace NAME-nK with its own address on a bridge, running
# its own etcd member, Patroni and PostgreSQL. Source it after lib.sh, then call ha_configure.
#
#   root namespace: bridge NAME-br, NET.1 (the pool, the scripts, the tests)
#   NAME-n1: NET.11   NAME-n2: NET.12   NAME-n3: NET.13   (veth NAME-nK-h on the bridge <-> eth0 inside)
#   each: etcd (client :2379, peer :2380), Patroni REST API (:8008), PostgreSQL (:5432)
#
# Everything of a cluster lives under its state folder STATE: secrets/ (passwords and libpq password files, root
# only), nK/ (patroni.yml, etcd/, data/, run/, log/). docs/operations.md#high-availability explains the choices.

# Patroni's timings (seconds), written to etcd at bootstrap. A killed primary's leader key expires after at most
# HA_TTL; a replica notices within HA_LOOP_WAIT and promotes itself. Patroni requires
# loop_wait + 2 * retry_timeout <= ttl, so that a primary that cannot reach etcd demotes itself before its key
# expires and another node can take over: never two primaries.
HA_TTL=${HA_TTL:-8}
HA_LOOP_WAIT=${HA_LOOP_WAIT:-1}
HA_RETRY_TIMEOUT=${HA_RETRY_TIMEOUT:-3}

HA_NODES=(1 2 3)

# ha_configure STATE [NAME [NET]]: the cluster under STATE, namespaces NAME-n1..3 (default tally) on the /24
# network NET.0 (default 10.77.0, a private range used only inside these namespaces and the bridge).
ha_configure() {
    HA_STATE=$1
    HA_NAME=${2:-tally}
    HA_NET=${3:-10.77.0}
    HA_BRIDGE=$HA_NAME-br
    HA_GUARD=${HA_NAME//-/_}_ha_guard
}

ha_node_ip() { printf '%s.1%s\n' "$HA_NET" "$1"; }
ha_netns() { printf '%s-n%s\n' "$HA_NAME" "$1"; }
ha_node_dir() { printf '%s/n%s\n' "$HA_STATE" "$1"; }
ha_host_link() { printf '%s-n%s-h\n' "$HA_NAME" "$1"; }

# Every node's address, comma-separated (libpq's multi-host form).
ha_hosts() {
    local i hosts=()
    for i in "${HA_NODES[@]}"; do hosts+=("$(ha_node_ip "$i")"); done
    (IFS=,; printf '%s\n' "${hosts[*]}")
}

# Maps a node given as 1, n1 or NAME-n1 to its number.
ha_node_number() {
    local node=${1##*-}
    node=${node#n}
    [[ "$node" =~ ^[123]$ ]] || die "no such node: $1 (n1, n2 or n3)"
    printf '%s\n' "$node"
}

# --- the network --------------------------------------------------------------------------------------------

# The bridge with the root namespace's address, and each node's namespace wired to it.
ha_network_up() {
    if ! ip link show "$HA_BRIDGE" >/dev/null 2>&1; then
        ip link add "$HA_BRIDGE" type bridge
        ip addr add "$HA_NET.1/24" dev "$HA_BRIDGE"
    fi
    ip link set "$HA_BRIDGE" up
    local i ns link
    for i in "${HA_NODES[@]}"; do
        ns=$(ha_netns "$i")
        link=$(ha_host_link "$i")
        ip netns list | grep -qx "$ns\( .*\)\?" || ip netns add "$ns"
        if ! ip link show "$link" >/dev/null 2>&1; then
            ip link add "$link" type veth peer name eth0 netns "$ns"
            ip link set "$link" master "$HA_BRIDGE"
            ip -n "$ns" addr add "$(ha_node_ip "$i")/24" dev eth0
        fi
        ip link set "$link" up
        ip -n "$ns" link set lo up
        ip -n "$ns" link set eth0 up
    done
    ha_guard_up
}

# Only root's processes in the root namespace may reach the cluster's network: the pool, the scripts and the
# tests run as root; another local user could otherwise talk to etcd (no authentication: it could rewrite
# Patroni's configuration, synchronous mode included) or PostgreSQL's TCP port. An nftables table of the root
# namespace rejects their packets to the bridge's network (the nodes' own namespaces have no such table).
ha_guard_up() {
    nft -f - <<EOF
table inet $HA_GUARD {
    chain output {
        type filter hook output priority 0; policy accept;
        ip daddr $HA_NET.0/24 meta skuid != 0 reject
    }
}
EOF
}

# Removes the namespaces and the bridge (their processes must be gone: ha_stop).
ha_network_down() {
    local i
    for i in "${HA_NODES[@]}"; do
        ip link del "$(ha_host_link "$i")" 2>/dev/null || true
        ip netns del "$(ha_netns "$i")" 2>/dev/null || true
    done
    ip link del "$HA_BRIDGE" 2>/dev/null || true
    nft delete table inet "$HA_GUARD" 2>/dev/null || true
}

# --- secrets ------------------------------------------------------------------------------------------------

# Passwords for the superuser (Patroni, migrations, verify), replication and the pool's role, made once per
# cluster, readable by root only; and libpq password files: owner.pgpass and pool.pgpass for root's programs.
# (Conninfo strings show in process listings: passwords go in files, never in arguments.)
ha_secrets() {
    local dir=$HA_STATE/secrets name
    mkdir -p "$dir"
    chmod 0700 "$dir"
    for name in superuser replication pool restapi; do
        [ -s "$dir/$name" ] || (umask 077 && openssl rand -hex 24 >"$dir/$name")
    done
    (
        umask 077
        printf '*:*:*:%s:%s\n' "$PG_USER" "$(cat "$dir/superuser")" >"$dir/owner.pgpass"
        printf '*:*:*:%s:%s\n' "$PG_POOL_ROLE" "$(cat "$dir/pool")" >"$dir/pool.pgpass"
    )
}

ha_secret() { cat "$HA_STATE/secrets/$1"; }

# --- connection strings ---------------------------------------------------------------------------------------

# Whatever node is primary, reached over TCP: libpq tries the hosts in turn and keeps the one that accepts writes.
# A host that does not answer costs connect_timeout; keepalives and tcp_user_timeout end a connection to a host
# cut off mid-statement within about 5 s, so its request is settled (see docs/reliability.md) instead of hanging.
_ha_conninfo() {
    local role=$1 passfile=$2 db=${3:-tally}
    printf 'host=%s port=5432 dbname=%s user=%s passfile=%s target_session_attrs=read-write connect_timeout=2 ' \
        "$(ha_hosts)" "$db" "$role" "$passfile"
    printf 'keepalives=1 keepalives_idle=2 keepalives_interval=1 keepalives_count=2 tcp_user_timeout=5000\n'
}

# The owner (migrations, verify, admin-token, the tests' look-ups): ha_owner_conninfo [DB].
# shellcheck disable=SC2120 # DB is optional
ha_owner_conninfo() { _ha_conninfo "$PG_USER" "$HA_STATE/secrets/owner.pgpass" "${1:-tally}"; }
# The pool's own role, tally_pool.
# shellcheck disable=SC2120 # DB is optional
ha_pool_conninfo() { _ha_conninfo "$PG_POOL_ROLE" "$HA_STATE/secrets/pool.pgpass" "${1:-tally}"; }
# One node only, whatever its role (status, the never-two-primaries check): ha_node_conninfo NODE [DB].
ha_node_conninfo() {
    printf 'host=%s port=5432 dbname=%s user=%s passfile=%s connect_timeout=2\n' \
        "$(ha_node_ip "$1")" "${2:-postgres}" "$PG_USER" "$HA_STATE/secrets/owner.pgpass"
}

# --- configuration --------------------------------------------------------------------------------------------

# Extra PostgreSQL parameters for every node ("name: value" lines), e.g. fsync off for throwaway test clusters.
HA_PG_EXTRA=${HA_PG_EXTRA:-}
# Patroni's own log level (nK/log/patroni.log): WARNING keeps a long-running cluster's log small; INFO says what it
# decided every loop (demote, promote, rewind), what a failed test needs.
HA_PATRONI_LOG_LEVEL=${HA_PATRONI_LOG_LEVEL:-WARNING}

# Writes nK/patroni.yml (postgres's, mode 0600: it holds passwords).
ha_write_patroni_config() {
    local i=$1 dir ip sock
    dir=$(ha_node_dir "$i")
    ip=$(ha_node_ip "$i")
    sock=$(socket_dir_for "$dir/run" ".s.PGSQL.5432" "$PG_USER")
    chown "$PG_USER:" "$sock"
    chmod 0700 "$sock"
    local etcd_hosts=() j
    for j in "${HA_NODES[@]}"; do etcd_hosts+=("$(ha_node_ip "$j"):2379"); done
    local extra=""
    local line
    while IFS= read -r line; do
        [ -z "$line" ] || extra+="        $line"$'\n'
    done <<<"$HA_PG_EXTRA"
    (
        umask 077
        cat >"$dir/patroni.yml" <<EOF
# Written by scripts/ha-lib.sh at every start; edit there, not here.
scope: $HA_NAME
name: n$i
log:
  level: $HA_PATRONI_LOG_LEVEL
restapi:
  listen: $ip:8008
  connect_address: $ip:8008
  # Switchover, restart, reinit and configuration changes need this (patronictl reads it from this file).
  authentication:
    username: patroni
    password: $(ha_secret restapi)
# etcd's v2 API, not etcd3: Debian's Patroni 3.0.2 renews its leader key through etcd3 with an unconditional put
# (fixed in Patroni 3.0.3, patroni/patroni#2689), so an isolated primary healed after another node took the key
# overwrote it, promoted itself on its old timeline and demoted the new primary: acknowledged commits lost (seen
# in make test's isolation test). Through v2 the renewal is a compare-and-swap on the key's value (prevValue).
etcd:
  hosts: $(IFS=,; echo "${etcd_hosts[*]}")
bootstrap:
  dcs:
    ttl: $HA_TTL
    loop_wait: $HA_LOOP_WAIT
    retry_timeout: $HA_RETRY_TIMEOUT
    # A commit waits until a second node has flushed it; only that node may be promoted. Strict: with no
    # synchronous replica left, the primary takes no writes at all rather than acknowledging them alone.
    synchronous_mode: true
    synchronous_mode_strict: true
    maximum_lag_on_failover: 0
    postgresql:
      use_pg_rewind: true
      use_slots: true
      parameters:
        max_connections: 200
        shared_buffers: ${HA_SHARED_BUFFERS:-256MB}
        max_pred_locks_per_transaction: 256
        client_connection_check_interval: 100ms
        max_wal_size: 4GB
        wal_keep_size: 256MB
        hot_standby: "on"
        wal_log_hints: "on"
        synchronous_commit: "on"
        # A replica whose new primary is not ready for it yet (its slot is made a moment after the promotion)
        # asks again after this long, instead of the default 5 s: part of the time to the first commit.
        wal_retrieve_retry_interval: 1s
        # An isolated primary's shutdown (Patroni demotes it) waits for its walsenders to reach standbys it cannot
        # reach, up to this timeout (60 s by default). Meanwhile Patroni 3.0.2's main loop demoted it a second
        # time and started PostgreSQL twice (patroni/patroni#3649); the Patroni that lost track of the running
        # one then ran pg_rewind on its data directory, failed, and removed it under it: the node never rejoined.
        # make test's isolation test: 7 isolations of 7 raced so, 3 never rejoined; with 3 s, 0 of 4.
        wal_sender_timeout: 3s
$extra
  initdb:
    - encoding: UTF8
    - no-locale
postgresql:
  listen: $ip:5432
  connect_address: $ip:5432
  data_dir: $dir/data
  bin_dir: $(pg_bin)
  pgpass: $dir/run/patroni.pgpass
  use_unix_socket: true
  # A new replica's copy of the primary starts at once, not after a spread checkpoint.
  basebackup:
    checkpoint: fast
  remove_data_directory_on_rewind_failure: true
  remove_data_directory_on_diverged_timelines: true
  authentication:
    superuser:
      username: $PG_USER
      password: $(ha_secret superuser)
    replication:
      username: replicator
      password: $(ha_secret replication)
  parameters:
    unix_socket_directories: '$sock'
    unix_socket_permissions: '0700'
  pg_hba:
    - local all all peer
    - host replication replicator $HA_NET.0/24 scram-sha-256
    - host all all $HA_NET.0/24 scram-sha-256
EOF
    )
    chown "$PG_USER:" "$dir/patroni.yml"
}

# --- processes ----------------------------------------------------------------------------------------------

# Starts node I's etcd member and Patroni (which starts PostgreSQL) inside its namespace, each in a session of
# its own, marked with TALLY_STACK so that the stack's sweep finds them.
ha_start_node() {
    local i=$1 dir ns ip
    dir=$(ha_node_dir "$i")
    ns=$(ha_netns "$i")
    ip=$(ha_node_ip "$i")
    mkdir -p "$dir/etcd" "$dir/log" "$dir/run"
    chown etcd: "$dir/etcd"
    chmod 0700 "$dir/etcd"
    chown "$PG_USER:" "$dir" "$dir/run"
    ensure_traversable etcd "$dir"
    ensure_traversable "$PG_USER" "$dir"
    local cluster=() j
    for j in "${HA_NODES[@]}"; do cluster+=("n$j=http://$(ha_node_ip "$j"):2380"); done
    # (--initial-* only matter the first time: a member that has data rejoins with what it knows.)
    TALLY_STACK=$HA_STATE setsid ip netns exec "$ns" runuser -u etcd -- etcd --name "n$i" \
        --data-dir "$dir/etcd" \
        --listen-client-urls "http://$ip:2379" --advertise-client-urls "http://$ip:2379" \
        --listen-peer-urls "http://$ip:2380" --initial-advertise-peer-urls "http://$ip:2380" \
        --initial-cluster "$(IFS=,; echo "${cluster[*]}")" --initial-cluster-token "$HA_NAME" \
        --initial-cluster-state new --log-level warn --enable-v2=true \
        </dev/null >>"$dir/log/etcd.log" 2>&1 &
    disown # (no "Killed" from the shell when `ha.sh kill` ends it)
    ha_write_patroni_config "$i"
    TALLY_STACK=$HA_STATE setsid ip netns exec "$ns" runuser -u "$PG_USER" -- patroni "$dir/patroni.yml" \
        </dev/null >>"$dir/log/patroni.log" 2>&1 &
    disown
}

# Every process in node I's namespace, killed at once (SIGKILL): the host is lost.
ha_kill_node() {
    local pids
    mapfile -t pids < <(ip netns pids "$(ha_netns "$1")" 2>/dev/null || true)
    [ ${#pids[@]} -eq 0 ] || kill -KILL "${pids[@]}" 2>/dev/null || true
    local k
    for ((k = 0; k < 50; k++)); do
        [ -z "$(ip netns pids "$(ha_netns "$1")" 2>/dev/null)" ] && return 0
        sleep 0.1
    done
}

# Node I's link to the bridge cut (isolate) or restored (heal): a partition from the others and from the pool.
ha_isolate_node() { ip link set "$(ha_host_link "$1")" down; }
ha_heal_node() { ip link set "$(ha_host_link "$1")" up; }

# Stops every node: Patroni on SIGTERM stops its PostgreSQL (fast), then etcd; whatever remains is killed.
ha_stop() {
    local i k
    for i in "${HA_NODES[@]}"; do
        pkill -TERM -f "patroni $(ha_node_dir "$i")/patroni.yml" || true
    done
    for ((k = 0; k < 150; k++)); do
        pgrep -f "patroni $HA_STATE/n[123]/patroni.yml" >/dev/null || break
        sleep 0.1
    done
    pkill -TERM -f "etcd --name n[123] --data-dir $HA_STATE/" || true
    for ((k = 0; k < 50; k++)); do
        pgrep -f "etcd --name n[123] --data-dir $HA_STATE/" >/dev/null || break
        sleep 0.1
    done
    for i in "${HA_NODES[@]}"; do ha_kill_node "$i"; done
}

# --- the cluster's state ---------------------------------------------------------------------------------------

# Patroni's view of the cluster (JSON from the first node's REST API that answers).
ha_cluster_json() {
    local i
    for i in "${HA_NODES[@]}"; do
        curl -sf --max-time 2 "http://$(ha_node_ip "$i"):8008/cluster" && return 0
    done
    return 1
}

# The node (n1..n3) Patroni reports as primary (running), if any.
ha_primary() {
    local i
    for i in "${HA_NODES[@]}"; do
        if curl -sf -o /dev/null --max-time 1 "http://$(ha_node_ip "$i"):8008/primary"; then
            printf 'n%s\n' "$i"
            return 0
        fi
    done
    return 1
}

# ha_wait_healthy SECONDS: waits until there is a primary and both others stream from it, one of them
# synchronous.
ha_wait_healthy() {
    local seconds=$1 k
    for ((k = 0; k < seconds * 2; k++)); do
        if ha_cluster_json 2>/dev/null | python3 -c '
import json, sys
members = json.load(sys.stdin)["members"]
roles = sorted(m["role"] for m in members if m.get("state") in ("running", "streaming"))
sys.exit(0 if roles == ["leader", "replica", "sync_standby"] else 1)' 2>/dev/null; then
            return 0
        fi
        sleep 0.5
    done
    return 1
}

# Starts the three nodes and waits for a healthy cluster with database tally; the pool's role gets its
# password once migrations have made it (ha_set_pool_password).
ha_start() {
    ha_network_up
    ha_secrets
    local i
    for i in "${HA_NODES[@]}"; do ha_start_node "$i"; done
    ha_wait_healthy 120 || die "the HA cluster did not become healthy in 120 s; see $HA_STATE/n*/log/"
    local conninfo
    conninfo=$(ha_owner_conninfo postgres)
    if [ -z "$(psql -X -tA "$conninfo" -c "SELECT 1 FROM pg_database WHERE datname = 'tally'")" ]; then
        psql -X -q "$conninfo" -c 'CREATE DATABASE tally'
    fi
    ha_wait_database tally 30 || die "database tally did not reach every node in 30 s; see $HA_STATE/n*/log/"
}

# ha_wait_database DB SECONDS: waits until every node has database DB. libpq's multi-host string tries the hosts
# in turn, and a replica that has not replayed CREATE DATABASE yet answers FATAL "database does not exist", which
# ends the search there (libpq tries the next host only when one cannot be reached or is not read-write): a
# connection made just after the database was created fails whenever such a replica is listed before the primary.
ha_wait_database() {
    local db=$1 seconds=$2 i k missing
    for ((k = 0; k < seconds * 4; k++)); do
        missing=0
        for i in "${HA_NODES[@]}"; do
            [ -n "$(psql -X -tA "$(ha_node_conninfo "$i")" -c "SELECT 1 FROM pg_database WHERE datname = '$db'" 2>/dev/null)" ] ||
                missing=1
        done
        [ "$missing" -eq 1 ] || return 0
        sleep 0.25
    done
    return 1
}

# After migrations: the pool's role (migration 12 makes it) logs in with the password in secrets/pool.
ha_set_pool_password() {
    psql -X -q -v ON_ERROR_STOP=1 -v password="$(ha_secret pool)" "$(ha_owner_conninfo)" <<'EOF'
ALTER ROLE tally_pool PASSWORD :'password';
EOF
}
