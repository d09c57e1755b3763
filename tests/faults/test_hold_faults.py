"""Issue 26 under the fault suite's faults: the hold load of the end-to-end suite (tests/e2e/hold_load.py: holds placed,
captured whole and in part, voided and left to expire on a few hot payers, transfers drawing on the same balances,
requests repeated with their keys) while (a) workers are killed with kill -9, (b) PostgreSQL is stopped (fast
shutdown) and started again, (c) PostgreSQL is killed with SIGKILL and recovers; and (d) hold requests spooled
(store and forward) while PostgreSQL is down.

Afterwards every request whose answer said nothing (a 502, no answer, 503 outcome_unknown) is sent again with its
Idempotency-Key until the answer is definite, and then: every answer is one the contract gives or the fault
explains; every acknowledged capture is in the journal exactly once, as its hold says; no hold is captured twice
or both captured and voided; every transfer answered 201 is in the journal once; nobody's available balance is
below zero nor balance below minus the credit limit; every balance is what the answers add up to, the ledger's
money conserved, each user's movements chained, `tally verify` clean."""

from __future__ import annotations

import os
import signal
import time
import uuid
from dataclasses import dataclass

import pytest

from batch_load import ledger_total
from hold_load import HoldLoad, check_hold_load, judge_answers, settle
from outages import (crash_postgres, database_stopped, death_lines, kill_random_workers, pool_log, restore,
                     set_synchronous_commit, spool_status, spooling_pool, start_postgres, stop_postgres)
from tally_e2e import wait_for

THREADS = 8
PAYERS, PAYEES = 3, 4


@dataclass
class HoldStage:
    payers: list[int]
    payees: list[int]
    before: dict[int, int]
    total: int


@pytest.fixture
def hold_stage(new_user, db) -> HoldStage:
    payers = [new_user("200.00", credit_limit="20.00")["id"] for _ in range(PAYERS)]
    payees = [new_user("10.00")["id"] for _ in range(PAYEES)]
    return HoldStage(payers, payees, {user: db.balance(user) for user in payers + payees}, ledger_total(db))


def start_load(api, stage: HoldStage) -> HoldLoad:
    return HoldLoad(api.base_url, stage.payers, stage.payees, threads=THREADS, max_amount_minor=800).start()


def check_after_fault(api, db, verify, stage: HoldStage, load: HoldLoad, allowed: set) -> dict:
    before_settling = load.statuses()
    settled = settle(load)
    judge_answers(load, allowed=allowed)
    found = check_hold_load(api, db, verify, load, stage.before, stage.total, ledger_total)
    return {**found, "settled": settled, "statuses": before_settling}


def report(figures, title: str, found: dict, extra: str) -> None:
    figures(f"{title}: {found['requests']} requests ({found['statuses']}), {found['settled']} lost answers settled "
            f"with their keys; {found['holds']} holds: {found['captured']} captured, {found['voided']} voided, "
            f"{found['expired']} expired, {found['pending']} pending; {found['transfers']} transfers, "
            f"{found['batches']} batches ({found['batch items']} items applied); {extra}")


def test_holds_under_kill_9_of_workers_are_captured_once_and_keep_the_books(api, db, verify, stack, hold_stage,
                                                                            figures):
    """Every worker of the main lane killed at once, three times half a second apart, then a random one every
    300 ms for 3 s, under the hold load. Allowed: 502 or a broken connection for the requests they had in hand."""
    pool = stack
    supervisor, workers_before = pool.supervisor_pid(), pool.workers()
    log = pool_log()
    load = start_load(api, hold_stage)
    victims = []
    try:
        for _ in range(3):
            everyone = sorted(pool.workers())
            for victim in everyone:
                os.kill(victim, signal.SIGKILL)
            victims += everyone
            assert wait_for(lambda: len(pool.workers()) == len(workers_before), 15), pool.workers()
            time.sleep(0.5)
        victims += kill_random_workers(pool.workers, 3)
        time.sleep(1)
    finally:
        load.stop()
    assert pool.supervisor_pid() == supervisor
    assert wait_for(lambda: len(pool.workers()) == len(workers_before), 15), pool.workers()
    deaths = death_lines(log)
    assert all(any(f"(pid {victim}) was killed by signal 9" in line for line in deaths) for victim in victims)
    found = check_after_fault(api, db, verify, hold_stage, load, allowed={502, None})
    report(figures, f"hold faults (a), kill -9 of {len(victims)} workers", found, "")


def test_holds_with_the_database_stopped_are_captured_once_and_keep_the_books(api, db, verify, stack, hold_stage,
                                                                              figures):
    """PostgreSQL stopped (fast shutdown: open transactions rolled back) under the hold load, started 2 s later.
    Allowed: 503 (unavailable, or outcome_unknown when the pool cannot tell)."""
    pool = stack
    load = start_load(api, hold_stage)
    try:
        time.sleep(1)
        stop_postgres()
        time.sleep(2)
        start_postgres()
        time.sleep(2.5)
    finally:
        load.stop()
        restore(pool)
    found = check_after_fault(api, db, verify, hold_stage, load, allowed={503})
    report(figures, "hold faults (b), PostgreSQL stopped (fast) for 2 s", found, "")


def test_holds_with_the_database_killed_are_captured_once_and_keep_the_books(api, db, verify, stack, hold_stage,
                                                                             figures):
    """The postmaster killed with SIGKILL under the hold load, then started again (crash recovery), with
    synchronous_commit on for the test (as in test_resilience.py's SIGKILL test): every capture, void, hold and
    transfer acknowledged before the kill is there after it. Allowed: 503 (unavailable or outcome_unknown)."""
    pool = stack
    set_synchronous_commit(db, "on")
    try:
        time.sleep(0.5)
        assert db.value("SHOW synchronous_commit") == "on"
        load = start_load(api, hold_stage)
        try:
            time.sleep(1.5)
            killed = crash_postgres()
            start_postgres()
            time.sleep(2.5)
        finally:
            load.stop()
    finally:
        restore(pool)
        set_synchronous_commit(db, None)
    acknowledged = [call for call in load.snapshot()
                    if any(answer.applied and answer.finished < killed for answer in call.answers)]
    found = check_after_fault(api, db, verify, hold_stage, load, allowed={503})
    report(figures, "hold faults (c), PostgreSQL killed (SIGKILL)", found,
           f"{len(acknowledged)} requests acknowledged before the kill, all in the books after crash recovery")


# --- (d) store and forward: holds, captures, voids and reversals spooled while the database is down ------------------

def test_holds_captures_voids_and_reversals_spooled_in_an_outage_are_applied_or_refused_once(pool, api, db, new_user,
                                                                                            verify):
    """With the pool's spool and PostgreSQL stopped, keyed hold requests are answered 202 pending and, once the
    database is back, applied in the order they were accepted or refused by the same rules as ever: a capture and
    then a void of the same hold (the capture applies, the void answers hold_not_pending: never both); a void and
    then a capture of another; a capture of a hold that expired during the outage (hold_expired); a new hold that
    the payer's available balance covers and one it does not; a reversal of a transfer. Every one in the books
    exactly once, `tally verify` clean."""
    payer, payee, other = new_user("50.00"), new_user(), new_user("5.00")
    first = api.hold(payer["id"], payee["id"], "10.00").json()
    second = api.hold(payer["id"], payee["id"], "5.00").json()
    short = api.hold(payer["id"], payee["id"], "3.00", expires_in=1).json()
    paid = api.transfer(other["id"], payee["id"], "4.00").json()
    # Available to the payer now: 50.00 - 18.00 held = 32.00 (and 35.00 once the short hold expires).
    run = uuid.uuid4().hex[:8]
    requests_in_order = [
        ("capture first", f"/api/holds/{first['id']}/capture", {"amount": "6.00"}),
        ("void first", f"/api/holds/{first['id']}/void", {}),
        ("void second", f"/api/holds/{second['id']}/void", {}),
        ("capture second", f"/api/holds/{second['id']}/capture", {}),
        ("capture short", f"/api/holds/{short['id']}/capture", {}),
        ("new hold", "/api/holds", {"from_user_id": payer["id"], "to_user_id": payee["id"], "amount": "30.00",
                                    "expires_in": 600, "memo": f"spooled-{run}"}),
        ("new hold too big", "/api/holds", {"from_user_id": payer["id"], "to_user_id": payee["id"],
                                            "amount": "30.00", "expires_in": 600}),
        ("reversal", f"/api/transfers/{paid['id']}/reversals", {"amount": "1.50"}),
    ]
    keys = {name: f"spooled-{run}-{n}" for n, (name, _, _) in enumerate(requests_in_order)}
    with spooling_pool(pool):
        assert api.get("/api/me").status_code == 200   # a token the database accepted: spooled in an outage
        with database_stopped():
            for name, path, body in requests_in_order:
                response = api.post(path, body, headers={"Idempotency-Key": keys[name]})
                assert response.status_code == 202, (name, response.status_code, response.text)
                assert response.json() == {"status": "pending", "idempotency_key": keys[name]}, response.text
            assert wait_for(lambda: spool_status(api)["depth"] == len(requests_in_order), 10), spool_status(api)
            time.sleep(1.2)        # the short hold expires while the database is down
        assert wait_for(lambda: spool_status(api)["depth"] == 0, 60), spool_status(api)
        outcomes = {name: api.get(f"/api/requests/{key}").json() for name, key in keys.items()}

    def refused(name: str) -> str:
        assert outcomes[name]["status"] == "refused", (name, outcomes[name])
        return outcomes[name]["error"]["code"]

    assert outcomes["capture first"]["status"] == "applied", outcomes["capture first"]
    capture = outcomes["capture first"]["movement"]
    assert (capture["hold_id"], capture["amount_minor"], capture["from_user_id"]) == (first["id"], 600, payer["id"])
    assert refused("void first") == "hold_not_pending"
    assert outcomes["void second"] == {"status": "applied", "idempotency_key": keys["void second"],
                                       "hold_id": second["id"]}
    assert refused("capture second") == "hold_not_pending"
    assert refused("capture short") == "hold_expired"
    assert outcomes["new hold"]["status"] == "applied", outcomes["new hold"]
    placed = api.get(f"/api/holds/{outcomes['new hold']['hold_id']}").json()
    assert (placed["status"], placed["amount_minor"], placed["memo"]) == ("pending", 3000, f"spooled-{run}")
    assert refused("new hold too big") == "insufficient_funds"
    assert outcomes["reversal"]["status"] == "applied", outcomes["reversal"]
    assert (outcomes["reversal"]["movement"]["reversal_of"], outcomes["reversal"]["movement"]["amount_minor"]) == (
        paid["id"], 150)

    holds = {hold["id"]: hold for hold in api.all_pages(f"/api/users/{payer['id']}/holds", 100)}
    assert {hold_id: hold["status"] for hold_id, hold in holds.items()} == {
        first["id"]: "captured", second["id"]: "voided", short["id"]: "expired", placed["id"]: "pending"}
    assert holds[first["id"]]["transfer_id"] == capture["id"]
    shown = api.user(payer["id"])
    assert (shown["balance_minor"], shown["held_minor"], shown["available_minor"]) == (4400, 3000, 1400)
    assert (api.balance_minor(payee["id"]), api.balance_minor(other["id"])) == (600 + 400 - 150, 100 + 150)
    assert db.integer(f"SELECT count(*) FROM movements WHERE hold_id = {first['id']}") == 1
    assert db.integer(f"SELECT count(*) FROM movements WHERE reversal_of = {paid['id']}") == 1
    result = verify()
    assert result.returncode == 0, result.stdout + result.stderr
