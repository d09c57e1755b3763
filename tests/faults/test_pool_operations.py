"""Operating the pool as php-fpm's operators do: the request deadline (request_terminate_timeout), the slow
request log, SIGUSR1 to reopen the log file, SIGQUIT to drain and SIGTERM to stop promptly. Each test that
restarts the pool leaves it running as test.sh started it."""

import contextlib
import os
import signal
import threading
import time
import uuid
from pathlib import Path

import requests

from tally_e2e import RowHolder, assert_error, env, pool_log_lines, pool_started_with


@contextlib.contextmanager
def row_locked(db, user_id: int, release_after: float | None = None):
    """Holds the user's row lock in another session (released after `release_after` seconds, or on leaving),
    so that a movement of that user waits."""
    holder = RowHolder(env("TALLY_DATABASE"), [user_id], f"zw-{uuid.uuid4().hex[:12]}")
    timer = None
    try:
        deadline = time.monotonic() + 10
        while not holder.holds(db):
            assert time.monotonic() < deadline, "the lock holder did not take the lock"
            time.sleep(0.05)
        if release_after is not None:
            timer = threading.Timer(release_after, holder.commit)
            timer.start()
        yield
    finally:
        if timer is not None:
            timer.cancel()
            timer.join()
        holder.commit()


def transfer_in_background(api, from_id, to_id, amount):
    """Starts a transfer in a thread; returns (thread, result dict filled with response and seconds)."""
    result = {}

    def send():
        started = time.monotonic()
        try:
            result["response"] = api.transfer(from_id, to_id, amount, timeout=60)
        except requests.RequestException as error:
            result["error"] = error
        result["seconds"] = time.monotonic() - started

    thread = threading.Thread(target=send)
    thread.start()
    return thread, result


def wait_for_exit(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


def test_a_request_past_the_deadline_is_killed_rolled_back_logged_and_its_worker_replaced(pool, api, db, new_user):
    alice, bob = new_user("10.00"), new_user()
    with pool_started_with(pool, {"TALLY_REQUEST_TIMEOUT": "2", "TALLY_SLOW_REQUEST": "0.5"}):
        status_before = api.get("/api/status").json()
        workers_before = len(pool.workers())
        with row_locked(db, alice["id"]):
            started = time.monotonic()
            response = api.transfer(alice["id"], bob["id"], "1.00", timeout=30)
            seconds = time.monotonic() - started
        request_id = response.headers["X-Request-Id"]
        # nginx saw the worker die: 502, after the 2 s deadline, long before the 8 s lock.
        assert response.status_code == 502, response.text
        assert 1.8 <= seconds < 5, seconds
        assert db.balance(alice["id"]) == 1000 and db.balance(bob["id"]) == 0
        assert db.movement_count(alice["id"]) == 1  # the initial balance only
        assert pool_log_lines(f"request {request_id} (POST /api/transfers) passed the 2000 ms deadline")
        assert pool_log_lines(f"slow request {request_id} (POST /api/transfers)")
        status_after = api.get("/api/status").json()
        assert status_after["deadline_kills"] == status_before["deadline_kills"] + 1
        assert status_after["slow_requests"] >= status_before["slow_requests"] + 1
        deadline = time.monotonic() + 5
        while len(pool.workers()) < workers_before and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(pool.workers()) == workers_before
        # The user is not stuck: once the lock is gone, a transfer goes through.
        assert api.transfer(alice["id"], bob["id"], "1.00").status_code == 201


def test_sigusr1_reopens_the_log_file_after_it_was_moved(pool, api):
    log = Path(env("TALLY_LOG_DIR")) / "tally.log"
    moved = log.with_name("tally.log.rotated")
    log.rename(moved)
    try:
        os.kill(pool.supervisor_pid(), signal.SIGUSR1)
        deadline = time.monotonic() + 5
        while not log.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)  # the workers reopen on their own signal
        # Every worker writes to the new file: enough requests reach them all.
        ids = [api.get("/api/ping").headers["X-Request-Id"] for _ in range(30)]
        time.sleep(0.3)
        new_text = log.read_text()
        old_text = moved.read_text()
        assert all(request_id in new_text for request_id in ids)
        assert not any(request_id in old_text for request_id in ids)
        assert "log file reopened" in new_text
    finally:
        # The old lines go back in front, so that later tests reading the log see everything.
        rotated = moved.read_text()
        current = log.read_text() if log.exists() else ""
        log.write_text(rotated + current)
        moved.unlink()
        os.kill(pool.supervisor_pid(), signal.SIGUSR1)


def test_sigquit_drains_the_request_in_flight_then_the_pool_exits(pool, api, db, new_user):
    alice, bob = new_user("10.00"), new_user()
    try:
        supervisor = pool.supervisor_pid()
        with row_locked(db, alice["id"], release_after=1.2):
            thread, result = transfer_in_background(api, alice["id"], bob["id"], "1.00")
            time.sleep(0.3)
            os.kill(supervisor, signal.SIGQUIT)
            thread.join(30)
        assert "response" in result, result
        assert result["response"].status_code == 201, result["response"].text
        assert wait_for_exit(supervisor, 10), "the pool did not exit after draining"
        assert db.balance(bob["id"]) == 100
        assert pool_log_lines("stopping: workers finish their requests (up to 30000 ms)")
    finally:
        pool.start()


def test_sigterm_stops_promptly_and_a_stuck_request_is_rolled_back(pool, api, db, new_user):
    alice, bob = new_user("10.00"), new_user()
    try:
        supervisor = pool.supervisor_pid()
        with row_locked(db, alice["id"]):
            thread, result = transfer_in_background(api, alice["id"], bob["id"], "1.00")
            time.sleep(0.3)
            stopping = time.monotonic()
            os.kill(supervisor, signal.SIGTERM)
            assert wait_for_exit(supervisor, 6), "SIGTERM did not stop the pool within 6 s"
            stopped_after = time.monotonic() - stopping
            thread.join(30)
        # The stop timeout is 3 s: the stuck worker was killed then, and nginx answered 502.
        assert stopped_after < 5, stopped_after
        assert result["response"].status_code == 502
        assert db.balance(alice["id"]) == 1000 and db.balance(bob["id"]) == 0
    finally:
        pool.start()


def test_a_movement_that_waits_past_the_lock_timeout_is_refused_503_and_nothing_moves(api, db, new_user):
    """Workers wait 5 s at most for a row lock (lock_timeout); then the statement is rolled back and the client
    is told to try again, as for any other moment the database cannot serve."""
    alice, bob = new_user("10.00"), new_user()
    with row_locked(db, alice["id"]):
        started = time.monotonic()
        response = api.transfer(alice["id"], bob["id"], "1.00", timeout=30)
        seconds = time.monotonic() - started
    assert_error(response, 503, "unavailable")
    assert response.headers["Retry-After"] == "1"
    assert 4.5 <= seconds < 15, seconds
    assert db.balance(alice["id"]) == 1000 and db.balance(bob["id"]) == 0
    assert api.transfer(alice["id"], bob["id"], "1.00").status_code == 201
