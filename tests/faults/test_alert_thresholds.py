"""The alert thresholds are configuration: the pool restarted with TALLY_ALERT_* set applies them (and the
defaults again once restarted without), and `tally serve` refuses a threshold it cannot read.

This module restarts the pool, so it is in the fault suite; each test leaves the pool as test.sh started it."""

import os
import signal
import subprocess
import tempfile

import pytest

from alert_rules import CashEvent, Thresholds, replay
from tally_e2e import env, minor, pool_started_with

CONFIGURED = {
    "TALLY_ALERT_LARGE_WITHDRAWAL": "50.00",
    "TALLY_ALERT_CONSECUTIVE_WITHDRAWALS": "2",
    "TALLY_ALERT_INCREASING_DEPOSITS": "2",
    "TALLY_ALERT_WINDOW_SECONDS": "10",
    "TALLY_ALERT_WINDOW_TOTAL": "100.00",
}
THRESHOLDS = Thresholds(large_withdrawal_minor=50_00, consecutive_withdrawals=2, increasing_deposits=2,
                        window_seconds=10, window_total_minor=100_00)
STORED_KIND = {"deposit": "deposit", "withdraw": "withdrawal"}


@pytest.fixture
def configured_pool(pool):
    """The pool restarted with the CONFIGURED thresholds in its environment; afterwards restarted as before."""
    with pool_started_with(pool, CONFIGURED):
        yield pool


def codes_of(api, user_id: int, steps) -> list[list[int]]:
    raised = []
    for kind, amount, t in steps:
        response = api.event(kind, amount, user_id, t)
        assert response.status_code == 200, response.text
        raised.append(response.json()["alert_codes"])
    return raised


STEPS = [("withdraw", "50.00", 1), ("withdraw", "50.01", 2), ("deposit", "10.00", 3), ("deposit", "20.00", 4),
         ("deposit", "20.00", 5), ("deposit", "60.01", 14), ("deposit", "40.00", 20), ("deposit", "1.00", 24)]
# With 50.00 / 2 / 2 / 10 s / 100.00: 50.00 is not more than 50.00; two withdrawals in a row and 50.01; two
# increasing deposits; equal is not larger; 60.01 > 20.00 (and (4, 14] holds 20.00 + 60.01 = 80.01); (10, 20]
# holds 60.01 + 40.00 = 100.01; (14, 24] no longer holds t=14.
EXPECTED = [[], [30, 1100], [], [300], [], [300], [123], []]


def test_the_pool_applies_thresholds_from_its_environment(configured_pool, api, new_user, db):
    assert replay([CashEvent(STORED_KIND[k], minor(a), t) for k, a, t in STEPS], THRESHOLDS) == EXPECTED
    user = new_user("1000.00")
    assert codes_of(api, user["id"], STEPS) == EXPECTED
    assert [e["codes"] for e in db.cash_events(user["id"])] == EXPECTED


def test_the_defaults_apply_again_once_the_pool_is_restarted_without_them(api, new_user):
    user = new_user("1000.00")
    assert all(name not in os.environ for name in CONFIGURED)
    assert codes_of(api, user["id"], STEPS) == replay(
        [CashEvent(STORED_KIND[k], minor(a), t) for k, a, t in STEPS]) == [[]] * len(STEPS)


@pytest.mark.parametrize("setting", [("--alert-large-withdrawal", "abc"), ("--alert-window-total", "1e2"),
                                     ("--alert-window-seconds", "-5"), ("--alert-increasing-deposits", "two"),
                                     ("TALLY_ALERT_CONSECUTIVE_WITHDRAWALS", "3.5"),
                                     ("TALLY_ALERT_LARGE_WITHDRAWAL", "100.001")])
def test_serve_refuses_a_threshold_it_cannot_read(setting):
    name, value = setting
    with tempfile.TemporaryDirectory() as folder:
        command = [env("TALLY_BIN"), "serve", "--socket", os.path.join(folder, "t.sock"), "--workers", "1",
                   "--database", env("TALLY_POOL_DATABASE")]
        environment = {k: v for k, v in os.environ.items() if not k.startswith("TALLY_ALERT_")}
        if name.startswith("--"):
            command += [name, value]
        else:
            environment[name] = value
        # Its own session: if it started serving after all, the whole pool is killed below.
        process = subprocess.Popen(command, env=environment, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True, start_new_session=True)
        try:
            _, stderr = process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
            raise AssertionError(f"tally serve started with {name} {value}")
    assert process.returncode == 2, stderr
    option = name if name.startswith("--") else "--" + name.removeprefix("TALLY_").lower().replace("_", "-")
    assert f"{option} takes" in stderr and value in stderr, stderr
