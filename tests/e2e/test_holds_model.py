"""Holds, reversals and limits against a model (issue 26): issue 25's seeded sequence of single movements and
batches (test_batch_model.py) with holds placed, captured (all, part, more than held), voided and left to
expire (1-2 s), transfers reversed (all, part, exactly what is left, one cent over, a reversal), credit limits
and daily debit limits changed, all judged by the model (ledger_model.HoldsLedger) and every user's balance,
available, held and limits compared after every step; now and then each user's history, the newest transfers
with their reversals, the holds as each party and a stranger read them, and the pending holds' lists.

Time: a hold's expiry is judged on the database's clock, which the model does not read; it knows the wall
clock before a request was sent and after its answer came (the same machine's clock). A pending hold whose
expires_at is more than MARGIN before the sending is expired, one more than MARGIN after the answer pending;
one in between is undecided, and the step is judged in each world the clock leaves open (the undecided holds
expired in the order of their expiry, up to each point): it must match one of them, and every world that
matches is kept as a candidate state until later answers (or the clock) tell them apart. The sequence sleeps
past some expiries, within holds_generator's budget of a few seconds.

TALLY_MODEL_SEED replays a run (a failure prints its seed and step; the expiries, which fall on the clock,
may make a replay go another way after some step); TALLY_MODEL_STEPS makes it longer:
    TALLY_MODEL_SEED=1234 TALLY_MODEL_STEPS=3000 TALLY_TEST_SUITES=e2e \\
        TALLY_E2E_ARGS="tests/e2e/test_holds_model.py" make test
"""

from __future__ import annotations

import copy
import itertools
import json
import os
import random
import time
import uuid
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from alert_rules import CashEvent
from holds_generator import NO_BODY, UNKNOWN_TIME_ZONE, HoldsGenerator, HoldsRequest
from ledger_model import (HoldsLedger, Invalid, ItemOutcome, Refusal, read_capture, read_hold, read_patch,
                          read_reversal, text)
from tally_e2e import TIMESTAMP, create_account
from test_batch_model import BALANCES, FIRST_EVENT_T, Checker, Mismatch, json_of

DEFAULT_SEED = 26_2026
DEFAULT_STEPS = 1000
# At most this many steps more when the default run has not met every outcome it is for by its last step.
EXTRA_STEPS = 1000
HISTORY_EVERY = 125
MARGIN = 0.25  # seconds either side of a request in which a hold's expiry is undecided
MONEY_FIELDS = ("balance", "balance_minor", "available", "available_minor", "held", "held_minor", "credit_limit",
                "credit_limit_minor", "daily_debit_limit", "daily_debit_limit_minor", "time_zone")
ZONES = ("UTC", "Asia/Tokyo", "America/New_York", "Australia/Sydney", "Europe/Paris", "America/Los_Angeles")


def day_zone() -> str:
    """A time zone where midnight is hours away (the daily debit limit counts from it): the run then stays
    within one of the users' days."""
    now = datetime.now(timezone.utc)
    for zone in ZONES:
        local = now.astimezone(ZoneInfo(zone))
        if 2 <= local.hour <= 21:
            return zone
    raise AssertionError("no zone away from midnight")  # cannot happen: the zones span 17 hours


def epoch(timestamp: str) -> float:
    return datetime.strptime(timestamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc).timestamp()


@pytest.fixture
def holds_world(api):
    """Five fresh users (three who log in) in a time zone far from its midnight, and the model of them."""
    prefix = f"holds-{uuid.uuid4().hex[:10]}-"
    accounts = [create_account(api, balance, f"{prefix}{n}") for n, balance in enumerate(BALANCES[:3])]
    others = []
    for n, balance in enumerate(BALANCES[3:], start=3):
        response = api.create_user(f"{prefix}{n}", balance)
        assert response.status_code == 201, response.text
        others.append(response.json())
    users = [account.id for account in accounts] + [user["id"] for user in others]
    zone = day_zone()
    balances, last_t, events, last_id = {}, {}, {}, 0
    for n, user in enumerate(users):
        response = api.request("PATCH", f"/api/users/{user}", json_body={"time_zone": zone})
        assert response.status_code == 200, response.text
        response = api.deposit(user, "1.00", t=FIRST_EVENT_T + n)
        assert response.status_code == 201, response.text
        balances[user] = response.json()["balance_minor"]
        last_t[user] = FIRST_EVENT_T + n
        events[user] = [CashEvent("deposit", 100, FIRST_EVENT_T + n)]
        last_id = max(last_id, response.json()["id"])
    ledger = HoldsLedger(balances, last_t, events)
    ledger.last_movement_id = ledger.baseline_id = last_id
    ledger.time_zones = {user: zone for user in users}
    clients = {None: api, **{account.id: account.api for account in accounts}}
    yield prefix, users, accounts, ledger, clients, zone
    for account in accounts:
        account.close()


def test_holds_reversals_and_limits_answer_as_the_model_says(api, holds_world, figures, db):
    prefix, users, accounts, ledger, clients, zone = holds_world
    seed = int(os.environ.get("TALLY_MODEL_SEED") or DEFAULT_SEED)
    steps = int(os.environ.get("TALLY_MODEL_STEPS") or DEFAULT_STEPS)
    checker = HoldsChecker(ledger, clients, users, prefix, seed, zone)
    checker.db = db
    generator = HoldsGenerator(random.Random(seed), users, len(accounts), uuid.uuid4().hex[:10],
                               stored_keys=lambda caller: checker.ledger.state.keys.get(caller or 0, {}),
                               ledger=lambda: checker.ledger, zone=zone, margin=MARGIN)
    wanted = ("hold placed", "hold refused insufficient_funds", "hold refused forbidden", "hold refused not_found",
              "hold validation_failed", "captured all", "captured part", "capture refused capture_exceeds_hold",
              "capture refused hold_expired", "capture refused hold_not_pending", "capture refused forbidden",
              "void refused hold_expired", "void refused hold_not_pending", "voided", "reversed",
              "reversed exactly what was left", "reversal refused reversal_exceeds_transfer",
              "reversal refused not_reversible", "reversal refused forbidden", "reversal refused insufficient_funds",
              "patched", "patch refused credit_limit_in_use", "patch validation_failed", "limit_exceeded",
              "insufficient_funds", "hold request replayed", "undecided hold", "atomic applied",
              "limit alerts checked", "non-atomic", "holds checked")
    # Not required of every run: "negative balance" (a debit into the credit limit). Daily limits set along the
    # way refuse most such debits first, so whether a run reaches one depends on timing; when it does, the model
    # compares it like any other. test_limits.py and the store's HoldTests go below zero on purpose.
    # The default run goes on past its steps, up to EXTRA_STEPS more, until it has met every outcome it is for:
    # expiries falling between other steps on a slower or faster run change what the generator aims at.
    started = time.monotonic()
    step = 0
    while step < steps or (
            (seed, steps) == (DEFAULT_SEED, DEFAULT_STEPS) and step < steps + EXTRA_STEPS
            and any(not checker.seen.get(what) for what in wanted)):
        step += 1
        checker.step = step
        request = generator.next_step()
        checker.run(request)
        if checker.applied_with_key and isinstance(request, HoldsRequest) and request.key:
            generator.keyed_done.append(request)
        checker.check_balances()
        if step % HISTORY_EVERY == 0 or step == steps:
            checker.check_histories()
            checker.check_holds(generator.rng)
            checker.check_limit_alerts()
    if step > steps:
        checker.check_histories()
        checker.check_holds(generator.rng)
        checker.check_limit_alerts()
    seen = checker.seen
    # The sequence must have met what it is for (checked for the default run, the one `make test` runs).
    missing = [what for what in wanted if not seen.get(what)]
    assert not missing or (seed, steps) != (DEFAULT_SEED, DEFAULT_STEPS), (
        f"seed {seed}: never saw {missing} in {step} steps: {seen}")
    early, late = min(c[0] for c in checker.clock), min(c[1] for c in checker.clock)
    figures(f"holds model test: a hold's created_at at least {early * 1000:.1f} ms after its sending, "
            f"its answer at least {late * 1000:.1f} ms after created_at")
    figures(f"holds model test: seed {seed}, {steps} steps in {time.monotonic() - started:.1f} s "
            f"({4.0 - generator.sleep_budget:.1f} s asleep past expiries), {len(checker.ledger.journal)} movements, "
            f"{len(checker.ledger.holds)} holds; {dict(sorted(seen.items()))}")


class HoldsChecker(Checker):
    """Issue 25's checker with holds, reversals and limits, each step judged in every world its time leaves
    open (see the module's text)."""

    def __init__(self, ledger: HoldsLedger, clients, users, prefix, seed, zone: str):
        super().__init__(ledger, clients, users, prefix, seed)
        self.zone = zone
        self.db = None  # the database, read only to explain a mismatch
        # The model's states that agree with every answer so far; they differ only in which holds expired
        # (see in_every_world). self.ledger is the first.
        self.candidates: list[HoldsLedger] = [ledger]
        self.clock: list[tuple[float, float]] = []  # each hold: its created_at less the sending, the answer less it
        self.transfers_read = 8
        self.applied_with_key = False

    # Time.

    def settle_expired(self, before: float) -> None:
        """In every candidate, each pending hold whose expiry is clearly before `before` is expired for good."""
        for candidate in self.candidates:
            for hold in candidate.holds.values():
                if hold.status == "pending" and hold.expires_epoch <= before - MARGIN:
                    hold.status = "expired"

    def undecided(self, after: float, ledger: HoldsLedger | None = None) -> list[int]:
        """Pending holds whose expiry may have passed by `after` (settle_expired ran for the start), earliest
        expiry first."""
        holds = [hold for hold in (ledger or self.ledger).holds.values()
                 if hold.status == "pending" and hold.expires_epoch <= after + MARGIN]
        return [hold.id for hold in sorted(holds, key=lambda hold: (hold.expires_epoch, hold.id))]

    @staticmethod
    def signature(ledger: HoldsLedger) -> tuple:
        return tuple(sorted((hold_id, hold.status) for hold_id, hold in ledger.holds.items()))

    # Requests.

    def run(self, request) -> None:
        self.request, self.response, self.applied_with_key = request, None, False
        self.balances_before = dict(self.ledger.state.balances)
        if isinstance(request, HoldsRequest) and request.sleep_until is not None:
            time.sleep(max(0.0, request.sleep_until - time.time()))
        headers = {"Idempotency-Key": request.key} if request.key else {}
        body_text = None if request.body is NO_BODY else json.dumps(request.body)
        sent = self.sent = time.time()
        self.response = self.clients[request.caller].request(request.method, request.path, data=body_text,
                                                             headers=headers)
        answered = self.answered = time.time()
        self.recent = self.recent[-9:] + [
            f"{self.step}: {request.caller or 'service'} {request.method} {request.path} key={request.key} "
            f"{(body_text or '')[:300]} -> {self.response.status_code} {self.response.text[:300]}"]
        self.settle_expired(sent)
        self.in_every_world(answered, lambda: self.judge(request, body_text))

    def in_every_world(self, answered: float, judge) -> None:
        """Judges the step in every world the time leaves open: for each candidate state, the undecided holds
        (earliest expiry first) expired up to each point, none first (one database clock decides a request, so
        a hold cannot have expired while one expiring before it had not). Every world that matches the service
        is kept as a candidate (they differ only in which holds expired; the clock soon settles them and they
        merge); none matching is a mismatch, the first world's reported."""
        worlds = [(candidate, self.undecided(answered, candidate)) for candidate in self.candidates]
        if len(worlds) == 1 and not worlds[0][1]:
            judge()
            return
        self.note("undecided hold")
        seen, survivors, kept_seen, first = dict(self.seen), {}, None, None
        for candidate, undecided in worlds:
            for count in range(len(undecided) + 1):
                self.ledger, self.seen = copy.deepcopy(candidate), dict(seen)
                for hold_id in undecided[:count]:
                    self.ledger.holds[hold_id].status = "expired"
                try:
                    judge()
                except Mismatch as mismatch:
                    first = first or mismatch
                    continue
                survivors.setdefault(self.signature(self.ledger), self.ledger)
                kept_seen = kept_seen or self.seen
        if not survivors:
            self.ledger, self.seen = self.candidates[0], seen
            raise Mismatch(f"{first}\n(judged in {len(self.candidates)} candidate states with holds "
                           f"{[u for _, u in worlds]} undecided: no world matched)")
        self.candidates = list(survivors.values())
        self.ledger, self.seen = self.candidates[0], kept_seen
        if len(self.candidates) > 1:
            self.note("several worlds kept")
            self.recent[-1] += f" [{len(self.candidates)} worlds kept]"

    def judge(self, request, body_text) -> None:
        if request.kind == "single":
            self.judge_single(request, body_text)
        elif request.kind == "batch":
            self.judge_batch(request, body_text)
        elif self.replayed(request, body_text):
            return
        else:
            getattr(self, f"judge_{request.kind}")(request)

    def replayed(self, request, body_text) -> bool:
        """An issue 26 request again under a key that applied before: the first answer, replayed."""
        if not request.key:
            return False
        record = self.ledger.__dict__.setdefault("hold_keys", {}).get((request.caller, request.key))
        if record is None:
            return False
        fingerprint, status, body = record
        self.expect(fingerprint == (request.method, request.path, body_text), "the model resends only the same")
        self.expect((self.response.status_code, json_of(self.response)) == (status, body),
                    "a repeat answers the first response", {"status": status, "body": body})
        self.expect(self.response.headers.get("Idempotency-Replayed") == "true", "Idempotency-Replayed: true")
        self.note("hold request replayed")
        return True

    def keep_key(self, request, status: int, body) -> None:
        if request.key:
            body_text = None if request.body is NO_BODY else json.dumps(request.body)
            self.ledger.__dict__.setdefault("hold_keys", {})[(request.caller, request.key)] = (
                (request.method, request.path, body_text), status, body)
            self.applied_with_key = True

    def refused(self, what: str, refusal: Refusal) -> None:
        self.note(f"{what} refused {refusal.code}")
        self.error(self.response.status_code, json_of(self.response), refusal)
        self.expect(self.response.headers.get("Idempotency-Replayed") is None, "no Idempotency-Replayed")

    def invalid(self, what: str, invalid: Invalid) -> None:
        self.note(f"{what} validation_failed")
        self.error(self.response.status_code, json_of(self.response), Refusal(422, "validation_failed",
                                                                               invalid.field))

    def judge_hold(self, request) -> None:
        try:
            command = read_hold(request.body)
        except Invalid as invalid:
            self.invalid("hold", invalid)
            return
        outcome = self.ledger.place_hold(request.caller, command)
        if isinstance(outcome, Refusal):
            self.refused("hold", outcome)
            return
        body = json_of(self.response)
        self.expect(self.response.status_code == 201, "status", 201)
        self.expect(self.response.headers.get("Idempotency-Replayed") is None, "no Idempotency-Replayed")
        self.expect(isinstance(body, dict) and TIMESTAMP.match(str(body.get("created_at")))
                    and TIMESTAMP.match(str(body.get("expires_at"))), "the hold's times", outcome.render())
        created, expires = epoch(body["created_at"]), epoch(body["expires_at"])
        self.expect(abs(expires - created - command.expires_in) < 0.0015, "expires_at is created_at + expires_in",
                    command.expires_in)
        outcome.created_at, outcome.expires_at, outcome.expires_epoch = body["created_at"], body["expires_at"], expires
        self.clock.append((created - self.sent, self.answered - created))
        problem = self.ledger.bind_hold(outcome, body.get("id"))
        self.expect(problem is None, problem or "")
        self.expect(body == outcome.render(), "the hold", outcome.render())
        self.note("hold placed")
        self.keep_key(request, 201, body)

    def judge_capture(self, request) -> None:
        try:
            amount = read_capture(None if request.body is NO_BODY else request.body)
        except Invalid as invalid:
            self.invalid("capture", invalid)
            return
        outcome = self.ledger.capture(request.caller, request.target, amount)
        if isinstance(outcome, Refusal):
            self.refused("capture", outcome)
            if outcome.code == "limit_exceeded":
                self.note("limit_exceeded")
            return
        hold, movement = outcome
        body = json_of(self.response)
        self.expect(self.response.status_code == 200, "status", 200)
        self.expect(isinstance(body, dict) and isinstance(body.get("transfer"), dict)
                    and TIMESTAMP.match(str(body.get("settled_at"))), "a captured hold with its transfer")
        self.movement(ItemOutcome("applied", movement), body["transfer"], request.caller, None)
        hold.transfer_id, hold.settled_at = movement.id, body["settled_at"]
        expected = {**hold.render(), "transfer": body["transfer"]}
        self.expect(body == expected, "the captured hold", expected)
        self.note("captured all" if hold.captured_amount == hold.amount else "captured part")
        self.keep_key(request, 200, body)

    def judge_void(self, request) -> None:
        if request.body not in (NO_BODY, {}):
            raise AssertionError("the generator sends a void no body or {}")
        outcome = self.ledger.void(request.caller, request.target)
        if isinstance(outcome, Refusal):
            self.refused("void", outcome)
            return
        body = json_of(self.response)
        self.expect(self.response.status_code == 200, "status", 200)
        self.expect(isinstance(body, dict) and TIMESTAMP.match(str(body.get("settled_at"))), "settled_at")
        outcome.settled_at = body["settled_at"]
        self.expect(body == outcome.render(), "the voided hold", outcome.render())
        self.note("voided")
        self.keep_key(request, 200, body)

    def judge_reversal(self, request) -> None:
        try:
            amount, memo = read_reversal(None if request.body is NO_BODY else request.body)
        except Invalid as invalid:
            self.invalid("reversal", invalid)
            return
        original = self.ledger.movements.get(request.target)
        left = original.unreversed if original is not None else None
        outcome = self.ledger.reverse(request.caller, request.target, amount, memo)
        if isinstance(outcome, Refusal):
            self.refused("reversal", outcome)
            if outcome.code in ("limit_exceeded", "insufficient_funds"):
                self.note(outcome.code)
            return
        self.expect(self.response.status_code == 201, "status", 201)
        self.movement(ItemOutcome("applied", outcome), json_of(self.response), request.caller, None)
        self.note("reversed")
        if outcome.amount == left:
            self.note("reversed exactly what was left")
        self.keep_key(request, 201, json_of(self.response))

    def judge_patch(self, request) -> None:
        user = request.target
        if request.caller is not None:  # a user may not, whatever the body
            self.refused("patch", Refusal(403, "forbidden"))
            return
        try:
            changes = read_patch(request.body, known_zones=(self.zone,))
        except Invalid as invalid:
            self.invalid("patch", invalid)
            return
        refusal = self.ledger.patch(request.caller, user, changes)
        if refusal is not None:
            self.refused("patch", refusal)
            return
        body = json_of(self.response)
        self.expect(self.response.status_code == 200, "status", 200)
        expected = self.ledger.user_money(user)
        got = {name: body.get(name) for name in MONEY_FIELDS} if isinstance(body, dict) else None
        self.expect(isinstance(body, dict) and body.get("id") == user and got == expected, "the user", expected)
        self.note("patched")

    # What the service holds.

    def check_balances(self) -> None:
        """Every user's balance, limits, held and available money, each undecided hold counted or not; the
        candidate states that disagree are dropped."""
        self.request, self.response = None, None
        before = time.time()
        response = self.clients[None].get("/api/users", params={"name": self.prefix, "limit": 100})
        after = time.time()
        assert response.status_code == 200, response.text
        self.settle_expired(before)
        found = {user["id"]: {name: user.get(name) for name in MONEY_FIELDS} for user in response.json()["items"]}
        self.expect(set(found) == set(self.users), "the users listed", self.users)
        agreeing, first = [], None
        for candidate in self.candidates:
            undecided = [candidate.holds[hold_id] for hold_id in self.undecided(after, candidate)]
            for user in self.users:
                held = candidate.state.held(user)
                doubtful = [hold.amount for hold in undecided if hold.debit == user]
                choices = [candidate.user_money(user, held - sum(subset)) for size in range(len(doubtful) + 1)
                           for subset in itertools.combinations(doubtful, size)]
                if found[user] not in choices:
                    first = first or (user, choices[0])
                    break
            else:
                agreeing.append(candidate)
        if not agreeing:
            user, expected = first
            self.fail(f"user {user}'s money differs after the step", {"expected": expected, "got": found[user],
                                                                      "database": self.diagnosis(user)})
        self.candidates, self.ledger = agreeing, agreeing[0]
        if any(money["balance_minor"] < 0 for money in found.values()):
            self.note("negative balance")

    def doubtful(self) -> set[int]:
        """Holds whose status the candidate states disagree on."""
        return {hold_id for hold_id, hold in self.ledger.holds.items()
                if any(other.holds[hold_id].status != hold.status for other in self.candidates[1:])}

    def diagnosis(self, user: int) -> dict | None:
        """What the database holds of the user and their pending holds, for a mismatch's report."""
        if self.db is None:
            return None
        return {"user (balance, held, next_hold_expiry, now)": self.db.rows(
                    "SELECT balance, held, next_hold_expiry, now() FROM users WHERE id = :'user'", user=str(user)),
                "holds stored pending (id, amount, expires_at)": self.db.rows(
                    "SELECT id, amount, expires_at FROM holds WHERE payer_user_id = :'user' AND status = 'pending' "
                    "ORDER BY id", user=str(user))}

    def check_holds(self, rng: random.Random) -> None:
        """A few holds as the service, each party and a stranger read them; each user's pending holds."""
        self.request, self.response = None, None
        holds = [hold for hold in self.ledger.holds.values()]
        for hold in rng.sample(holds, min(8, len(holds))):
            for viewer in self.clients:
                before = time.time()
                response = self.clients[viewer].get(f"/api/holds/{hold.id}")
                self.settle_expired(before)
                if hold.id in self.undecided(time.time()) or hold.id in self.doubtful():
                    continue
                self.response = response
                what = f"GET /api/holds/{hold.id} as {viewer or 'the service'}"
                if viewer is not None and viewer not in hold.parties():
                    self.expect(response.status_code == 404, f"{what}: a stranger gets 404")
                    continue
                self.expect(response.status_code == 200 and json_of(response) == hold.render(), what, hold.render())
        for user in self.users:
            before = time.time()
            items = self._pending(user)
            self.settle_expired(before)
            undecided = set(self.undecided(time.time())) | self.doubtful()
            expected = sorted((hold.id for hold in self.ledger.holds.values()
                               if hold.status == "pending" and user in hold.parties()), reverse=True)
            got = [item["id"] for item in items]
            self.expect([i for i in got if i not in undecided] == [i for i in expected if i not in undecided],
                        f"user {user}'s pending holds", expected)
        self.note("holds checked")

    def check_limit_alerts(self) -> None:
        """Each movement the daily debit limit refused raised one alert of code 2000, with no movement."""
        self.request, self.response = None, None
        for user in self.users:
            alerts = [alert for alert in self.clients[None].all_pages(f"/api/users/{user}/alerts", 100)
                      if alert.get("code") == 2000]
            expected = self.ledger.state.limit_refusals.get(user, 0)
            self.expect(len(alerts) == expected and all(alert.get("movement_id") is None for alert in alerts),
                        f"user {user}'s alerts of code 2000 (the daily debit limit)", expected)
            if alerts:
                self.note("limit alerts checked")

    def _pending(self, user: int) -> list[dict]:
        items, cursor = [], None
        while True:
            params = {"status": "pending", "limit": 100, **({"cursor": cursor} if cursor else {})}
            response = self.clients[None].get(f"/api/users/{user}/holds", params=params)
            self.response = response
            self.expect(response.status_code == 200, f"GET /api/users/{user}/holds?status=pending")
            page = response.json()
            items += page["items"]
            cursor = page.get("next_cursor")
            if not cursor:
                return items
