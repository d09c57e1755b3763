"""Helpers for the tests of `tally import` and `tally export` (tests/e2e/test_import_export.py and
tests/faults/test_import_faults.py): the binary run as an operator runs it, import files written, and the balances
an import file must leave, checked through the API."""

from __future__ import annotations

import csv
import os
import subprocess
import time
from pathlib import Path

import pytest

from tally_e2e import Api, env, minor


def run_tally(*arguments: str, environment: dict[str, str] | None = None, timeout: float = 300):
    """The binary with the test's environment less every TALLY_* setting, plus `environment`."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TALLY_")}
    clean.update(environment or {})
    return subprocess.run([env("TALLY_BIN"), *arguments], env=clean, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def token_file(tmp_path) -> Path:
    """The service token in a file, as `make run` keeps it in var/admin-token."""
    path = tmp_path / "admin-token"
    path.write_text(env("TALLY_ADMIN_TOKEN") + "\n")
    return path


def server(token_file: Path) -> list[str]:
    return ["--url", env("TALLY_URL"), "--token-file", str(token_file)]


def tally_import(path: Path, token_file: Path, *options: str):
    return run_tally("import", str(path), *server(token_file), *options)


def users_named(api: Api, prefix: str) -> dict[str, dict]:
    """The users whose name contains `prefix`, by name."""
    users = api.all_pages(f"/api/users?name={prefix}", 100)
    return {user["name"]: user for user in users}


def history(api: Api, user_id: int) -> list[dict]:
    return api.all_pages(f"/api/users/{user_id}/transactions", 100)


def csv_file(path: Path, rows: list[dict]) -> Path:
    """An import CSV of `rows` (dicts of the import's columns)."""
    columns = ["type", "id", "name", "balance", "from", "to", "amount", "memo"]
    with path.open("w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=columns)
        writer.writeheader()
        for row in rows:
            writer.writerow(row)
    return path


class Model:
    """Balances in minor units by the other system's id, as the import's rows should leave them."""

    def __init__(self):
        self.balances: dict[str, int] = {}

    def apply(self, row: dict) -> bool:
        """Applies a row as Tally would; False when Tally must refuse it (an overdraft, an unknown user)."""
        kind, amount = row["type"], minor(row.get("balance") or row.get("amount") or "0")
        if kind == "user":
            self.balances[row["id"]] = amount
            return True
        source, target = row.get("from"), row.get("to")
        if any(party and party not in self.balances for party in (source, target)):
            return False
        if source:
            if self.balances[source] < amount:
                return False
            self.balances[source] -= amount
        if target:
            self.balances[target] += amount
        return True


def ring_rows(prefix: str, users: int, movements: int) -> list[dict]:
    """`users` users of 50.00 each, then transfers, deposits and withdrawals going round among them, every
    one affordable in file order."""
    rows = [{"type": "user", "id": f"x{i}", "name": f"{prefix}-{i}", "balance": "50.00"} for i in range(users)]
    for n in range(movements):
        a, b = f"x{n % users}", f"x{(n + 1) % users}"
        if n % 10 == 7:
            rows.append({"type": "deposit", "to": a, "amount": "0.30", "memo": f"top-up {n}"})
        elif n % 10 == 9:
            rows.append({"type": "withdrawal", "from": b, "amount": "0.20"})
        else:
            rows.append({"type": "transfer", "from": a, "to": b, "amount": "0.10", "memo": f"n{n}, \"ring\""})
    return rows


def expected_balances(rows: list[dict]) -> dict[str, int]:
    model = Model()
    for row in rows:
        assert model.apply(row), row
    return model.balances


def assert_balances(api: Api, prefix: str, rows: list[dict]) -> dict[str, dict]:
    """Every user of the rows is in Tally once, with the balance the rows leave; the users by their id there."""
    names = {row["id"]: row["name"] for row in rows if row["type"] == "user"}
    found = users_named(api, prefix)
    assert sorted(found) == sorted(names.values()), "each user of the file exists exactly once"
    by_id = {external: found[name] for external, name in names.items()}
    balances = expected_balances(rows)
    assert {external: user["balance_minor"] for external, user in by_id.items()} == balances
    return by_id


def assert_each_row_applied_once(api: Api, by_id: dict[str, dict], rows: list[dict]) -> None:
    """Each user's history holds their opening deposit and each movement row that names them, once."""
    movements = [row for row in rows if row["type"] != "user"]
    for external, user in by_id.items():
        named = [row for row in movements if external in (row.get("from"), row.get("to"))]
        assert len(history(api, user["id"])) == 1 + len(named), f"{external}: every row applied exactly once"


def start_import(path: Path, token_file: Path, *options: str) -> subprocess.Popen:
    """`tally import` in the background, its output kept for communicate()."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TALLY_")}
    return subprocess.Popen([env("TALLY_BIN"), "import", str(path), *server(token_file), *options], env=clean,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_until_movements(api: Api, prefix: str, process: subprocess.Popen, user_name: str, count: int,
                         seconds: float = 120) -> None:
    """Waits until the user named `user_name` (of an import of ring_rows(prefix, ...)) has more than `count`
    movements in their history, while the import still runs."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and process.poll() is None:
        user = users_named(api, prefix).get(user_name)
        if user and len(api.get(f"/api/users/{user['id']}/transactions",
                                params={"limit": 100}).json()["items"]) > count:
            return
        time.sleep(0.02)
    raise AssertionError(f"the import ended or stalled before {user_name} had {count} movements")


def import_counts(stdout: str) -> tuple[int, int, int]:
    """(applied, replayed, refused) from the summary's "movements: ..." line."""
    line = next(line for line in stdout.splitlines() if line.startswith("movements: "))
    words = line.replace(",", "").split()
    return int(words[1]), int(words[3]), int(words[7])
