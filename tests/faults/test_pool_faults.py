"""Faults: a worker killed with kill -9 (during load, and in the middle of a transfer), the whole pool stopped,
the database stopped. This module is in the fault suite because it disrupts the stack; every test here leaves
the pool and the database running and healthy."""

import os
import random
import signal
import threading
import time
import uuid

import pytest

from outages import stack_postgres
from tally_e2e import (Api, Load, Outcome, RowHolder, assert_error, check_balance_chains, check_hot_users,
                       check_journal_against_answers, new_password, new_username, pool_log_lines, wait_for)


@pytest.fixture
def healthy_pool(pool):
    """The pool, healthy before the test and made healthy again after it, whatever the test did."""
    pool.wait_until_healthy(30)
    yield pool
    if not pool.is_healthy():
        try:
            pool.wait_until_healthy(10)
        except AssertionError:
            pool.start()




def kill_a_worker_during_load(pool, db, base_url, users):
    """Runs a load of keyed transfers among `users`, kills one worker with SIGKILL in the middle of it, checks
    that the supervisor replaces it within seconds, and returns the finished load and the requests that got
    no definite answer."""
    workers_before = pool.workers()
    assert workers_before, f"no workers under supervisor {pool.supervisor_pid()}"
    # Every request carries an Idempotency-Key, so that one whose answer was lost can be asked again.
    load = Load(base_url, users, threads=16, per_thread=60, max_amount_minor=2500, with_keys=True)
    runner = load.start_in_background(deadline_seconds=240)
    assert wait_for(lambda: load.completed >= 150 or not runner.is_alive(), 60), "the load did not get going"
    assert runner.is_alive(), "the load ended before a worker could be killed: make it longer"

    victim = random.choice(sorted(workers_before))
    os.kill(victim, signal.SIGKILL)
    assert_replaced(pool, workers_before, victim)

    runner.join(300)
    assert not runner.is_alive(), "the load did not finish"
    print(f"{len(load.outcomes)} transfers during the kill: {load.by_status()}")
    odd = [(o.status, o.body, o.error) for o in load.outcomes if o.status not in (201, 409, 502, 503, None)]
    assert not odd, f"unexpected answers: {odd[:3]}"
    unknown = [o for o in load.outcomes if o.status is None or o.status == 502]
    for outcome in unknown:
        if outcome.status == 502:
            assert outcome.body["error"]["code"] == "bad_gateway", outcome.body
    journal = db.movements_with_memo_prefix(load.memo_prefix)
    print(f"without an answer (status, memo, in the journal): "
          f"{[(o.status, o.memo, o.memo in journal) for o in unknown]}")
    return load, unknown


def assert_replaced(pool, workers_before: set, victim: int, seconds: float = 5) -> None:
    """The supervisor replaced the killed worker: as many workers as before within seconds, one of them new."""
    killed_at = time.monotonic()
    replaced = wait_for(
        lambda: (lambda now: len(now) == len(workers_before) and victim not in now)(pool.workers()), seconds)
    replaced_after = time.monotonic() - killed_at
    workers_after = pool.workers()
    assert replaced, (f"killed worker {victim}; {seconds} s later the workers are {sorted(workers_after)}, "
                      f"were {sorted(workers_before)}")
    assert workers_after - workers_before, "a new worker process replaced the killed one"
    print(f"\nworker {victim} killed; replaced within {replaced_after:.2f} s by "
          f"{sorted(workers_after - workers_before)}")
    if os.environ.get("TALLY_LOG_DIR"):
        assert pool_log_lines(f"pid {victim}"), f"the death of worker {victim} is not in the pool's log"


def settle_and_check(api, db, base_url, verify, load, unknown, users, total_before):
    """Asks again, with the same key, whatever got no definite answer (the answer is then definite), and
    checks the books: every 201 in the journal once, no refusal in it, totals kept, chains intact, verify."""
    retry_api = Api(base_url)
    try:
        for outcome in unknown:
            for _ in range(5):
                Load.send(retry_api, outcome)
                if outcome.status is not None and outcome.status < 500:
                    break
                time.sleep(0.2)
            assert outcome.status in (201, 409), (outcome.status, outcome.body, outcome.error)
    finally:
        retry_api.close()
    check_journal_against_answers(load, db)
    check_hot_users(api, db, users, total_before)
    check_balance_chains(db, users)
    result = verify()
    assert result.returncode == 0, result.stdout + result.stderr
    # The pool serves as before: more requests than workers, all answered.
    for _ in range(12):
        assert api.get("/api/health").status_code == 200


def test_a_worker_killed_during_load_is_replaced_and_the_books_stay_balanced(
        api, db, new_user, base_url, verify, healthy_pool):
    users = [new_user("100.00")["id"] for _ in range(5)]
    total_before = sum(db.balance(user_id) for user_id in users)
    load, unknown = kill_a_worker_during_load(healthy_pool, db, base_url, users)
    # Killed at a random moment, the worker may have been between COMMIT and its reply: at most that one
    # request may be applied without an answer. Nothing else answered 502 may be in the journal.
    check_journal_against_answers(load, db, unknown_outcomes_allowed=1)
    settle_and_check(api, db, base_url, verify, load, unknown, users, total_before)


def lock_waiters(db) -> int:
    return db.integer("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                      "AND datname = current_database()")


def test_a_request_whose_worker_is_killed_before_commit_is_not_applied(api, db, new_user, base_url, verify,
                                                                       healthy_pool):
    """Every worker is made to wait inside a transfer of its own (other sessions hold the users' rows); one is
    killed there, before COMMIT. Its request is answered 502 and must leave no trace; the others go through.
    The killed worker's rows are released first, while the others still wait before writing anything, so that
    its transaction cannot fail to serialize: what becomes of it does not depend on chance."""
    pool = healthy_pool
    workers = pool.workers()
    assert workers, f"no workers under supervisor {pool.supervisor_pid()}"
    run = uuid.uuid4().hex[:12]
    pairs = [(new_user("10.00")["id"], new_user()["id"]) for _ in workers]
    outcomes = [Outcome(memo=f"blocked-{run}-{n}", from_id=a, to_id=b, amount_minor=100 + n,
                        key=f"blocked-{run}-{n}") for n, (a, b) in enumerate(pairs)]
    holders = [RowHolder(db.conninfo, list(pair), f"tally-e2e-{run}-{n}") for n, pair in enumerate(pairs)]
    clients = []
    try:
        assert wait_for(lambda: all(holder.holds(db) for holder in holders), 10), "the rows were not held"
        for outcome in outcomes:
            client = threading.Thread(target=send_alone, args=(base_url, outcome), daemon=True)
            client.start()
            clients.append(client)
        assert wait_for(lambda: lock_waiters(db) >= len(workers), 4), \
            "the workers did not all come to wait for the held rows"
        victim = random.choice(sorted(workers))
        os.kill(victim, signal.SIGKILL)
        assert_replaced(pool, workers, victim)
        # nginx answers the killed worker's request at once.
        assert wait_for(lambda: any(outcome.status is not None for outcome in outcomes), 5)
        killed = next(outcome for outcome in outcomes if outcome.status is not None)
        assert killed.status == 502, (killed.status, killed.body, killed.error)
        # A second for the database to notice that the killed worker's connection is gone (the transaction
        # of a client that died before COMMIT must not be carried out: the client was told 502).
        time.sleep(1)
        # Release the killed one's rows first: its transaction, if it goes on, runs while the others still
        # wait before writing anything, so nothing makes it fail to serialize.
        holders[outcomes.index(killed)].commit()
        assert wait_for(lambda: lock_waiters(db) == len(workers) - 1, 10)
        time.sleep(1)  # room for the orphaned transaction, if it goes on, to finish
        # Then the others, one at a time, each waiting for its answer.
        for outcome, holder, client in zip(outcomes, holders, clients):
            if outcome is not killed:
                holder.commit()
                client.join(30)
                assert outcome.status == 201, (outcome.status, outcome.body, outcome.error)
    finally:
        for holder in holders:
            holder.commit()
        for client in clients:
            client.join(30)

    assert killed.body["error"]["code"] == "bad_gateway"
    journal = db.movements_with_memo_prefix(f"blocked-{run}-")
    assert killed.memo not in journal, (
        f"the transfer whose worker was killed before COMMIT was applied anyway: {journal[killed.memo]}")
    assert sorted(journal) == sorted(o.memo for o in outcomes if o is not killed)
    assert db.balance(killed.from_id) == 1000 and db.balance(killed.to_id) == 0

    # Asked again with its key, it is a new request now, and goes through once.
    send_alone(base_url, killed)
    assert killed.status == 201 and not killed.replayed, (killed.status, killed.body)
    assert db.balance(killed.to_id) == killed.amount_minor
    result = verify()
    assert result.returncode == 0, result.stdout + result.stderr


def send_alone(base_url: str, outcome: Outcome) -> None:
    api = Api(base_url)
    try:
        Load.send(api, outcome)
    finally:
        api.close()


def test_nginx_answers_json_502_while_the_pool_is_stopped(api, anonymous, db, new_user, healthy_pool):
    pool = healthy_pool
    user = new_user("1.00")
    pool.stop()
    try:
        assert not pool.is_healthy()
        for response in (
            api.get("/api/health"),
            api.get(f"/api/users/{user['id']}"),
            api.deposit(user["id"], "1.00"),
            api.post("/api/users", {"name": "nobody"}),
            api.me(),
            anonymous.login("nobody", "0123456789", wait_when_limited=False),
        ):
            error = assert_error(response, 502, "bad_gateway")
            assert error["request_id"] == response.headers["X-Request-Id"]
            assert response.headers.get("Cache-Control") == "no-store", response.headers
        # nginx itself still serves the static files.
        assert api.get("/openapi.yaml").status_code == 200
    finally:
        pool.start()
    assert api.get("/api/health").json() == {"status": "ok", "database": "up"}
    assert db.balance(user["id"]) == 100
    assert db.movement_count(user["id"]) == 1
    response = api.deposit(user["id"], "1.00")
    assert response.status_code == 201, response.text
    assert response.json()["balance"] == "2.00"
    assert pool.workers(), "the restarted pool has workers"


def test_the_pool_stops_gracefully_and_starts_again_with_nothing_lost(api, db, new_user, healthy_pool):
    pool = healthy_pool
    alice, bob = new_user("10.00"), new_user()
    transfer = api.transfer(alice["id"], bob["id"], "4.00").json()
    pool.stop()
    try:
        assert wait_for(lambda: not pool.is_healthy(), 5)
    finally:
        pool.start()
    # Read back as it was answered (the read adds the transfer's reversals and what is left of it).
    read = api.get(f"/api/transfers/{transfer['id']}").json()
    assert {name: read[name] for name in transfer} == transfer
    assert read["reversals"] == [] and read["unreversed_amount"] == transfer["amount"]
    assert (api.balance_minor(alice["id"]), api.balance_minor(bob["id"])) == (600, 400)


def timed(call):
    started = time.monotonic()
    response = call()
    return response, time.monotonic() - started


def test_requests_get_a_fast_503_while_the_database_is_down_and_the_pool_recovers(api, anonymous, db, new_user,
                                                                                  new_account, healthy_pool):
    user = new_user("5.00")
    account = new_account("1.00")
    # A log-in token taken while the database is up (a fixed one: the Account would log in again when it
    # gets old, which cannot work while the database is down).
    own = anonymous.with_token(account.log_in()["token"])
    stack_postgres("stop")
    try:
        for _ in range(3):  # more than one worker answers
            health, took = timed(lambda: api.get("/api/health"))
            assert health.status_code == 503, health.text
            assert health.json() == {"status": "unavailable", "database": "down"}
            assert health.headers.get("Retry-After", "").isdigit(), health.headers
            assert health.headers.get("Cache-Control") == "no-store", health.headers
            assert took < 3, f"health took {took:.2f} s with the database down"
        # Tokens are checked in the database: without it, a request with a token cannot be answered 401 or
        # served, and log-ins and sign-ups cannot be checked either. All are a fast 503, not a 401 or a 500.
        for call in (lambda: api.deposit(user["id"], "1.00"), lambda: api.get(f"/api/users/{user['id']}"),
                     lambda: api.transfer(user["id"], 9223372036854775807, "1.00"), lambda: api.me(),
                     lambda: own.deposit(account.id, "1.00"), lambda: own.logout(),
                     lambda: anonymous.login(account.username, account.password, wait_when_limited=False),
                     lambda: anonymous.register(new_username(), new_password())):
            response, took = timed(call)
            assert_error(response, 503, "unavailable")
            assert response.headers.get("Retry-After", "").isdigit(), response.headers
            assert response.headers.get("Cache-Control") == "no-store", response.headers
            assert took < 3, f"a request took {took:.2f} s with the database down"
    finally:
        stack_postgres("start")
    healthy_pool.wait_until_healthy(30)
    # Every worker reconnects: a round of requests, more than the workers, all answered.
    for _ in range(12):
        assert api.get(f"/api/users/{user['id']}").status_code == 200
    assert db.balance(user["id"]) == 500
    assert db.movement_count(user["id"]) == 1
    response = api.deposit(user["id"], "1.00")
    assert response.status_code == 201, response.text
    assert response.json()["balance"] == "6.00"
    # The user acts again (logging in anew if the token ran out meanwhile).
    assert account.api.deposit(account.id, "1.00").status_code == 201
    assert db.balance(account.id) == 200


def test_after_a_database_restart_no_worker_fails_its_first_request_on_the_old_connection(api, new_user,
                                                                                         healthy_pool):
    """Every worker holds a connection; PostgreSQL restarts and closes them all. Each worker notices before it
    uses its old connection again and makes a new one: no request after the restart is a 503."""
    import concurrent.futures
    import json as json_module
    user = new_user("1.00")
    path = f"/api/users/{user['id']}"
    workers = len(healthy_pool.workers())
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        assert all(r.status_code == 200 for r in pool.map(lambda _: api.get(path), range(8 * workers)))
    stack_postgres("stop")
    stack_postgres("start")
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(lambda _: api.get(path), range(8 * workers)))
    assert [r.status_code for r in responses] == [200] * len(responses), [r.text for r in responses if r.status_code != 200]
    # The requests reached every worker (else the test would prove nothing about the ones left out).
    served_by = {json_module.loads(pool_log_lines(r.headers["X-Request-Id"])[0])["worker"] for r in responses}
    assert len(served_by) == workers, served_by


def test_a_batch_lane_worker_killed_is_replaced_and_batches_go_on(api, db, new_user, healthy_pool):
    """kill -9 of a worker of the batch lane (`tally serve --batch-workers`): the supervisor starts another in
    the lane, not in the main lane, and batches are answered by the lane again."""
    import json as json_module
    pool = healthy_pool
    lane, workers = pool.batch_workers(), pool.workers()
    assert lane, "the pool runs no batch lane"
    victim = random.choice(sorted(lane))
    os.kill(victim, signal.SIGKILL)
    assert wait_for(lambda: (lambda now: len(now) == len(lane) and victim not in now)(pool.batch_workers()), 5), (
        f"killed lane worker {victim}; the lane is now {sorted(pool.batch_workers())}, was {sorted(lane)}")
    assert pool.workers() == workers, "the main lane's workers changed"
    assert pool_log_lines(f"pid {victim}"), f"the death of lane worker {victim} is not in the pool's log"
    a, b = new_user("1.00"), new_user()
    for _ in range(2 * len(lane)):
        response = api.post("/api/batches", {"movements": [
            {"type": "transfer", "from_user_id": a["id"], "to_user_id": b["id"], "amount": "0.01"}]})
        assert response.status_code == 201, response.text
        worker = json_module.loads(pool_log_lines(response.headers["X-Request-Id"])[0])["worker"]
        assert worker.startswith("batches-"), worker
    assert db.balance(b["id"]) == 2 * len(lane)
