"""Outages the fault tests cause on the stack test.sh started: its PostgreSQL stopped and started again, the pool
restarted with a spool (store and forward)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import uuid
from pathlib import Path

from tally_e2e import env, pool_started_with

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
