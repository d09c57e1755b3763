"""The fault suite (issue 7, "Faults survived, with the same checks every time").

Each test runs the same load, concurrent transfers through nginx that each debit one of a few hot users and
carry an Idempotency-Key, while it does one fault, and then makes the same checks (`check_everything`):

- nothing refused that should not have been: the hot users hold far more than the load can move, so every
  answer must be a 201, except the 5xx the fault itself explains, named in each test (nginx's 502
  bad_gateway for the request a killed worker had in hand; the pool's 503 unavailable, with Retry-After,
  while the database is away); no 4xx at all and no request left without an answer. Whatever the fault, a
  transfer may also get the 503 the API documents for contention (failed to serialize on every attempt,
  nothing applied), up to one in a thousand: three hot rows make that happen about once in 15,000;
- the journal against the answers: every 201 in it exactly once with the answered id, parties and amount,
  no 503 in it (the pool says nothing was applied); a request whose answer the fault lost (a 502) in it
  at most once, and asked again with its key it settles to one movement;
- the books: the load's users' total and the whole ledger's total (the outside world's balance included)
  unchanged, no negative balance, each user's movements chain, `tally verify` clean.

The figures (requests, answers by status, timings) are reported through the `figures` fixture and printed
at the end of the run. Every test brings the database and the pool up and healthy before it starts (the `stack`
fixture) and leaves them so, whatever ran before it."""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import struct
import subprocess
import threading
import time
from pathlib import Path

import pytest
import requests

from bank_load import (RETRY_PAUSE_SECONDS, THREADS, HotLoad, Shot, Stage, all_served, check_everything, count,
                       is_busy, read_books, relative, send, summary, waiting_behind)
from fastcgi_client import FastCGI
from outages import (LogTail, crash_postgres, death_lines, kill_random_workers, pg_ctl, pg_log, pool_log, restore,
                     set_synchronous_commit, start_postgres, stop_postgres)
from tally_e2e import Api, RowHolder, env, text, unique, wait_for

REPOSITORY = Path(__file__).resolve().parents[2]

# The issue's own bounds: a request while the database is down is answered 503 within 100 ms; the pool
# serves again within 1 s of the database's return.
OUTAGE_ANSWER_SECONDS = 0.100
RECOVERY_SECONDS = 1.0


def nginx_times(request_ids: set[str]) -> dict[str, tuple[float, float]]:
    """From nginx's JSON access log, for each of these requests: its request_time (from the client's first
    byte to the answer's last) and its upstream_response_time (from connecting to the pool to the answer's
    last byte: the pool's time, queueing for a free worker included), in seconds. An answer nginx made
    alone has no upstream time: it is given as infinity."""
    path = Path(env("TALLY_LOG_DIR")) / "nginx-access.log"
    found: dict[str, tuple[float, float]] = {}
    deadline = time.monotonic() + 5
    while True:
        with open(path, encoding="utf-8") as log:
            for line in log:
                entry = json.loads(line)
                if entry["request_id"] in request_ids:
                    upstream = entry["upstream_response_time"]
                    found[entry["request_id"]] = (
                        float(entry["request_time"]), float(upstream) if upstream not in ("", "-") else float("inf"))
        if len(found) == len(request_ids) or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


# --- 1. workers killed with kill -9 -------------------------------------------------------------------------------

def test_workers_killed_every_few_hundred_ms_lose_nothing(api, db, verify, stack, stage, figures):
    """kill -9 of a random worker every 300 ms for 6 s under the load. Allowed: 502 (nginx: the killed worker
    had that request in hand), at most one per kill, since a worker serves one request at a time; requests
    waiting in the socket's queue are taken by the other workers. Whatever got a 502 is asked again with its
    key: at most one per kill may have been applied already (killed between COMMIT and its answer)."""
    pool = stack
    supervisor = pool.supervisor_pid()
    workers_before = pool.workers()
    log = pool_log()
    load = HotLoad(api.base_url, stage.hot, stage.others).start()
    victims = []
    try:
        victims = kill_random_workers(pool.workers, 6)
        load.run_for(1.5)  # and the pool serves on after the last kill
    finally:
        shots = load.stop()

    assert pool.supervisor_pid() == supervisor
    assert wait_for(lambda: len(pool.workers()) == len(workers_before), 15), (
        f"the pool did not get back to {len(workers_before)} workers: {pool.workers()}")
    deaths = death_lines(log)
    for victim in victims:
        assert any(f"(pid {victim}) was killed by signal 9" in line for line in deaths), (
            f"the death of worker {victim} is not in the pool's log")
    lost = count(shots, 502, None)
    assert lost <= len(victims), f"{lost} requests lost to {len(victims)} kills"
    # After the last kill the pool serves again: the requests of the last second all got through.
    last = max(shot.started for shot in shots)
    tail = [shot for shot in shots if shot.started > last - 1]
    assert all_served(tail), summary(tail)
    answered = summary(shots)
    figures_ = check_everything(api, db, verify, stage, load, allowed={502}, unknown_allowed=len(victims))
    figures(f"faults 1, kill -9 of {len(victims)} workers in 6 s: {answered}; "
            f"{figures_['lost']} answers lost (502), {figures_['lost_applied']} of them had been applied, "
            f"each settled to one movement by asking again with its key; crash-loop pauses logged: "
            f"{len(log.lines('CRASH LOOP'))}")


# --- 2. the database stopped for 5 s ------------------------------------------------------------------------------

def test_database_stopped_for_5_s_gets_fast_503s_and_the_pool_serves_again_within_1_s(
        api, anonymous, db, verify, stack, stage, figures):
    """PostgreSQL stopped (fast shutdown) under the load, started again 5 s later. Allowed: 503 unavailable with
    Retry-After, and only from the stop to 1 s after the database's return. Every request made while it is
    down (after pg_ctl stop returned, before pg_ctl start was called) is such a 503, and the pool answers each
    within 100 ms: nginx's upstream_response_time, from connecting to the pool to the answer's last byte
    (waiting for a free worker included). Not nginx's request_time, which starts at the client's first byte:
    python-requests writes the headers and the body separately, and a client thread held back between the
    two by the GIL and a busy machine makes nginx wait for the body (seen: 265 ms of request_time around
    2 ms of upstream time); both are reported. /api/health says the database is down. Within 1 s of pg_ctl
    start returning the same workers (no restart) answer 201 again, and every request made after that
    second is a 201."""
    pool = stack
    supervisor, workers = pool.supervisor_pid(), pool.workers()
    log = pool_log()
    load = HotLoad(api.base_url, stage.hot, stage.others).start()
    probes = []  # (started, response) of /api/health while the database is down
    try:
        load.run_for(1)
        stop_called = time.monotonic()
        stop_postgres()
        down = time.monotonic()
        while time.monotonic() < down + 5:
            started = time.monotonic()
            probes.append((started, anonymous.get("/api/health")))
            time.sleep(0.25)
        start_called = time.monotonic()
        up = start_postgres()
        load.run_for(2.5)
    finally:
        shots = load.stop()

    outage = [shot for shot in shots if shot.started >= down and shot.finished <= start_called]
    assert len(outage) >= 100, f"only {len(outage)} requests while the database was down: {summary(shots)}"
    assert all(shot.status == 503 and not is_busy(shot) for shot in outage), summary(outage)
    for started, response in probes:
        assert response.status_code == 503, response.text
        assert response.json() == {"status": "unavailable", "database": "down"}
        assert response.headers.get("Retry-After", "").isdigit(), response.headers
    # Every answer while the database was down, and how long nginx took over it.
    ids = {shot.request_id for shot in outage} | {response.headers["X-Request-Id"] for _, response in probes}
    times = nginx_times(ids)
    assert set(times) == ids, f"{len(ids - set(times))} requests are missing from nginx's access log"
    slowest = max(upstream for _, upstream in times.values())
    assert slowest <= OUTAGE_ANSWER_SECONDS, (
        f"the pool took {slowest * 1000:.0f} ms over a request while the database was down; over 100 ms: "
        f"{sorted(upstream for _, upstream in times.values() if upstream > OUTAGE_ANSWER_SECONDS)}")
    nginx_slowest = max(request_time for request_time, _ in times.values())
    client_slowest = max(shot.finished - shot.started for shot in outage)

    refused = [shot for shot in shots if shot.status == 503 and not is_busy(shot)]
    # A 503 for a request still in hand when the shutdown began, or made while the database was away or
    # within a second of its return; none before, none after.
    outside = [shot for shot in refused if not (shot.finished >= stop_called and shot.started <= up + RECOVERY_SECONDS)]
    assert not outside, [(shot.started - stop_called, shot.finished - stop_called, shot.body) for shot in outside[:3]]
    served = [shot for shot in shots if shot.status == 201 and shot.finished > start_called]
    assert served, f"nothing was served after the database came back: {summary(shots)}"
    recovery = min(shot.finished for shot in served) - up
    assert recovery <= RECOVERY_SECONDS, f"the first 201 came {recovery:.3f} s after the database's return"
    after = [shot for shot in shots if shot.started > up + RECOVERY_SECONDS]
    assert after and all_served(after), summary(after)
    # No restart: the same supervisor and workers, none of them died.
    assert pool.supervisor_pid() == supervisor and pool.workers() == workers
    assert death_lines(log) == []
    assert api.get("/api/health").json() == {"status": "ok", "database": "up"}

    answered = summary(shots)
    check_everything(api, db, verify, stage, load, allowed={503})
    figures(f"faults 2, PostgreSQL stopped for {start_called - down:.1f} s: {answered}; "
            f"{len(outage)} requests while it was down, all 503 with Retry-After, the slowest answered by the "
            f"pool in {slowest * 1000:.0f} ms (nginx's upstream time; its request time at most "
            f"{nginx_slowest * 1000:.0f} ms, the client's {client_slowest * 1000:.0f} ms), "
            f"/api/health 503 'database down' {len(probes)} times; first 201 {relative(recovery)} "
            f"pg_ctl start returned ({(min(shot.finished for shot in served) - start_called) * 1000:.0f} ms "
            f"after it was called), no restart")


# --- 3. the database killed with SIGKILL --------------------------------------------------------------------------

def test_database_killed_with_sigkill_keeps_every_acknowledged_transfer(api, db, verify, stack, stage, figures):
    """The postmaster killed with SIGKILL under the load (its children notice and exit), then started again as a
    service manager would: it finds it was not shut down properly and recovers from its WAL. Every transfer
    answered 201 before the kill is in the journal afterwards (and every other 201, as always). Allowed: 503
    from the kill to 1 s after the database's return.

    Durability on this throwaway cluster: test.sh runs it with fsync = off, which is harmless here, since a
    killed process loses nothing the kernel already has (the page cache outlives it); but also with
    synchronous_commit = off, under which a commit is acknowledged before its WAL is even written out of
    PostgreSQL's shared memory, so a crash may lose the last acknowledged transactions by design (with it off,
    this test finds a few lost: 5 of 1109 acknowledged in one run). A production cluster runs with
    synchronous_commit on, the default: so does this test, for its duration."""
    pool = stack
    supervisor, workers = pool.supervisor_pid(), pool.workers()
    pool_tail, pg_tail = pool_log(), LogTail(pg_log())
    set_synchronous_commit(db, "on")
    try:
        time.sleep(0.5)  # every session has taken the new setting by its next statement
        assert db.value("SHOW synchronous_commit") == "on"
        load = HotLoad(api.base_url, stage.hot, stage.others).start()
        try:
            load.run_for(1.5)
            killed = crash_postgres()
            gone = time.monotonic()
            up = start_postgres()
            load.run_for(2.5)
        finally:
            shots = load.stop()
    finally:
        restore(pool)
        set_synchronous_commit(db, None)

    assert pg_tail.lines("database system was interrupted") or pg_tail.lines("not properly shut down"), (
        f"no crash recovery in the PostgreSQL log:\n{pg_tail.text()[-2000:]}")
    assert pg_tail.lines("redo done") or pg_tail.lines("redo starts"), pg_tail.text()[-2000:]
    acknowledged = [shot for shot in shots if shot.status == 201 and shot.finished < killed]
    journal = db.movements_with_memo_prefix(load.load.memo_prefix)
    missing = [shot.memo for shot in acknowledged if shot.memo not in journal]
    assert not missing, f"{len(missing)} of {len(acknowledged)} transfers acknowledged before the crash are lost"
    refused = [shot for shot in shots if shot.status == 503 and not is_busy(shot)]
    outside = [shot for shot in refused if not (shot.finished >= killed and shot.started <= up + RECOVERY_SECONDS)]
    assert not outside, [(shot.started - killed, shot.finished - killed, shot.body) for shot in outside[:3]]
    after = [shot for shot in shots if shot.started > up + RECOVERY_SECONDS]
    assert after and all_served(after), summary(after)
    served = [shot.finished for shot in shots if shot.status == 201 and shot.finished > gone]
    assert pool.supervisor_pid() == supervisor and pool.workers() == workers
    assert death_lines(pool_tail) == []

    answered = summary(shots)
    check_everything(api, db, verify, stage, load, allowed={503})
    figures(f"faults 3, PostgreSQL's postmaster killed with SIGKILL: {answered}; {len(acknowledged)} transfers "
            f"acknowledged before the kill, all in the journal after crash recovery; its processes were gone "
            f"{(gone - killed) * 1000:.0f} ms after the kill; first 201 {relative(min(served) - up)} "
            f"pg_ctl start returned; no restart of the pool")


# --- 3b. the database stopped while unkeyed deposits and transfers run -------------------------------------------

def unkeyed_movements(base_url: str, users: list[int], prefix: str, stop: threading.Event) -> list[tuple]:
    """Deposits and transfers among `users` from 12 threads, without keys, each with a unique memo, until `stop`;
    returns (memo, status, error code, request id) for each."""
    answers: list[tuple] = []
    lock = threading.Lock()

    def client(number: int) -> None:
        api = Api(base_url)
        try:
            sent = 0
            while not stop.is_set():
                memo = f"{prefix}{number}-{sent}"
                user = users[(number + sent) % len(users)]
                other = users[(number + sent + 1) % len(users)]
                sent += 1
                try:
                    response = (api.deposit(user, "0.01", memo) if sent % 2 else
                                api.transfer(user, other, "0.01", memo))
                    status, request_id = response.status_code, response.headers.get("X-Request-Id")
                    code = response.json().get("error", {}).get("code") if status >= 400 else None
                except requests.RequestException:
                    status, code, request_id = None, None, None
                with lock:
                    answers.append((memo, status, code, request_id))
                if status == 503:
                    time.sleep(RETRY_PAUSE_SECONDS)
        finally:
            api.close()

    threads = [threading.Thread(target=client, args=(number,)) for number in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


@pytest.mark.parametrize("mode", ["fast", "immediate"])
def test_database_stopped_under_unkeyed_movements_answers_503_only_for_what_did_not_happen(
        api, db, verify, stack, new_user, mode, figures):
    """PostgreSQL stopped (fast: sessions end with an error; immediate: without a word, as in a crash) while
    deposits and transfers without an Idempotency-Key run, started again 1 s later. A 201 is in the journal, a
    503 `unavailable` is not: the movements the stop cut off between their commit and its confirmation are
    settled, not guessed. `outcome_unknown` (the database did not say within 3 s) may be either; nothing else is
    allowed."""
    users = [new_user("1000.00")["id"] for _ in range(4)]
    tail = pool_log()
    prefix = f"stop-{mode}-{random.randrange(1 << 30)}-"
    stop = threading.Event()
    result: list[list[tuple]] = []
    runner = threading.Thread(target=lambda: result.append(unkeyed_movements(api.base_url, users, prefix, stop)))
    # An immediate shutdown loses what synchronous_commit = off (test.sh's setting) acknowledged before writing
    # it out: durable commits for this test, as in the SIGKILL test above.
    set_synchronous_commit(db, "on")
    try:
        time.sleep(0.5)
        runner.start()
        time.sleep(1.5)
        result_stop = pg_ctl("-m", mode, "-w", "-t", "60", "stop")
        assert result_stop.returncode == 0, result_stop.stdout + result_stop.stderr
        time.sleep(1.0)
        start_postgres()
        time.sleep(2.0)
    finally:
        stop.set()
        if runner.is_alive():
            runner.join()
        restore(stack)
        set_synchronous_commit(db, None)
    answers = result[0]
    journal = db.movements_with_memo_prefix(prefix)
    by_status: dict = {}
    for memo, status, code, _ in answers:
        by_status[(status, code)] = by_status.get((status, code), 0) + 1
    odd = [(memo, status, code) for memo, status, code, _ in answers
           if not (status == 201 or (status == 503 and code in ("unavailable", "outcome_unknown")))]
    assert not odd, f"answers the stop does not explain: {odd[:5]}"
    missing = [memo for memo, status, _, _ in answers if status == 201 and len(journal.get(memo, [])) != 1]
    assert not missing, f"{len(missing)} movements answered 201 are not in the journal once: {missing[:5]}"
    false_failures = [request_id for memo, status, code, request_id in answers
                      if status == 503 and code == "unavailable" and memo in journal]
    assert not false_failures, (
        f"{len(false_failures)} movements answered 503 unavailable (nothing applied) are in the journal; the "
        f"pool's log of the first: {pool_log_lines_since(tail, false_failures[0], 0)}")
    assert by_status.get((201, None), 0) > 0 and by_status.get((503, "unavailable"), 0) > 0, by_status
    result_verify = verify()
    assert result_verify.returncode == 0, result_verify.stdout + result_verify.stderr
    unknown = [memo for memo, status, code, _ in answers if code == "outcome_unknown"]
    figures(f"faults 3b, PostgreSQL stopped ({mode}) under unkeyed deposits and transfers: "
            f"{len(answers)} requests, {by_status.get((201, None), 0)} x 201, "
            f"{by_status.get((503, 'unavailable'), 0)} x 503 unavailable (none in the journal), "
            f"{len(unknown)} x outcome_unknown ({sum(memo in journal for memo in unknown)} of them applied)")


# --- 4. the pool reloaded three times -----------------------------------------------------------------------------

def test_three_reloads_under_load_fail_no_request(api, db, verify, stack, stage, figures):
    """SIGHUP to the supervisor three times under the load, each once the previous reload is done (every
    worker replaced by a new one, the old ones gone). Allowed: nothing but 201; no worker dies (the old ones
    finish their request and exit cleanly). (As everywhere, a rare 503 for contention: see is_busy.)"""
    pool = stack
    supervisor = pool.supervisor_pid()
    log = pool_log()
    generations = [pool.workers()]
    load = HotLoad(api.base_url, stage.hot, stage.others).start()
    took = []
    try:
        for _ in range(3):
            load.run_for(0.7)
            old, old_lane = pool.workers(), pool.batch_workers()
            sent = time.monotonic()
            os.kill(supervisor, signal.SIGHUP)
            assert wait_for(lambda: (lambda now: len(now) == len(old) and not now & old)(pool.workers()), 15), (
                f"the reload did not replace the workers {sorted(old)}: now {sorted(pool.workers())}")
            # The batch lane's workers are replaced with the others.
            assert wait_for(lambda: (lambda now: len(now) == len(old_lane) and not now & old_lane)(
                pool.batch_workers()), 15), f"the reload did not replace the batch lane {sorted(old_lane)}"
            took.append(time.monotonic() - sent)
            generations.append(pool.workers())
        load.run_for(0.7)
    finally:
        shots = load.stop()

    assert pool.supervisor_pid() == supervisor
    assert len(log.lines("reloading")) == 3, log.lines("reloading")
    assert death_lines(log) == []
    answered = summary(shots)
    check_everything(api, db, verify, stage, load, allowed=set())
    figures(f"faults 4, three reloads (SIGHUP) under the load: {answered}; each replaced all "
            f"{len(generations[0])} workers within {max(took) * 1000:.0f} ms; worker generations "
            f"{[sorted(generation) for generation in generations]}")


def test_rows_held_for_seconds_stall_only_their_own_transfers(api, db, verify, stack, stage, new_user, figures):
    """A psql session holds two users' rows for 3 s (an operator's session, a long transaction) while the load
    runs and keyed transfers between those two users wait behind it. A waiting SERIALIZABLE transaction would
    keep its predicate locks, which cover the index pages the load's rows and keys share, and nearly every
    transfer around it would fail to serialize again and again (before migration 7: dozens of the load's
    transfers answered 503 after every attempt). The held transfers give up inside the transaction after
    200 ms and wait for the rows in READ COMMITTED instead: the load keeps to the usual checks (at most the
    rare contention 503), and each held transfer is a 201 once the rows are free."""
    payer, payee = new_user("10.00")["id"], new_user()["id"]
    books = Stage(stage.hot, stage.others + [payer, payee], read_books(db, stage.users + [payer, payee]))
    load = HotLoad(api.base_url, stage.hot, stage.others).start()
    holder = RowHolder(db.conninfo, [payer, payee], "held-rows-holder")
    held: list[tuple[Shot, threading.Thread]] = []
    try:
        assert wait_for(lambda: holder.holds(db), 10), "the rows were not held"
        load.run_for(0.5)
        for n in range(3):
            held.append(start_alone(api.base_url, load, "held", payer, payee, n))
        assert wait_for(lambda: waiting_behind(db, holder) == len(held), 5), (
            f"{waiting_behind(db, holder)} of the {len(held)} held transfers wait for the rows")
        load.run_for(3)
        assert all(shot.status is None for shot, _ in held), [(s.status, s.body) for s, _ in held]
        holder.commit()
        load.run_for(0.5)
    finally:
        holder.commit()
        for _, client in held:
            client.join(30)
        load.stop()
    assert [(shot.status, shot.replayed) for shot, _ in held] == [(201, False)] * len(held), [
        (shot.status, shot.body) for shot, _ in held]
    answered = summary(load.shots)
    with load.load._lock:
        load.load.outcomes.extend(shot for shot, _ in held)
    check_everything(api, db, verify, books, load, allowed=set())
    figures(f"held rows: two users' rows held 3 s by another session, {len(held)} keyed transfers between them "
            f"waiting, the load meanwhile: {answered}; the held transfers all 201 after the rows were freed")


# --- 5. clients that give up: half a body, no reading of the answer -------------------------------------------------

def transfer_params(body: bytes, content_length: int, key: str, request_id: str) -> dict[str, str]:
    """The FastCGI parameters nginx sends for POST /api/transfers with the service token."""
    return {"REQUEST_METHOD": "POST", "DOCUMENT_URI": "/api/transfers", "SCRIPT_NAME": "/api/transfers",
            "REQUEST_URI": "/api/transfers", "QUERY_STRING": "", "CONTENT_TYPE": "application/json",
            "CONTENT_LENGTH": str(content_length), "HTTP_AUTHORIZATION": f"Bearer {env('TALLY_ADMIN_TOKEN')}",
            "HTTP_IDEMPOTENCY_KEY": key, "REQUEST_ID": request_id, "SERVER_PROTOCOL": "HTTP/1.1"}


def http_transfer(base_url: str, body: bytes, content_length: int, key: str) -> bytes:
    host_port = base_url.split("//", 1)[1]
    return (f"POST /api/transfers HTTP/1.1\r\nHost: {host_port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {content_length}\r\nAuthorization: Bearer {env('TALLY_ADMIN_TOKEN')}\r\n"
            f"Idempotency-Key: {key}\r\nConnection: close\r\n\r\n").encode() + body


def nginx_connection(base_url: str) -> socket.socket:
    host, port = base_url.split("//", 1)[1].split(":")
    return socket.create_connection((host, int(port)), timeout=10)


def close_abruptly(connection: socket.socket, reset: bool) -> None:
    """Closes without reading anything: with a FIN, or with a RST (SO_LINGER 0) when `reset`."""
    if reset:
        connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    connection.close()


def test_clients_that_send_half_a_body_or_leave_before_the_answer_kill_no_worker_and_half_apply_nothing(
        api, db, verify, stack, stage, figures):
    """Under the load: (a) through nginx, and (b) straight to the pool's socket, clients send a transfer's
    headers announcing twice the body's length, then the body (a complete JSON transfer, which a pool that did
    not check the length would carry out), then hang up; (c) straight to the pool, the same half body ends the
    stream, and the answer is read: 400 incomplete_body; (d) through nginx and straight to the pool, clients
    send a whole transfer and hang up (FIN or RST) without reading the answer. No worker dies (the same
    processes before and after, no death in the pool's log); no half body moves money; each abandoned whole
    transfer, asked again with its key, is one movement (the usual checks). Allowed: nothing but 201 (and, as
    everywhere, a rare 503 for contention: see is_busy)."""
    pool = stack
    supervisor, workers = pool.supervisor_pid(), pool.workers()
    log = pool_log()
    load = HotLoad(api.base_url, stage.hot, stage.others).start()
    prefix = load.load.memo_prefix
    hot, other = stage.hot[0], stage.others[0]
    half_bodies, refused_ids, abandoned = [], [], []

    def transfer_body(memo: str, amount_minor: int) -> bytes:
        return json.dumps({"from_user_id": hot, "to_user_id": other, "amount": text(amount_minor),
                           "memo": memo}).encode()

    try:
        for n in range(10):
            # (a) half a body through nginx, then gone.
            memo = f"{prefix}half-nginx-{n}"
            body = transfer_body(memo, 100 + n)
            connection = nginx_connection(api.base_url)
            connection.sendall(http_transfer(api.base_url, body, 2 * len(body), memo))
            close_abruptly(connection, reset=n % 2 == 1)
            half_bodies.append(memo)
            # (b) half a body straight to the pool, then gone.
            memo = f"{prefix}half-fcgi-{n}"
            body = transfer_body(memo, 200 + n)
            request_id = f"fault-half-{load.load.run_id}-{n}"
            close_abruptly(FastCGI.send(transfer_params(body, 2 * len(body), memo, request_id), body,
                                        end_of_body=False), reset=n % 2 == 1)
            half_bodies.append(memo)
            refused_ids.append(request_id)
            # (c) half a body straight to the pool, the stream ended, the answer read.
            memo = f"{prefix}half-eof-{n}"
            body = transfer_body(memo, 300 + n)
            connection = FastCGI.send(transfer_params(body, 2 * len(body), memo, f"fault-eof-{n}"), body,
                                      end_of_body=True)
            status, answer = FastCGI.answer(connection)
            connection.close()
            assert (status, answer["error"]["code"]) == (400, "incomplete_body"), (status, answer)
            half_bodies.append(memo)
            # (d) a whole transfer, through nginx and straight to the pool, abandoned before its answer.
            for route in ("nginx", "fcgi"):
                shot = Shot(memo=f"{prefix}gone-{route}-{n}", from_id=hot, to_id=other, amount_minor=400 + n,
                            key=f"{prefix}gone-{route}-{n}", error="hung up before the answer, on purpose")
                body = transfer_body(shot.memo, shot.amount_minor)
                if route == "nginx":
                    connection = nginx_connection(api.base_url)
                    connection.sendall(http_transfer(api.base_url, body, len(body), shot.key))
                else:
                    connection = FastCGI.send(transfer_params(body, len(body), shot.key, f"fault-gone-{n}"), body,
                                              end_of_body=True)
                close_abruptly(connection, reset=n % 2 == 1)
                abandoned.append(shot)
            time.sleep(0.05)
        load.run_for(1)
    finally:
        shots = load.stop()

    # The pool logged each half body it got and refused it (the worker, not a crash, ended the request).
    for request_id in refused_ids:
        lines = pool_log_lines_since(log, request_id)
        assert len(lines) == 1 and '"status":400' in lines[0], (request_id, lines)
    assert pool.supervisor_pid() == supervisor and pool.workers() == workers, (
        f"workers before {sorted(workers)}, after {sorted(pool.workers())}")
    assert death_lines(log) == []
    journal = db.movements_with_memo_prefix(prefix)
    assert not set(half_bodies) & set(journal), f"half bodies applied: {sorted(set(half_bodies) & set(journal))}"
    answered = summary(shots)
    figures_ = check_everything(api, db, verify, stage, load, allowed=set(), unknown_allowed=len(abandoned),
                                abandoned=abandoned)
    figures(f"faults 5, clients giving up under the load: {answered}; {len(half_bodies)} half bodies (10 through "
            f"nginx, 20 straight to the pool: 10 hung up, 10 answered 400 incomplete_body), none applied; "
            f"{len(abandoned)} whole transfers abandoned before the answer, {figures_['lost_applied']} of them "
            f"had been applied, each one movement when asked again; the same {len(workers)} workers throughout")


def test_clients_that_withhold_the_end_of_their_input_and_stay_connected_still_get_their_answers(
        api, db, stack, new_user):
    """Straight to the pool's socket, more clients than there are workers, one after another, each send a
    whole transfer but withhold the end of the input stream (the empty FCGI_STDIN record nginx always sends),
    read the answer to the end of the connection, and stay connected. Each gets its 201 and the end of the
    connection from the pool: a worker never waits for more input once it has answered (at most libfcgi's
    2 s linger for the client to hang up), so the clients after the first few are served too. Each transfer
    is in the journal once, and the pool answers through nginx meanwhile."""
    workers = len(stack.workers())
    payer, payee = new_user("100.00"), new_user()
    connections, keys = [], []
    try:
        for n in range(workers + 2):
            key = unique("held-open")
            body = json.dumps({"from_user_id": payer["id"], "to_user_id": payee["id"], "amount": "0.01",
                               "memo": key}).encode()
            connection = FastCGI.send(transfer_params(body, len(body), key, f"held-open-{key}"), body,
                                      end_of_body=False)
            connection.settimeout(10)
            status, answer = FastCGI.answer(connection)  # to the end of the connection: the pool closed it
            assert (status, answer["amount_minor"]) == (201, 1), (n, status, answer)
            connections.append(connection)
            keys.append(key)
        assert api.get("/api/health").status_code == 200
    finally:
        for connection in connections:
            connection.close()
    assert api.balance_minor(payee["id"]) == len(keys)
    journal = db.movements_with_memo_prefix("held-open")
    assert all(len(journal.get(key, [])) == 1 for key in keys), {key: journal.get(key) for key in keys}


def pool_log_lines_since(tail: LogTail, request_id: str, seconds: float = 5) -> list[str]:
    return wait_for(lambda: tail.lines(f'"request_id":"{request_id}"'), seconds, interval=0.1)


# --- 6. two pools behind one nginx upstream, one killed --------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def refuses(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except ConnectionRefusedError:
        return True
    except (ConnectionResetError, TimeoutError):
        # The dying pool's socket took the connection into its queue and dropped it: not refusing yet.
        return False
    return False


class TwoPools:
    """Two pools of this stack's binary on two TCP ports (`tally serve --listen`), on the stack's database,
    behind a second nginx of their own: the stack's nginx configuration rendered with an upstream of both
    instead of the unix socket, into a folder under the stack's (every process carries TALLY_STACK, so the
    stack's teardown sweeps up whatever a failed test leaves)."""

    WORKERS = 2

    def __init__(self, folder: Path):
        self.folder = folder
        self.ports = [free_port(), free_port()]
        self.nginx_port = free_port()
        self.pools: list[subprocess.Popen] = []
        self.nginx: subprocess.Popen | None = None
        for sub in ("nginx/tmp", "log", "run"):
            (folder / sub).mkdir(parents=True, exist_ok=True)
        os.chmod(folder, 0o755)
        # (Without TALLY_SOCKET, which the tests' environment names for the stack's own pool: serve would
        # refuse --listen with it.)
        self.environment = {name: value for name, value in os.environ.items() if name != "TALLY_SOCKET"}
        self.environment["TALLY_STACK"] = env("TALLY_STACK_DIR")
        # Each pool's database sessions carry its name, so that pg_stat_activity tells them apart.
        self.tag = folder.name
        self.application_names = [f"{self.tag}-pool-{n}" for n in range(2)]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.nginx_port}"

    def pool_log(self, n: int) -> Path:
        return self.folder / "log" / f"pool-{n}.log"

    def start(self) -> None:
        for n, port in enumerate(self.ports):
            with open(self.pool_log(n), "ab") as log:
                self.pools.append(subprocess.Popen(
                    [env("TALLY_BIN"), "serve", "--listen", f"127.0.0.1:{port}",
                     "--database", env("TALLY_POOL_DATABASE"), "--workers", str(self.WORKERS), "--pool", f"pool-{n}",
                     # No batch lane: it would listen on the next port, another pool's.
                     "--batch-workers", "0"],
                    stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                    env={**self.environment, "PGAPPNAME": self.application_names[n]}, start_new_session=True))
        for n, port in enumerate(self.ports):
            assert wait_for(lambda: not refuses(port) or self.pools[n].poll() is not None, 10), (
                f"pool {n} does not listen on {port}: {self.pool_log(n).read_text()[-2000:]}")
            assert self.pools[n].poll() is None, self.pool_log(n).read_text()[-2000:]
        self._start_nginx()

    def _start_nginx(self) -> None:
        template = (REPOSITORY / "nginx" / "tally.conf.template").read_text()
        servers = "".join(f"        server 127.0.0.1:{port} max_fails=0;\n" for port in self.ports)
        replacements = [
            # The upstream instead of the unix socket. max_fails=0: nginx does not set a failed server aside
            # for fail_timeout (10 s), so every request it sends to the killed pool meets the refused
            # connection and is passed to the other: the retry shows on each of them, not only on the first
            # one per nginx worker.
            ("http {\n", "http {\n    upstream tally_pools {\n" + servers + "    }\n"),
            ("fastcgi_pass unix:@SOCKET@;", "fastcgi_pass tally_pools;"),
            ("fastcgi_pass unix:@BATCH_SOCKET@;", "fastcgi_pass tally_pools;"),
            # (The access log's upstream_addr says which pool, or pools in order, each request went to.)
            ("@PORT@", str(self.nginx_port)), ("@WWW_ROOT@", str(REPOSITORY / "www")), ("@STATE@", str(self.folder)),
        ]
        for old, new in replacements:
            assert old in template, f"nginx/tally.conf.template has no {old!r} any more: update this test"
            template = template.replace(old, new)
        conf = self.folder / "nginx" / "nginx.conf"
        conf.write_text(template)
        errors = self.folder / "log" / "nginx-error.log"
        check = subprocess.run(["nginx", "-q", "-t", "-c", str(conf), "-e", str(errors)], capture_output=True,
                               text=True)
        assert check.returncode == 0, check.stderr
        with open(errors, "ab") as log:
            self.nginx = subprocess.Popen(["nginx", "-c", str(conf), "-e", str(errors), "-g", "daemon off;"],
                                          stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=self.environment,
                                          start_new_session=True)
        assert wait_for(lambda: self._answers(), 10), errors.read_text()[-2000:]

    def _answers(self) -> bool:
        try:
            return requests.get(self.url + "/api/health", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    def workers(self, n: int) -> set[int]:
        result = subprocess.run(["pgrep", "-P", str(self.pools[n].pid)], capture_output=True, text=True)
        return {int(pid) for pid in result.stdout.split()}

    def kill(self, n: int) -> None:
        """SIGKILL to the pool's supervisor and workers at once (its process group), as a crash would."""
        os.killpg(self.pools[n].pid, signal.SIGKILL)
        self.pools[n].wait(10)

    def access_log(self, waiting_for: frozenset[str] = frozenset(), seconds: float = 5) -> dict[str, dict]:
        """nginx's access log by request id; waits up to `seconds` for the lines of `waiting_for` (nginx writes
        a request's line just after it has sent the answer)."""
        def entries() -> dict[str, dict]:
            with open(self.folder / "log" / "nginx-access.log", encoding="utf-8") as log:
                return {entry["request_id"]: entry for entry in map(json.loads, log)}

        def complete() -> dict[str, dict] | None:
            found = entries()
            return found if waiting_for <= found.keys() else None

        # Nothing to wait for: the log as it is, even empty (wait_for would take an empty log for not yet).
        if not waiting_for:
            return entries()
        return wait_for(complete, seconds, 0.1) or entries()

    def stop(self) -> None:
        """nginx first (it finishes its requests), then the pools; whatever does not stop in time is killed."""
        processes = ([self.nginx] if self.nginx else []) + self.pools
        for process, how in [(process, signal.SIGQUIT if process is self.nginx else signal.SIGTERM)
                             for process in processes]:
            if process.poll() is None:
                process.send_signal(how)
                try:
                    process.wait(15)
                except subprocess.TimeoutExpired:
                    pass
            if process.poll() is None or process is not self.nginx:
                try:
                    os.killpg(process.pid, signal.SIGKILL)  # a pool's workers, if any outlived it
                except ProcessLookupError:
                    pass
                process.wait(10)


@pytest.fixture
def two_pools(stack):
    pools = TwoPools(Path(env("TALLY_STACK_DIR")) / f"two-pools-{os.getpid()}-{random.randrange(10**6)}")
    try:
        pools.start()
        yield pools
    finally:
        pools.stop()


def held_up(db, application_name: str, holder: RowHolder) -> int:
    """How many sessions of this application wait for the rows the holder holds."""
    return waiting_behind(db, holder, application_name)


def send_alone(base_url: str, shot: Shot) -> None:
    api = Api(base_url)
    try:
        send(api, shot)
    finally:
        api.close()


def start_alone(base_url: str, load: HotLoad, label: str, payer: int, payee: int,
                n: int) -> tuple[Shot, threading.Thread]:
    """The n-th transfer of `label` from payer to payee, besides the load (its memo and key in the load's run),
    sent from a thread of its own: its shot and the thread."""
    shot = Shot(memo=f"{load.load.memo_prefix}{label}-{n}", from_id=payer, to_id=payee, amount_minor=100 + n,
                key=f"{load.load.run_id}-{label}-{n}")
    client = threading.Thread(target=send_alone, args=(base_url, shot), daemon=True)
    client.start()
    return shot, client


def test_two_pools_behind_one_upstream_one_killed_new_requests_go_to_the_other(
        api, db, verify, new_user, stage, two_pools, figures):
    """Two pools of two workers behind one nginx upstream, the load through it; one pool killed (SIGKILL to its
    supervisor and workers). Every request made once the killed pool's port refuses connections is a 201:
    nginx meets the refused connection, passes the request to the other pool (upstream_addr names both) and
    the other serves it. A POST the killed pool had in hand was already sent: nginx does not pass a
    non-idempotent request to the next server then (fastcgi_next_upstream's default, without non_idempotent)
    and answers 502 after trying only that pool. To have such a POST for certain (the load alone may leave the
    pool idle at the moment of the kill), transfers between two users whose rows a psql session holds are
    sent through nginx one by one until one of them waits in the pool to be killed (pg_stat_activity, by the
    pool's application_name); the rows are released after the kill. Every 502, asked again with its key as a
    client should, settles to one movement. Allowed: 201, and 502 for requests made before the kill."""
    pools = two_pools
    payer, payee = new_user("10.00")["id"], new_user()["id"]
    books = Stage(stage.hot, stage.others + [payer, payee], read_books(db, stage.users + [payer, payee]))
    survivor_workers = pools.workers(1)
    load = HotLoad(pools.url, stage.hot, stage.others).start()
    holder = RowHolder(db.conninfo, [payer, payee], f"{pools.tag}-holder")
    stuck: list[tuple[Shot, threading.Thread]] = []
    try:
        assert wait_for(lambda: holder.holds(db), 10), "the rows were not held"
        load.run_for(1)
        served_by = {entry["upstream_addr"] for entry in pools.access_log().values()
                     if entry["uri"] == "/api/transfers"}
        assert {f"127.0.0.1:{port}" for port in pools.ports} <= served_by, served_by
        # Seen waiting once is enough: a held movement stays in its worker, but between its SERIALIZABLE wait
        # (200 ms) and its READ COMMITTED wait for the rows there is a moment when it waits for nothing.
        reached = False
        for n in range(8):
            stuck.append(start_alone(pools.url, load, "stuck", payer, payee, n))
            reached = wait_for(lambda: held_up(db, pools.application_names[0], holder) > 0, 1)
            if reached:
                break
        assert reached, ("no held transfer reached the pool to be killed", [(s.status, s.body) for s, _ in stuck])
        pools.kill(0)
        assert wait_for(lambda: refuses(pools.ports[0]), 5), "the killed pool's port still accepts connections"
        refused_from = time.monotonic()
        assert wait_for(lambda: any(shot.status == 502 for shot, _ in stuck), 5), [s.status for s, _ in stuck]
        time.sleep(0.5)  # room for the database to see the killed pool's sessions gone (checked every 100 ms)
        holder.commit()
        load.run_for(2.5)
    finally:
        holder.commit()
        for _, client in stuck:
            client.join(30)
        shots = load.stop()
    with load.load._lock:
        load.load.outcomes.extend(shot for shot, _ in stuck)
    shots = load.shots

    killed, survivor = (f"127.0.0.1:{port}" for port in pools.ports)
    answered_ids = frozenset(shot.request_id for shot in shots if shot.status is not None)
    log = pools.access_log(waiting_for=answered_ids)
    assert answered_ids <= log.keys(), answered_ids - log.keys()
    after = [shot for shot in shots if shot.started > refused_from]
    assert after and all_served(after), summary(after)
    assert all(log[shot.request_id]["upstream_addr"] in (survivor, f"{killed}, {survivor}") for shot in after)
    retried = [shot for shot in after if log[shot.request_id]["upstream_addr"] == f"{killed}, {survivor}"]
    assert retried, "no request met the killed pool's refused connection and went on to the other"
    lost = [shot for shot in shots if shot.status == 502]
    assert any(shot.memo.startswith(f"{load.load.memo_prefix}stuck-") for shot in lost), [s.status for s, _ in stuck]
    for shot in lost:
        assert shot.started < refused_from, shot
        assert log[shot.request_id]["upstream_addr"] == killed, (
            f"a POST already sent to the killed pool was passed on: {log[shot.request_id]}")
    assert pools.workers(1) == survivor_workers

    answered = summary(shots)
    figures_ = check_everything(api, db, verify, books, load, allowed={502}, unknown_allowed=len(lost))
    figures(f"faults 6, two pools behind one upstream, one killed: {answered}; {len(lost)} POSTs the killed pool "
            f"had in hand answered 502 and not passed on ({len(stuck)} held transfers sent to get one there), "
            f"{figures_['lost_applied']} of them had been applied, each one movement when asked again with its "
            f"key; after the kill {len(after)} requests, all 201, {len(retried)} of them first offered to the "
            f"dead pool (connection refused) and passed on")
