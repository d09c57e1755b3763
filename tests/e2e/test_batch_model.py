"""The ledger's semantics against a model (issue 25): a seeded random sequence of single movements and batches
(model_generator.py), sent one after another through nginx by a few users and the service role, and judged by
a small in-memory model of the rules (ledger_model.py). Every answer is compared with what the model says it
must be (status, code, index, each item's outcome, the movements with their parties, amounts and the caller's
own balance after them, null for what the caller may not see, the alert codes of deposits and withdrawals) and
every model user's balance after every step; now and then each user's whole history (with batch_id) and what
the sender, a party and a stranger see of a batch (GET /api/batches/{id}).

TALLY_MODEL_SEED replays a run (a failure prints its seed and step); TALLY_MODEL_STEPS makes it longer:
    TALLY_MODEL_SEED=1234 TALLY_MODEL_STEPS=3000 TALLY_TEST_SUITES=e2e \\
        TALLY_E2E_ARGS="tests/e2e/test_batch_model.py" make test
"""

from __future__ import annotations

import json
import os
import random
import uuid

import pytest

from alert_rules import CashEvent
from ledger_model import (BATCH_LIMIT, ITEM_FIELDS, BatchRecord, Command, Invalid, ItemOutcome, Ledger, Refusal,
                          read_command, text)
from model_generator import Generator, Request
from tally_e2e import Api, TIMESTAMP, create_account

DEFAULT_SEED = 25_2026
DEFAULT_STEPS = 300
HISTORY_EVERY = 60
# Each model user's first event is at this second, far beyond the clock: a deposit or withdrawal without a t
# then happens at the user's last t + 1, so the model knows every event's t and so every alert code.
FIRST_EVENT_T = 4_000_000_000
BALANCES = ("300.00", "50.00", "0.00", "120.00", "0.00")   # the first three can log in


class Mismatch(AssertionError):
    pass


@pytest.fixture
def model_world(api):
    """Five fresh users (three who log in), each with a first event at a known t, and the model of them."""
    prefix = f"model-{uuid.uuid4().hex[:10]}-"
    accounts = [create_account(api, balance, f"{prefix}{n}") for n, balance in enumerate(BALANCES[:3])]
    others = []
    for n, balance in enumerate(BALANCES[3:], start=3):
        response = api.create_user(f"{prefix}{n}", balance)
        assert response.status_code == 201, response.text
        others.append(json_of(response))
    users = [account.id for account in accounts] + [user["id"] for user in others]
    balances, last_t, events, last_id = {}, {}, {}, 0
    for n, user in enumerate(users):
        response = api.deposit(user, "1.00", t=FIRST_EVENT_T + n)
        assert response.status_code == 201, response.text
        balances[user] = json_of(response)["balance_minor"]
        last_t[user] = FIRST_EVENT_T + n
        events[user] = [CashEvent("deposit", 100, FIRST_EVENT_T + n)]
        last_id = max(last_id, json_of(response)["id"])
    ledger = Ledger(balances, last_t, events)
    ledger.last_movement_id = ledger.baseline_id = last_id
    clients = {None: api, **{account.id: account.api for account in accounts}}
    yield prefix, users, accounts, ledger, clients
    for account in accounts:
        account.close()


def test_random_singles_and_batches_answer_as_the_model_says(api, model_world, figures):
    prefix, users, accounts, ledger, clients = model_world
    seed = int(os.environ.get("TALLY_MODEL_SEED") or DEFAULT_SEED)
    steps = int(os.environ.get("TALLY_MODEL_STEPS") or DEFAULT_STEPS)
    generator = Generator(random.Random(seed), users, len(accounts), uuid.uuid4().hex[:10],
                          stored_keys=lambda caller: ledger.state.keys.get(caller or 0, {}))
    checker = Checker(ledger, clients, users, prefix, seed)
    for step in range(1, steps + 1):
        checker.step = step
        request = generator.next(ledger.state.balances, ledger.state.last_t)
        checker.run(request)
        checker.check_balances()
        if step % HISTORY_EVERY == 0 or step == steps:
            checker.check_histories()
            checker.check_batch_views(generator.rng)
    # The sequence must have met what it is for, or it proves little: every kind of outcome showed up (checked
    # for the default sequence, the one `make test` runs; another seed or a short run just says what it met).
    seen = checker.seen
    for wanted in ("applied", "replayed", "refused", "forbidden", "not_found", "insufficient_funds",
                   "idempotency_key_reused", "validation_failed", "atomic refused", "atomic applied",
                   "non-atomic", "request replayed", "alert", "batch view", "batch view 404", "chain applied"):
        assert seen.get(wanted, 0) > 0 or (seed, steps) != (DEFAULT_SEED, DEFAULT_STEPS), (
            f"seed {seed}: never saw {wanted}: {seen}")
    figures(f"model test: seed {seed}, {steps} steps, {len(ledger.journal)} movements, "
            f"{len(ledger.batches)} batches; {dict(sorted(seen.items()))}")


class Checker:
    """Sends each request, works out the model's answer and compares the two."""

    def __init__(self, ledger: Ledger, clients: dict, users: list[int], prefix: str, seed: int):
        self.ledger, self.clients, self.users, self.prefix, self.seed = ledger, clients, users, prefix, seed
        self.step = 0
        self.balances_before: dict[int, int] = {}
        self.seen: dict[str, int] = {}
        self.request: Request | None = None
        self.response = None
        self.recent: list[str] = []  # the last steps, in a line each, for a failure's context
        self.transfers_read = 5      # how many of the newest transfers check_histories reads back

    def note(self, what: str) -> None:
        self.seen[what] = self.seen.get(what, 0) + 1

    def fail(self, problem: str, expected=None) -> None:
        request, response = self.request, self.response
        answer = "" if response is None else (
            f"{response.status_code} (Idempotency-Replayed: {response.headers.get('Idempotency-Replayed')}) "
            f"{response.text[:6000]}")
        raise Mismatch(
            f"\nMODEL MISMATCH: seed {self.seed} (TALLY_MODEL_SEED={self.seed}), step {self.step}: {problem}\n"
            f"request: caller {request.caller if request else None} {request.method if request else ''} "
            f"{request.path if request else ''} Idempotency-Key {request.key if request else None} "
            f"({request.note if request else ''})\n  {json.dumps(request.body, default=repr) if request else ''}\n"
            f"answer:  {answer}\n"
            f"model:   {json.dumps(expected, default=str)[:6000] if expected is not None else ''}\n"
            f"users {self.users} (the first {len(self.clients) - 1} log in); the model's balances before the step "
            f"{self.balances_before}\nthe steps before it:\n  " + "\n  ".join(self.recent[-6:] if request is None
                                                                         else self.recent[-6:-1]))

    def expect(self, condition: bool, problem: str, expected=None) -> None:
        if not condition:
            self.fail(problem, expected)

    # Requests.

    def run(self, request: Request) -> None:
        self.request, self.response = request, None
        self.balances_before = dict(self.ledger.state.balances)
        headers = {"Idempotency-Key": request.key} if request.key else {}
        body_text = json.dumps(request.body)
        self.response = self.clients[request.caller].post(request.path, data=body_text, headers=headers)
        self.recent = self.recent[-9:] + [
            f"{self.step}: {request.caller or 'service'} {request.path} key={request.key} {body_text[:300]} -> "
            f"{self.response.status_code} {self.response.text[:300]}"]
        if request.kind == "single":
            self.judge_single(request, body_text)
        else:
            self.judge_batch(request, body_text)

    def judge_single(self, request: Request, body_text: str) -> None:
        response = self.response
        try:
            command = read_command(request.movement_kind, request.body, in_batch=False, user_path=request.user_path)
        except Invalid as invalid:
            self.note("validation_failed")
            self.error(response.status_code, json_of(response), Refusal(422, "validation_failed", invalid.field))
            return
        outcome, staged = self.ledger.single(request.caller, command, request.key)
        body = json_of(response)
        replay_header = response.headers.get("Idempotency-Replayed") == "true"
        if outcome.status == "refused":
            self.note("refused")
            self.note(outcome.refusal.code)
            self.error(response.status_code, body, outcome.refusal)
            self.expect(replay_header == outcome.replayed_refusal, "Idempotency-Replayed header",
                        outcome.replayed_refusal)
            return
        self.note(outcome.status)
        self.expect(response.status_code == 201, "status", 201)
        self.expect(replay_header == (outcome.status == "replayed"), "Idempotency-Replayed header", outcome.status)
        self.movement(outcome, body, request.caller, None)

    def judge_batch(self, request: Request, body_text: str) -> None:
        response, caller, key = self.response, request.caller, request.key
        replay_header = response.headers.get("Idempotency-Replayed") == "true"
        try:
            atomic, commands = read_batch(request.body)
        except Invalid as invalid:
            self.note("validation_failed")
            index = item_index(invalid.field)
            self.error(response.status_code, json_of(response), Refusal(422, "validation_failed", invalid.field),
                       index=index)
            return
        fingerprint = ("batch", body_text)
        record = self.ledger.request_key(caller, key) if key else None
        if record is not None:
            if record.fingerprint != fingerprint:
                self.note("idempotency_key_reused")
                self.error(response.status_code, json_of(response),
                           Refusal(422, "idempotency_key_reused", "Idempotency-Key"))
                self.expect(not replay_header, "Idempotency-Replayed header on a reused key")
                return
            self.note("request replayed")
            status, body = record.response
            self.expect((response.status_code, json_of(response)) == (status, body),
                        "a repeat must answer the first response", {"status": status, "body": body})
            self.expect(replay_header, "Idempotency-Replayed: true on a repeat")
            return
        self.expect(not replay_header, "Idempotency-Replayed on a first request")
        outcomes, staged, refused_at = self.ledger.batch(caller, commands, atomic)
        body = json_of(response)
        if refused_at is not None:
            self.note("atomic refused")
            refusal = outcomes[refused_at].refusal
            self.note(refusal.code)
            self.error(response.status_code, body, item_refusal(refusal, refused_at), index=refused_at)
            # "A repeat answers the first response, whatever it was" (issue 25): the request's key keeps an
            # atomic batch's refusal, whichever it is (a single movement's key keeps only the ledger's own).
            if key:
                self.ledger.keep_request_key(caller, key, fingerprint, (response.status_code, body))
            return
        self.note("atomic applied" if atomic else "non-atomic")
        if "chain" in request.note:
            self.note("chain applied")
        expected_status = 201 if atomic else 200
        self.expect(response.status_code == expected_status, "status", expected_status)
        self.expect(isinstance(body, dict) and set(body) == {"id", "atomic", "results"}, "the batch's members")
        self.expect(body["atomic"] is atomic, "atomic", atomic)
        problem = self.ledger.bind_batch(body["id"])
        self.expect(problem is None, problem or "")
        results = body["results"]
        self.expect(isinstance(results, list) and len(results) == len(outcomes), "one result per item",
                    len(outcomes))
        for index, (outcome, result) in enumerate(zip(outcomes, results)):
            self.note(outcome.status)
            if outcome.status == "replayed" and outcome.movement.batch_id is None:
                self.note("item replayed a single request's movement")
            if outcome.replayed_refusal:
                self.note("item key's refusal answered again")
            expected = {"index": index, "status": outcome.status}
            self.expect(result.get("index") == index and result.get("status") == outcome.status,
                        f"item {index}'s outcome", expected if outcome.refusal is None else
                        {**expected, "error": vars(item_refusal(outcome.refusal, index))})
            if outcome.status == "refused":
                self.note(outcome.refusal.code)
                self.expect(set(result) == {"index", "status", "error"}, f"item {index}'s members")
                self.item_error(result["error"], item_refusal(outcome.refusal, index), index)
            else:
                self.expect(set(result) == {"index", "status", "movement"}, f"item {index}'s members")
                self.movement(outcome, result["movement"], caller, body["id"], index)
        self.ledger.batches[body["id"]] = BatchRecord(body["id"], atomic, caller, outcomes)
        if key:
            self.ledger.keep_request_key(caller, key, fingerprint, (response.status_code, body))

    def movement(self, outcome: ItemOutcome, shown: dict, caller, batch_id, index=None) -> None:
        """A movement in an answer: the replayed one as it was, or the new one as the model made it (its id,
        time and batch taken from the answer once the rest agrees)."""
        where = "the movement" if index is None else f"item {index}'s movement"
        movement = outcome.movement
        if outcome.status == "applied":
            self.expect(isinstance(shown, dict) and isinstance(shown.get("created_at"), str)
                        and TIMESTAMP.match(shown["created_at"]), f"{where}: created_at")
            self.expect(shown.get("batch_id") == batch_id, f"{where}: batch_id", batch_id)
            expected = movement.render(caller)
            expected.update(id=shown.get("id"), created_at=shown["created_at"], batch_id=batch_id)
            if shown != expected:
                self.fail(f"{where} differs", expected)
            problem = self.ledger.bind_movement(movement, shown["id"], shown["created_at"], batch_id)
            self.expect(problem is None, f"{where}: {problem}")
            if movement.alert_codes:
                self.note("alert")
        else:
            expected = movement.render(caller)
            self.expect(shown == expected, f"{where}: a replay answers the first movement", expected)

    def error(self, status: int, body, refusal: Refusal, *, index: int | None = None) -> None:
        """A whole request refused: the status, and the error's code, field and index."""
        expected = {"status": refusal.status, "code": refusal.code, "field": refusal.field, "index": index}
        self.expect(status == refusal.status, "status", expected)
        self.expect(isinstance(body, dict) and set(body) == {"error"}, "an error body", expected)
        error = body["error"]
        allowed = {"code", "message", "field", "request_id"} | ({"index"} if index is not None else set())
        self.expect(set(error) <= allowed and {"code", "message", "request_id"} <= set(error),
                    "the error's members", expected)
        self.expect(error["code"] == refusal.code, "code", expected)
        self.expect(error.get("field") == refusal.field, "field", expected)
        self.expect(error.get("index") == index, "index", expected)
        self.expect(refusal.quoted is None or refusal.quoted in error["message"],
                    f"the message quotes {refusal.quoted}", expected)

    def item_error(self, error, refusal: Refusal, index: int) -> None:
        expected = {"code": refusal.code, "field": refusal.field}
        self.expect(isinstance(error, dict) and {"code", "message"} <= set(error)
                    and set(error) <= {"code", "message", "field"}, f"item {index}'s error members", expected)
        self.expect(error["code"] == refusal.code and error.get("field") == refusal.field,
                    f"item {index}'s error", expected)
        self.expect(isinstance(error["message"], str) and error["message"], f"item {index}'s error message")
        self.expect(refusal.quoted is None or refusal.quoted in error["message"],
                    f"item {index}'s message quotes {refusal.quoted}", expected)

    # What the service holds.

    def check_balances(self) -> None:
        self.request, self.response = None, None
        response = self.clients[None].get("/api/users", params={"name": self.prefix, "limit": 100})
        assert response.status_code == 200, response.text
        found = {user["id"]: user["balance_minor"] for user in response.json()["items"]}
        if found != self.ledger.state.balances:
            self.fail("balances differ after the step", {"balances": self.ledger.state.balances, "got": found})

    def check_histories(self) -> None:
        self.request, self.response = None, None
        api: Api = self.clients[None]
        for user in self.users:
            expected = self.ledger.history(user)
            rows = [row for row in api.all_pages(f"/api/users/{user}/transactions", 100)
                    if row["id"] > self.ledger.baseline_id]
            got = [{k: v for k, v in row.items() if k != "created_at"} for row in rows]
            if got != expected:
                first = next((n for n, (a, b) in enumerate(zip(got, expected)) if a != b), min(len(got), len(expected)))
                self.fail(f"user {user}'s history differs at row {first} (of {len(got)} / {len(expected)})",
                          {"expected": expected[first:first + 3], "got": got[first:first + 3]})
        self.note("histories checked")
        # The newest movements in the global feed, and a few transfers read back, carry their batch too.
        movements = {movement.id: movement for movement in self.ledger.journal}
        page = api.get("/api/transactions", params={"limit": 100})
        assert page.status_code == 200, page.text
        for row in page.json()["items"]:
            if row["id"] in movements:
                movement = movements[row["id"]]
                expected = {"id": movement.id, "kind": movement.kind, "from_user_id": movement.debit or None,
                            "to_user_id": movement.credit or None, "amount": text(movement.amount),
                            "amount_minor": movement.amount, "memo": movement.memo,
                            "created_at": movement.created_at, "batch_id": movement.batch_id,
                            "hold_id": movement.hold_id, "reversal_of": movement.reversal_of}
                self.expect(row == expected, f"movement {row['id']} in the feed", expected)
        transfers = [movement for movement in self.ledger.journal if movement.kind in ("transfer", "reversal")]
        for movement in transfers[-self.transfers_read:]:
            for viewer in {None, *(movement.parties() & set(self.clients))}:
                shown = json_of(self.clients[viewer].get(f"/api/transfers/{movement.id}"))
                expected = movement.render(viewer, detail=True)
                self.expect(shown == expected, f"GET /api/transfers/{movement.id} as {viewer or 'the service'}",
                            expected)

    def check_batch_views(self, rng: random.Random) -> None:
        """GET /api/batches/{id} for a few batches as the service, the sender, a party and a stranger see it."""
        self.request, self.response = None, None
        batch_ids = sorted(self.ledger.batches)
        for batch_id in rng.sample(batch_ids, min(6, len(batch_ids))):
            record = self.ledger.batches[batch_id]
            for viewer in [None] + [user for user in self.clients if user is not None]:
                items = self.ledger.batch_view(batch_id, viewer)
                response = self.clients[viewer].get(f"/api/batches/{batch_id}")
                what = f"GET /api/batches/{batch_id} as {viewer or 'the service'}"
                self.response = response
                if items is None:
                    error = (json_of(response) or {}).get("error") or {}
                    self.expect(response.status_code == 404 and error.get("code") == "not_found",
                                f"{what}: a stranger gets 404")
                    self.note("batch view 404")
                    continue
                self.expect(response.status_code == 200, f"{what}: status", items)
                body = json_of(response)
                sender = {"role": "service"} if record.sender is None else {"role": "user",
                                                                            "user_id": record.sender}
                self.expect(set(body) == {"id", "atomic", "created_at", "sender", "item_count", "items"},
                            f"{what}: members")
                self.expect((body["id"], body["atomic"], body["sender"]) == (batch_id, record.atomic, sender),
                            f"{what}: id, atomic, sender", {"atomic": record.atomic, "sender": sender})
                self.expect(body["item_count"] == len(record.outcomes), f"{what}: item_count", len(record.outcomes))
                self.expect(body["items"] == items, f"{what}: items", items)
                self.note("batch view")


def json_of(response):
    """The answer's JSON, or None when it is not JSON (which no expectation matches)."""
    try:
        return response.json()
    except ValueError:
        return None


def item_index(field_name: str | None) -> int | None:
    if field_name and field_name.startswith("movements["):
        return int(field_name[len("movements["):field_name.index("]")])
    return None


def item_refusal(refusal: Refusal, index: int) -> Refusal:
    """A refused item's error: the single endpoint's, with the field named inside the batch."""
    if refusal.field is None:
        return refusal
    name = "idempotency_key" if refusal.field == "Idempotency-Key" else refusal.field
    return Refusal(refusal.status, refusal.code, f"movements[{index}].{name}", refusal.quoted)


def read_batch(body) -> tuple[bool, list[tuple[Command, str | None]]]:
    """A batch's form as the contract reads it: the whole request is 422 for any item's bad form (with the
    item's index), an empty or too long list, an unknown member or two items with the same key."""
    if not isinstance(body, dict):
        raise Invalid("body")
    atomic = body.get("atomic", True)
    if atomic is None:
        atomic = True
    if not isinstance(atomic, bool):
        raise Invalid("atomic")
    movements = body.get("movements")
    if not isinstance(movements, list) or not 1 <= len(movements) <= BATCH_LIMIT:
        raise Invalid("movements")
    for name in body:
        if name not in ("atomic", "movements"):
            raise Invalid(name)
    commands, keys = [], set()
    for index, item in enumerate(movements):
        try:
            if not isinstance(item, dict):
                raise Invalid("")
            kind = item.get("type")
            if kind not in ITEM_FIELDS:
                raise Invalid("type")
            command = read_command(kind, item, in_batch=True)
        except Invalid as invalid:
            raise Invalid(f"movements[{index}].{invalid.field}" if invalid.field else f"movements[{index}]")
        key = item.get("idempotency_key")
        if key is not None:
            if key in keys:
                raise Invalid(f"movements[{index}].idempotency_key")
            keys.add(key)
        commands.append((command, key))
    return atomic, commands

