"""The fixtures both pytest suites share, the end-to-end one (tests/e2e) and the fault one (tests/faults): each
suite's conftest.py loads this module as a plugin (`pytest_plugins`). The stack (PostgreSQL, the pool, nginx) is
started by scripts/test.sh, which passes where it is through the environment:

    TALLY_URL             http://127.0.0.1:PORT, nginx in front of the pool
    TALLY_DATABASE        libpq conninfo of the pool's database, as its owner (postgres): the tests' look-ups
    TALLY_POOL_DATABASE   the same database as the pool connects to it: its own role, tally_pool
    TALLY_BIN             the tally binary (for `tally verify` and `tally admin-token`)
    TALLY_SUPERVISOR_PID  pid of `tally serve`; its children are the workers
    TALLY_SOCKET          the pool's FastCGI socket
    TALLY_STACK_DIR       the stack's folder (scripts/pool.sh restarts the pool in it)
    TALLY_LOG_DIR         the pool's request log (tally.log) and nginx's logs
    TALLY_ADMIN_TOKEN     a service-role token that never expires: every client sends it unless told otherwise
    TALLY_TOKEN_TTL       how long a log-in token lives in this stack, in seconds (8)

Figures a test reports with the `figures` fixture (the fault suite's counts and timings) are printed in a
section of their own at the end of pytest's output, and appended to TALLY_LOG_DIR/figures.txt.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest
import requests

from tally_e2e import Account, Api, Database, create_account, env, minor, run_verify, unique

REPOSITORY = Path(__file__).resolve().parents[2]


# Lines reported through the `figures` fixture, in order, for the terminal summary.
FIGURES: list[str] = []


@pytest.fixture(scope="session")
def figures():
    """figures(line): a measurement to show at the end of the run (pytest captures a passing test's prints)."""

    def report(line: str) -> None:
        FIGURES.append(line)
        print(line)
        log_dir = os.environ.get("TALLY_LOG_DIR")
        if log_dir:
            with open(os.path.join(log_dir, "figures.txt"), "a", encoding="utf-8") as out:
                out.write(line + "\n")

    return report


def pytest_terminal_summary(terminalreporter):
    if FIGURES:
        terminalreporter.section("figures")
        for line in FIGURES:
            terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def base_url() -> str:
    return env("TALLY_URL")


@pytest.fixture
def api(base_url):
    """A client with the service role's token."""
    client = Api(base_url)
    yield client
    client.close()


@pytest.fixture
def anonymous(base_url):
    """A client that sends no Authorization header."""
    client = Api(base_url, token=None)
    yield client
    client.close()


@pytest.fixture(scope="session")
def token_ttl() -> int:
    """Seconds a log-in token lives in the test stack (TALLY_TOKEN_TTL, set by scripts/test.sh)."""
    return int(env("TALLY_TOKEN_TTL"))


@pytest.fixture(scope="session")
def mint_service_token():
    """Makes a new service-role token with `tally admin-token` (optionally expiring): mint(ttl=None) -> text."""
    binary, conninfo = env("TALLY_BIN"), env("TALLY_DATABASE")

    def mint(ttl: int | None = None) -> str:
        command = [binary, "admin-token", "--database", conninfo]
        if ttl is not None:
            command += ["--ttl", str(ttl)]
        result = subprocess.run(command, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout.strip()

    return mint


@pytest.fixture(scope="session")
def db() -> Database:
    return Database(env("TALLY_DATABASE"))


@pytest.fixture(scope="session")
def verify():
    """Runs `tally verify` on the test database and returns the completed process."""
    binary, conninfo = env("TALLY_BIN"), env("TALLY_DATABASE")
    return lambda: run_verify(binary, conninfo)


@pytest.fixture
def new_user(api):
    """Makes a fresh user through the API: new_user(balance="10.00", name=None, **fields) -> the 201 body;
    `fields` are more members of the request (credit_limit, daily_debit_limit, time_zone)."""

    def make(balance: str | None = None, name: str | None = None, **fields) -> dict:
        name = name or unique("user")
        response = api.create_user(name, balance, fields=fields)
        assert response.status_code == 201, response.text
        user = response.json()
        assert user["balance_minor"] == (minor(balance) if balance is not None else 0), user
        assert user["username"] is None, user
        return user

    return make


@pytest.fixture
def new_account(api):
    """Makes a fresh user who can log in (through the service role, with username and password):
    new_account(balance="10.00", name=None, **fields) -> an Account; account.api acts as that user."""
    accounts = []

    def make(balance: str | None = None, name: str | None = None, **fields) -> Account:
        account = create_account(api, balance, name, **fields)
        assert account.user["balance_minor"] == (minor(balance) if balance is not None else 0), account.user
        accounts.append(account)
        return account

    yield make
    for account in accounts:
        account.close()


class Pool:
    """The responder pool, stopped and started by scripts/pool.sh as the test script set it up."""

    def __init__(self, base_url: str):
        self.base_url = base_url
        self.script = REPOSITORY / "scripts" / "pool.sh"

    def _run(self, action: str) -> subprocess.CompletedProcess:
        # test.sh exports the commands (TALLY_POOL_START, TALLY_POOL_STOP); scripts/pool.sh is what they are.
        command = os.environ.get(f"TALLY_POOL_{action.upper()}", "").split() or ["bash", str(self.script), action]
        result = subprocess.run(command, cwd=REPOSITORY, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, f"{' '.join(command)} failed ({result.returncode}): {result.stderr}"
        return result

    def stop(self) -> None:
        self._run("stop")

    def start(self) -> None:
        self._run("start")
        self.wait_until_healthy()

    def is_healthy(self) -> bool:
        try:
            response = requests.get(self.base_url + "/api/health", timeout=(2, 5))
        except requests.RequestException:
            return False
        return response.status_code == 200

    def wait_until_healthy(self, seconds: float = 60) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.is_healthy():
                return
            time.sleep(0.2)
        raise AssertionError(f"the pool was not healthy within {seconds} s")

    def supervisor_pid(self) -> int:
        """The running supervisor: TALLY_SUPERVISOR_PID names the first one; after a restart, pool.sh knows."""
        if self.script.exists() and os.environ.get("TALLY_STACK_DIR"):
            result = subprocess.run(["bash", str(self.script), "pid"], cwd=REPOSITORY, capture_output=True,
                                    text=True, timeout=30)
            if result.returncode == 0 and result.stdout.strip():
                return int(result.stdout.strip())
        return int(env("TALLY_SUPERVISOR_PID"))

    def children(self) -> set[int]:
        result = subprocess.run(["pgrep", "-P", str(self.supervisor_pid())], capture_output=True, text=True,
                                timeout=10)
        return {int(pid) for pid in result.stdout.split()}

    def workers(self) -> set[int]:
        """The supervisor's children but the batch lane's workers: the main lane, which serves all but batches
        (and the spool's replayer, when the pool has a spool)."""
        return self.children() - self.batch_workers()

    def batch_workers(self) -> set[int]:
        """The batch lane's workers (`tally serve --batch-workers`), which alone serve POST /api/batches: their
        slot is named batches-N."""
        def is_lane_worker(pid: int) -> bool:
            try:
                arguments = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            except FileNotFoundError:
                return False
            return any(a.startswith(b"batches-") for a in arguments)
        return {pid for pid in self.children() if is_lane_worker(pid)}


@pytest.fixture(scope="session")
def pool(base_url) -> Pool:
    return Pool(base_url)
