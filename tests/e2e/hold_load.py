"""A load of holds for issue 26's concurrency and fault tests: many clients place holds on a few hot payers, capture
them (whole or in part, now and then more than held), void them, let some expire (a hold of one second), send
transfers and batches of transfers (atomic or item by item) that draw on the same balances, and repeat a request
with its Idempotency-Key now and then; several clients act on the same holds at once, so that captures race voids,
each other and the expiry. Every request has a key of its own and every hold, transfer and batch item a memo of the
run's, so that the journal can be checked against the answers afterwards (check_hold_load): no hold captured twice
or both captured and voided, every capture's movement in the journal once and as the hold says, every transfer
answered 201 and every batch item answered applied there once, nobody's available balance below zero (no balance
below minus the credit limit), each balance what the answers add up to, the books whole."""

from __future__ import annotations

import random
import threading
import time
import uuid
from dataclasses import dataclass, field

import requests

from tally_e2e import Api, Database, check_balance_chains, parse_timestamp, text


@dataclass
class Answer:
    status: int | None           # None: no HTTP answer (connection broken, timeout)
    body: dict | None
    replayed: bool
    error: str | None
    started: float
    finished: float

    @property
    def code(self) -> str | None:
        if isinstance(self.body, dict) and isinstance(self.body.get("error"), dict):
            return self.body["error"].get("code")
        return None

    @property
    def definite(self) -> bool:
        """The answer says whether the request was applied: any answer below 500, or a 503 that says nothing was
        (unavailable, or busy for contention), not outcome_unknown; a 502 or no answer says nothing."""
        if self.status is None or self.status == 502:
            return False
        return self.status < 500 or (self.status == 503 and self.code != "outcome_unknown")

    @property
    def applied(self) -> bool:
        return self.status in (200, 201)


@dataclass
class Call:
    """One request of the load (`action`: hold, capture, void, transfer or batch) and every answer it got: sent again
    with its key, as a repeat or to settle a lost answer, it gets more."""
    action: str
    key: str
    memo: str | None = None
    hold: dict | None = None     # capture, void: the hold as placed
    from_id: int | None = None   # hold, transfer
    to_id: int | None = None
    amount_minor: int | None = None  # hold, transfer; capture: None for the whole hold
    expires_in: int | None = None
    items: list[tuple[int, int, int]] | None = None   # batch: (from, to, amount) of each transfer
    atomic: bool = True                               # batch
    answers: list[Answer] = field(default_factory=list)

    def item_memo(self, index: int) -> str:
        return f"{self.memo}-{index}"

    def batch_body(self) -> dict:
        return {"atomic": self.atomic, "movements": [
            {"type": "transfer", "from_user_id": from_id, "to_user_id": to_id, "amount": text(amount),
             "memo": self.item_memo(index)} for index, (from_id, to_id, amount) in enumerate(self.items)]}

    def applied_items(self) -> list[tuple[int, dict]]:
        """A batch's items its final answer applied: (index, movement)."""
        final = self.final
        if final is None or not final.applied:
            return []
        return [(result["index"], result["movement"]) for result in final.body["results"]
                if result["status"] == "applied"]

    @property
    def final(self) -> Answer | None:
        """What became of the request: its first answer that says it was applied (a repeat answered 503 later
        applied nothing more, and says nothing against it), else the last definite one (None: none was)."""
        applied = [answer for answer in self.answers if answer.applied]
        if applied:
            return applied[0]
        definite = [answer for answer in self.answers if answer.definite]
        return definite[-1] if definite else None


def send(api: Api, call: Call) -> Answer:
    headers = {"Idempotency-Key": call.key}
    started = time.monotonic()
    try:
        if call.action == "hold":
            response = api.hold(call.from_id, call.to_id, text(call.amount_minor), call.expires_in, call.memo,
                                headers=headers)
        elif call.action == "capture":
            amount = None if call.amount_minor is None else text(call.amount_minor)
            response = api.capture(call.hold["id"], amount, headers=headers)
        elif call.action == "void":
            response = api.void(call.hold["id"], headers=headers)
        elif call.action == "batch":
            response = api.post("/api/batches", call.batch_body(), headers=headers)
        else:
            response = api.transfer(call.from_id, call.to_id, text(call.amount_minor), call.memo, headers=headers)
    except requests.RequestException as error:
        answer = Answer(None, None, False, repr(error), started, time.monotonic())
    else:
        try:
            body, error = response.json(), None
        except ValueError:
            body, error = None, f"not JSON: {response.text[:200]!r}"
        answer = Answer(response.status_code, body, response.headers.get("Idempotency-Replayed") == "true", error,
                        started, time.monotonic())
    call.answers.append(answer)
    return answer


class HoldLoad:
    """`threads` clients, each making `per_call` requests (None: until stopped), over `payers` (whom the holds
    debit) and `payees`; transfers go between any two of them. One hold in `expiring_every` lives one second."""

    def __init__(self, base_url: str, payers: list[int], payees: list[int], *, threads: int = 12,
                 per_thread: int | None = None, max_amount_minor: int = 500, expiring_every: int = 6,
                 retry_pause: float = 0.05):
        self.base_url = base_url
        self.payers, self.payees = payers, payees
        self.users = payers + payees
        self.threads, self.per_thread = threads, per_thread
        self.max_amount_minor, self.expiring_every = max_amount_minor, expiring_every
        self.retry_pause = retry_pause
        self.run_id = uuid.uuid4().hex[:10]
        self.prefix = f"holds-{self.run_id}-"
        self.calls: list[Call] = []
        self.placed: list[dict] = []   # holds answered 201, in the order of their answers
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._clients = [threading.Thread(target=self._client, args=(n,), daemon=True) for n in range(threads)]

    # --- running ---------------------------------------------------------------------------------------------

    def start(self, warm_up: int = 20) -> "HoldLoad":
        """Starts the clients and returns once `warm_up` holds are placed."""
        for client in self._clients:
            client.start()
        deadline = time.monotonic() + 60
        while len(self.snapshot_placed()) < warm_up:
            if time.monotonic() > deadline or not any(client.is_alive() for client in self._clients):
                self.stop()
                raise AssertionError(f"the hold load did not get going: {self.statuses()}")
            time.sleep(0.05)
        return self

    def run(self) -> None:
        self.start(warm_up=0)
        self.join()

    def join(self, seconds: float = 300) -> None:
        for client in self._clients:
            client.join(seconds)
        assert not any(client.is_alive() for client in self._clients), "a hold load client hangs"

    def stop(self) -> list[Call]:
        self._stop.set()
        self.join(120)
        return self.snapshot()

    def snapshot(self) -> list[Call]:
        with self._lock:
            return list(self.calls)

    def snapshot_placed(self) -> list[dict]:
        with self._lock:
            return list(self.placed)

    def statuses(self) -> dict:
        found: dict = {}
        for call in self.snapshot():
            for answer in call.answers:
                label = f"{call.action} {answer.status}" + (f" {answer.code}" if answer.code else "")
                if answer.code == "hold_not_pending" and "is expired" in answer.body["error"]["message"]:
                    label += " (expired)"
                found[label] = found.get(label, 0) + 1
        return dict(sorted(found.items()))

    def _client(self, number: int) -> None:
        api = Api(self.base_url)
        chooser = random.Random(f"{self.run_id}-{number}")
        mine: list[Call] = []
        i = 0
        try:
            # A hold of one second of the client's own, which no other client acts on: it expires while the load
            # runs, and the client's last request tries to capture it (refused: it expired).
            own = Call("hold", f"{self.prefix}{number}-own", memo=f"{self.prefix}h-{number}-own",
                       from_id=chooser.choice(self.payers), to_id=chooser.choice(self.payees),
                       amount_minor=chooser.randint(1, self.max_amount_minor), expires_in=1)
            with self._lock:
                self.calls.append(own)
            send(api, own)
            placed_at = time.monotonic()
            while not self._stop.is_set() and (self.per_thread is None or i < self.per_thread):
                call = self._next_call(chooser, f"{number}-{i}", mine)
                i += 1
                if call is None:
                    continue
                if call.answers:        # a repeat of an earlier call with its key
                    answer = send(api, call)
                else:
                    with self._lock:
                        self.calls.append(call)
                    mine.append(call)
                    answer = send(api, call)
                    if call.action == "hold" and answer.status == 201:
                        with self._lock:
                            self.placed.append(answer.body)
                if answer.status == 503:
                    time.sleep(self.retry_pause)
            if own.final is not None and own.final.status == 201:
                time.sleep(max(0.0, placed_at + 1.1 - time.monotonic()))
                late = Call("capture", f"{self.prefix}{number}-own-capture", hold=own.final.body)
                with self._lock:
                    self.calls.append(late)
                send(api, late)
        finally:
            api.close()

    def _next_call(self, chooser: random.Random, name: str, mine: list[Call]) -> Call | None:
        roll = chooser.random()
        key = f"{self.prefix}{name}"
        if roll < 0.35:
            return Call("hold", key, memo=f"{self.prefix}h-{name}", from_id=chooser.choice(self.payers),
                        to_id=chooser.choice(self.payees), amount_minor=chooser.randint(1, self.max_amount_minor),
                        expires_in=1 if chooser.randrange(self.expiring_every) == 0 else 600)
        if roll < 0.45:
            from_id, to_id = chooser.sample(self.users, 2)
            return Call("transfer", key, memo=f"{self.prefix}t-{name}", from_id=from_id, to_id=to_id,
                        amount_minor=chooser.randint(1, self.max_amount_minor))
        if roll < 0.55:
            # A batch of transfers, atomic or item by item, every one from a payer: checked against the same
            # available balances as the holds, by the batch's own path.
            items = [(payer, chooser.choice([user for user in self.users if user != payer]),
                      chooser.randint(1, self.max_amount_minor))
                     for payer in (chooser.choice(self.payers) for _ in range(chooser.randint(2, 6)))]
            return Call("batch", key, memo=f"{self.prefix}b-{name}", items=items, atomic=chooser.random() < 0.5)
        if roll < 0.93:
            # Mostly a recent hold (which other clients act on too), now and then any: an older one may have
            # expired meanwhile.
            with self._lock:
                candidates = self.placed[-16:] if chooser.random() < 0.7 else list(self.placed)
            if not candidates:
                return None
            hold = chooser.choice(candidates)
            if roll < 0.78:
                amount = None
                part = chooser.random()
                if part < 0.3:
                    amount = chooser.randint(1, hold["amount_minor"])
                elif part < 0.35:
                    amount = hold["amount_minor"] + 1
                return Call("capture", key, hold=hold, amount_minor=amount)
            return Call("void", key, hold=hold)
        # A repeat of one of this client's calls with its key (which must answer as the first time).
        done = [call for call in mine[-10:] if call.final is not None]
        return chooser.choice(done) if done else None


# --- the checks -------------------------------------------------------------------------------------------------

class Monitor:
    """Reads the payers' money through the API again and again while a load runs: the least available balance
    and the least balance plus credit limit seen (neither may ever be below zero)."""

    def __init__(self, base_url: str, users: list[int]):
        self.base_url, self.users = base_url, users
        self.readings = 0
        self.least_available: int | None = None
        self.least_headroom: int | None = None
        self.broken: list[dict] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def start(self) -> "Monitor":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)

    def _watch(self) -> None:
        api = Api(self.base_url)
        try:
            while not self._stop.is_set():
                for user_id in self.users:
                    try:
                        response = api.get(f"/api/users/{user_id}")
                    except requests.RequestException:
                        continue
                    if response.status_code != 200:
                        continue
                    user = response.json()
                    self.readings += 1
                    headroom = user["balance_minor"] + user["credit_limit_minor"]
                    self.least_available = min(user["available_minor"], self.least_available
                                               if self.least_available is not None else user["available_minor"])
                    self.least_headroom = min(headroom, self.least_headroom
                                              if self.least_headroom is not None else headroom)
                    if user["available_minor"] < 0 or headroom < 0 or user["held_minor"] < 0:
                        self.broken.append(user)
                time.sleep(0.02)
        finally:
            api.close()


def judge_answers(load: HoldLoad, *, allowed: set[int] = frozenset()) -> None:
    """Every answer is one the contract gives for its request (or, for an answer that is not definite, a status
    in `allowed`: the fault's); a replay is the first definite answer again."""
    odd = []
    for call in load.snapshot():
        first = None
        for answer in call.answers:
            if not answer.definite or (answer.status == 503 and answer.code == "unavailable"):
                if answer.status not in allowed:
                    odd.append((call.action, call.key, answer.status, answer.body, answer.error))
                continue
            problem = judge_one(call, answer)
            if problem:
                odd.append((call.action, call.key, answer.status, answer.body, problem))
            if answer.replayed and first is not None and first.status != 503:
                if answer.body != first.body or answer.status != first.status:
                    odd.append((call.action, call.key, "replay differs", first.body, answer.body))
            if first is None and answer.status != 503:
                first = answer
    assert not odd, f"{len(odd)} answers the contract does not give: {odd[:5]}"


def judge_one(call: Call, answer: Answer) -> str | None:
    """What is wrong with one definite answer (None: nothing)."""
    body, code = answer.body, answer.code
    if answer.status == 503:
        return None if code == "unavailable" else f"503 {code}"
    if call.action == "batch":
        return judge_batch(call, answer)
    if call.action in ("hold", "transfer"):
        if answer.status == 409 and code == "insufficient_funds":
            return None
        if answer.status != 201:
            return "unexpected status"
        if (body["from_user_id"], body["to_user_id"], body["amount_minor"], body["memo"]) != (
                call.from_id, call.to_id, call.amount_minor, call.memo):
            return "not what was asked"
        if call.action == "hold" and (body["status"] != "pending" or body["captured_amount"] is not None):
            return "a new hold that is not pending"
        if call.action == "transfer" and body["kind"] != "transfer":
            return "not a transfer"
        return None
    hold = call.hold
    if answer.status == 409 and code in ("hold_not_pending", "hold_expired"):
        return None
    if call.action == "capture":
        over = call.amount_minor is not None and call.amount_minor > hold["amount_minor"]
        if over:
            return None if (answer.status, code) == (422, "capture_exceeds_hold") else "more than held not refused"
        if answer.status != 200:
            return "unexpected status"
        expected = hold["amount_minor"] if call.amount_minor is None else call.amount_minor
        transfer = body.get("transfer") or {}
        if (body["id"], body["status"], body["captured_amount_minor"], body["transfer_id"]) != (
                hold["id"], "captured", expected, transfer.get("id")):
            return "not the capture asked"
        if (transfer.get("kind"), transfer.get("hold_id"), transfer.get("from_user_id"), transfer.get("to_user_id"),
                transfer.get("amount_minor")) != ("transfer", hold["id"], hold["from_user_id"], hold["to_user_id"],
                                                  expected):
            return "the capture's movement is not the hold's"
        if not parse_timestamp(body["settled_at"]) < parse_timestamp(hold["expires_at"]):
            return "captured at or after expires_at"
        return None
    if answer.status != 200 or body["id"] != hold["id"] or body["status"] != "voided":
        return "unexpected answer to a void"
    return None


def judge_batch(call: Call, answer: Answer) -> str | None:
    """A batch's answer: applied whole (atomic, 201), refused whole for want of money at an item (atomic, 409), or
    item by item (200), each item applied as asked or refused for want of money."""
    body, count = answer.body, len(call.items)
    if call.atomic and answer.status == 409:
        error = body["error"]
        ok = error["code"] == "insufficient_funds" and 0 <= error.get("index", -1) < count
        return None if ok else "an atomic batch refused for something else than money"
    if answer.status != (201 if call.atomic else 200) or body.get("atomic") is not call.atomic:
        return "unexpected status"
    results = body["results"]
    if [result["index"] for result in results] != list(range(count)):
        return "not one result an item"
    for (from_id, to_id, amount), result in zip(call.items, results):
        if result["status"] == "refused":
            if call.atomic or result["error"]["code"] != "insufficient_funds":
                return "an item refused for something else than money"
            continue
        movement = result["movement"]
        if result["status"] != "applied" or (movement["from_user_id"], movement["to_user_id"],
                                             movement["amount_minor"], movement["memo"]) != (
                from_id, to_id, amount, call.item_memo(result["index"])):
            return "an item not applied as asked"
    return None


def settle(load: HoldLoad, attempts: int = 40) -> int:
    """Sends again, with its key, every request whose answer said nothing definite (a 502, no answer, 503
    outcome_unknown), until the answer is definite. Returns how many there were."""
    api = Api(load.base_url)
    settled = 0
    try:
        for call in load.snapshot():
            if call.answers and call.answers[-1].definite:
                continue
            settled += 1
            for _ in range(attempts):
                answer = send(api, call)
                if answer.definite and not (answer.status == 503 and answer.code == "unavailable"):
                    break
                time.sleep(0.25)
            assert call.answers[-1].definite, (call.action, call.key, call.answers[-1])
    finally:
        api.close()
    return settled


def movements_of_holds(db: Database, hold_ids: list[int]) -> dict[int, list[dict]]:
    """The journal's movements made by these holds' captures, by hold."""
    found: dict[int, list[dict]] = {}
    for start in range(0, len(hold_ids), 500):
        ids = ",".join(str(int(hold_id)) for hold_id in hold_ids[start:start + 500])
        for hold_id, movement_id, kind, debit, credit, amount in db.rows(
                "SELECT hold_id, id, kind, debit_user_id, credit_user_id, amount FROM movements "
                f"WHERE hold_id IN ({ids}) ORDER BY id"):
            found.setdefault(int(hold_id), []).append({"id": int(movement_id), "kind": kind, "debit": int(debit),
                                                       "credit": int(credit), "amount": int(amount)})
    return found


def check_hold_load(api: Api, db: Database, verify, load: HoldLoad, before: dict[int, int], total_before: int,
                    ledger_total) -> dict:
    """The checks of the module's docstring, once every request has a definite answer (see settle). `before`: the
    load's users' balances before it; `ledger_total`: batch_load.ledger_total. Returns figures."""
    calls = load.snapshot()
    assert all(call.final is not None for call in calls), "a request without a definite answer"
    # Every one-second hold's expiry passed: what a user holds is then what their pending holds add up to, and a
    # one-second hold still pending when the load ended reads expired.
    time.sleep(1.2)

    # The holds: each as the answers to its captures and voids say, never captured twice, never both.
    holds: dict[int, dict] = {}
    for call in calls:
        if call.action == "hold" and call.final.status == 201:
            holds[call.final.body["id"]] = call.final.body
    by_hold: dict[int, list[Call]] = {hold_id: [] for hold_id in holds}
    for call in calls:
        if call.action in ("capture", "void"):
            by_hold.setdefault(call.hold["id"], []).append(call)
    # Every hold of the load's users is one answered 201 (and settled so): none from a refused or lost request.
    listed = {hold["id"]: hold for user_id in load.payers
              for hold in api.all_pages(f"/api/users/{user_id}/holds", 100)}
    unanswered = [(hold, [(a.status, a.body, a.error, a.replayed) for call in calls if call.memo == hold["memo"]
                          for a in call.answers]) for hold_id, hold in listed.items() if hold_id not in holds]
    assert not unanswered, f"{len(unanswered)} holds placed by requests not answered 201: {unanswered[:3]}"
    assert set(holds) <= set(listed), f"answered holds missing: {sorted(set(holds) - set(listed))[:5]}"
    journal = movements_of_holds(db, list(holds))
    assert set(journal) <= set(holds), f"captures of holds nobody placed in this run: {set(journal) - set(holds)}"
    counts = {"captured": 0, "voided": 0, "expired": 0, "pending": 0}
    for hold_id, placed in holds.items():
        shown = api.get(f"/api/holds/{hold_id}").json()
        counts[shown["status"]] += 1
        applied = [call for call in by_hold[hold_id] if any(answer.applied for answer in call.answers)]
        captures = [call for call in applied if call.action == "capture"]
        voids = [call for call in applied if call.action == "void"]
        transfers = {answer.body["transfer_id"] for call in captures for answer in call.answers if answer.applied}
        assert len(captures) <= 1 and len(transfers) <= 1, f"hold {hold_id} captured by {len(captures)} requests"
        assert not (captures and voids), f"hold {hold_id} both captured and voided"
        rows = journal.get(hold_id, [])
        if captures:
            assert shown["status"] == "captured" and {shown["transfer_id"]} == transfers, (shown, transfers)
        elif voids:
            assert shown["status"] == "voided", shown
        else:
            assert shown["status"] in ("pending", "expired"), (shown, [c.answers for c in by_hold[hold_id]])
        if shown["status"] == "captured":
            assert rows == [{"id": shown["transfer_id"], "kind": "transfer", "debit": placed["from_user_id"],
                             "credit": placed["to_user_id"], "amount": shown["captured_amount_minor"]}], (shown, rows)
            assert shown["captured_amount_minor"] <= placed["amount_minor"], shown
        else:
            assert rows == [], f"hold {hold_id} is {shown['status']}, yet the journal has {rows}"
        if shown["status"] == "expired":
            assert shown["settled_at"] == placed["expires_at"], shown

    # The transfers: each 201 in the journal once, as answered; nothing refused in it.
    transfer_calls = {call.memo: call for call in calls if call.action == "transfer"}
    rows = db.rows("SELECT memo, id, kind, debit_user_id, credit_user_id, amount FROM movements "
                   "WHERE starts_with(memo, :'prefix') AND hold_id IS NULL", prefix=f"{load.prefix}t-")
    seen: dict[str, list] = {}
    for memo, movement_id, kind, debit, credit, amount in rows:
        seen.setdefault(memo, []).append((int(movement_id), kind, int(debit), int(credit), int(amount)))
    for memo, call in transfer_calls.items():
        if call.final.status == 201:
            assert seen.get(memo) == [(call.final.body["id"], "transfer", call.from_id, call.to_id,
                                       call.amount_minor)], (memo, seen.get(memo), call.final.body)
        else:
            assert memo not in seen, f"refused transfer {memo} is in the journal: {seen[memo]}"

    # The batches: each applied item in the journal once, as answered; nothing else of them.
    batch_calls = [call for call in calls if call.action == "batch"]
    expected_items = {call.item_memo(index): (movement["id"], "transfer", movement["from_user_id"],
                                              movement["to_user_id"], movement["amount_minor"])
                      for call in batch_calls for index, movement in call.applied_items()}
    items_seen: dict[str, list] = {}
    for memo, movement_id, kind, debit, credit, amount in db.rows(
            "SELECT memo, id, kind, debit_user_id, credit_user_id, amount FROM movements "
            "WHERE starts_with(memo, :'prefix')", prefix=f"{load.prefix}b-"):
        items_seen.setdefault(memo, []).append((int(movement_id), kind, int(debit), int(credit), int(amount)))
    assert set(items_seen) == set(expected_items), (
        f"batch items in the journal but not answered applied: {sorted(set(items_seen) - set(expected_items))[:5]}; "
        f"answered but missing: {sorted(set(expected_items) - set(items_seen))[:5]}")
    for memo, expected in expected_items.items():
        assert items_seen[memo] == [expected], (memo, items_seen[memo], expected)

    # Every balance what the answers add up to; nobody's available balance below zero; the books whole.
    changes = {user: 0 for user in load.users}
    for call in batch_calls:
        for _, movement in call.applied_items():
            changes[movement["from_user_id"]] -= movement["amount_minor"]
            changes[movement["to_user_id"]] += movement["amount_minor"]
    for call in transfer_calls.values():
        if call.final.status == 201:
            changes[call.from_id] -= call.amount_minor
            changes[call.to_id] += call.amount_minor
    for hold_id, placed in holds.items():
        for row in journal.get(hold_id, []):
            changes[row["debit"]] -= row["amount"]
            changes[row["credit"]] += row["amount"]
    after = {user: db.balance(user) for user in load.users}
    assert after == {user: before[user] + changes[user] for user in load.users}, "a balance is not what the answers say"
    assert sum(after.values()) == sum(before.values()), "money was made or lost among the load's users"
    assert ledger_total(db) == total_before, "money was made or lost"
    for user_id in load.users:
        user = api.user(user_id)
        pending = api.all_pages(f"/api/users/{user_id}/holds?status=pending", 100)
        held = sum(hold["amount_minor"] for hold in pending if hold["from_user_id"] == user_id)
        assert user["held_minor"] == held, (user, held)
        assert user["available_minor"] == user["balance_minor"] + user["credit_limit_minor"] - held, user
        assert user["available_minor"] >= 0 and user["balance_minor"] >= -user["credit_limit_minor"], user
    assert db.integer("SELECT count(*) FROM users WHERE NOT is_system AND balance < -credit_limit") == 0
    check_balance_chains(db, load.users)
    result = verify()
    assert result.returncode == 0, result.stdout + result.stderr
    transfers = sum(1 for call in transfer_calls.values() if call.final.status == 201)
    return {"holds": len(holds), **counts, "transfers": transfers,
            "batches": len(batch_calls), "batch items": len(expected_items),
            "requests": sum(len(call.answers) for call in calls)}
