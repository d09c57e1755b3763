"""The load run across a fault of the HA cluster and the checks made after each (see test_failover.py): the fault
suite's bank load (tests/faults/bank_load.py) through nginx, judged for what a failover may answer."""

from __future__ import annotations

import dataclasses
import time
from types import SimpleNamespace

from bank_load import BUSY_AT_MOST_ONE_IN, HotLoad, Shot, Stage, is_busy, settle_and_check_books
from tally_e2e import check_journal_against_answers

# Dozens of clients, as the issue asks: far more than the pool's workers, so requests queue in nginx too.
CLIENTS = 24
# Each request's (connect, read) timeout: well past nginx's fastcgi_read_timeout (30 s), so that a request
# nginx let hang would show as one, not as the client giving up first.
REQUEST_TIMEOUT = (5, 60)
# No request may take longer than nginx's 30 s timeout (the pool gives up at 28 s): a little slack for the
# machine, none for a hang.
HANG_BOUND_SECONDS = 32
# How many transfers sent after the fault must succeed before the load stops: the service is serving again,
# not just the first request.
SERVED_AFTER_FAULT = 100
# How long the load waits for them: a failover takes about 10 s; this is for a shared, busy machine.
SERVED_WITHIN_SECONDS = 90
# After a fault, how long the requests that queued behind it (commits stalled until a replica acknowledged them)
# may still meet each other on the hot accounts, once the first 201 came back.
HERD_SECONDS = 5

def start_load(base_url: str, stage: Stage) -> HotLoad:
    """The bank load from CLIENTS clients, started and warmed up (100 transfers answered 201)."""
    return HotLoad(base_url, stage.hot, stage.others, threads=CLIENTS, timeout=REQUEST_TIMEOUT).start()


def serve_after(load: HotLoad, moment: float, count: int = SERVED_AFTER_FAULT) -> None:
    """Waits until `count` transfers sent after `moment` were answered 201."""
    deadline = time.monotonic() + SERVED_WITHIN_SECONDS
    while sum(1 for shot in load.shots if shot.status == 201 and shot.started >= moment) < count:
        assert time.monotonic() < deadline, (
            f"fewer than {count} transfers served within {SERVED_WITHIN_SECONDS} s of the fault: "
            f"{answers_summary(load.shots)}")
        time.sleep(0.1)


def first_success_after(shots: list[Shot], moment: float) -> float:
    """Seconds from `moment` to the first 201 of a transfer sent after it."""
    return min(shot.finished for shot in shots if shot.status == 201 and shot.started >= moment) - moment


def longest_without_success(shots: list[Shot], since: float) -> float:
    """The longest stretch after `since` in which no transfer was answered 201 (writes stopped), in seconds."""
    moments = [since] + sorted(shot.finished for shot in shots if shot.status == 201 and shot.finished > since)
    return max((later - earlier for earlier, later in zip(moments, moments[1:])), default=0.0)


def timings(shots: list[Shot], fault: float, done: float) -> str:
    """The figures of a fault that began at `fault` and was done (its command returned) at `done`."""
    return (f"first 201 of a transfer sent after the fault {first_success_after(shots, done):.1f} s after it, "
            f"no 201 at all for {longest_without_success(shots, fault):.1f} s")


def error_code(shot: Shot) -> str | None:
    if isinstance(shot.body, dict) and isinstance(shot.body.get("error"), dict):
        return shot.body["error"].get("code")
    return None


def is_lost(shot: Shot) -> bool:
    """An answer that does not say whether the transfer was applied: none at all, nginx's 502 or 504, or the
    pool's 503 outcome_unknown. Repeated with its key, it must settle to one movement."""
    return shot.status in (None, 502, 504) or (shot.status == 503 and error_code(shot) == "outcome_unknown")


# What each 5xx a failover may bring must say: (status, error code).
EXPLAINED = {(503, "unavailable"), (503, "outcome_unknown"), (502, "bad_gateway"), (504, "gateway_timeout")}


def disturbed(shot: Shot, shots: list[Shot], fault: float | None) -> bool:
    """Whether `shot` was sent while the fault that began at `fault` held commits up: from the fault until
    HERD_SECONDS after the first transfer sent after it was answered 201."""
    if fault is None or shot.started < fault:
        return False
    return shot.started <= fault + first_success_after(shots, fault) + HERD_SECONDS


def judge_answers(shots: list[Shot], fault: float | None = None) -> None:
    """Every answer is a 201 or a 5xx a failover explains (EXPLAINED; a 503 with Retry-After), none took longer
    than nginx's timeout, and contention's 503s are as rare as on a single node, but while the fault that began
    at `fault` held commits up: the transfers queued behind it then meet each other on the hot accounts at once,
    and a few fail to serialize on every attempt (a 503 with Retry-After that applied nothing, which
    check_no_refusal_applied checks). Seen when the synchronous replica was killed: 3 of 327."""
    slow = [(shot.memo, round(shot.finished - shot.started, 1), shot.status, shot.request_id) for shot in shots
            if shot.finished - shot.started > HANG_BOUND_SECONDS]
    assert not slow, f"{len(slow)} requests took longer than nginx's 30 s: {slow[:5]}"
    busy = [shot for shot in shots if is_busy(shot) and not disturbed(shot, shots, fault)]
    assert len(busy) <= max(1, len(shots) // BUSY_AT_MOST_ONE_IN), (
        f"{len(busy)} of {len(shots)} transfers failed to serialize on every attempt")
    for shot in shots:
        if shot.status == 201:
            assert shot.body["memo"] == shot.memo, shot.body
        elif shot.status is not None and not is_busy(shot):
            assert (shot.status, error_code(shot)) in EXPLAINED, (
                f"an answer a failover does not explain: {shot.status} {shot.body} (request {shot.request_id})")
        if shot.status == 503:
            assert (shot.retry_after or "").isdigit(), f"503 without Retry-After: {shot.body}"


def check_after_fault(api, db, verify, stage: Stage, load: HotLoad, fault: float | None = None) -> dict:
    """The checks made after every fault (begun at `fault`), on the primary the cluster has then (`db` follows it):
    - the answers: see judge_answers;
    - the journal against the answers: every 201 in it exactly once, with its id, parties and amount; no 503
      unavailable in it; a lost answer (is_lost) in it at most once;
    - every lost answer settled: repeated with its key, each is a 201, and then in the journal exactly once;
    - the books: the load's users' total and the ledger's unchanged, nobody below their floor, each user's
      movements chaining, `tally verify` clean.
    Returns figures for the report."""
    shots = load.shots
    judge_answers(shots, fault)
    check_every_success_recorded(db, load)
    check_no_refusal_applied(db, load)
    lost = [shot for shot in shots if is_lost(shot)]
    # check_journal_against_answers reads "no answer" as status None: a lost 503 or 504 is shown to it as one.
    as_lost = [dataclasses.replace(shot, status=None) if is_lost(shot) else shot for shot in shots]
    check_journal_against_answers(SimpleNamespace(memo_prefix=load.load.memo_prefix, outcomes=as_lost), db,
                                  unknown_outcomes_allowed=len(lost))
    return settle_and_check_books(api, db, verify, stage, load, lost)


def check_every_success_recorded(db, load: HotLoad) -> None:
    """Every transfer answered 201 is in the journal of the primary the cluster has now (`db` follows it); the
    failure names each missing one (request id, memo, the id it was answered with)."""
    journal = db.movements_with_memo_prefix(load.load.memo_prefix)
    missing = [(shot.request_id, shot.memo, shot.body["id"]) for shot in load.shots
               if shot.status == 201 and shot.memo not in journal]
    assert not missing, (f"{len(missing)} transfers answered 201 are not in the primary's journal "
                         f"(request id, memo, movement id answered): {missing[:20]}")


def check_no_refusal_applied(db, load: HotLoad) -> None:
    """No transfer answered 503 unavailable (the pool's word that nothing was applied) is in the journal; the
    failure names each such request (its id is in the pool's tally.log and nginx's access log)."""
    journal = db.movements_with_memo_prefix(load.load.memo_prefix)
    applied = [(shot.request_id, round(shot.started, 3), round(shot.finished - shot.started, 3), shot.memo,
                journal[shot.memo]) for shot in load.shots
               if shot.status == 503 and error_code(shot) == "unavailable" and shot.memo in journal]
    assert not applied, (f"{len(applied)} transfers answered 503 unavailable were applied "
                         f"(request id, sent at, seconds, memo, journal rows): {applied}")


def answers_summary(shots: list[Shot]) -> str:
    """"N requests (201: a, 503 unavailable: b, ...; longest 2.1 s)"."""
    counts: dict[str, int] = {}
    for shot in shots:
        status = "no answer" if shot.status is None else str(shot.status)
        if shot.status not in (None, 201):
            status += f" {'busy' if is_busy(shot) else error_code(shot)}"
        counts[status] = counts.get(status, 0) + 1
    longest = max((shot.finished - shot.started for shot in shots), default=0)
    by_status = ", ".join(f"{status}: {n}" for status, n in sorted(counts.items()))
    return f"{len(shots)} requests ({by_status}; longest {longest:.1f} s)"
