"""Outages the fault tests cause on the stack test.sh started: its PostgreSQL stopped and started again (through
scripts/lib.sh, or with pg_ctl directly, and killed), the pool restarted with a spool (store and forward), and
the pool's log read from where a test began."""

from __future__ import annotations

import contextlib
import glob
import os
import random
import signal
import subprocess
import time
import uuid
from pathlib import Path

from tally_e2e import env, pool_started_with, wait_for

REPOSITORY = Path(__file__).resolve().parents[2]


def stack_postgres(action: str) -> None:
    """Stops or starts the stack's PostgreSQL (fast shutdown; start keeps the settings test.sh wrote)."""
    script = ('source "$1/scripts/lib.sh"; data="$2/pg/data"; '
              'if [ "$3" = stop ]; then as_postgres "$(pg_bin)/pg_ctl" -D "$data" -m fast -w -t 60 stop; '
              'else as_postgres "$(pg_bin)/pg_ctl" -D "$data" -l "$2/pg/log/postgresql.log" -w -t 60 start; fi')
    result = subprocess.run(["bash", "-c", script, "pg", str(REPOSITORY), env("TALLY_STACK_DIR"), action],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"pg_ctl {action} failed: {result.stdout}{result.stderr}"


@contextlib.contextmanager
def database_stopped():
    """The stack's PostgreSQL stopped for the block; started again on leaving it, whatever happened."""
    stack_postgres("stop")
    try:
        yield
    finally:
        stack_postgres("start")


@contextlib.contextmanager
def spooling_pool(pool, **settings):
    """The pool restarted with a fresh spool directory (and any other TALLY_* settings); restored afterwards."""
    directory = os.path.join(env("TALLY_STACK_DIR"), f"spool-{uuid.uuid4().hex[:8]}")
    with pool_started_with(pool, {"TALLY_SPOOL": directory, **settings}):
        yield directory


def spool_status(api) -> dict:
    status = api.get("/api/status").json()
    return {"depth": status["spool_depth"], "oldest_age": status["spool_oldest_age"]}


# --- the stack's PostgreSQL, driven directly, and the pool's log --------------------------------------------------

def stack_dir() -> Path:
    return Path(env("TALLY_STACK_DIR"))


def pg_data() -> Path:
    return stack_dir() / "pg" / "data"


def pg_log() -> Path:
    return stack_dir() / "pg" / "log" / "postgresql.log"


def pg_ctl(*arguments: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """pg_ctl on the stack's cluster, as the postgres user (as scripts/lib.sh runs it)."""
    binary = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda path: int(path.split("/")[4]))[-1]
    return subprocess.run(["runuser", "-u", "postgres", "--", binary, "-D", str(pg_data()), *arguments],
                          cwd="/", capture_output=True, text=True, timeout=timeout)


def postmaster_pid() -> int | None:
    """The running postmaster of the stack's cluster, or None."""
    try:
        pid = int((pg_data() / "postmaster.pid").read_text().split("\n", 1)[0])
        alive = os.path.realpath(f"/proc/{pid}/cwd") == os.path.realpath(pg_data())
    except (OSError, ValueError):
        return None
    return pid if alive else None


def start_postgres() -> float:
    """Starts the cluster (its settings as test.sh wrote them); returns the moment pg_ctl returned."""
    result = pg_ctl("-l", str(pg_log()), "-w", "-t", "60", "start")
    returned = time.monotonic()
    assert result.returncode == 0, f"pg_ctl start failed: {result.stdout}{result.stderr}"
    return returned


def stop_postgres() -> None:
    """Fast shutdown: open transactions are rolled back, committed data kept."""
    result = pg_ctl("-m", "fast", "-w", "-t", "60", "stop")
    assert result.returncode == 0, f"pg_ctl stop failed: {result.stdout}{result.stderr}"


def crash_postgres() -> float:
    """Kills the postmaster with SIGKILL (a crash: its server processes go with it, nothing is flushed) and waits
    until every one of its processes is gone; returns the moment of the kill."""
    postmaster = postmaster_pid()
    assert postmaster is not None
    children = {int(pid) for pid in subprocess.run(["pgrep", "-P", str(postmaster)], capture_output=True,
                                                   text=True).stdout.split()}
    killed = time.monotonic()
    os.kill(postmaster, signal.SIGKILL)
    assert wait_for(lambda: not any(alive(pid) for pid in children | {postmaster}), 15), (
        f"PostgreSQL's processes outlived the postmaster: {[p for p in children if alive(p)]}")
    return killed


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


class LogTail:
    """What a log file gained since this was made."""

    def __init__(self, path: Path):
        self.path = path
        self.offset = path.stat().st_size if path.exists() else 0

    def text(self) -> str:
        with open(self.path, encoding="utf-8", errors="replace") as log:
            log.seek(self.offset)
            return log.read()

    def lines(self, containing: str = "") -> list[str]:
        return [line for line in self.text().splitlines() if containing in line]


def pool_log() -> LogTail:
    return LogTail(Path(env("TALLY_LOG_DIR")) / "tally.log")


def death_lines(tail: LogTail) -> list[str]:
    """The supervisor's lines about a worker that died ("worker N (pid P) was killed by signal 9 ...")."""
    return [line for line in tail.lines("(pid ") if "replacing it" in line]


def restore(pool) -> None:
    if postmaster_pid() is None:
        start_postgres()
    if not wait_for(pool.is_healthy, 15, 0.2):
        pool.start()
    pool.wait_until_healthy(30)


def set_synchronous_commit(db, value: str | None) -> None:
    """ALTER SYSTEM SET synchronous_commit (RESET for None), reloaded into every session."""
    if value is None:
        db.execute("ALTER SYSTEM RESET synchronous_commit")
    else:
        db.execute(f"ALTER SYSTEM SET synchronous_commit = '{value}'")
    db.execute("SELECT pg_reload_conf()")


def kill_random_workers(workers, seconds: float, every: float = 0.3, kills: list[float] | None = None) -> list[int]:
    """For `seconds`, every `every` seconds, one of `workers()` (the pids of the workers alive, e.g. pool.workers),
    chosen at random, killed with SIGKILL; the moment of each kill (time.monotonic()) appended to `kills` if
    given. Returns the victims' pids."""
    victims = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(every)
        alive = sorted(workers())
        if alive:
            victim = random.choice(alive)
            if kills is not None:
                kills.append(time.monotonic())
            os.kill(victim, signal.SIGKILL)
            victims.append(victim)
    return victims
