"""The pool's batch lane (`tally serve --batch-workers`): nginx sends POST /api/batches to workers of their own,
on a socket of their own, so that batches waiting their turn for the batch lock never hold the workers single
requests need, and single requests never keep a batch from a worker."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import uuid

from tally_e2e import Api, RowHolder, pool_log_lines, wait_for

# The advisory lock batches take turns on (LedgerStore's Statements, lockBatches).
BATCH_LOCK = "1952541042, 1"


class BatchLockHolder:
    """A psql session that holds an advisory lock a batch takes until released (`lock`: the lock's key, the
    batches' turn by default, or an account's id): every batch that needs it waits inside its worker."""

    def __init__(self, conninfo: str, name: str, lock: str = BATCH_LOCK):
        self.name = name
        self.lock = lock
        self.process = subprocess.Popen(
            ["psql", conninfo, "-X", "-q", "-v", "ON_ERROR_STOP=1"], stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env={**os.environ, "PGAPPNAME": name})
        self._send(f"SELECT pg_advisory_lock({lock});")

    def _send(self, sql: str) -> None:
        self.process.stdin.write(sql + "\n")
        self.process.stdin.flush()

    def holds(self, db) -> bool:
        return db.integer("SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid) "
                          "WHERE l.locktype = 'advisory' AND l.granted AND a.application_name = :'name'",
                          name=self.name) == 1

    def release(self) -> None:
        if self.process.poll() is None:
            self._send(f"SELECT pg_advisory_unlock({self.lock});")
            self.process.stdin.close()
        assert self.process.wait(30) == 0, self.process.stderr.read()


def lock_waiters(db, wait_event: str = "%") -> int:
    """Sessions waiting for a lock (of the kind `wait_event`, such as advisory; any kind by default)."""
    return db.integer("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                      "AND wait_event LIKE :'event' AND datname = current_database()", event=wait_event)


def answered_by(response) -> str:
    """The worker that answered, from its line in the pool's request log: "3", or "batches-0" in the lane."""
    lines = pool_log_lines(response.headers["X-Request-Id"])
    assert lines, f"no pool log line for {response.headers['X-Request-Id']}"
    return json.loads(lines[0])["worker"]


def in_threads(base_url: str, count: int, send) -> tuple[list, list[threading.Thread]]:
    """Runs send(api) in `count` threads, each with its own client; the answers land in the returned list."""
    answers: list = []

    def run():
        api = Api(base_url)
        try:
            answers.append(send(api))
        finally:
            api.close()

    threads = [threading.Thread(target=run, daemon=True) for _ in range(count)]
    for thread in threads:
        thread.start()
    return answers, threads


def batch_of_one(from_id: int, to_id: int, amount: str = "0.01"):
    return lambda api: api.post("/api/batches", {"movements": [
        {"type": "transfer", "from_user_id": from_id, "to_user_id": to_id, "amount": amount}]})


def metric(api, name: str) -> float | None:
    """A sample of /api/metrics by its name and labels as written there (None when absent)."""
    for line in api.get("/api/metrics").text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return None


def test_the_pool_runs_a_batch_lane_that_its_status_page_and_metrics_show(api, pool):
    lane = pool.batch_workers()
    assert len(lane) >= 1, "the test stack's pool runs the default batch lane"
    assert not lane & pool.workers()
    idle, active = 'tally_pool_processes{lane="batches",state="idle"}', \
        'tally_pool_processes{lane="batches",state="active"}'
    assert wait_for(lambda: metric(api, idle) + metric(api, active) == len(lane), 5), api.get("/api/metrics").text
    assert metric(api, 'tally_pool_batch_lane_info{listen="' + os.environ["TALLY_SOCKET"].replace(
        "tally.sock", "tally-batches.sock") + '"}') == 1
    assert metric(api, "tally_pool_batch_listen_queue_length") > 0
    # The status page's process counts are the whole pool's: both lanes.
    status = api.get("/api/status").json()
    assert status["total_processes"] == len(lane) + len(pool.workers()), status


def test_a_batch_is_answered_by_the_batch_lane_while_every_other_worker_is_busy(api, db, new_user, base_url,
                                                                                 pool):
    """Every main worker waits inside a transfer from one account whose row another session holds; a batch
    still goes through at once, served by a worker of the lane."""
    workers = pool.workers()
    payer, payee = new_user("100.00"), new_user()
    a, b = new_user("1.00"), new_user()
    name = f"tally-e2e-lane-{uuid.uuid4().hex[:8]}"
    holder = RowHolder(db.conninfo, [payer["id"]], name)
    threads: list[threading.Thread] = []
    try:
        assert wait_for(lambda: holder.holds(db), 10), "the row was not held"
        answers, threads = in_threads(
            base_url, len(workers), lambda client: client.transfer(payer["id"], payee["id"], "0.01"))
        assert wait_for(lambda: lock_waiters(db) >= len(workers),
                        10), "the main workers did not all come to wait for the held row"
        response = batch_of_one(a["id"], b["id"])(api)
        assert response.status_code == 201, response.text
        assert answered_by(response).startswith("batches-")
        assert answers == [], "a transfer was answered while its row was held"
    finally:
        holder.commit()
        for thread in threads:
            thread.join(30)
    assert [r.status_code for r in answers] == [201] * len(workers), [r.text for r in answers]
    assert api.balance_minor(b["id"]) == 1


def test_single_transfers_are_answered_while_every_batch_worker_waits_for_the_batch_lock(api, db, new_user,
                                                                                         base_url, pool):
    """The payer's account lock, which every batch of theirs takes (a batch this small skips the batches' turn),
    is held elsewhere: each lane worker waits inside a batch, one more batch waits in the lane's listen queue.
    Single transfers meanwhile go through the main workers (an account not yet contended takes no lock); the
    batches go through once the lock is released, none of them refused."""
    lane = pool.batch_workers()
    a, b = new_user("10.00"), new_user()
    holder = BatchLockHolder(db.conninfo, f"tally-e2e-lane-{uuid.uuid4().hex[:8]}", str(a["id"]))
    threads: list[threading.Thread] = []
    try:
        assert wait_for(lambda: holder.holds(db), 10), "the batch lock was not taken"
        answers, threads = in_threads(base_url, len(lane) + 1, batch_of_one(a["id"], b["id"]))
        assert wait_for(lambda: lock_waiters(db, "advisory") >= len(lane), 10), \
            "the lane's workers did not all come to wait for the batch lock"
        assert wait_for(lambda: metric(api, "tally_pool_batch_listen_queue") >= 1, 5), \
            "the last batch did not wait in the lane's listen queue"
        for _ in range(3):
            response = api.transfer(a["id"], b["id"], "0.10")
            assert response.status_code == 201, response.text
            assert answered_by(response).isdigit()
        assert answers == [], "a batch was answered while the batch lock was held"
    finally:
        holder.release()
        for thread in threads:
            thread.join(30)
    assert sorted(r.status_code for r in answers) == [201] * (len(lane) + 1), [r.text for r in answers]
    assert all(answered_by(r).startswith("batches-") for r in answers)
    assert api.balance_minor(b["id"]) == 30 + len(lane) + 1
