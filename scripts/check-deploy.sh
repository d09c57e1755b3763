#!/usr/bin/env bash
# Checks the Docker deployment (Dockerfile, docker-compose.yml, .env.example, scripts/docker/) without Docker,
# which does not run on the project's machines. `make test` runs it; `make check-deploy` runs it alone.
#   1. docker-compose.yml: `docker-compose config` (Debian's docker-compose) with .env.example and the two
#      passwords, and refused without either; every variable it reads is in .env.example and back; PostgreSQL's
#      max_connections, as its container computes it, leaves room for the pool's workers; the pool and nginx
#      share the socket's volume; PostgreSQL gets the settings scripts/lib.sh gives `make run`'s cluster; the
#      pool connects as tally_pool, never as POSTGRES_USER (a superuser) nor with its password, and starts after
#      the migrate service (the owner) has finished.
#   1b. docker-compose.ha.yml (three etcd members, three Patroni nodes): `docker-compose config` passes, and is
#      refused without any of the three passwords; scripts/check-deploy-ha.py: the pool, migrate and nginx are
#      docker-compose.yml's but for where they connect (host=db1,db2,db3 target_session_attrs=read-write, the
#      conninfo settings of scripts/ha-lib.sh) and the pool's failover timings (in-doubt patience 20 s, request
#      timeout 28 s); scripts/docker/ha/patroni.yml is ha-lib.sh's Patroni configuration (synchronous_mode_strict,
#      use_pg_rewind, timings, parameters) with no password in it; nodes and members named, healthchecked, with
#      volumes of their own, on an internal network, publishing nothing; scripts/docker/ha/Dockerfile is
#      Debian's packages of this release, not root; `patroni --validate-config` has nothing more to say of it
#      than of ha-lib.sh's.
#   2. Dockerfile: its Swift image is the toolchain the tests build with; its build stage runs
#      scripts/docker/build.sh, and so does this check, on this checkout; every shared library ldd lists
#      for that binary is among the staged Swift libraries or in a package of RUNTIME_PACKAGES or of the
#      base image (with dependencies), and each of RUNTIME_PACKAGES is needed; it runs as a non-root user.
#   3. nginx: scripts/docker/nginx-start.sh --check renders nginx/tally.conf.template as the nginx container
#      does (local paths for the socket, www/ and the state folder) and runs `nginx -t` on it.
#   4. scripts/docker/tally-entrypoint.sh with a stand-in tally: `setup` makes the admin token on a new database
#      or when its file is missing, kept mode 0600, printed once, and refuses to run without TALLY_POOL_PASSWORD;
#      with no command it runs serve.
#   5. The containers' commands run for real on this machine, with the staged binary, the socket's ownership
#      and modes of the image and the users of the containers: setup as the owner, the pool as another user
#      logging in as tally_pool with the password setup gave it (scram-sha-256): the API answers through nginx,
#      and that user is refused as postgres and as tally_pool without the password.
#   6. docker-compose.ha.yml's database containers' commands, run here in a network namespace of their own:
#      three etcd members and three Patroni nodes with the compose file's environment make a cluster with a
#      synchronous standby; migrate's setup and the pool's login reach the primary through their conninfo; no
#      password in a command line; the primary killed, the same conninfo writes on the new one, which has
#      what setup committed.
# Prints one line per check and exits non-zero when any fails.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

cd "$TALLY_ROOT"
WORK=$(mktemp -d /tmp/tally-deploy-check.XXXXXX)
LIVE=
trap 'stop_live; rm -rf "$WORK"' EXIT
chmod 755 "$WORK"

failures=0
pass() { log "  ok: $*"; }
fail() {
    log "  FAIL: $*"
    failures=$((failures + 1))
}
# check DESCRIPTION COMMAND...: runs COMMAND, its output kept in $WORK/last.log and shown on failure
# (always with SHOW=1).
check() {
    local what=$1
    shift
    if "$@" >"$WORK/last.log" 2>&1; then
        pass "$what"
        [ -z "${SHOW:-}" ] || sed 's/^/      /' "$WORK/last.log" >&2
    else
        fail "$what"
        sed 's/^/      /' "$WORK/last.log" | tail -n 40 >&2
    fi
}

# What ensure_packages does not bring: docker-compose (and with it python3-yaml, which the checks read with).
ensure_deploy_packages() {
    local need=()
    command -v docker-compose >/dev/null || need+=(docker-compose)
    command -v python3 >/dev/null || need+=(python3)
    # docker-compose.ha.yml's nodes, run here by check_live_ha.
    command -v patroni >/dev/null || need+=(patroni)
    command -v etcd >/dev/null || need+=(etcd-server)
    apt_install "${need[@]}"
    python3 -c 'import yaml' 2>/dev/null || apt_install python3-yaml
}

# docker-compose with nothing of the caller's environment (make test exports TALLY_* settings of its own,
# which compose would prefer to the env file).
compose() { compose_file docker-compose.yml "$@"; }
# compose_file FILE ARGS...: the same for another compose file (docker-compose.ha.yml).
compose_file() {
    local file=$1
    shift
    env -i PATH="$PATH" HOME="$WORK" docker-compose -f "$TALLY_ROOT/$file" "$@"
}

# .env.example with both passwords set, and NAME=VALUE overrides.
env_file() {
    local file=$1
    shift
    sed -e 's/^POSTGRES_PASSWORD=$/POSTGRES_PASSWORD=check-only-not-a-secret/' \
        -e 's/^TALLY_POOL_PASSWORD=$/TALLY_POOL_PASSWORD=check-only-pool-not-a-secret/' \
        -e 's/^PG_REPLICATION_PASSWORD=$/PG_REPLICATION_PASSWORD=check-only-replication-not-a-secret/' \
        -e 's/^PATRONI_RESTAPI_PASSWORD=$/PATRONI_RESTAPI_PASSWORD=check-only-restapi-not-a-secret/' \
        .env.example >"$file"
    local pair
    for pair in "$@"; do
        sed -i "s|^${pair%%=*}=.*|$pair|" "$file"
    done
}

# --- 1. docker-compose.yml --------------------------------------------------------------------------------

check_compose() {
    log "== docker-compose.yml ($(docker-compose version --short 2>/dev/null || echo docker-compose))"
    env_file "$WORK/check.env"
    check "docker-compose config accepts docker-compose.yml with .env.example and the two passwords" \
        compose --env-file "$WORK/check.env" config
    cp "$WORK/last.log" "$WORK/compose.yml"
    local missing
    for missing in POSTGRES_PASSWORD TALLY_POOL_PASSWORD; do
        env_file "$WORK/missing.env" "$missing="
        if compose --env-file "$WORK/missing.env" config >"$WORK/last.log" 2>&1; then
            fail "docker-compose config should refuse an empty $missing: no default secret"
        elif grep -q "$missing" "$WORK/last.log"; then
            pass "without $missing docker-compose refuses to start, naming it"
        else
            fail "docker-compose config failed without $missing, but not naming it:"
            sed 's/^/      /' "$WORK/last.log" >&2
        fi
    done

    # Every ${NAME} the compose files read is a line of .env.example, and every line there is read by one.
    local used listed
    used=$(compose_variables docker-compose.yml docker-compose.ha.yml)
    listed=$(grep -oE '^[A-Z_][A-Z0-9_]*=' .env.example | tr -d = | sort -u)
    if [ "$used" = "$listed" ]; then
        pass ".env.example lists exactly the $(wc -w <<<"$used") settings docker-compose.yml and docker-compose.ha.yml read"
    else
        fail ".env.example and the compose files disagree: $(diff <(echo "$used") <(echo "$listed") | grep '^[<>]' |
            sed 's/^</only in the compose files:/; s/^>/only in .env.example:/' | tr '\n' ' ')"
    fi

    # The same checks with more workers: max_connections follows TALLY_WORKERS.
    env_file "$WORK/many.env" TALLY_WORKERS=48 TALLY_BATCH_WORKERS=6 PG_SPARE_CONNECTIONS=6
    compose --env-file "$WORK/many.env" config >"$WORK/compose-many.yml" 2>&1 || cp "$WORK/compose-many.yml" "$WORK/last.log"
    local pg_settings
    pg_settings=$(sed -n '/^pg_write_settings()/,/^}/p' scripts/lib.sh)
    local agree="the services agree (workers and max_connections, the socket's volume, nginx's files,"
    agree+=" PostgreSQL settings, the pool's role)"
    SHOW=1 check "$agree" \
        python3 - "$WORK/compose.yml" "$WORK/compose-many.yml" "$pg_settings" "$(pool_role_name)" <<'PY'
import os, re, subprocess, sys, yaml

RESERVED = 3  # PostgreSQL's superuser_reserved_connections
# Besides the workers: `tally migrate` and `tally admin-token` at start (one at a time), and a worker being
# replaced while its predecessor's connection closes.
OTHERS = 2
problems = []

def max_connections(db):
    """Runs the db service's command as its container's sh would, with `echo` for the image's entrypoint."""
    command = db["command"]
    assert command[:2] == ["sh", "-c"], "the db command is expected to be sh -c '...'"
    script = command[2].replace("$$", "$").replace("exec docker-entrypoint.sh", "echo", 1)
    env = {k: str(v) for k, v in db["environment"].items()}
    env["PATH"] = os.environ["PATH"]
    out = subprocess.run(["sh", "-c", script], env=env, capture_output=True, text=True, check=True).stdout
    found = re.search(r"max_connections=(\d+)", out)
    assert found, f"no max_connections in {out!r}"
    return int(found.group(1)), out

for path in sys.argv[1:3]:
    services = yaml.safe_load(open(path))["services"]
    db, tally, nginx = services["db"], services["tally"], services["nginx"]
    workers = int(tally["environment"]["TALLY_WORKERS"]) + int(tally["environment"]["TALLY_BATCH_WORKERS"])
    for name in ["TALLY_WORKERS", "TALLY_BATCH_WORKERS"]:
        if db["environment"][name] != tally["environment"][name]:
            problems.append(f"{path}: db and tally have different {name}")
    if nginx["environment"].get("TALLY_BATCH_WORKERS") != tally["environment"]["TALLY_BATCH_WORKERS"]:
        problems.append(f"{path}: nginx and tally have different TALLY_BATCH_WORKERS")
    connections, db_args = max_connections(db)
    if connections - RESERVED < workers + OTHERS:
        problems.append(f"{path}: max_connections {connections} leaves {connections - RESERVED} connections "
                        f"after the {RESERVED} reserved ones, fewer than {workers} workers + {OTHERS}")
    print(f"{os.path.basename(path)}: {workers} workers, max_connections {connections}")

    socket = tally["environment"]["TALLY_SOCKET"]
    for name in ["TALLY_SOCKET", "TALLY_BATCH_SOCKET"]:
        if nginx["environment"].get(name) != tally["environment"][name]:
            problems.append(f"{path}: nginx's {name} is not the pool's {tally['environment'][name]}")
    if os.path.dirname(tally["environment"]["TALLY_BATCH_SOCKET"]) != os.path.dirname(socket):
        problems.append(f"{path}: the batch lane's socket is not in the main socket's volume")
    socket_dir = os.path.dirname(socket)
    def volume_at(service, target):
        return [v.split(":")[0] for v in service.get("volumes", []) if v.split(":")[1] == target]
    pool_volume, nginx_volume = volume_at(tally, socket_dir), volume_at(nginx, socket_dir)
    if not pool_volume or pool_volume != nginx_volume or pool_volume[0].startswith("/"):
        problems.append(f"{path}: the pool and nginx do not mount one named volume at {socket_dir}")

    mounts = {v.split(":")[1]: v.split(":")[0] for v in nginx.get("volumes", [])}
    root = os.getcwd()
    for target, source in [("/etc/tally/tally.conf.template", "nginx/tally.conf.template"),
                           ("/etc/tally/nginx-start.sh", "scripts/docker/nginx-start.sh"),
                           (nginx["environment"]["TALLY_WWW_ROOT"], "www")]:
        if mounts.get(target) != os.path.join(root, source):
            problems.append(f"{path}: nginx does not mount {source} at {target}")
    if nginx["command"] != ["sh", "/etc/tally/nginx-start.sh"]:
        problems.append(f"{path}: nginx does not run scripts/docker/nginx-start.sh")

    # The pool connects as its own role, never as POSTGRES_USER (a superuser in the postgres image) and never
    # with its password; the migrate service, the owner, runs first and must have succeeded.
    pool_role, migrate = sys.argv[4], services.get("migrate")
    owner, owner_password = db["environment"]["POSTGRES_USER"], db["environment"]["POSTGRES_PASSWORD"]
    def conninfo_user(service):
        return dict(p.split("=", 1) for p in service["environment"]["TALLY_DATABASE"].split()).get("user")
    if conninfo_user(tally) != pool_role or conninfo_user(tally) == owner:
        problems.append(f"{path}: the pool connects as {conninfo_user(tally)!r}, not as {pool_role} "
                        f"(POSTGRES_USER is {owner!r})")
    if any(str(value) == owner_password for value in tally["environment"].values()):
        problems.append(f"{path}: the pool's environment holds POSTGRES_PASSWORD, the superuser's password")
    if not tally["environment"].get("PGPASSWORD"):
        problems.append(f"{path}: the pool has no password for {pool_role}")
    if migrate is None:
        problems.append(f"{path}: no migrate service")
    else:
        if conninfo_user(migrate) != owner or migrate["environment"].get("PGPASSWORD") != owner_password:
            problems.append(f"{path}: the migrate service does not connect as POSTGRES_USER with its password")
        if migrate["environment"].get("TALLY_POOL_PASSWORD") != tally["environment"]["PGPASSWORD"]:
            problems.append(f"{path}: the migrate service does not set the password the pool logs in with")
        if migrate.get("command") != ["setup"] or migrate.get("image") != tally.get("image"):
            problems.append(f"{path}: the migrate service does not run the pool's image with `setup`")
        condition = tally.get("depends_on", {}).get("migrate", {}).get("condition")
        if condition != "service_completed_successfully":
            problems.append(f"{path}: the pool does not wait for the migrate service to succeed ({condition})")

# scripts/lib.sh's cluster settings, apart from where it listens and max_connections, go to the container.
for name, value in re.findall(r'echo "(\w+) = ([^"]+)"', sys.argv[3]):
    if name in ("listen_addresses", "unix_socket_directories", "max_connections"):
        continue
    if f"-c {name}={value.strip(chr(39))}" not in db_args:
        problems.append(f"the db service lacks `-c {name}={value}` (scripts/lib.sh pg_write_settings has it)")

for problem in problems:
    print(problem)
sys.exit(1 if problems else 0)
PY
}

# The ${NAME}s compose files read, one a line.
compose_variables() {
    # shellcheck disable=SC2016 # a literal ${ in the pattern: compose's own ${NAME}, not the shell's
    grep -ho '\${[A-Z_][A-Z0-9_]*' "$@" | cut -c3- | sort -u
}

# --- 1b. docker-compose.ha.yml: three database hosts --------------------------------------------------------

check_compose_ha() {
    log "== docker-compose.ha.yml (three etcd members, three Patroni nodes; scripts/docker/ha/)"
    env_file "$WORK/check.env"
    check "docker-compose config accepts docker-compose.ha.yml with .env.example and the four passwords" \
        compose_file docker-compose.ha.yml --env-file "$WORK/check.env" config
    cp "$WORK/last.log" "$WORK/compose-ha.yml"
    local missing
    for missing in POSTGRES_PASSWORD TALLY_POOL_PASSWORD PG_REPLICATION_PASSWORD PATRONI_RESTAPI_PASSWORD; do
        env_file "$WORK/missing.env" "$missing="
        if compose_file docker-compose.ha.yml --env-file "$WORK/missing.env" config >"$WORK/last.log" 2>&1; then
            fail "docker-compose config should refuse docker-compose.ha.yml with an empty $missing: no default secret"
        elif grep -q "$missing" "$WORK/last.log"; then
            pass "without $missing docker-compose refuses to start docker-compose.ha.yml, naming it"
        else
            fail "docker-compose config failed on docker-compose.ha.yml without $missing, but not naming it:"
            sed 's/^/      /' "$WORK/last.log" >&2
        fi
    done
    env_file "$WORK/many.env" TALLY_WORKERS=48 TALLY_BATCH_WORKERS=6 PG_SPARE_CONNECTIONS=6
    compose_file docker-compose.ha.yml --env-file "$WORK/many.env" config >"$WORK/compose-ha-many.yml" 2>&1 || true

    # make run HA=1's Patroni configuration and pool conninfo, as scripts/ha-lib.sh writes them.
    if ha_lib_reference "$WORK/ha-lib" >"$WORK/last.log" 2>&1; then
        pass "scripts/ha-lib.sh wrote its patroni.yml and pool conninfo for comparison"
    else
        fail "scripts/ha-lib.sh did not write its patroni.yml: $(tail -3 "$WORK/last.log")"
        return 0
    fi
    local agree="the HA variant: Patroni's configuration is ha-lib.sh's (synchronous_mode_strict, use_pg_rewind,"
    agree+=" timings); pool and migrate on host=db1,db2,db3 target_session_attrs=read-write; the shared services"
    agree+=" are docker-compose.yml's; secrets, users, ports, networks, healthchecks, volumes"
    SHOW=1 check "$agree" \
        python3 scripts/check-deploy-ha.py "$WORK/compose-ha.yml" "$WORK/compose-ha-many.yml" "$WORK/compose.yml" \
        scripts/docker/ha/patroni.yml "$WORK/ha-lib/n1/patroni.yml" "$(cat "$WORK/ha-lib/pool.conninfo")" \
        "$(pool_role_name)" nginx/tally.conf.template
    check_ha_node_image
    check_patroni_validates
}

# ha_lib_reference DIR: scripts/ha-lib.sh's node 1 patroni.yml (DIR/n1/patroni.yml) and pool conninfo
# (DIR/pool.conninfo), with its defaults (not whatever HA_* the caller exported) and stand-in passwords.
ha_lib_reference() (
    unset HA_TTL HA_LOOP_WAIT HA_RETRY_TIMEOUT HA_PG_EXTRA HA_SHARED_BUFFERS
    # shellcheck source=ha-lib.sh
    source scripts/ha-lib.sh
    ha_configure "$1"
    mkdir -p "$1/secrets" "$1/n1/run"
    local name
    for name in superuser replication pool; do echo "check-only-$name" >"$1/secrets/$name"; done
    chown "$PG_USER:" "$1/n1" "$1/n1/run"
    ha_write_patroni_config 1
    ha_pool_conninfo >"$1/pool.conninfo"
)

# scripts/docker/ha/Dockerfile: Debian's packages of this machine's release, nothing secret, not root.
check_ha_node_image() {
    local dockerfile=scripts/docker/ha/Dockerfile codename base packages p missing=() src
    codename=$(. /etc/os-release && echo "$VERSION_CODENAME")
    base=$(sed -n 's/^FROM \([^ ]*\)$/\1/p' "$dockerfile")
    packages=$(sed -n 's/^ARG NODE_PACKAGES="\(.*\)"$/\1/p' "$dockerfile")
    if [ "$base" = "debian:$codename-slim" ]; then
        pass "the node image is $base, the release this machine's patroni and etcd come from"
    else
        fail "the node image is '$base', expected debian:$codename-slim"
    fi
    for p in patroni postgresql-15 etcd-server etcd-client curl; do
        [[ " $packages " == *" $p "* ]] || missing+=("$p")
    done
    for p in $packages; do
        apt-cache show "$p" >/dev/null 2>&1 || missing+=("$p (not in this release)")
    done
    if [ -n "$packages" ] && [ ${#missing[@]} -eq 0 ]; then
        pass "NODE_PACKAGES are Debian's: $packages"
    else
        fail "NODE_PACKAGES ($packages) lacks: ${missing[*]:-its packages}"
    fi
    # (Only the patroni.yml's bin_dir version is checked here: the rest of the file by check-deploy-ha.py.)
    if grep -qx '  bin_dir: /usr/lib/postgresql/15/bin' scripts/docker/ha/patroni.yml; then
        pass "patroni.yml's bin_dir is postgresql-15's"
    else
        fail "patroni.yml's bin_dir is not /usr/lib/postgresql/15/bin"
    fi
    if grep -qiE '^(ENV|ARG)[^#]*(PASSWORD|SECRET)' "$dockerfile" || grep -qi 'password:' scripts/docker/ha/patroni.yml; then
        fail "a password is set in the node image (ENV/ARG or patroni.yml): it belongs in .env"
    else
        pass "no password in the node image: Patroni reads them from the environment"
    fi
    while read -r src; do
        [ -e "scripts/docker/ha/$src" ] || fail "the node Dockerfile copies $src, which does not exist"
    done < <(sed -n 's/^COPY \([^ ]*\) .*/\1/p' "$dockerfile")
    local user
    user=$(sed -n 's/^USER \(.*\)$/\1/p' "$dockerfile" | tail -1)
    if [ -n "$user" ] && [ "$user" != root ] && [ "$user" != 0 ]; then
        pass "the node image runs as $user (the etcd members as etcd)"
    else
        fail "the node image runs as root (USER '$user')"
    fi
}

# Patroni's own validator, on the nodes' configuration with db1's environment, finds nothing it does not find in
# ha-lib.sh's (optional sections both leave out). It connects to the etcd hosts and tries the listen ports: it
# runs in a network namespace of its own with nothing in it (unshare: no traffic leaves, no port of this machine
# counts), where etcd1..3 resolve (a hosts file bound in a mount namespace of its own) but answer nobody.
check_patroni_validates() {
    printf '127.0.0.1 localhost etcd1 etcd2 etcd3 db1 db2 db3\n' >"$WORK/hosts"
    local env_args
    env_args=$(python3 -c '
import shlex, sys, yaml
env = yaml.safe_load(open(sys.argv[1]))["services"]["db1"]["environment"]
print(" ".join(shlex.quote(f"{k}={v}") for k, v in env.items() if k.startswith("PATRONI_")))' "$WORK/compose-ha.yml")
    eval "patroni_validate \"\$WORK/validate-ha.txt\" scripts/docker/ha/patroni.yml $env_args"
    patroni_validate "$WORK/validate-lib.txt" "$WORK/ha-lib/n1/patroni.yml"
    local extra
    extra=$(grep -vxFf "$WORK/validate-lib.txt" "$WORK/validate-ha.txt" || true)
    if [ -z "$extra" ]; then
        pass "patroni --validate-config finds nothing in the nodes' configuration it does not find in ha-lib.sh's:" \
            "$(tr '\n' ';' <"$WORK/validate-lib.txt")"
    else
        fail "patroni --validate-config on scripts/docker/ha/patroni.yml (db1's environment): $(tr '\n' ' ' <<<"$extra")"
    fi
}

# patroni_validate OUT CONFIG [NAME=VALUE...]: what `patroni --validate-config CONFIG` says, in an empty network
# namespace, the etcd hosts' "not reachable" (true of any, there) made one line.
patroni_validate() {
    local out=$1 config=$2
    shift 2
    # shellcheck disable=SC2016 # $0 and $@ are the inner sh's
    unshare --net --mount sh -c 'mount --bind "$0" /etc/hosts && exec env "$@"' "$WORK/hosts" \
        "$@" patroni --validate-config "$config" 2>&1 |
        sed -E 's/^(etcd3?\.hosts) .* is not reachable.*$/\1: not reachable (no etcd in an empty network)/' |
        sort -u >"$out" || true
}

# The pool's role, as the Swift sources name it (PoolRole.name).
pool_role_name() { sed -n 's/^ *package static let name = "\(.*\)"$/\1/p' Sources/LedgerStore/PoolRole.swift; }

# --- 2. Dockerfile ----------------------------------------------------------------------------------------

# dockerfile_arg NAME: the default of `ARG NAME="..."`.
dockerfile_arg() { sed -n "s/^ARG $1=\"\\(.*\\)\"\$/\\1/p" Dockerfile; }

# The Debian package that holds PATH (ldd prints /lib/...; merged-/usr packages list /usr/lib/...).
package_of() {
    local candidate owner
    for candidate in "$1" "/usr$1" "$(readlink -f "$1")"; do
        owner=$(dpkg-query -S "$candidate" 2>/dev/null | head -1) || true
        if [ -n "$owner" ]; then
            printf '%s\n' "${owner%%:*}"
            return 0
        fi
    done
    return 1
}

# Packages with their dependencies, as this machine's apt resolves them.
package_closure() {
    apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks --no-replaces \
        --no-enhances "$@" 2>/dev/null | grep -v '^[ <]' | sed 's/:.*//' | sort -u
}

check_dockerfile() {
    log "== Dockerfile"
    local swift_image runtime_image codename swift_version
    swift_image=$(sed -n 's/^FROM \(swift:[^ ]*\) AS build$/\1/p' Dockerfile)
    runtime_image=$(sed -n 's/^FROM \(debian:[^ ]*\) AS runtime$/\1/p' Dockerfile)
    codename=$(. /etc/os-release && echo "$VERSION_CODENAME")
    swift_version=$(swift --version 2>&1 | sed -n 's/.*Swift version \([0-9.]*\).*/\1/p' | head -1)
    if [ "$swift_image" = "swift:$swift_version-$codename" ]; then
        pass "the build stage's $swift_image is this machine's Swift $swift_version on Debian $codename"
    else
        fail "the build stage is '$swift_image', the tests build with swift:$swift_version-$codename"
    fi
    # The library check below resolves packages with this machine's apt: it holds for the same release.
    if [ "$runtime_image" = "debian:$codename-slim" ]; then
        pass "the runtime stage is $runtime_image, the release this machine's packages come from"
    else
        fail "the runtime stage is '$runtime_image', expected debian:$codename-slim (the release checked here)"
    fi

    local build_packages runtime_packages providers missing=() p
    build_packages=$(dockerfile_arg BUILD_PACKAGES)
    runtime_packages=$(dockerfile_arg RUNTIME_PACKAGES)
    providers=$(grep -o '\.apt(\[[^]]*\])' Package.swift | grep -o '"[^"]*"' | tr -d '"')
    for p in $providers; do
        [[ " $build_packages " == *" $p "* ]] || missing+=("$p")
    done
    if [ -n "$providers" ] && [ ${#missing[@]} -eq 0 ]; then
        pass "BUILD_PACKAGES has every -dev package Package.swift names: $(tr '\n' ' ' <<<"$providers")"
    else
        fail "BUILD_PACKAGES ($build_packages) lacks ${missing[*]:-the packages of Package.swift (none found)}"
    fi

    # The build stage's commands, run here exactly: the same script, on the same sources.
    if grep -qx 'RUN scripts/docker/build.sh /staging' Dockerfile && grep -qx 'COPY --from=build /staging/ /' Dockerfile; then
        pass "the build stage runs scripts/docker/build.sh /staging and the runtime stage copies /staging"
    else
        fail "the Dockerfile no longer builds with 'RUN scripts/docker/build.sh /staging' and copies /staging: update this check"
    fi
    local src
    while read -r src; do
        [ -e "$src" ] || fail "the Dockerfile copies $src, which does not exist"
        if grep -qxF "$src" .dockerignore; then fail "the Dockerfile copies $src, which .dockerignore excludes"; fi
    done < <(sed -n 's/^COPY \([^-][^ ]*\) .*/\1/p' Dockerfile)
    for src in .build .git .venv var .env; do
        grep -qxF "$src" .dockerignore || fail ".dockerignore does not exclude $src"
    done
    check "scripts/docker/build.sh $WORK/staging (the build stage's command) builds and stages tally" \
        bash scripts/docker/build.sh "$WORK/staging"
    local staged=$WORK/staging/usr/local/bin/tally swift_dir=$WORK/staging/usr/lib/swift/linux
    [ -x "$staged" ] || {
        fail "no staged binary; skipping the library checks"
        return 0
    }
    log "      staged: $(cd "$WORK/staging" && find . -type f | sort | tr '\n' ' ')"

    # The libraries, as the loader finds them with the staged Swift libraries first (the image puts them at
    # /usr/lib/swift/linux, the binary's RUNPATH in the build image).
    local ldd_out
    ldd_out=$(LD_LIBRARY_PATH=$swift_dir ldd "$staged")
    if grep -q 'not found' <<<"$ldd_out"; then
        fail "libraries not found: $(grep 'not found' <<<"$ldd_out" | tr -s ' \t' ' ')"
    fi
    local base needed_packages closure name path owner unowned=() uncovered=() swift_libs=()
    # debian:*-slim is Debian's minimal base: the packages of priority required, and apt.
    base=$(dpkg-query -W -f '${Package} ${Priority}\n' | awk '$2 == "required" { print $1 }')
    # shellcheck disable=SC2086 # lists of package names, one word each
    closure=$(package_closure $runtime_packages apt $base)
    needed_packages=()
    while read -r name _ path _; do
        [[ "$path" == /* ]] || continue
        if [ "$(dirname "$path")" = "$swift_dir" ]; then
            swift_libs+=("$name")
            continue
        fi
        if ! owner=$(package_of "$path"); then
            unowned+=("$name")
            continue
        fi
        needed_packages+=("$owner")
        grep -qxF "$owner" <<<"$closure" || uncovered+=("$name ($owner)")
    done <<<"$ldd_out"
    if [ ${#unowned[@]} -eq 0 ] && [ ${#uncovered[@]} -eq 0 ] && [ ${#swift_libs[@]} -gt 0 ]; then
        pass "all $(grep -c '=>' <<<"$ldd_out") libraries are covered: ${#swift_libs[@]} staged Swift ones" \
            "(${swift_libs[*]}), the rest from RUNTIME_PACKAGES ($runtime_packages), their dependencies or the base image"
    else
        [ ${#swift_libs[@]} -gt 0 ] || fail "no Swift library resolved to the staged copies in $swift_dir"
        [ ${#unowned[@]} -eq 0 ] || fail "libraries outside the staged Swift ones and outside any package: ${unowned[*]}"
        [ ${#uncovered[@]} -eq 0 ] || fail "the runtime stage lacks packages for: ${uncovered[*]}"
    fi
    local unneeded=()
    for p in $runtime_packages; do
        printf '%s\n' "${needed_packages[@]}" | grep -qxF "$p" || unneeded+=("$p")
    done
    if [ ${#unneeded[@]} -eq 0 ]; then
        pass "each of RUNTIME_PACKAGES holds a library tally links"
    else
        fail "RUNTIME_PACKAGES has packages tally does not link: ${unneeded[*]}"
    fi
    check "the staged binary runs with the staged Swift libraries (tally help)" \
        env LD_LIBRARY_PATH="$swift_dir" "$staged" help

    local user
    user=$(sed -n 's/^USER \(.*\)$/\1/p' Dockerfile | tail -1)
    if [ -n "$user" ] && [ "$user" != root ] && [ "$user" != 0 ]; then
        pass "the runtime stage runs as $user"
    else
        fail "the runtime stage runs as root (USER '$user')"
    fi
}

# --- 3. nginx ---------------------------------------------------------------------------------------------

check_nginx() {
    log "== nginx ($(nginx -v 2>&1 | sed 's/.*version: //'); the image runs nginx:$(sed -n 's/.*image: nginx:\(.*\)$/\1/p' docker-compose.yml))"
    mkdir -p "$WORK/run"
    check "nginx -t on nginx/tally.conf.template as scripts/docker/nginx-start.sh renders it for compose" \
        env TALLY_NGINX_TEMPLATE="$TALLY_ROOT/nginx/tally.conf.template" NGINX_LISTEN=8080 \
        TALLY_SOCKET="$WORK/run/tally.sock" TALLY_BATCH_SOCKET="$WORK/run/tally-batches.sock" \
        TALLY_WWW_ROOT="$TALLY_ROOT/www" TALLY_NGINX_STATE="$WORK/nginx" \
        sh scripts/docker/nginx-start.sh --check
    local conf=$WORK/nginx/nginx/nginx.conf
    if grep -qE '^\s*listen 8080;' "$conf" && ! grep -qE 'listen\s+127\.0\.0\.1' "$conf"; then
        pass "the rendered config listens on every address of the container (port 8080)"
    else
        fail "the rendered config does not listen on 8080 on every address: $(grep -n listen "$conf" | tr '\n' ' ')"
    fi
    if grep -q "fastcgi_pass unix:$WORK/run/tally.sock;" "$conf"; then
        pass "it passes /api/ to the pool's socket"
    else
        fail "its fastcgi_pass is not the pool's socket: $(grep -n fastcgi_pass "$conf" | tr '\n' ' ')"
    fi
    if [ "$(grep -A8 'location = /api/batches' "$conf" | grep -c "fastcgi_pass unix:$WORK/run/tally-batches.sock;")" = 1 ]; then
        pass "it passes /api/batches to the batch lane's socket"
    else
        fail "/api/batches does not go to the batch lane's socket: $(grep -n fastcgi_pass "$conf" | tr '\n' ' ')"
    fi
}

# --- 4. the pool's entrypoint -----------------------------------------------------------------------------

check_entrypoint() {
    log "== scripts/docker/tally-entrypoint.sh (with a stand-in tally)"
    mkdir -p "$WORK/stub" "$WORK/state"
    # Prints $MIGRATE_OUTPUT for migrate, a new token for admin-token, what serve would run.
    cat >"$WORK/stub/tally" <<'STUB'
#!/bin/sh
case "$1" in
    migrate) printf '%s\n' "$MIGRATE_OUTPUT" ;;
    admin-token) echo "tly_stub_$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')" ;;
    *) echo "ran: tally $*" ;;
esac
STUB
    chmod +x "$WORK/stub/tally"
    entry() {
        env PATH="$WORK/stub:$PATH" TALLY_STATE_DIR="$WORK/state" MIGRATE_OUTPUT="$1" \
            TALLY_POOL_PASSWORD=check-only-pool-not-a-secret sh scripts/docker/tally-entrypoint.sh setup
    }
    local fresh="applied migration 1: core ledger
schema is at version 3" current="schema is at version 3" out first second
    out=$(entry "$fresh")
    first=$(cat "$WORK/state/admin-token" 2>/dev/null || true)
    if [ -n "$first" ] && grep -qF "Admin token (service role; kept in $WORK/state/admin-token): $first" <<<"$out" &&
        [ "$(stat -c %a "$WORK/state/admin-token")" = 600 ] && ! grep -q "ran: tally serve" <<<"$out"; then
        pass "setup on a new database: a token is made, printed, kept mode 0600; serve does not run"
    else
        fail "setup on a new database: expected a printed token kept mode 0600, and no serve; got: $out"
    fi
    out=$(entry "$current")
    if [ "$(cat "$WORK/state/admin-token")" = "$first" ] && ! grep -q tly_ <<<"$out"; then
        pass "a later setup keeps the token and does not print it again"
    else
        fail "a later setup changed or printed the token: $out"
    fi
    out=$(entry "$fresh")
    second=$(cat "$WORK/state/admin-token")
    if [ "$second" != "$first" ] && grep -qF "$second" <<<"$out"; then
        pass "a database made anew (migration 1 applied again): a new token replaces the old"
    else
        fail "a database made anew kept the old token: $out"
    fi
    rm -f "$WORK/state/admin-token"
    out=$(entry "$current")
    if [ -s "$WORK/state/admin-token" ] && grep -qF "$(cat "$WORK/state/admin-token")" <<<"$out"; then
        pass "a missing token file: a new token is made"
    else
        fail "a missing token file did not make a new token: $out"
    fi
    if out=$(env PATH="$WORK/stub:$PATH" TALLY_STATE_DIR="$WORK/state" TALLY_POOL_PASSWORD= \
        sh scripts/docker/tally-entrypoint.sh setup 2>&1); then
        fail "setup ran without TALLY_POOL_PASSWORD: $out"
    elif grep -q TALLY_POOL_PASSWORD <<<"$out"; then
        pass "setup refuses to run without TALLY_POOL_PASSWORD, naming it"
    else
        fail "setup failed without TALLY_POOL_PASSWORD, but not naming it: $out"
    fi
    out=$(env PATH="$WORK/stub:$PATH" TALLY_STATE_DIR="$WORK/state" \
        sh scripts/docker/tally-entrypoint.sh --max-requests 5)
    if [ "$out" = "ran: tally serve --max-requests 5" ]; then
        pass "with no command it runs serve, with the arguments (and no migration)"
    else
        fail "with no command: expected serve alone, got: $out"
    fi
    out=$(env PATH="$WORK/stub:$PATH" TALLY_STATE_DIR="$WORK/state" sh scripts/docker/tally-entrypoint.sh verify)
    if [ "$out" = "ran: tally verify" ]; then
        pass "a command of its own (verify) runs alone"
    else
        fail "'verify' did not run alone: $out"
    fi
}

# --- 5. the containers' commands, run here --------------------------------------------------------------------

# The pool's entrypoint and nginx-start.sh run as the containers run them, on this machine. PostgreSQL is a
# throwaway cluster standing in for the db container: its socket folder is open to group nogroup (the pool's
# user's), and tally_pool logs in there by scram-sha-256, as it does over the compose network. `setup` runs as the
# owner (root, mapped to postgres by peer: the migrate service's owner login), with a pool password made here;
# the pool runs as a user that is not root and has www-data as a supplementary group (nobody here, tally in the
# image), logging in as tally_pool with that password, its socket in a folder of mode 0750 group www-data (the
# volume as the image makes it); nginx's workers run as www-data. Then /api/health, /api/me with the printed
# token, and /; and that user cannot log in as postgres, nor as tally_pool without the password.
check_live() {
    log "== the pool's entrypoint and nginx-start.sh, run as the containers run them"
    LIVE=$WORK/live
    mkdir -p "$LIVE/bin"
    chmod 755 "$LIVE"
    PG_SOCKET_GROUP=nogroup PG_POOL_PASSWORD_AUTH=1 pg_start "$LIVE/pg" "fsync = off" >"$LIVE/pg-start.log" 2>&1 || {
        fail "PostgreSQL did not start: $(tail -3 "$LIVE/pg-start.log")"
        return 0
    }
    install -d -o nobody -g www-data -m 0750 "$LIVE/socket"
    install -d -o nobody -g nogroup -m 0700 "$LIVE/state"
    ln -s "$WORK/staging/usr/local/bin/tally" "$LIVE/bin/tally"
    local port socket=$LIVE/socket/tally.sock password
    password=$(head -c 18 /dev/urandom | base64 | tr '+/' '-_')
    port=$(free_port)
    if env PATH="$LIVE/bin:$PATH" LD_LIBRARY_PATH="$WORK/staging/usr/lib/swift/linux" \
        TALLY_DATABASE="$(pg_conninfo "$LIVE/pg")" TALLY_STATE_DIR="$LIVE/state" TALLY_POOL_PASSWORD="$password" \
        sh scripts/docker/tally-entrypoint.sh setup </dev/null >"$LIVE/setup.log" 2>&1 &&
        ! grep -qF "$password" "$LIVE/setup.log"; then
        pass "setup as the owner: migrated, set tally_pool's password without printing it, made the token"
    else
        fail "setup failed or printed the password: $(tail -5 "$LIVE/setup.log")"
    fi
    TALLY_STACK=$LIVE setsid setpriv --reuid=nobody --regid=nogroup --groups=www-data \
        env PATH="$LIVE/bin:$PATH" LD_LIBRARY_PATH="$WORK/staging/usr/lib/swift/linux" \
        TALLY_DATABASE="$(pg_pool_conninfo "$LIVE/pg")" PGPASSWORD="$password" TALLY_STATE_DIR="$LIVE/state" \
        TALLY_SOCKET="$socket" TALLY_SOCKET_GROUP=www-data TALLY_SOCKET_MODE=0660 TALLY_WORKERS=2 \
        sh scripts/docker/tally-entrypoint.sh </dev/null >"$LIVE/pool.log" 2>&1 &
    local i
    for ((i = 0; i < 100; i++)); do
        [ -S "$socket" ] && break
        sleep 0.1
    done
    TALLY_STACK=$LIVE setsid env NGINX_LISTEN="127.0.0.1:$port" TALLY_SOCKET="$socket" \
        TALLY_BATCH_SOCKET="$LIVE/socket/tally-batches.sock" \
        TALLY_NGINX_TEMPLATE="$TALLY_ROOT/nginx/tally.conf.template" TALLY_WWW_ROOT="$TALLY_ROOT/www" \
        TALLY_NGINX_STATE="$LIVE/nginx" sh scripts/docker/nginx-start.sh </dev/null >"$LIVE/nginx.log" 2>&1 &
    for ((i = 0; i < 50; i++)); do
        curl -s -o /dev/null "http://127.0.0.1:$port/" && break
        sleep 0.1
    done
    local token health me index
    token=$(sed -n 's/^Admin token (service role; kept in [^)]*): \(tly_[A-Za-z0-9_-]*\)$/\1/p' "$LIVE/setup.log")
    health=$(curl -s "http://127.0.0.1:$port/api/health" || true)
    me=$(curl -s -H "Authorization: Bearer $token" "http://127.0.0.1:$port/api/me" || true)
    index=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/" || true)
    if [ "$health" = '{"status":"ok","database":"up"}' ] && [ "$me" = '{"role":"service"}' ] && [ "$index" = 200 ] &&
        [ "$(stat -c '%U %G %a' "$socket")" = "nobody www-data 660" ] &&
        [ "$(stat -c '%U %G %a' "$LIVE/socket/tally-batches.sock")" = "nobody www-data 660" ]; then
        pass "through nginx: /api/health up, /api/me with the printed token is the service role, / is 200; the socket and the batch lane's are nobody:www-data 0660"
    else
        fail "through the compose scripts: health '$health', me '$me', index $index, socket $(stat -c '%U %G %a' "$socket" 2>&1)"
        sed 's/^/      pool: /' "$LIVE/pool.log" | tail -n 10 >&2
        sed 's/^/      nginx: /' "$LIVE/nginx.log" | tail -n 10 >&2
    fi
    local sessions
    sessions=$(pg_psql "$LIVE/pg" tally -tA -c "SELECT string_agg(DISTINCT usename, ',') FROM pg_stat_activity
        WHERE datname = 'tally' AND backend_type = 'client backend' AND pid <> pg_backend_pid()")
    if [ "$sessions" = tally_pool ]; then
        pass "the pool's connections are all tally_pool's"
    else
        fail "the pool's connections are not tally_pool's alone: $sessions"
    fi
    local as_postgres as_pool
    as_postgres=$(live_psql_as_pool_user "$(pg_conninfo "$LIVE/pg")")
    as_pool=$(live_psql_as_pool_user "$(pg_pool_conninfo "$LIVE/pg")")
    if [[ "$as_postgres" == *"Peer authentication failed"* ]] && [[ "$as_pool" == *"no password supplied"* ]]; then
        pass "the pool's user (nobody) is refused as postgres (peer) and as tally_pool without the password"
    else
        fail "the pool's user without the password: as postgres '$as_postgres', as tally_pool '$as_pool'"
    fi
    stop_live
}

# live_psql_as_pool_user CONNINFO: what psql says when the pool's user (nobody), without a password, connects.
live_psql_as_pool_user() {
    (cd / && env -u PGPASSWORD setpriv --reuid=nobody --regid=nogroup --clear-groups \
        psql -X -q -tA "$1" -c 'SELECT current_user' 2>&1) || true
}

# Stops what check_live started: nginx (QUIT), the pool (TERM: the supervisor stops its workers), PostgreSQL.
stop_live() {
    [ -n "${LIVE:-}" ] || return 0
    local pid
    pid=$(cat "$LIVE/nginx/run/nginx.pid" 2>/dev/null) && stop_process "$pid" QUIT 10
    sweep_live TERM
    pg_stop "$LIVE/pg" || true
    sweep_stack_processes "$LIVE"
    LIVE=
}

# Sends SIG to the processes check_live started (they carry TALLY_STACK=$LIVE), and waits up to 10 s for them.
sweep_live() {
    local sig=$1 proc pids=() i
    for proc in /proc/[0-9]*; do
        tr '\0' '\n' 2>/dev/null <"$proc/environ" | grep -qxF "TALLY_STACK=$LIVE" && pids+=("${proc#/proc/}")
    done
    [ ${#pids[@]} -gt 0 ] || return 0
    kill "-$sig" "${pids[@]}" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
        kill -0 "${pids[@]}" 2>/dev/null || return 0
        sleep 0.1
    done
}

# --- 6. docker-compose.ha.yml's database nodes, run here -----------------------------------------------------

# The six database containers' commands with their environment from docker-compose.ha.yml (as rendered with
# .env.example and the check's passwords) and scripts/docker/ha/patroni.yml, run on this machine in a network
# namespace of its own (unshare: nothing in it but loopback, where each container's name resolves to an
# address of its own: a hosts file bound over /etc/hosts in a mount namespace of its own). What differs from
# the containers: each listens on its own loopback address instead of 0.0.0.0, its folders are under the
# check's, and the post-bootstrap script is the checkout's. Then the migrate service's `setup` and the pool's
# login with their own conninfo and passwords, and the primary killed (SIGKILL, Patroni and PostgreSQL): the
# pool's conninfo finds the new primary, with what setup committed.
check_live_ha() {
    log "== docker-compose.ha.yml's database nodes, run as the containers run them (etcd, Patroni, PostgreSQL 15)"
    local staged=$WORK/staging/usr/local/bin/tally
    [ -x "$staged" ] || {
        fail "no staged binary (the Dockerfile's check builds it); skipping the HA nodes"
        return 0
    }
    local dir=$WORK/live-ha
    mkdir -p "$dir"
    chmod 755 "$dir"
    unshare --net --mount --fork -- bash "$0" --live-ha "$dir" "$WORK/compose-ha.yml" "$WORK/staging" \
        >"$dir/inside.log" 2>&1 || true
    sweep_stack_processes "$dir"
    # One line per check, from inside.
    local line
    while IFS= read -r line; do
        case "$line" in
            "ok: "*) pass "${line#ok: }" ;;
            "FAIL: "*) fail "${line#FAIL: }" ;;
            "info: "*) log "      ${line#info: }" ;;
        esac
    done <"$dir/inside.log"
    grep -q '^done$' "$dir/inside.log" || {
        fail "the HA nodes' check did not finish; its log:"
        grep -v '^\(ok\|FAIL\|info\): ' "$dir/inside.log" | tail -n 30 | sed 's/^/      /' >&2
        local f
        for f in "$dir"/db*/patroni.log; do [ -f "$f" ] && tail -n 5 "$f" | sed "s|^|      $(basename "$(dirname "$f")"): |" >&2; done
    }
}

# live_ha_inside DIR COMPOSE.yml STAGING: check_live_ha's part inside the namespaces; prints "ok: ...",
# "FAIL: ...", "info: ..." lines and "done" at the end. Each process carries TALLY_STACK=DIR (the sweeps) and
# TALLY_NODE=its service (to kill one node).
live_ha_inside() {
    local dir=$1 compose_yml=$2 staging=$3
    declare -A addr=([etcd1]=127.0.0.21 [etcd2]=127.0.0.22 [etcd3]=127.0.0.23 [db1]=127.0.0.11 [db2]=127.0.0.12
        [db3]=127.0.0.13)
    ip link set lo up
    local name
    { echo "127.0.0.1 localhost"; for name in "${!addr[@]}"; do echo "${addr[$name]} $name"; done; } >"$dir/hosts"
    mount --bind "$dir/hosts" /etc/hosts
    # Each service's environment as docker-compose.ha.yml gives it, one NAME=VALUE a line.
    mkdir -p "$dir/env"
    python3 -c '
import sys, yaml
for name, service in yaml.safe_load(open(sys.argv[1]))["services"].items():
    with open(f"{sys.argv[2]}/env/{name}", "w") as f:
        f.writelines(f"{k}={v}\n" for k, v in service.get("environment", {}).items())' "$compose_yml" "$dir"
    install -m 0755 scripts/docker/ha/post-bootstrap.sh "$dir/post-bootstrap.sh"
    local vars=() member node
    for member in etcd1 etcd2 etcd3; do
        install -d -o etcd -g etcd -m 0700 "$dir/$member"
        mapfile -t vars <"$dir/env/$member"
        setsid runuser -u etcd -- env -i PATH="$PATH" TALLY_STACK="$dir" TALLY_NODE="$member" "${vars[@]}" \
            ETCD_DATA_DIR="$dir/$member/data" ETCD_LISTEN_CLIENT_URLS="http://${addr[$member]}:2379" \
            ETCD_LISTEN_PEER_URLS="http://${addr[$member]}:2380" etcd </dev/null >"$dir/$member/etcd.log" 2>&1 &
    done
    for node in db1 db2 db3; do
        install -d -o "$PG_USER" -g "$PG_USER" -m 0700 "$dir/$node" "$dir/$node/run"
        # The nodes' configuration with this node's folders: the only lines that differ.
        sed -e "s|^    unix_socket_directories: /run/postgresql$|    unix_socket_directories: $dir/$node/run|" \
            -e "s|^  post_bootstrap: /usr/local/lib/tally-ha/post-bootstrap.sh$|  post_bootstrap: $dir/post-bootstrap.sh|" \
            scripts/docker/ha/patroni.yml >"$dir/$node/patroni.yml"
        [ "$(diff scripts/docker/ha/patroni.yml "$dir/$node/patroni.yml" | grep -c '^>')" = 2 ] ||
            echo "FAIL: scripts/docker/ha/patroni.yml no longer has the socket folder and post_bootstrap lines this check replaces"
        chown "$PG_USER:" "$dir/$node/patroni.yml"
        mapfile -t vars <"$dir/env/$node"
        setsid runuser -u "$PG_USER" -- env -i PATH="$PATH" TALLY_STACK="$dir" TALLY_NODE="$node" "${vars[@]}" \
            PATRONI_RESTAPI_LISTEN="${addr[$node]}:8008" PATRONI_POSTGRESQL_LISTEN="${addr[$node]}:5432" \
            PATRONI_POSTGRESQL_DATA_DIR="$dir/$node/data" PATRONI_POSTGRESQL_PGPASS="$dir/$node/run/patroni.pgpass" \
            patroni "$dir/$node/patroni.yml" </dev/null >"$dir/$node/patroni.log" 2>&1 &
    done
    local started=$SECONDS roles=""
    while ((SECONDS - started < 150)); do
        roles=$(live_ha_roles db1 db2 db3)
        [ "$roles" = "leader replica sync_standby" ] && break
        sleep 1
    done
    if [ "$roles" = "leader replica sync_standby" ]; then
        echo "ok: three etcd members and three Patroni nodes with docker-compose.ha.yml's environment and" \
            "patroni.yml: a leader, a synchronous standby and a replica in $((SECONDS - started)) s"
    else
        echo "FAIL: the nodes did not make a cluster with a synchronous standby in 150 s (roles: '$roles')"
        live_ha_stop "$dir"
        return 0
    fi

    # The migrate service's setup and the pool's login, each with its own conninfo and password, as users that
    # are not root (nobody, as check_live's pool).
    local migrate_env=() pool_env=() primary out
    mapfile -t migrate_env <"$dir/env/migrate"
    mapfile -t pool_env <"$dir/env/tally"
    install -d -o nobody -g nogroup -m 0700 "$dir/state"
    as_nobody() {
        (cd / && setpriv --reuid=nobody --regid=nogroup --clear-groups env -i PATH="$staging/usr/local/bin:$PATH" \
            LD_LIBRARY_PATH="$staging/usr/lib/swift/linux" TALLY_STATE_DIR="$dir/state" "$@")
    }
    primary=$(live_ha_primary)
    out=$(as_nobody "${migrate_env[@]}" sh "$TALLY_ROOT/scripts/docker/tally-entrypoint.sh" setup 2>&1) || true
    if grep -q '^applied migration 1:' <<<"$out" && grep -q '^Admin token' <<<"$out"; then
        echo "ok: migrate's setup (host=db1,db2,db3 target_session_attrs=read-write, as the owner) migrated the primary" \
            "($primary) under synchronous_mode_strict and made the admin token"
    else
        echo "FAIL: migrate's setup on the HA nodes: $(tail -n 5 <<<"$out" | tr '\n' ' ')"
    fi
    local pool_conninfo
    pool_conninfo=$(sed -n 's/^TALLY_DATABASE=//p' "$dir/env/tally")
    out=$(as_nobody "${pool_env[@]}" psql -X -tA "$pool_conninfo" \
        -c "SELECT current_user, pg_is_in_recovery(), inet_server_addr()" 2>&1) || true
    if [ "$out" = "tally_pool|f|${addr[$primary]}" ]; then
        echo "ok: the pool's conninfo and password log in as tally_pool on the primary ($primary)"
    else
        echo "FAIL: the pool's login on the HA nodes: '$out' (primary $primary at ${addr[$primary]})"
    fi
    # Patroni's REST API: a switchover without the password is refused; with it, it is judged on its merits
    # (here: no candidate named, 400).
    local restapi_password anonymous authorized
    restapi_password=$(sed -n 's/^PATRONI_RESTAPI_PASSWORD=//p' "$dir/env/db1")
    anonymous=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -X POST -d '{}' "http://$primary:8008/switchover" || true)
    authorized=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -K - -X POST -d '{}' \
        "http://$primary:8008/switchover" <<<"user = \"patroni:$restapi_password\"" || true)
    if [ "$anonymous" = 401 ] && [ -n "$authorized" ] && [ "$authorized" != 401 ] && [ "$authorized" != 000 ]; then
        echo "ok: Patroni's REST API refuses a switchover without PATRONI_RESTAPI_PASSWORD (401), not with it ($authorized)"
    else
        echo "FAIL: Patroni's REST API: a switchover without the password answered $anonymous, with it $authorized"
    fi
    # No password in a command line (ps shows them) nor in a file of the nodes but Patroni's own pgpass (0600).
    local pid leaked=()
    for pid in $(live_ha_pids "TALLY_STACK=$dir"); do
        grep -qaE 'check-only-[a-z-]*not-a-secret' "/proc/$pid/cmdline" 2>/dev/null && leaked+=("$pid")
    done
    local files
    files=$(grep -rlE 'check-only-[a-z-]*not-a-secret' "$dir"/db?/patroni.yml "$dir"/db?/run "$dir"/db?/data/*.conf 2>/dev/null |
        while read -r f; do [ "$(stat -c '%a %U' "$f")" = "600 $PG_USER" ] || echo "$f"; done) || true
    if [ ${#leaked[@]} -eq 0 ] && [ -z "$files" ]; then
        echo "ok: the passwords are in no command line, and in no file of the nodes but Patroni's own, mode 0600"
    else
        echo "FAIL: passwords in the command lines of ${leaked[*]:-none} or in $files"
    fi

    # The primary's host lost: its Patroni and PostgreSQL killed at once. The migrate service's conninfo finds the
    # new primary, which has what setup committed, and writes again (a second admin token).
    local tokens_before tokens_after killed_at first_write=""
    tokens_before=$(as_nobody "${migrate_env[@]}" psql -X -tA "$(sed -n 's/^TALLY_DATABASE=//p' "$dir/env/migrate")" \
        -c 'SELECT count(*) FROM tokens' 2>&1) || true
    killed_at=$SECONDS
    local node_pids
    mapfile -t node_pids < <(live_ha_pids "TALLY_NODE=$primary")
    kill -KILL "${node_pids[@]}" 2>/dev/null || true
    while ((SECONDS - killed_at < 60)); do
        if as_nobody "${migrate_env[@]}" tally admin-token >/dev/null 2>&1; then
            first_write=$((SECONDS - killed_at))
            break
        fi
        sleep 0.5
    done
    tokens_after=$(as_nobody "${migrate_env[@]}" psql -X -tA "$(sed -n 's/^TALLY_DATABASE=//p' "$dir/env/migrate")" \
        -c 'SELECT count(*) FROM tokens' 2>&1) || true
    local new_primary
    new_primary=$(live_ha_primary)
    if [ -n "$first_write" ] && [ -n "$new_primary" ] && [ "$new_primary" != "$primary" ] &&
        [ "$tokens_after" = $((tokens_before + 1)) ]; then
        echo "ok: $primary killed: $new_primary promoted, with setup's token; the same conninfo wrote there"
        echo "info: $primary killed (SIGKILL) to the first write through host=db1,db2,db3: about $first_write s"
    else
        echo "FAIL: after killing $primary: new primary '${new_primary:-none}', tokens $tokens_before -> $tokens_after," \
            "first write after ${first_write:-no write in 60} s"
    fi
    live_ha_stop "$dir"
    echo "done"
}

# The roles Patroni's REST API reports for NODEs (sorted), from the first node that answers.
live_ha_roles() {
    local node json
    for node in "$@"; do
        json=$(curl -sf --max-time 2 "http://$node:8008/cluster" 2>/dev/null) || continue
        python3 -c '
import json, sys
members = json.loads(sys.argv[1])["members"]
print(" ".join(sorted(m["role"] for m in members if m.get("state") in ("running", "streaming"))))' "$json" && return 0
    done
    return 0
}

# The node whose Patroni says it is the primary.
live_ha_primary() {
    local node
    for node in db1 db2 db3; do
        curl -sf -o /dev/null --max-time 2 "http://$node:8008/primary" 2>/dev/null && echo "$node" && return 0
    done
    return 0
}

# The processes whose environment has the line MARKER.
live_ha_pids() {
    local proc
    for proc in /proc/[0-9]*; do
        tr '\0' '\n' 2>/dev/null <"$proc/environ" | grep -qxF -- "$1" && echo "${proc#/proc/}"
    done
    return 0
}

# Patroni stops its PostgreSQL on SIGTERM; then etcd; then whatever is left.
live_ha_stop() {
    local dir=$1 pid k
    for pid in $(live_ha_pids "TALLY_STACK=$dir"); do
        grep -qa patroni "/proc/$pid/cmdline" 2>/dev/null && kill -TERM "$pid" 2>/dev/null
    done
    for ((k = 0; k < 100; k++)); do
        pgrep -f "patroni $dir/db" >/dev/null || break
        sleep 0.2
    done
    # shellcheck disable=SC2046 # one pid a word
    kill -TERM $(live_ha_pids "TALLY_STACK=$dir") 2>/dev/null || true
    sleep 1
    sweep_stack_processes "$dir"
}

main() {
    if [ "${1:-}" = --live-ha ]; then
        shift
        live_ha_inside "$@"
        return
    fi
    ensure_deploy_packages
    check_compose
    check_compose_ha
    check_dockerfile
    check_nginx
    check_entrypoint
    check_live
    check_live_ha
    if [ "$failures" -eq 0 ]; then
        log "== deployment checks: all passed"
    else
        log "== deployment checks: $failures FAILED"
        return 1
    fi
}

main "$@"
