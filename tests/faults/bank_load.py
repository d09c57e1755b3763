"""The bank load of the fault suite and the checks made after every fault (see test_resilience.py): concurrent
keyed transfers through nginx, each debiting one of a few hot users, and the books, the journal and the answers
judged afterwards. test_resilience.py runs it alone under each fault; test_batch_faults.py runs batches beside it."""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass

import requests

from tally_e2e import (TIMEOUT, Api, Load, Outcome, RowHolder, check_balance_chains, check_hot_users,
                       check_journal_against_answers, text)

# The load: this many client threads, paying from HOT_USERS users to any other of the load's users.
THREADS = 12
HOT_USERS = 3
OTHER_USERS = 3
MAX_AMOUNT_MINOR = 500
# How long a load client waits after a 503 before its next request.
RETRY_PAUSE_SECONDS = 0.05
# Far more than the load can move (a few thousand transfers of at most 5.00 each): no transfer may be
# refused for want of funds, so any 409 is a failure.
HOT_BALANCE = "100000.00"

# --- the load ------------------------------------------------------------------------------------------------

@dataclass
class Shot(Outcome):
    """One transfer of the load: what it asked and got (Outcome) and when, by the client's monotonic clock."""
    started: float = 0.0
    finished: float = 0.0
    request_id: str | None = None
    retry_after: str | None = None


def send(api: Api, shot: Shot, timeout=TIMEOUT) -> None:
    """Sends the transfer with its Idempotency-Key and records the answer (like Load.send, with timings);
    `timeout`: requests' (connect, read) timeout, after which the request counts as unanswered."""
    shot.started = time.monotonic()
    try:
        response = api.transfer(shot.from_id, shot.to_id, text(shot.amount_minor), shot.memo,
                                headers={"Idempotency-Key": shot.key}, timeout=timeout)
    except requests.RequestException as error:
        shot.finished = time.monotonic()
        shot.status, shot.body, shot.error = None, None, repr(error)
        return
    shot.finished = time.monotonic()
    shot.status = response.status_code
    shot.replayed = response.headers.get("Idempotency-Replayed") == "true"
    shot.request_id = response.headers.get("X-Request-Id")
    shot.retry_after = response.headers.get("Retry-After")
    try:
        shot.body = response.json()
    except ValueError:
        shot.body, shot.error = None, f"not JSON: {response.text[:200]!r}"


class HotLoad:
    """Transfers from THREADS clients until stopped, each from one of the hot users to another of the load's
    users, each with a unique memo and Idempotency-Key. `load` (a tally_e2e.Load) holds the outcomes and the
    memo prefix that check_journal_against_answers works on. `timeout`: each request's, as send's."""

    def __init__(self, base_url: str, hot: list[int], others: list[int], threads: int = THREADS,
                 timeout=TIMEOUT):
        self.base_url = base_url
        self.timeout = timeout
        self.hot = hot
        self.users = hot + others
        self.load = Load(base_url, self.users, with_keys=True)
        self._threads = [threading.Thread(target=self._client, args=(n,), daemon=True) for n in range(threads)]
        self._stop = threading.Event()

    @property
    def shots(self) -> list[Shot]:
        with self.load._lock:
            return list(self.load.outcomes)

    def start(self, warm_up: int = 100) -> "HotLoad":
        """Starts the clients and returns once `warm_up` transfers are answered 201."""
        for thread in self._threads:
            thread.start()
        deadline = time.monotonic() + 60
        while sum(1 for shot in self.shots if shot.status == 201) < warm_up:
            if time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"the load did not get going: {self.load.by_status()}")
            time.sleep(0.05)
        return self

    def stop(self) -> list[Shot]:
        self._stop.set()
        for thread in self._threads:
            thread.join(60)
        assert not any(thread.is_alive() for thread in self._threads), "a load client hangs"
        return self.shots

    def run_for(self, seconds: float) -> None:
        time.sleep(seconds)

    def _client(self, number: int) -> None:
        api = Api(self.base_url)
        chooser = random.Random(f"{self.load.run_id}-{number}")
        i = 0
        try:
            while not self._stop.is_set():
                from_id = chooser.choice(self.hot)
                to_id = chooser.choice([user for user in self.users if user != from_id])
                shot = Shot(memo=f"{self.load.memo_prefix}{number}-{i}", from_id=from_id, to_id=to_id,
                            amount_minor=chooser.randint(1, MAX_AMOUNT_MINOR), key=f"{self.load.run_id}-{number}-{i}")
                send(api, shot, self.timeout)
                with self.load._lock:
                    self.load.outcomes.append(shot)
                    self.load.completed += 1
                i += 1
                if shot.status == 503:
                    # Told to come back later (Retry-After), a client waits. These wait less than asked, to
                    # make many requests while the database is away, but do not spin: a dozen threads asking
                    # again at once would take the machine's two cores from the pool they measure.
                    time.sleep(RETRY_PAUSE_SECONDS)
        finally:
            api.close()


def count(shots: list[Shot], *statuses) -> int:
    return sum(1 for shot in shots if shot.status in statuses)


def relative(seconds: float) -> str:
    """"120 ms after" or "30 ms before" (pg_ctl -w polls, so the database may serve before pg_ctl returns)."""
    return f"{abs(seconds) * 1000:.0f} ms {'after' if seconds >= 0 else 'before'}"


def summary(shots: list[Shot]) -> str:
    """"N requests (201: a, 503: b)", the 503s for contention counted apart as "busy"."""
    statuses: dict = {}
    for shot in shots:
        status = "503 busy" if is_busy(shot) else shot.status
        statuses[status] = statuses.get(status, 0) + 1
    by_status = ", ".join(f"{status}: {n}" for status, n in sorted(statuses.items(), key=lambda item: str(item[0])))
    return f"{len(shots)} requests ({by_status})"


def is_busy(shot: Shot) -> bool:
    """A 503 for contention, not for the fault: the transfer failed to serialize on every attempt the pool's
    retry policy allows (10), and nothing was applied (docs/api.md: 503 "the request kept conflicting with others").
    Told apart from the database's absence by its message."""
    return (shot.status == 503 and isinstance(shot.body, dict)
            and "conflicting requests" in shot.body.get("error", {}).get("message", ""))


def all_served(shots: list[Shot]) -> bool:
    """Every request served, but for contention's 503s (see is_busy)."""
    return all(shot.status == 201 or is_busy(shot) for shot in shots)


# --- the checks made after every fault -------------------------------------------------------------------------

@dataclass
class Books:
    """The totals a load of transfers must leave as they were."""
    load_users: int        # the load's users' balances
    all_users: int         # every user's stored balance
    outside_world: int     # the outside world's balance, from the journal (deposits in are negative)


def read_books(db, users: list[int]) -> Books:
    ids = ",".join(str(int(user)) for user in users)
    row = db.rows(
        f"SELECT (SELECT sum(balance) FROM users WHERE id IN ({ids})), "
        "(SELECT COALESCE(sum(balance), 0) FROM users WHERE NOT is_system), "
        "(SELECT COALESCE(sum(CASE WHEN m.credit_user_id = s.id THEN m.amount ELSE -m.amount END), 0) "
        " FROM movements m JOIN users s ON s.is_system AND s.id IN (m.debit_user_id, m.credit_user_id))")[0]
    return Books(*(int(value) for value in row))


@dataclass
class Stage:
    """The load's users and the books before the fault."""
    hot: list[int]
    others: list[int]
    books: Books

    @property
    def users(self) -> list[int]:
        return self.hot + self.others



# Contention's 503s (is_busy) are allowed whatever the fault, up to one in this many requests (at least one):
# three hot rows under SERIALIZABLE, four transactions at a time, make a transfer fail to serialize ten times
# in a row about once in 15,000 (seen in make test); many more would mean the retry policy no longer copes.
BUSY_AT_MOST_ONE_IN = 1000


def judge_answers(shots: list[Shot], allowed: set[int]) -> None:
    """Every answer is a 201, one of the `allowed` 5xx, or a rare 503 for contention, with the JSON error that
    status must carry."""
    busy = [shot for shot in shots if is_busy(shot)]
    assert len(busy) <= max(1, len(shots) // BUSY_AT_MOST_ONE_IN), (
        f"{len(busy)} of {len(shots)} transfers failed to serialize on every attempt")
    odd = [(shot.status, shot.body, shot.error) for shot in shots
           if shot.status != 201 and shot.status not in allowed and not is_busy(shot)]
    assert not odd, f"{len(odd)} answers this fault does not explain (allowed: 201, {sorted(allowed)}): {odd[:5]}"
    for shot in shots:
        if shot.status == 201:
            assert shot.body["memo"] == shot.memo and not shot.replayed, shot.body
        elif shot.status == 502:
            assert shot.body["error"]["code"] == "bad_gateway", shot.body
        elif shot.status == 503:
            assert shot.body["error"]["code"] == "unavailable", shot.body
            assert (shot.retry_after or "").isdigit(), f"503 without Retry-After: {shot.body}"


def settle(base_url: str, shots: list[Shot]) -> int:
    """Asks again, with the same key, every transfer whose answer was lost (502, or no answer), until the
    answer is definite; each must then be a 201. Returns how many of them had been applied already (their
    answer is a replay)."""
    api = Api(base_url)
    applied_before = 0
    try:
        for shot in shots:
            for _ in range(20):
                send(api, shot)
                if shot.status is not None and shot.status < 500:
                    break
                time.sleep(0.2)
            assert shot.status == 201, (shot.memo, shot.status, shot.body, shot.error)
            applied_before += shot.replayed
    finally:
        api.close()
    return applied_before


def check_everything(api, db, verify, stage: Stage, load: HotLoad, *, allowed: set[int],
                     unknown_allowed: int = 0, abandoned: list[Shot] = ()) -> dict:
    """The checks made after every fault (see the module's docstring). `allowed`: the 5xx the fault explains;
    `unknown_allowed`: how many requests that got no definite answer may have been applied (a worker killed
    between COMMIT and its answer); `abandoned`: transfers sent besides the load whose answer the test did
    not read on purpose (they are settled and checked like lost answers). Returns figures for the report."""
    judge_answers(load.shots, allowed)
    with load.load._lock:
        load.load.outcomes.extend(abandoned)
    shots = load.shots
    check_journal_against_answers(load.load, db, unknown_outcomes_allowed=unknown_allowed)
    lost = [shot for shot in shots if shot.status is None or shot.status == 502]
    return settle_and_check_books(api, db, verify, stage, load, lost)


def settle_and_check_books(api, db, verify, stage: Stage, load: HotLoad, lost: list[Shot]) -> dict:
    """Every `lost` answer settled by repeating it with its key, so that every transfer of the load is then in the
    journal exactly once; the hot users' balances as their movements say, the load's users' totals unchanged,
    each user's movements chaining, `tally verify` clean. Returns figures for the report."""
    applied_before = settle(load.base_url, lost)
    # Now every lost answer is a 201: each of them in the journal exactly once.
    check_journal_against_answers(load.load, db)
    check_hot_users(api, db, stage.users, stage.books.load_users)
    assert read_books(db, stage.users) == stage.books, "the books' totals changed"
    check_balance_chains(db, stage.users)
    result = verify()
    assert result.returncode == 0, result.stdout + result.stderr
    return {"lost": len(lost), "lost_applied": applied_before}


def waiting_behind(db, holder: RowHolder, application_name: str | None = None) -> int:
    """How many sessions wait for the rows the holder holds (not for the load's rows): directly, or behind
    another session that waits for them (the second waiter for a row waits for the first one's tuple lock,
    not for the holder); only those of `application_name` when it is given."""
    return db.integer(
        "WITH RECURSIVE behind(pid) AS ("
        " SELECT w.pid FROM pg_stat_activity w, pg_stat_activity h"
        " WHERE h.application_name = :'holder' AND h.pid = ANY(pg_blocking_pids(w.pid))"
        " UNION SELECT w.pid FROM pg_stat_activity w, behind b WHERE b.pid = ANY(pg_blocking_pids(w.pid)))"
        "SELECT count(*) FROM behind JOIN pg_stat_activity a USING (pid)"
        " WHERE :'name' = '' OR a.application_name = :'name'",
        name=application_name or "", holder=holder.name)
