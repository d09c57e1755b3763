"""Many events for one user at once, through nginx. Each event reads the user's history, computes its codes and
applies the movement in one SERIALIZABLE transaction; two of them for the same user cannot both commit on the
same history, so the loser is retried on the new one (or refused when its t is no longer above the user's
last). What the test shows: whatever order the requests arrive in, the stored alerts are exactly what the rules
say for the applied events taken in t order, no balance goes negative, and every answer matches the books."""

import itertools
import json
import os
import random
import re
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass

import requests

from alert_rules import CashEvent, replay
from tally_e2e import NO_USER_BELOW_THEIR_LIMIT, Api, check_balance_chains, env, minor, text

STORED_KIND = {"deposit": "deposit", "withdraw": "withdrawal"}


@dataclass
class Sent:
    """One event of the load: what was asked and what came back."""
    t: int
    kind: str
    amount_minor: int
    status: int | None = None
    body: dict | None = None
    request_id: str | None = None
    error: str | None = None


def send_events(base_url: str, user_id: int, *, threads: int, per_thread: int, t_step: int,
                max_amount_minor: int, deadline_seconds: float = 180) -> list[Sent]:
    """`threads` clients post events for one user as fast as they can. Each takes its t from one shared counter
    just before sending, so the ts are unique and increasing in the order they are drawn, but the requests
    race each other to the database: some arrive after a larger t was applied and must get 422."""
    clock = itertools.count(1)
    lock = threading.Lock()
    sent: list[Sent] = []
    start = threading.Barrier(threads)
    deadline = time.monotonic() + deadline_seconds
    run = uuid.uuid4().hex[:8]

    def client(number: int) -> None:
        api = Api(base_url)
        chooser = random.Random(f"{run}-{number}")
        try:
            start.wait(timeout=30)
            for _ in range(per_thread):
                if time.monotonic() > deadline:
                    return
                kind = chooser.choice(("deposit", "withdraw"))
                with lock:
                    event = Sent(t=next(clock) * t_step, kind=kind, amount_minor=chooser.randint(1, max_amount_minor))
                try:
                    response = api.event(kind, text(event.amount_minor), user_id, event.t)
                    event.status, event.request_id = response.status_code, response.headers.get("X-Request-Id")
                    event.body = response.json()
                except (requests.RequestException, ValueError) as error:
                    event.error = repr(error)
                with lock:
                    sent.append(event)
        finally:
            api.close()

    workers = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(max(1.0, deadline - time.monotonic() + 30))
    assert not any(worker.is_alive() for worker in workers), "event clients did not finish in time"
    return sent


def retries_by_request(request_ids: set[str], seconds: float = 5) -> dict[str, int]:
    """The serialization retries the pool's request log gives for each of these requests (waiting a little for
    the last lines to be written)."""
    path = os.path.join(env("TALLY_LOG_DIR"), "tally.log")
    deadline = time.monotonic() + seconds
    while True:
        found = {}
        with open(path, encoding="utf-8", errors="replace") as log:
            for line in log:
                if '"request_id"' not in line:
                    continue
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue
                if entry.get("request_id") in request_ids:
                    found[entry["request_id"]] = int(entry.get("retries", 0))
        if len(found) == len(request_ids) or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def test_concurrent_events_for_one_user_store_exactly_what_the_rules_say_in_t_order(api, db, new_user, base_url,
                                                                                   verify):
    user = new_user("200.00")
    uid = user["id"]
    threads, per_thread = 16, 25
    started = time.monotonic()
    sent = send_events(base_url, uid, threads=threads, per_thread=per_thread, t_step=3, max_amount_minor=150_00)
    took = time.monotonic() - started

    assert len(sent) == threads * per_thread, "every client sent all its events in time"
    assert not [e for e in sent if e.error], [e.error for e in sent if e.error][:3]
    statuses = {status: sum(1 for e in sent if e.status == status) for status in sorted({e.status for e in sent})}
    assert set(statuses) <= {200, 409, 422, 503}, [(e.status, e.body) for e in sent if e.status not in
                                                   (200, 409, 422, 503)][:3]
    by_t = {e.t: e for e in sent}
    applied = sorted(e.t for e in sent if e.status == 200)

    # Every 200 is in cash_events exactly once, as asked; nothing refused is.
    events = db.cash_events(uid)
    assert [e["t"] for e in events] == applied
    for stored in events:
        asked = by_t[stored["t"]]
        assert (stored["kind"], stored["amount"]) == (STORED_KIND[asked.kind], asked.amount_minor), (stored, asked)
    # They were applied one after another in t order: the journal's ids grow with t.
    movement_ids = [e["movement_id"] for e in events]
    assert movement_ids == sorted(movement_ids)
    assert db.movement_count(uid) == 1 + len(events)   # the initial balance and the events, no other

    # The stored alerts, and each answer's codes, are exactly what the rules say for this history in t order.
    expected = replay([CashEvent(e["kind"], e["amount"], e["t"]) for e in events])
    for stored, codes in zip(events, expected):
        assert stored["codes"] == codes, f"t={stored['t']}: stored {stored['codes']}, the rules say {codes}"
        body = by_t[stored["t"]].body
        assert body == {"alert": bool(codes), "alert_codes": codes, "user_id": uid}, (stored["t"], body)
    assert db.alert_count(uid) == sum(len(codes) for codes in expected)
    raised = sorted(code for codes in expected for code in codes)
    assert raised, "the load raised no alert at all: the comparison above proved nothing"

    # Every refusal is one the books explain.
    balances_seen = {minor("200.00")}
    balance = minor("200.00")
    for stored in events:
        balance += stored["amount"] if stored["kind"] == "deposit" else -stored["amount"]
        assert balance >= 0, f"negative balance after t={stored['t']}"
        balances_seen.add(balance)
    for event in sent:
        if event.status == 409:
            error = event.body["error"]
            assert error["code"] == "insufficient_funds" and event.kind == "withdraw", event
            # The balance it was refused on is one the user really had, and short of the amount.
            shown = minor(re.search(r"(\d+\.\d{2})", error["message"]).group(1))
            assert shown in balances_seen and shown < event.amount_minor, (event, sorted(balances_seen)[:10])
        elif event.status == 422:
            assert (event.body["error"]["code"], event.body["error"]["field"]) == ("validation_failed", "t"), event
            # Refused because a larger t had been applied already.
            assert applied and applied[-1] > event.t, event
        elif event.status == 503:
            assert event.body["error"]["code"] == "unavailable", event
    assert db.balance(uid) == balance
    assert api.balance_minor(uid) == balance
    assert db.integer(NO_USER_BELOW_THEIR_LIMIT) == 0
    check_balance_chains(db, [uid])
    result = verify()
    assert result.returncode == 0, result.stdout + result.stderr

    # The race was real: transactions on the same user conflicted and were retried, or arrived out of order.
    retries = retries_by_request({e.request_id for e in sent if e.request_id})
    conflicts = sum(1 for count in retries.values() if count > 0)
    print(f"\n{len(sent)} events for one user in {took:.1f} s: {statuses}; alerts raised {dict(Counter(raised))}; "
          f"{conflicts} requests retried after a serialization failure ({sum(retries.values())} retries)")
    assert conflicts + statuses.get(422, 0) > 0, "no request conflicted with another: the test raced nothing"
    assert statuses.get(200, 0) >= len(sent) // 8, statuses


def test_concurrent_repeats_of_one_event_apply_it_once(api, db, new_user, base_url):
    """Many clients sending the same event under the same Idempotency-Key at once: one cash event, one set of
    alerts, one movement of money; the others are replays of the same answer."""
    user = new_user("500.00")
    uid = user["id"]
    for t in (1, 2):
        assert api.event("withdraw", "1.00", uid, t).json()["alert_codes"] == []
    key = f"race-{uuid.uuid4()}"
    answers, lock = [], threading.Lock()
    start = threading.Barrier(12)

    def client():
        own = Api(base_url)
        try:
            start.wait(timeout=30)
            response = own.event("withdraw", "150.00", uid, 3, headers={"Idempotency-Key": key})
            with lock:
                answers.append((response.status_code, response.json(), response.headers.get("Idempotency-Replayed")))
        finally:
            own.close()

    threads = [threading.Thread(target=client, daemon=True) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(answers) == 12
    assert {status for status, _, _ in answers} <= {200, 503}, answers
    applied = [(body, replayed) for status, body, replayed in answers if status == 200]
    assert applied and all(body == {"alert": True, "alert_codes": [30, 1100], "user_id": uid} for body, _ in applied)
    assert sum(1 for _, replayed in applied if replayed != "true") == 1, answers
    assert [(e["t"], e["codes"]) for e in db.cash_events(uid)] == [(1, []), (2, []), (3, [30, 1100])]
    assert db.alert_count(uid) == 2
    assert db.balance(uid) == 500_00 - 152_00
