"""Issue 25 under the fault suite's faults: large batches (200 to 1,000 items) beside the bank load of
test_resilience.py while (a) workers are killed with kill -9, (b) the database is stopped (fast shutdown) and
(c) the database is killed with SIGKILL, each fault made once a batch is inside its transaction; and (d) a row
held for seconds by another session under a batch that touches it.

The batch load: BATCH_CLIENTS clients send batches one after another, each item paying from one of the bank
load's hot users to another of its users (or a deposit to, a withdrawal from, a hot user), atomic and not; one
batch in three with an Idempotency-Key and no item keys (all transfers, which the server applies as a set), one
with item keys only, one with both; every fourth atomic batch ends
with an item that must be refused (a payment from a user who is never paid anything: the batch is refused whole
at that index, after doing all the others), and every fourth other batch has one such item in its middle. A
fault is made once a batch is certainly between its first write and its end (mid_batch: a session holds the
batches' turn inside a transaction that has written).

After each fault, besides the bank load's own checks (bank_load.py):
- every batch answer is one the contract gives or the fault explains: nginx's 502 for a killed worker's
  request, the pool's 503 only from the fault until a second after the database's return (never for
  contention or a lock timeout while the database is up); the same for the bank load's transfers;
- every batch without a definite answer (502, 503 unavailable or outcome_unknown) is in the journal wholly or
  not at all (an atomic one with an item made to be refused not at all; one answered only 503 unavailable not
  at all); then it is settled by sending it again with its Idempotency-Key (one without: the same items, with
  their keys) until the answer is definite, and that answer is judged like any other;
- every applied or replayed item of every answer is in the journal exactly once, with the movement id and the
  batch id answered; nothing else of the batches is; GET /api/batches/{id} agrees with each answer;
- every user's balance is what the answers add up to, the ledger's total unchanged, no negative balance, each
  user's movements chain, `tally verify` clean."""

from __future__ import annotations

import os
import random
import signal
import threading
import time
import uuid
from dataclasses import dataclass

import pytest

from bank_load import HotLoad, Stage, count, judge_answers, settle, summary, waiting_behind
from batch_load import (OVERDRAFT, Batch, Item, Maker, batch_changes, check_batch_records, check_journal,
                        check_wholly_or_not_at_all, judge_answer, judge_replay, ledger_total, pool_counters,
                        send_batch, settle_batches)
from outages import (crash_postgres, death_lines, kill_random_workers, pool_log, restore, set_synchronous_commit,
                     start_postgres, stop_postgres)
from tally_e2e import (NO_USER_BELOW_THEIR_LIMIT, Api, RowHolder, check_balance_chains, check_journal_against_answers,
                       wait_for)

BATCH_CLIENTS = 3
SMALLEST, LARGEST = 200, 1000
# At most 1.00 an item: the hot users' 100,000.00 each outlast any run, so nothing is refused for want of money
# but what is made to be.
MAX_ITEM_MINOR = 100
HELD_ITEMS = 500
BATCH_RETRY_PAUSE_SECONDS = 0.5
# After the database's return the pool serves again within a second (test_resilience.py's bound): a 503 to a
# request sent later than that is not the fault's.
RECOVERY_SECONDS = 1.0
# The batches' turn: the advisory lock every batch holds from before its transaction's snapshot to its end
# (Statement.lockBatches, PostgresLedger+Batch.swift).
BATCH_TURN = (1952541042, 1)


class BatchLoad:
    """Batches from BATCH_CLIENTS clients until stopped (see the module's docstring)."""

    def __init__(self, base_url: str, stage: Stage, pauper: int):
        self.base_url = base_url
        self.run = uuid.uuid4().hex[:10]
        self.prefix = f"fault-batch-{self.run}-"
        self.stage = stage
        self.pauper = pauper
        self.batches: list[Batch] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._client, args=(n,), daemon=True) for n in range(BATCH_CLIENTS)]

    def snapshot(self) -> list[Batch]:
        with self._lock:
            return list(self.batches)

    def add(self, batch: Batch) -> None:
        with self._lock:
            self.batches.append(batch)

    def start(self, warm_up: int = 2) -> "BatchLoad":
        """Starts the clients and returns once `warm_up` batches are applied."""
        for thread in self._threads:
            thread.start()
        def applied() -> int:
            return sum(1 for batch in self.snapshot() for answer in batch.answers if answer.status in (200, 201))

        if not wait_for(lambda: applied() >= warm_up, 120, 0.1):
            self.stop()
            raise AssertionError(f"the batch load did not get going: {self.statuses()}")
        return self

    def stop(self) -> list[Batch]:
        self._stop.set()
        for thread in self._threads:
            thread.join(180)
        assert not any(thread.is_alive() for thread in self._threads), "a batch client hangs"
        return self.snapshot()

    def statuses(self) -> dict:
        found: dict = {}
        for batch in self.snapshot():
            for answer in batch.answers:
                label = answer.status if answer.status != 503 else f"503 {answer.code}"
                found[label] = found.get(label, 0) + 1
        return found

    def _client(self, number: int) -> None:
        api = Api(self.base_url)
        maker = Maker(random.Random(f"{self.run}-{number}"), self.prefix, self.stage.hot, self.stage.users,
                      self.pauper, MAX_ITEM_MINOR)
        n = 0
        try:
            while not self._stop.is_set():
                size = maker.chooser.randint(SMALLEST, LARGEST)
                atomic = n % 2 == 0
                refused = {}
                if n % 8 == 0:
                    refused = {size - 1: OVERDRAFT}
                elif n % 8 == 1:
                    refused = {size // 2: OVERDRAFT}
                # One batch in three without item keys (all transfers, applied as a set), always with the
                # request's key; one in three with item keys only; the rest with both.
                batch = maker.batch(f"{number}-{n}", size, atomic=atomic, keyed=n % 3 != 2, item_keys=n % 3 != 1,
                                    refused=refused)
                self.add(batch)
                answer = send_batch(api, batch)
                n += 1
                if answer.status == 503:
                    # Told to come back later, a batch client waits longer than the bank load's: every batch
                    # refused while the database is away is sent again to settle it, hundreds of items each.
                    time.sleep(BATCH_RETRY_PAUSE_SECONDS)
        finally:
            api.close()


def mid_batch(db) -> bool:
    """Whether a batch is between its first write and its end: a session inside a transaction that has an id (it
    has written: its key claimed, an account moved, a row taken) and either holds the batches' turn (a batch of
    many accounts) or is running a batch's own statement (tally_batch_transfers, or the hold of a batch's rows
    in id order before it goes item by item)."""
    return db.integer(
        "SELECT count(*) FROM pg_stat_activity a WHERE a.backend_xid IS NOT NULL AND ("
        "a.query LIKE '%tally_batch_transfers%' OR a.query LIKE '%id = ANY($1) ORDER BY id FOR NO KEY UPDATE%' "
        "OR EXISTS (SELECT FROM pg_locks l WHERE l.pid = a.pid AND l.locktype = 'advisory' "
        f"AND l.classid = {BATCH_TURN[0]} AND l.objid = {BATCH_TURN[1]} AND l.objsubid = 2 AND l.granted))") > 0


def wait_until_mid_batch(db, batch_load: "BatchLoad") -> None:
    assert wait_for(lambda: mid_batch(db), 60, 0.02), f"no batch seen inside its transaction: {batch_load.statuses()}"


@dataclass
class BatchStage:
    """The bank load's users (Stage), a user who is never paid anything, three users for batches beside the
    load, and everyone's balances and the ledger's total before the fault."""
    stage: Stage
    pauper: int
    payer: int
    held: int
    free: int
    before: dict[int, int]
    total: int

    @property
    def users(self) -> list[int]:
        return self.stage.users + [self.pauper, self.payer, self.held, self.free]


@pytest.fixture
def batch_stage(stage, new_user, db) -> BatchStage:
    # Made in this order, so that the held payee's id lies between the payer's and the other payee's.
    pauper, payer, held, free = new_user()["id"], new_user("100.00")["id"], new_user()["id"], new_user()["id"]
    users = stage.users + [pauper, payer, held, free]
    return BatchStage(stage, pauper, payer, held, free, {user: db.balance(user) for user in users}, ledger_total(db))


def judge_definite_batch_answers(batches: list[Batch]) -> None:
    """Every definite answer a batch got is what the contract says (and a replay, the first answer again)."""
    for batch in batches:
        for answer in batch.answers:
            if answer.definite:
                judge_answer(batch, answer, overdrafts=False)
                if answer.replayed:
                    judge_replay(batch, answer)


def judge_other_batch_answers(batches: list[Batch], allowed: set[int]) -> None:
    """Every answer that is not definite is a 5xx the fault explains: nginx's 502 for a killed worker's request,
    the pool's 503 while the database is away (never one for contention)."""
    for batch in batches:
        for answer in batch.answers:
            if answer.definite:
                continue
            if answer.status is None and 502 in allowed and "IncompleteRead" in (answer.error or ""):
                # A worker killed while it wrote a long answer: nginx had passed on its head and part of its body,
                # so the client sees the connection break instead of a 502. A lost answer all the same, settled
                # by the batch's key below.
                continue
            assert answer.status in allowed, (batch.name, answer.status, answer.body, answer.error)
            if answer.status == 502:
                assert answer.code == "bad_gateway", answer.body
            else:
                assert answer.code in ("unavailable", "outcome_unknown"), answer.body
                message = answer.body["error"]["message"]
                assert "conflicting requests" not in message, f"{batch.name}: a 503 for contention: {message}"
                if answer.code == "unavailable":
                    assert (answer.retry_after or "").isdigit(), f"503 without Retry-After: {answer.body}"


def judge_outage_window(shots, batches: list[Batch], fault: float, up: float) -> None:
    """503s only for requests the outage explains: answered after the fault began and sent before a second
    after the database's return (pg_ctl start returned)."""
    def outside(started: float, finished: float) -> bool:
        return finished < fault or started > up + RECOVERY_SECONDS

    odd = [("transfer", shot.memo, round(shot.started - fault, 3), shot.body) for shot in shots
           if shot.status == 503 and outside(shot.started, shot.finished)]
    odd += [("batch", batch.name, round(answer.started - fault, 3), answer.body) for batch in batches
            for answer in batch.answers if answer.status == 503 and outside(answer.started, answer.finished)]
    assert not odd, f"{len(odd)} answers 503 while the database was up (sent at seconds from the fault): {odd[:4]}"


def check_after_fault(api, db, verify, stage: BatchStage, load: HotLoad, batch_load: BatchLoad, *,
                      allowed: set[int], outage: tuple[float, float] | None = None) -> dict:
    """The checks of the module's docstring, and the bank load's; `outage`: when the fault began and when the
    database was back (pg_ctl start returned), for the 503s. The journal and the books are checked even when an
    answer breaks the rules, and those failures reported after them, so that a failure tells both. Returns
    figures for the report."""
    shots, batches = load.shots, batch_load.snapshot()
    judge_definite_batch_answers(batches)
    broken: list[str] = []
    rules = [lambda: judge_answers(shots, allowed), lambda: judge_other_batch_answers(batches, allowed)]
    if outage is not None:
        rules.append(lambda: judge_outage_window(shots, batches, *outage))
    for rule in rules:
        try:
            rule()
        except AssertionError as failure:
            broken.append(str(failure).split("\n")[0])
    before_settling = check_wholly_or_not_at_all(db, batch_load.prefix, batches)
    # The bank load's transfers without a definite answer: asked again with their keys, each then a 201.
    lost = [shot for shot in shots if shot.status in (None, 502)
            or (shot.status == 503 and (shot.body or {}).get("error", {}).get("code") == "outcome_unknown")]
    singles_applied_before = settle(load.base_url, lost)
    check_journal_against_answers(load.load, db)
    settled = settle_batches(api, batches)
    entries = check_journal(db, batch_load.prefix, batches)
    records = check_batch_records(api, batches)

    users = stage.users
    changes = batch_changes(batches, users)
    for shot in shots:
        if shot.status == 201:
            changes[shot.from_id] -= shot.amount_minor
            changes[shot.to_id] += shot.amount_minor
    after = {user: db.balance(user) for user in users}
    assert all(balance >= 0 for balance in after.values()), after
    assert after == {user: stage.before[user] + changes[user] for user in users}, (
        "a balance is not what the answers add up to")
    assert after[stage.pauper] == 0
    assert ledger_total(db) == stage.total, "money was made or lost"
    assert db.integer(NO_USER_BELOW_THEIR_LIMIT) == 0
    check_balance_chains(db, users)
    result = verify()
    assert result.returncode == 0, result.stdout + result.stderr
    assert not broken, "the journal and the books are right, but answers broke the rules:\n" + "\n".join(broken)
    return {"batches": len(batches), "items": sum(len(batch.items) for batch in batches), "applied": len(entries),
            "records": records, "wholly": before_settling["wholly"], "not at all": before_settling["not at all"],
            "settled": settled["settled"], "settled applied before": settled["applied before"],
            "singles lost": len(lost), "singles applied before": singles_applied_before}


def in_flight(batches: list[Batch], moment: float) -> int:
    """How many batch requests had been sent and not yet answered at that moment (the client's clock)."""
    return sum(1 for batch in batches for answer in batch.answers if answer.started < moment < answer.finished)


def report(figures, title: str, answered: str, batch_load: BatchLoad, found: dict, counters: tuple[dict, dict],
           extra: str) -> None:
    """`answered`: the bank load's answers (summary(), taken before settling sends the lost ones again)."""
    retries = counters[1]["serialization_retries"] - counters[0]["serialization_retries"]
    figures(f"{title}: batches {batch_load.statuses()} ({found['batches']} batches, {found['items']} items, "
            f"{found['applied']} applied, {found['records']} batch records read back); {extra}; "
            f"before settling, {found['wholly']} unanswered batches were in the journal wholly and "
            f"{found['not at all']} not at all; {found['settled']} settled by asking again, "
            f"{found['settled applied before']} of them applied before; bank load {answered}, "
            f"{found['singles lost']} lost answers settled ({found['singles applied before']} applied before); "
            f"serialization retries {retries} (the pool's counters, across its restarts only if it kept them)")


# --- (a) workers killed with kill -9 --------------------------------------------------------------------------------

def test_batches_under_kill_9_of_workers_are_applied_wholly_or_not_at_all(api, db, verify, stack, batch_stage,
                                                                          figures):
    """Every worker killed at once when a batch is inside its transaction (again, up to five times, until a
    batch is answered 502), then a random worker every 300 ms for 5 s, under the bank load and the batch load.
    Allowed: 502 for the requests killed workers had in hand, nothing else."""
    pool = stack
    supervisor, workers_before, lane_before = pool.supervisor_pid(), pool.workers(), pool.batch_workers()
    log = pool_log()
    counters_before = pool_counters(api)
    stage = batch_stage

    def all_replaced() -> bool:
        return len(pool.workers()) == len(workers_before) and len(pool.batch_workers()) == len(lane_before)
    load = HotLoad(api.base_url, stage.stage.hot, stage.stage.others).start()
    batch_load = BatchLoad(api.base_url, stage.stage, stage.pauper).start()
    victims, kills = [], []

    def batches_cut() -> int:
        return sum(1 for batch in batch_load.snapshot() for answer in batch.answers if answer.status == 502)

    try:
        for _ in range(5):
            wait_until_mid_batch(db, batch_load)
            # Both lanes: the batches are the batch lane's workers', the bank load's transfers the main lane's.
            everyone = sorted(pool.workers() | pool.batch_workers())
            kills.append(time.monotonic())
            for victim in everyone:
                os.kill(victim, signal.SIGKILL)
            victims += everyone
            assert wait_for(all_replaced, 15), pool.workers()
            if wait_for(batches_cut, 5, 0.1):
                break
        assert batches_cut(), "five kills of every worker, each with a batch inside its transaction, cut no batch"
        victims += kill_random_workers(lambda: pool.workers() | pool.batch_workers(), 5, kills=kills)
        load.run_for(1.5)
    finally:
        batch_load.stop()
        shots = load.stop()

    assert pool.supervisor_pid() == supervisor
    assert wait_for(all_replaced, 15), pool.workers()
    deaths = death_lines(log)
    assert all(any(f"(pid {victim}) was killed by signal 9" in line for line in deaths) for victim in victims)
    batches = batch_load.snapshot()
    cut = batches_cut()
    lost = count(shots, 502, None)
    assert cut + lost <= len(victims), f"{cut} batches and {lost} transfers lost to {len(victims)} kills"
    answered = summary(shots)
    found = check_after_fault(api, db, verify, stage, load, batch_load, allowed={502})
    report(figures, f"batch faults (a), kill -9 of {len(victims)} workers", answered, batch_load, found,
           (counters_before, pool_counters(api)),
           f"{cut} batches answered 502, {sum(in_flight(batches, moment) for moment in kills)} batch requests in "
           f"flight at the kills")


# --- (b) the database stopped (fast shutdown) mid-batch ------------------------------------------------------------

def test_batches_with_the_database_stopped_mid_batch_are_applied_wholly_or_not_at_all(api, db, verify, stack,
                                                                                    batch_stage, figures):
    """PostgreSQL stopped (fast shutdown: open transactions rolled back, sessions ended) when a batch is inside
    its transaction, under the loads, started again 2 s later. Allowed: 503 (unavailable, or outcome_unknown
    when the pool cannot tell), only for the outage; the batches cut by the stop are answered so."""
    pool = stack
    stage = batch_stage
    counters_before = pool_counters(api)
    load = HotLoad(api.base_url, stage.stage.hot, stage.stage.others).start()
    batch_load = BatchLoad(api.base_url, stage.stage, stage.pauper).start()
    try:
        load.run_for(1.5)
        wait_until_mid_batch(db, batch_load)
        stop_called = time.monotonic()
        stop_postgres()
        load.run_for(2)
        up = start_postgres()
        load.run_for(2.5)
    finally:
        batch_load.stop()
        shots = load.stop()
        restore(pool)

    batches = batch_load.snapshot()
    cut = [answer for batch in batches for answer in batch.answers
           if answer.started < stop_called < answer.finished and not answer.definite]
    assert cut, "no batch in flight was cut by the stop"
    answered = summary(shots)
    found = check_after_fault(api, db, verify, stage, load, batch_load, allowed={503}, outage=(stop_called, up))
    report(figures, "batch faults (b), PostgreSQL stopped (fast) mid-batch", answered, batch_load, found,
           (counters_before, pool_counters(api)),
           f"{in_flight(batches, stop_called)} batch requests in flight when the stop began, "
           f"{len(cut)} of them answered {sorted({(a.status, a.code) for a in cut})}")


# --- (c) the database killed with SIGKILL mid-batch ----------------------------------------------------------------

def test_batches_with_the_database_killed_mid_batch_are_applied_wholly_or_not_at_all(api, db, verify, stack,
                                                                                   batch_stage, figures):
    """The postmaster killed with SIGKILL when a batch is inside its transaction, under the loads, then started
    again (crash recovery). Every batch acknowledged before the kill is in the journal after it, as answered.
    With synchronous_commit on for the test's duration, as in test_resilience.py's SIGKILL test (the throwaway
    cluster's off would lose acknowledged commits by design). Allowed: 503 (unavailable or outcome_unknown),
    only for the outage."""
    pool = stack
    stage = batch_stage
    set_synchronous_commit(db, "on")
    try:
        time.sleep(0.5)  # every session has taken the new setting by its next statement
        assert db.value("SHOW synchronous_commit") == "on"
        counters_before = pool_counters(api)
        load = HotLoad(api.base_url, stage.stage.hot, stage.stage.others).start()
        batch_load = BatchLoad(api.base_url, stage.stage, stage.pauper).start()
        try:
            load.run_for(1.5)
            wait_until_mid_batch(db, batch_load)
            killed = crash_postgres()
            up = start_postgres()
            load.run_for(2.5)
        finally:
            batch_load.stop()
            shots = load.stop()
    finally:
        restore(pool)
        set_synchronous_commit(db, None)

    batches = batch_load.snapshot()
    cut = [answer for batch in batches for answer in batch.answers
           if answer.started < killed < answer.finished and not answer.definite]
    assert cut, "no batch in flight was cut by the kill"
    acknowledged = [batch for batch in batches
                    if any(answer.status in (200, 201) and answer.finished < killed for answer in batch.answers)]
    answered = summary(shots)
    found = check_after_fault(api, db, verify, stage, load, batch_load, allowed={503}, outage=(killed, up))
    report(figures, "batch faults (c), PostgreSQL killed (SIGKILL) mid-batch", answered, batch_load, found,
           (counters_before, pool_counters(api)),
           f"{len(acknowledged)} batches acknowledged before the kill, all in the journal after crash recovery; "
           f"{in_flight(batches, killed)} batch requests in flight at the kill, {len(cut)} of them answered "
           f"{sorted({(a.status, a.code) for a in cut})}")


# --- (d) a row held for seconds under a batch ------------------------------------------------------------------------

def send_in_background(base_url: str, batch: Batch) -> threading.Thread:
    def client() -> None:
        api = Api(base_url)
        try:
            send_batch(api, batch)
        finally:
            api.close()

    thread = threading.Thread(target=client, daemon=True)
    thread.start()
    return thread


def test_a_row_held_for_seconds_stalls_the_batch_that_touches_it_until_released(api, db, verify, stack, batch_stage,
                                                                                 figures):
    """A psql session holds one user's row for 3 s (an operator's session, a long transaction) while a keyed
    atomic batch of HELD_ITEMS transfers pays that user last, and while another batch, among other users, is
    sent. Like a single movement (test_resilience.py::test_rows_held_for_seconds_stall_only_their_own_transfers),
    the batch waits for the row and is applied once it is free: 201, each item in the journal once; the other
    batch is applied too. No 503."""
    stage = batch_stage
    prefix = f"held-batch-{uuid.uuid4().hex[:10]}-"
    name = f"{prefix}held"
    held = Batch(name, True, [Item("transfer", f"{name}-{i}", f"{name}-{i}", 1, stage.payer,
                                   stage.held if i == HELD_ITEMS - 1 else stage.free) for i in range(HELD_ITEMS)],
                 key=name)
    other_name = f"{prefix}other"
    other = Batch(other_name, True, [Item("transfer", f"{other_name}-{i}", f"{other_name}-{i}", 1,
                                          stage.stage.hot[0], stage.stage.others[0]) for i in range(10)],
                  key=other_name)
    holder = RowHolder(db.conninfo, [stage.held], f"held-batch-holder-{prefix}")
    threads = []
    try:
        assert wait_for(lambda: holder.holds(db), 10), "the row was not held"
        threads.append(send_in_background(api.base_url, held))
        seen_waiting = wait_for(lambda: waiting_behind(db, holder) > 0 or held.answers, 10)
        threads.append(send_in_background(api.base_url, other))
        time.sleep(3)
        answered_while_held = [(answer.status, answer.body) for answer in held.answers]
        holder.commit()
    finally:
        holder.commit()
        for thread in threads:
            thread.join(60)
    assert seen_waiting and not answered_while_held, (
        f"the batch did not wait for the held row: answered {answered_while_held or held.answers[0].body}")
    for batch in (held, other):
        assert [answer.status for answer in batch.answers] == [201], [(a.status, a.body) for a in batch.answers]
        judge_answer(batch, batch.answers[0], overdrafts=False)
    check_journal(db, prefix, [held, other])
    check_batch_records(api, [held, other])
    result = verify()
    assert result.returncode == 0, result.stdout + result.stderr
    figures(f"batch faults (d), a row held 3 s under a {HELD_ITEMS}-item batch: it waited and was applied once "
            f"the row was free; another batch sent meanwhile was applied")
