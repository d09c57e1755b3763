"""Another user of the same machine (issue 23, items 1 and 11): they reach neither the database nor the pool.

- The test cluster's socket folder is postgres's, mode 0700, and every local connection authenticates by peer
  through a map: `nobody` connects neither as postgres nor as tally_pool.
- The pool connects as its own role, tally_pool, which cannot change the schema, empty a table, run a program,
  make a role or rewrite the journal (each refused with 42501), while the API works through it.
- The FastCGI socket (group www-data, mode 0660) refuses `nobody`.
- The short socket folder made under /tmp for a long state path has a predictable name: one made first by
  another user (a folder of theirs, or a symlink) is refused, never used.

Runs as root, as scripts/test.sh does; `nobody` plays the other local user (runuser).
"""

from __future__ import annotations

import hashlib
import os
import pwd
import shutil
import stat
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest

from tally_e2e import env

REPOSITORY = Path(__file__).resolve().parents[2]
LIB = REPOSITORY / "scripts" / "lib.sh"
OTHER_USER = "nobody"


def conninfo_fields(conninfo: str) -> dict[str, str]:
    return dict(pair.split("=", 1) for pair in conninfo.split())


def socket_folder() -> str:
    """The test cluster's socket folder, from the owner's conninfo."""
    return conninfo_fields(env("TALLY_DATABASE"))["host"]


def pool_conninfo() -> str:
    """The conninfo the running pool was started with: its supervisor's --database argument."""
    pid = (Path(env("TALLY_STACK_DIR")) / "run" / "tally.pid").read_text().strip()
    arguments = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
    assert "serve" in arguments, f"pid {pid} is not the pool's supervisor: {arguments}"
    return arguments[arguments.index("--database") + 1]


def psql(conninfo: str, sql: str, *, as_user: str | None = None) -> subprocess.CompletedProcess:
    """psql with ON_ERROR_STOP and SQLSTATEs in its messages; as another OS user with as_user."""
    command = ["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-v", "VERBOSITY=verbose", conninfo]
    if as_user:
        command = ["runuser", "-u", as_user, "--"] + command
    # From /: another user may not be able to enter the checkout.
    return subprocess.run(command, input=sql, capture_output=True, text=True, timeout=60, cwd="/")


def pwd_uid(name: str) -> int:
    return pwd.getpwnam(name).pw_uid


def owner_value(sql: str) -> str:
    result = psql(env("TALLY_DATABASE"), sql)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


# --- item 1: the database ---------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["postgres", "tally_pool"])
def test_another_local_user_cannot_connect_as_any_role(role):
    conninfo = f"host={socket_folder()} port=5432 dbname=tally user={role} connect_timeout=10"
    refused = psql(conninfo, "SELECT current_user;", as_user=OTHER_USER)
    assert refused.returncode != 0, f"{OTHER_USER} connected as {role}: {refused.stdout}"
    assert "Permission denied" in refused.stderr or "authentication failed" in refused.stderr, refused.stderr
    # The same conninfo works for the stack's own user (root), which the map lets be either role: what stops
    # `nobody` is who it is, not a broken conninfo.
    allowed = psql(conninfo, "SELECT current_user;")
    assert allowed.returncode == 0 and allowed.stdout.strip() == role, allowed.stderr


def test_the_socket_folder_is_postgres_alone_and_every_rule_is_peer_on_the_socket():
    folder = os.stat(socket_folder())
    assert (folder.st_uid, stat.S_IMODE(folder.st_mode)) == (pwd_uid("postgres"), 0o700)
    assert owner_value("SHOW listen_addresses;") == ""
    assert owner_value("SHOW unix_socket_permissions;") == "0700"
    rules = owner_value("SELECT type || ' ' || auth_method || ' ' || coalesce(array_to_string(options, ','), '') "
                        "FROM pg_hba_file_rules ORDER BY line_number;").splitlines()
    assert rules == ["local peer map=tally"], rules
    mappings = owner_value("SELECT sys_name || ' ' || pg_username FROM pg_ident_file_mappings "
                           "WHERE map_name = 'tally' ORDER BY line_number;").splitlines()
    assert sorted(mappings) == ["postgres postgres", "root postgres", "root tally_pool"], mappings


def test_a_cluster_made_with_trust_by_an_earlier_run_is_fixed_when_started():
    """var/pg of a `make run` before this change was made with `initdb -A trust`: pg_start rewrites its rules."""
    base = tempfile.mkdtemp(prefix="tally-trust-")
    os.chmod(base, 0o755)
    pg = os.path.join(base, "pg")
    os.makedirs(os.path.join(pg, "log"))
    shutil.chown(pg, "postgres")
    shutil.chown(os.path.join(pg, "log"), "postgres")
    try:
        # As pg_init_cluster made them before: trust, and tally.conf (written at every start) included.
        made = lib('as_postgres "$(pg_bin)/initdb" -D "$1/data" -U postgres -A trust --no-locale >/dev/null && '
                   'echo "include_if_exists = \'tally.conf\'" >>"$1/data/postgresql.conf"', pg)
        assert made.returncode == 0, made.stderr
        started = lib('pg_start "$1" "fsync = off" "shared_buffers = 16MB"', pg)
        assert started.returncode == 0, started.stderr
        conninfo = f"host={pg}/run port=5432 dbname=tally user=postgres connect_timeout=10"
        rules = psql(conninfo, "SELECT type || ' ' || auth_method FROM pg_hba_file_rules;")
        assert rules.returncode == 0 and rules.stdout.split("\n")[0] == "local peer", rules.stdout + rules.stderr
        assert len(rules.stdout.strip().splitlines()) == 1, rules.stdout
        refused = psql(conninfo, "SELECT 1;", as_user=OTHER_USER)
        assert refused.returncode != 0, f"{OTHER_USER} connected to the old trust cluster"
    finally:
        lib('pg_stop "$1"', pg)
        shutil.rmtree(base, ignore_errors=True)


def test_the_pool_connects_as_tally_pool_which_is_no_superuser(api):
    conninfo = pool_conninfo()
    assert conninfo_fields(conninfo)["user"] == "tally_pool", conninfo
    attributes = psql(conninfo, "SELECT current_user, rolsuper, rolcreaterole, rolcreatedb, rolbypassrls "
                                "FROM pg_roles WHERE rolname = current_user;")
    assert attributes.returncode == 0, attributes.stderr
    assert attributes.stdout.strip() == "tally_pool|f|f|f|f"
    # The workers' connections are tally_pool's, and the API works through them.
    assert api.create_user(f"local-{uuid.uuid4().hex[:8]}", "1.00").status_code == 201
    roles = owner_value("SELECT DISTINCT usename FROM pg_stat_activity "
                        "WHERE datname = 'tally' AND backend_type = 'client backend' AND usename = 'tally_pool';")
    assert roles == "tally_pool"


FORBIDDEN = [
    "ALTER TABLE users ADD COLUMN intruder integer",
    "DROP TABLE movements",
    "TRUNCATE idempotency_keys",
    "CREATE TABLE intruder (x integer)",
    "COPY (SELECT 1) TO PROGRAM 'true'",
    "CREATE ROLE intruder",
    "UPDATE schema_migrations SET name = name",
    "DELETE FROM movements",
    "UPDATE movements SET amount = amount",
]


@pytest.mark.parametrize("statement", FORBIDDEN)
def test_the_pools_role_cannot_change_the_schema(statement):
    # In a transaction rolled back at the end: should the statement run after all, it changes nothing.
    result = psql(pool_conninfo(), f"BEGIN;\n{statement};\nROLLBACK;\n")
    assert result.returncode != 0, f"the pool's role ran: {statement}"
    assert "42501" in result.stderr, result.stderr


def test_the_pools_role_reads_and_writes_what_the_pool_needs():
    result = psql(pool_conninfo(), "BEGIN;\nSELECT count(*) >= 0 FROM users;\n"
                                   "DELETE FROM idempotency_keys WHERE false;\n"
                                   "SELECT count(*) >= 0 FROM pg_stat_activity;\nROLLBACK;\n")
    assert result.returncode == 0, result.stderr


# --- the FastCGI socket -------------------------------------------------------------------------------------


def test_another_local_user_cannot_connect_to_the_pools_socket():
    socket_path = env("TALLY_SOCKET")
    info = os.stat(socket_path)
    assert stat.S_IMODE(info.st_mode) == 0o660
    probe = ("import socket, sys\n"
             "s = socket.socket(socket.AF_UNIX)\n"
             "try:\n    s.connect(sys.argv[1])\nexcept PermissionError:\n    print('refused')\n"
             "else:\n    print('connected')\n")
    result = subprocess.run(["runuser", "-u", OTHER_USER, "--", "python3", "-c", probe, socket_path],
                            capture_output=True, text=True, timeout=30, cwd="/")
    assert result.stdout.strip() == "refused", result.stdout + result.stderr


# --- item 11: the predictable socket folder under /tmp --------------------------------------------------------


def short_folder(directory: str) -> str:
    """The folder scripts/lib.sh's socket_dir_for picks for a socket folder too long for a socket path."""
    return "/tmp/tally-sock-" + hashlib.md5(directory.encode()).hexdigest()[:12]


def lib(script: str, *arguments: str) -> subprocess.CompletedProcess:
    """Runs SCRIPT with scripts/lib.sh sourced, as the scripts run it (set -euo pipefail)."""
    return subprocess.run(["bash", "-c", f"set -euo pipefail; source {LIB}; {script}", "lib", *arguments],
                          capture_output=True, text=True, timeout=120)


def as_other(*command: str) -> None:
    subprocess.run(["runuser", "-u", OTHER_USER, "--", *command], check=True, cwd="/")


@pytest.fixture
def long_state():
    """A stack folder whose socket paths are too long: its sockets would go to predictable /tmp folders."""
    base = tempfile.mkdtemp(prefix="tally-long-")
    os.chmod(base, 0o755)
    state = os.path.join(base, "s" * 90)
    os.makedirs(state)
    made = [short_folder(f"{state}/pg/run"), short_folder(f"{state}/run")]
    yield state, made
    lib('pg_stop "$1" || true', f"{state}/pg")
    for path in made + [f"{base}-target"]:
        if os.path.islink(path):
            os.unlink(path)
        elif os.path.isdir(path):
            shutil.rmtree(path, ignore_errors=True)
    shutil.rmtree(base, ignore_errors=True)


def test_a_socket_folder_made_first_by_another_user_is_refused(long_state):
    state, (pg_folder, _) = long_state
    as_other("mkdir", "-m", "0777", pg_folder)
    result = lib('pg_start "$1"', f"{state}/pg")
    assert result.returncode != 0, "pg_start used a folder another user made"
    assert f"refusing the socket folder {pg_folder}" in result.stderr and "belongs to nobody" in result.stderr, \
        result.stderr
    folder = os.lstat(pg_folder)
    assert (folder.st_uid, stat.S_IMODE(folder.st_mode)) == (pwd_uid(OTHER_USER), 0o777)
    assert os.listdir(pg_folder) == []
    assert not os.path.exists(f"{state}/pg/data"), "a cluster was made"


def test_a_symlink_in_place_of_the_socket_folder_is_refused(long_state):
    state, (_, pool_folder) = long_state
    target = os.path.dirname(state) + "-target"
    as_other("mkdir", "-m", "0700", target)
    as_other("ln", "-s", target, pool_folder)
    result = lib('pool_start /bin/false "$1" "dbname=none"', state)
    assert result.returncode != 0
    assert f"refusing the socket folder {pool_folder}" in result.stderr and "symlink" in result.stderr, result.stderr
    # Nothing was done through the link: the other user's folder keeps its mode, and holds no socket.
    info = os.stat(target)
    assert (info.st_uid, stat.S_IMODE(info.st_mode)) == (pwd_uid(OTHER_USER), 0o700)
    assert os.listdir(target) == []


def test_a_folder_writable_by_others_is_refused_even_when_it_is_roots(long_state):
    state, (_, pool_folder) = long_state
    os.mkdir(pool_folder)
    os.chmod(pool_folder, 0o777)
    result = lib('stack_socket "$1"', state)
    assert result.returncode != 0 and "lets others than root write in it" in result.stderr, result.stderr


def test_the_stacks_own_short_folder_is_made_private_and_reused(long_state):
    state, (pg_folder, pool_folder) = long_state
    result = lib('pg_socket_dir "$1"; stack_socket "$2"; chown postgres "$(pg_socket_dir "$1")"; '
                 'pg_socket_dir "$1"; stack_socket "$2"', f"{state}/pg", state)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [pg_folder, f"{pool_folder}/tally.sock"] * 2
    for folder, owner in [(pg_folder, "postgres"), (pool_folder, "root")]:
        info = os.lstat(folder)
        assert stat.S_ISDIR(info.st_mode) and (info.st_uid, stat.S_IMODE(info.st_mode)) == (pwd_uid(owner), 0o700)
