#!/usr/bin/env bash
# Shared shell functions for run.sh, test.sh, pool.sh and bench/bench.sh.
# Source it; it defines functions and a few variables and starts nothing by itself.
#
# The stack is PostgreSQL (own cluster, unix socket only) <- `tally serve` (FastCGI pool on a unix socket)
# <- nginx (HTTP on 127.0.0.1:PORT). Every piece keeps its pid, socket, logs and temp files under one
# state folder, so that several stacks (make run, make test, make bench) can run side by side.

# Command substitutions fail like any other command (bash does not pass set -e into them otherwise).
shopt -s inherit_errexit

# Repository root, whatever the caller's working directory.
TALLY_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# PostgreSQL and nginx workers run as these users; root cannot run postgres at all.
PG_USER=postgres
WEB_USER="www-data"
# The pool's own PostgreSQL role (migration 12): not a superuser, owns nothing, holds only the rights the
# pool's statements need. Migrations, `tally verify`, `tally admin-token` and the tests' look-ups connect as
# the owner, $PG_USER.
PG_POOL_ROLE=tally_pool

log() { printf '%s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# --- packages ---------------------------------------------------------------------------------------------

_apt_updated=
# apt-get update at most once per run, and only when something is really missing.
apt_install() {
    [ $# -gt 0 ] || return 0
    log "Installing: $*"
    if [ -z "$_apt_updated" ]; then
        apt-get update -qq >/dev/null
        _apt_updated=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# Installs what the stack needs and is not there yet. Extra arguments name optional needs:
# `python` (a python3 that can make a venv), `wrk` (the load generator), `gcc` (builds the ceiling),
# `browser` (chromium and chromedriver for tests/browser), `shellcheck` (make lint), `ha` (Patroni and etcd).
ensure_packages() {
    local need=()
    command -v nginx >/dev/null || need+=(nginx)
    [ -f /usr/include/fcgiapp.h ] || need+=(libfcgi-dev)
    [ -f /usr/include/postgresql/libpq-fe.h ] || need+=(libpq-dev)
    [ -f /usr/include/argon2.h ] || need+=(libargon2-dev)
    [ -f /usr/include/openssl/sha.h ] || need+=(libssl-dev)
    # libcurl's headers (OpenSSL flavour): the HTTP client of `tally import` and `tally export`. Debian keeps them
    # in the multiarch folder, /usr/include/x86_64-linux-gnu/curl.
    compgen -G '/usr/include/*/curl/curl.h' >/dev/null || [ -f /usr/include/curl/curl.h ] || need+=(libcurl4-openssl-dev)
    command -v pkg-config >/dev/null || need+=(pkg-config)
    ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
    command -v psql >/dev/null || need+=(postgresql-client)
    command -v curl >/dev/null || need+=(curl)
    command -v runuser >/dev/null || need+=(util-linux)
    command -v pgrep >/dev/null || need+=(procps) # the tests find workers with pgrep -P
    local extra
    for extra in "$@"; do
        case "$extra" in
            python)
                command -v python3 >/dev/null || need+=(python3)
                # Debian splits ensurepip (what `python3 -m venv` needs) into python3-venv.
                python3 -c 'import ensurepip, venv' 2>/dev/null || need+=(python3-venv)
                ;;
            wrk) command -v wrk >/dev/null || need+=(wrk) ;;
            gcc) command -v gcc >/dev/null || need+=(gcc) ;;
            shellcheck) command -v shellcheck >/dev/null || need+=(shellcheck) ;;
            ha)
                # The HA cluster (scripts/ha-lib.sh): Patroni, etcd, iproute2 for the namespaces, nftables to
                # keep other local users off their network, openssl for the passwords.
                command -v patroni >/dev/null || need+=(patroni)
                # Patroni talks to etcd's v2 API (scripts/ha-lib.sh says why) through python3-etcd.
                [ -d /usr/lib/python3/dist-packages/etcd ] || need+=(python3-etcd)
                command -v etcd >/dev/null || need+=(etcd-server)
                command -v ip >/dev/null || need+=(iproute2)
                command -v nft >/dev/null || need+=(nftables)
                command -v openssl >/dev/null || need+=(openssl)
                ;;
            browser)
                # The dashboard's browser tests: Debian's chromium and its chromedriver, with fonts for text
                # and emoji (a stripped image has none, and the screenshots would show boxes).
                command -v chromium >/dev/null || need+=(chromium)
                [ -x /usr/bin/chromedriver ] || need+=(chromium-driver)
                [ -d /usr/share/fonts/truetype/dejavu ] || need+=(fonts-dejavu-core)
                [ -d /usr/share/fonts/truetype/noto ] || need+=(fonts-noto-color-emoji)
                ;;
            *) die "ensure_packages: unknown need '$extra'" ;;
        esac
    done
    apt_install "${need[@]}"
    command -v swift >/dev/null || die "swift is not on PATH (the Swift toolchain is expected at /opt/swift)"
    # postgresql-common may be missing its users on a stripped image; both come with the packages above.
    id "$PG_USER" >/dev/null 2>&1 || die "user $PG_USER does not exist (is postgresql installed?)"
    id "$WEB_USER" >/dev/null 2>&1 || die "user $WEB_USER does not exist"
}

# --- builds -----------------------------------------------------------------------------------------------

# Builds the release binary and prints its path.
build_release() {
    (cd "$TALLY_ROOT" && swift build -c release >&2) || die "swift build -c release failed"
    local dir
    dir=$(cd "$TALLY_ROOT" && swift build -c release --show-bin-path) || die "swift build --show-bin-path failed"
    [ -x "$dir/tally" ] || die "no tally binary in $dir"
    printf '%s/tally\n' "$dir"
}

# --- small helpers ----------------------------------------------------------------------------------------

# A TCP port on 127.0.0.1 that nobody listens on right now.
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# True when a process PID is alive and its command line contains TEXT.
process_matches() {
    local pid=$1 text=$2
    [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 1
    local cmdline
    cmdline=$(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline") || return 1
    [[ "$cmdline" == *"$text"* ]]
}

# Waits up to SECONDS for process PID to be gone.
wait_gone() {
    local pid=$1 seconds=$2 i
    for ((i = 0; i < seconds * 10; i++)); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    return 1
}

# Sends SIG to PID, waits up to SECONDS, then kills the whole process group for good.
stop_process() {
    local pid=$1 sig=$2 seconds=$3
    kill "-$sig" "$pid" 2>/dev/null || return 0
    wait_gone "$pid" "$seconds" && return 0
    log "pid $pid did not stop within ${seconds}s after SIG$sig; killing it"
    kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    wait_gone "$pid" 5 || true
}

# Makes DIR and each parent traversable (o+x, not readable) for USER, who must reach a socket or a data
# folder in it. Needed when the project lives under /root (mode 0700): postgres must reach its data
# folder and nginx's workers (www-data) the FastCGI socket and www/.
ensure_traversable() {
    local user=$1 dir=$2
    runuser -u "$user" -- test -x "$dir" 2>/dev/null && return 0
    # Top-down, so that each check sees its parents already fixed.
    local d="" part
    local -a parts
    IFS=/ read -r -a parts <<<"${dir#/}"
    for part in "${parts[@]}"; do
        d="$d/$part"
        if ! runuser -u "$user" -- test -x "$d" 2>/dev/null; then
            log "Allowing $user to traverse $d (chmod o+x) so it can reach $dir"
            chmod o+x "$d"
        fi
    done
}

# A unix socket path must fit in 107 bytes. Prints DIR when "DIR/NAME" fits, otherwise a short folder
# under /tmp derived from DIR (stable, so that a restart finds the same one): socket_dir_for DIR NAME [OWNER...].
# That name is predictable, and another local user could make it first (a folder of theirs, or a symlink to
# one) to take the sockets over. So it is made with mkdir, no -p, mode 0700; and a folder already there is
# used only when private_dir_ok accepts it (a real folder owned by the stack's user or one of OWNERS, writable
# by no one else). Otherwise this fails, naming it, and nothing is put there. Once accepted, no one else can
# replace it: /tmp is sticky, and the folder is neither theirs nor writable by them.
socket_dir_for() {
    local dir=$1 name=$2
    shift 2
    if [ $((${#dir} + ${#name} + 1)) -le 100 ]; then
        printf '%s\n' "$dir"
        return 0
    fi
    local short
    short=/tmp/tally-sock-$(printf '%s' "$dir" | md5sum | cut -c1-12)
    # (When two starts race, the loser's mkdir fails and the check below judges the winner's folder.)
    [ -e "$short" ] || [ -L "$short" ] || mkdir -m 0700 "$short" 2>/dev/null || true
    private_dir_ok "$short" "$@" ||
        die "refusing the socket folder $short for $dir: $(private_dir_problem "$short" "$@")." \
            "Another local user may have made it to take the sockets over: check who did, remove it, and start" \
            "again (or use a checkout path short enough for sockets in the state folder itself)"
    printf '%s\n' "$short"
}

# private_dir_problem DIR [OWNER...]: why DIR may not hold a socket (empty when it may): it must be a folder,
# not a symlink, owned by the user running this script or one of OWNERS, and writable by its owner only.
private_dir_problem() {
    local dir=$1 owner mode
    shift
    if [ -L "$dir" ]; then
        echo "it is a symlink (to $(readlink "$dir"))"
        return 0
    fi
    if [ ! -d "$dir" ]; then
        echo "it is not a folder"
        return 0
    fi
    read -r owner mode < <(stat -c '%U %a' "$dir")
    if [[ " $(id -un) $* " != *" $owner "* ]]; then
        echo "it belongs to $owner (allowed: $(id -un) $*)"
    elif (((8#$mode & 8#022) != 0)); then
        echo "its mode $mode lets others than $owner write in it"
    fi
}

private_dir_ok() { [ -z "$(private_dir_problem "$@")" ]; }

# Kills every process whose environment carries TALLY_STACK=STATE_DIR: the last-resort sweep that makes
# sure a stack leaves nothing behind, e.g. workers orphaned by a supervisor killed with kill -9.
sweep_stack_processes() {
    local marker="TALLY_STACK=$1" proc pid environ found=()
    for proc in /proc/[0-9]*; do
        pid=${proc#/proc/}
        [ "$pid" = "$$" ] && continue
        # (2>/dev/null first: kernel threads and processes gone meanwhile cannot be read)
        environ=$(tr '\0' '\n' 2>/dev/null <"$proc/environ") || continue
        if grep -qxF -- "$marker" <<<"$environ"; then
            found+=("$pid")
        fi
    done
    [ ${#found[@]} -gt 0 ] || return 0
    log "Killing leftover processes of this stack: ${found[*]}"
    kill -KILL "${found[@]}" 2>/dev/null || true
}

# --- PostgreSQL -------------------------------------------------------------------------------------------

# shellcheck disable=SC2012 # ls fails when no version is installed (find would not); the names are versions
pg_bin() { ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1; }

# Runs a PostgreSQL server program as the postgres user, from a folder it can read.
as_postgres() { (cd / && runuser -u "$PG_USER" -- "$@"); }

# Where the cluster under DIR listens (a folder for its unix socket, owned by postgres).
pg_socket_dir() { socket_dir_for "$1/run" ".s.PGSQL.5432" "$PG_USER"; }

# libpq conninfo for database DB (default tally) of the cluster under DIR, as ROLE (default the owner,
# postgres): pg_conninfo DIR [DB [ROLE]].
pg_conninfo() {
    local sock
    sock=$(pg_socket_dir "$1") || return
    printf 'host=%s port=5432 user=%s dbname=%s\n' "$sock" "${3:-$PG_USER}" "${2:-tally}"
}

# The conninfo the pool connects with: the same database as its own role, tally_pool.
pg_pool_conninfo() { pg_conninfo "$1" "${2:-tally}" "$PG_POOL_ROLE"; }

# psql against the cluster under DIR: pg_psql DIR DB [psql args...]
pg_psql() {
    local dir=$1 db=$2
    shift 2
    psql -X -q -v ON_ERROR_STOP=1 "$(pg_conninfo "$dir" "$db")" "$@"
}

# True when the postmaster recorded in DIR/data/postmaster.pid is alive and serves that very folder
# (postgres runs with its data folder as working directory, which tells it from a recycled pid).
pg_is_running() {
    local data=$1/data pid
    [ -f "$data/postmaster.pid" ] || return 1
    pid=$(head -1 "$data/postmaster.pid")
    [ -n "$pid" ] && [ "$(readlink "/proc/$pid/cwd" 2>/dev/null)" = "$(readlink -f "$data")" ]
}

# After a crash or a kill -9 of everything, postmaster.pid and the socket lock can name a pid that is
# now another process; postgres then refuses to start. Remove them once we know no postmaster owns them.
pg_clear_stale_state() {
    local dir=$1 sock
    sock=$(pg_socket_dir "$dir") || return
    pg_is_running "$dir" && return 0
    if [ -f "$dir/data/postmaster.pid" ]; then
        log "Removing stale $dir/data/postmaster.pid (no postmaster runs for it)"
        rm -f "$dir/data/postmaster.pid"
    fi
    rm -f "$sock/.s.PGSQL.5432" "$sock/.s.PGSQL.5432.lock"
}

# Settings written at every start (so a moved checkout still finds its socket); EXTRA lines are appended,
# e.g. fsync=off for throwaway test clusters.
pg_write_settings() {
    local dir=$1 sock=$2
    shift 2
    {
        echo "# Written by scripts/lib.sh at every start; edit there, not here."
        echo "listen_addresses = ''"
        echo "unix_socket_directories = '$sock'"
        # The pool holds one connection per worker; tests, bench and the ceiling add their own.
        echo "max_connections = 200"
        echo "shared_buffers = 256MB"
        # SERIALIZABLE keeps a predicate lock for every row and index page a transaction reads, and keeps a
        # committed transaction's locks while transactions that overlapped it still run. The table holds this
        # many per connection: at the default 64, alert-judged events (two round trips each) from 64 clients on
        # 32 workers once filled it within seconds (41 "out of shared memory" errors, each a 503), and so did
        # eight pgbench clients reading history pages in explicit transactions. Room for four times as many
        # costs a few MB of shared memory.
        echo "max_pred_locks_per_transaction = 256"
        # A movement is one statement in an implicit transaction: if the worker running it dies while the
        # statement waits (for a row lock, say), the backend would still commit it, though nginx answered 502.
        # Polling the client socket while a query runs makes the backend notice and roll back instead.
        echo "client_connection_check_interval = 100ms"
        local line
        for line in "$@"; do echo "$line"; done
    } >"$dir/data/tally.conf"
    chown "$PG_USER:" "$dir/data/tally.conf"
}

# Who may connect, written at every start (so that a cluster made before, with `initdb -A trust`, is fixed
# too): the unix socket only (listen_addresses is ''), every role by peer, i.e. by the OS user the kernel
# reports for the connecting process, through the map in pg_ident.conf:
#   postgres            -> postgres (the owner: migrations, verify, admin-token, the tests' look-ups)
#   the stack's user    -> postgres and tally_pool (root here: it runs the migrations and the pool)
# No other OS user is any role. The socket's folder keeps the others from reaching the socket at all.
# With PG_POOL_PASSWORD_AUTH=1 (the deploy check, which plays docker-compose's pool: another OS user, with a
# password) tally_pool authenticates by scram-sha-256 instead.
pg_write_access() {
    local dir=$1 me
    me=$(id -un)
    {
        echo "# Written by scripts/lib.sh at every start; edit there, not here."
        echo "# TYPE  DATABASE  USER  METHOD"
        [ -z "${PG_POOL_PASSWORD_AUTH:-}" ] || echo "local   all       $PG_POOL_ROLE  scram-sha-256"
        echo "local   all       all   peer map=tally"
    } >"$dir/data/pg_hba.conf"
    {
        echo "# Written by scripts/lib.sh at every start; edit there, not here."
        echo "# MAP   OS USER  ROLE"
        echo "tally   $PG_USER  $PG_USER"
        if [ "$me" != "$PG_USER" ]; then
            echo "tally   $me  $PG_USER"
            echo "tally   $me  $PG_POOL_ROLE"
        fi
    } >"$dir/data/pg_ident.conf"
    chown "$PG_USER:" "$dir/data/pg_hba.conf" "$dir/data/pg_ident.conf"
    chmod 0600 "$dir/data/pg_hba.conf" "$dir/data/pg_ident.conf"
}

pg_init_cluster() {
    local dir=$1
    log "Creating a PostgreSQL cluster in $dir/data"
    # (pg_write_access replaces the access rules before the first start.)
    as_postgres "$(pg_bin)/initdb" -D "$dir/data" -U "$PG_USER" --auth-local=peer --auth-host=scram-sha-256 \
        -E UTF8 --no-locale >"$dir/log/initdb.log"
    echo "include_if_exists = 'tally.conf'" >>"$dir/data/postgresql.conf"
}

# Creates or reuses the cluster under DIR (data in DIR/data, socket in DIR/run, log in DIR/log), starts it
# if it is not running, and creates database tally. Extra arguments are postgresql.conf lines.
# The socket's folder is postgres's, mode 0700: only postgres and root reach the socket (and the socket
# itself is 0700). With PG_SOCKET_GROUP=GROUP (the deploy check, whose pool runs as another user) it is
# 0750 and group GROUP: that group's members reach it too, and still need a role to authenticate as.
pg_start() {
    local dir=$1
    shift
    mkdir -p "$dir/run" "$dir/log"
    local sock
    sock=$(pg_socket_dir "$dir") || return
    chown "$PG_USER:" "$dir" "$dir/run" "$dir/log"
    if [ -n "${PG_SOCKET_GROUP:-}" ]; then
        chown "$PG_USER:$PG_SOCKET_GROUP" "$sock"
        chmod 0750 "$sock"
    else
        chown "$PG_USER:" "$sock"
        chmod 0700 "$sock"
    fi
    ensure_traversable "$PG_USER" "$dir"
    [ -f "$dir/data/PG_VERSION" ] || pg_init_cluster "$dir"
    # (With a socket group the folder decides who gets in: the socket's own group would be postgres's.)
    local socket_mode=0700
    [ -z "${PG_SOCKET_GROUP:-}" ] || socket_mode=0777
    pg_write_settings "$dir" "$sock" "unix_socket_permissions = $socket_mode" "$@"
    pg_write_access "$dir"
    if pg_is_running "$dir"; then
        log "PostgreSQL is already running in $dir/data; reusing it"
        # Picks up changed settings that need no restart, and the access rules.
        as_postgres "$(pg_bin)/pg_ctl" -D "$dir/data" reload >/dev/null
    else
        pg_clear_stale_state "$dir"
        as_postgres "$(pg_bin)/pg_ctl" -D "$dir/data" -l "$dir/log/postgresql.log" -w -t 60 start >/dev/null ||
            die "PostgreSQL did not start; see $dir/log/postgresql.log"
    fi
    pg_create_database "$dir" tally
}

# Creates database DB in the cluster under DIR unless it exists.
pg_create_database() {
    local dir=$1 db=$2
    if [ -z "$(pg_psql "$dir" postgres -tA -c "SELECT 1 FROM pg_database WHERE datname = '$db'")" ]; then
        pg_psql "$dir" postgres -c "CREATE DATABASE \"$db\""
    fi
}

# Stops the cluster under DIR: fast shutdown (rolls back open transactions, keeps all committed data),
# immediate if that hangs.
pg_stop() {
    local dir=$1
    pg_is_running "$dir" || return 0
    as_postgres "$(pg_bin)/pg_ctl" -D "$dir/data" -m fast -w -t 30 stop >/dev/null ||
        as_postgres "$(pg_bin)/pg_ctl" -D "$dir/data" -m immediate -w -t 30 stop >/dev/null || true
}

# --- the pool (tally serve) -------------------------------------------------------------------------------
# A stack's state folder STATE holds: pg/ (the cluster), run/ (FastCGI socket, pid files), nginx/ (rendered
# config, temp files), log/ (tally.log, nginx-access.log, nginx-error.log).

# The FastCGI socket of the stack in STATE (its folder is chosen for the longer name of the two sockets).
stack_socket() {
    local dir
    dir=$(socket_dir_for "$1/run" tally-batches.sock) || return
    printf '%s/tally.sock\n' "$dir"
}

# The socket of the pool's batch lane (tally serve --batch-socket), beside the stack's main socket.
stack_batch_socket() {
    local socket
    socket=$(stack_socket "$1") || return
    printf '%s/tally-batches.sock\n' "$(dirname "$socket")"
}

# pool_start BIN STATE CONNINFO [serve args...]  (CONNINFO: the pool's role's, pg_pool_conninfo)
# Starts `tally serve` in its own session (so that a Ctrl-C in the terminal reaches only the script, which
# then stops the pieces in order), records its pid in STATE/run/tally.pid and waits for the socket.
# Its request log (stderr) goes to STATE/log/tally.log.
pool_start() {
    local bin=$1 state=$2 conninfo=$3
    shift 3
    local socket batch_socket
    socket=$(stack_socket "$state") || return
    batch_socket=$(stack_batch_socket "$state") || return
    mkdir -p "$state/run" "$state/log"
    pool_stop "$state" # a supervisor left over from a killed run would still hold the socket
    rm -f "$socket" "$batch_socket"
    # nginx's workers (www-data) connect to the socket: they must be able to reach its folder.
    chmod 755 "$(dirname "$socket")"
    ensure_traversable "$WEB_USER" "$(dirname "$socket")"
    # shellcheck disable=SC2094 # the pool's log and its stdout and stderr are one file, appended to: nothing reads it
    TALLY_STACK=$state setsid "$bin" serve --socket "$socket" --database "$conninfo" \
        --batch-socket "$batch_socket" --log-file "$state/log/tally.log" "$@" \
        </dev/null >>"$state/log/tally.log" 2>&1 &
    local pid=$! i
    echo "$pid" >"$state/run/tally.pid"
    for ((i = 0; i < 100; i++)); do
        [ -S "$socket" ] && return 0
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    tail -n 20 "$state/log/tally.log" >&2 || true
    die "tally serve did not open $socket; see $state/log/tally.log"
}

# Pid of the stack's running supervisor, if there is one.
pool_pid() {
    local pid socket
    pid=$(cat "$1/run/tally.pid" 2>/dev/null) || return 1
    socket=$(stack_socket "$1") || return 1
    process_matches "$pid" " serve --socket $socket" && printf '%s\n' "$pid"
}

# pool_stop STATE: SIGTERM (finish in-flight requests, exit 0); SIGKILL to its process group after 20 s.
pool_stop() {
    local state=$1 pid
    if pid=$(pool_pid "$state"); then
        stop_process "$pid" TERM 20
        # Workers are in the supervisor's process group: none may outlive it.
        kill -KILL -- "-$pid" 2>/dev/null || true
    fi
    rm -f "$state/run/tally.pid" "$(stack_socket "$state")" "$(stack_batch_socket "$state")"
}

# --- nginx ------------------------------------------------------------------------------------------------

# nginx_render PORT SOCKET WWW_ROOT STATE: writes STATE/nginx/nginx.conf from nginx/tally.conf.template.
# Batches go to the stack's batch lane socket (stack_batch_socket), or to SOCKET when TALLY_BATCH_WORKERS=0
# (the pool then runs no batch lane).
nginx_render() {
    local port=$1 socket=$2 www=$3 state=$4 batch_socket=$2
    [ "${TALLY_BATCH_WORKERS:-}" = 0 ] || batch_socket=$(stack_batch_socket "$state") || return
    mkdir -p "$state/nginx/tmp" "$state/log" "$state/run"
    sed -e "s|@PORT@|$port|g" -e "s|@SOCKET@|$socket|g" -e "s|@BATCH_SOCKET@|$batch_socket|g" \
        -e "s|@WWW_ROOT@|$www|g" -e "s|@STATE@|$state|g" \
        "$TALLY_ROOT/nginx/tally.conf.template" >"$state/nginx/nginx.conf"
    ensure_traversable "$WEB_USER" "$www"
    # A checkout made under umask 077 leaves www/ unreadable to nginx's workers.
    if ! runuser -u "$WEB_USER" -- test -r "$www/index.html" 2>/dev/null; then
        log "Making $www readable for $WEB_USER (chmod -R o+rX)"
        chmod -R o+rX "$www"
    fi
}

nginx_pid() {
    local pid
    pid=$(cat "$1/run/nginx.pid" 2>/dev/null) || return 1
    process_matches "$pid" "$1/nginx/nginx.conf" && printf '%s\n' "$pid"
}

# nginx_start STATE PORT: checks the rendered config, starts nginx in its own session and waits until it
# answers on PORT. A master left over from a killed run of the same stack is stopped first.
nginx_start() {
    local state=$1 port=$2
    local conf=$state/nginx/nginx.conf errlog=$state/log/nginx-error.log
    nginx_stop "$state"
    rm -f "$state/run/nginx.pid"
    nginx -q -t -c "$conf" -e "$errlog" || die "nginx rejected $conf"
    # shellcheck disable=SC2094 # nginx's error log and its stdout and stderr are one file, appended to: nothing reads it
    TALLY_STACK=$state setsid nginx -c "$conf" -e "$errlog" -g 'daemon off;' </dev/null >>"$errlog" 2>&1 &
    local pid=$! i
    for ((i = 0; i < 100; i++)); do
        curl -s -o /dev/null "http://127.0.0.1:$port/" && return 0
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    tail -n 20 "$errlog" >&2 || true
    die "nginx did not start on port $port; see $errlog"
}

# nginx_stop STATE: graceful quit (finishes requests in flight); SIGKILL after 10 s.
nginx_stop() {
    local pid
    pid=$(nginx_pid "$1") || return 0
    stop_process "$pid" QUIT 10
}

# --- the service role's token ---------------------------------------------------------------------------------

# ensure_admin_token BIN CONNINFO FILE URL: prints the service-role token kept in FILE (mode 0600), making a
# new one when FILE is missing or its token no longer works (a database made anew, a revoked token).
ensure_admin_token() {
    local bin=$1 conninfo=$2 file=$3 url=$4 token
    if [ -s "$file" ]; then
        token=$(cat "$file")
        if [ "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $token" "$url/api/me")" = 200 ]; then
            printf '%s\n' "$token"
            return 0
        fi
        log "The token in $file no longer works; making a new one."
    fi
    token=$("$bin" admin-token --database "$conninfo") || return
    (umask 077 && printf '%s\n' "$token" >"$file")
    printf '%s\n' "$token"
}

# stack_teardown STATE KEEP [FILE...]: stops a throwaway stack front to back (nginx, the pool, PostgreSQL),
# sweeps up anything of it still running (a worker orphaned by a test's kill -9, say), keeps its logs and the
# extra FILEs in KEEP for a look afterwards, and removes STATE.
stack_teardown() {
    local state=$1 keep=$2
    shift 2
    nginx_stop "$state" || true
    pool_stop "$state" || true
    pg_stop "$state/pg" || true
    sweep_stack_processes "$state" || true
    rm -rf "$keep"
    mkdir -p "$keep"
    cp -r "$state/log/." "$keep/" 2>/dev/null || true
    cp "$state/pg/log/postgresql.log" "$@" "$keep/" 2>/dev/null || true
    rm -rf "$state"
}
