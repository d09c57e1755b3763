"""Batches (POST /api/batches) as the concurrency tests (test_batch_concurrency.py) and the fault tests
(tests/faults/test_batch_faults.py) send them, and the checks they make afterwards.

Every item carries a memo and an `idempotency_key` that no other item of any run uses, so that the journal can
be read back by memo and held against every answer the batch got: an item some answer says is applied (or
replayed) is in the journal exactly once, with the movement id, parties, amount and batch id answered; an item
no answer says is applied is not in it at all, so nothing of a refused atomic batch is. Some items are made to
be refused whatever the timing (`Item.refused_with`): a payment from a user who is never paid anything
(409 insufficient_funds) or to a user who does not exist (404 not_found)."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field

import requests

from tally_e2e import LARGEST_ID, Api, Database, text

# Connect and read timeouts of a batch request: a 1,000-item batch on a busy two-core machine, under faults.
BATCH_TIMEOUT = (5, 120)

# Refusals an item can be made to get whatever the timing, as (HTTP status, error code): the status is what the
# whole atomic batch is answered with when that item is its first refused one.
OVERDRAFT = (409, "insufficient_funds")
UNKNOWN_USER = (404, "not_found")

# The statuses of a result in a batch's answer and in its record.
APPLIED, REPLAYED, REFUSED = "applied", "replayed", "refused"


@dataclass(frozen=True)
class Item:
    """One movement of a batch: `debit` and `credit` are users' ids, None for the outside world (a deposit's
    debit, a withdrawal's credit); `key` its idempotency_key, if it has one. `refused_with`: the refusal it must
    get, if it is made to be refused."""
    kind: str
    memo: str
    key: str | None
    amount_minor: int
    debit: int | None
    credit: int | None
    refused_with: tuple[int, str] | None = None

    def body(self) -> dict:
        if self.kind == "transfer":
            item = {"type": "transfer", "from_user_id": self.debit, "to_user_id": self.credit}
        else:
            item = {"type": self.kind, "user_id": self.debit if self.kind == "withdrawal" else self.credit}
        item.update(amount=text(self.amount_minor), memo=self.memo)
        if self.key is not None:
            item["idempotency_key"] = self.key
        return item

    def change(self, user_id: int) -> int:
        """What the item, applied, does to this user's balance."""
        return (self.amount_minor if self.credit == user_id else 0) - (self.amount_minor if self.debit == user_id else 0)


@dataclass
class Answer:
    """One answer a batch got (status None: no HTTP answer at all), and when, by the client's monotonic clock."""
    status: int | None
    body: dict | None
    replayed: bool = False            # Idempotency-Replayed: true
    error: str | None = None
    started: float = 0.0
    finished: float = 0.0
    retry_after: str | None = None
    with_key: bool = False            # sent with the batch's Idempotency-Key

    @property
    def definite(self) -> bool:
        """The service said what became of the batch: applied (201, 200) or refused (4xx)."""
        return self.status is not None and self.status < 500

    @property
    def code(self) -> str | None:
        if isinstance(self.body, dict) and isinstance(self.body.get("error"), dict):
            return self.body["error"].get("code")
        return None


@dataclass
class Batch:
    """A batch as sent (its items, atomic or not, its Idempotency-Key if it has one) and every answer it got."""
    name: str
    atomic: bool
    items: list[Item]
    key: str | None = None
    answers: list[Answer] = field(default_factory=list)

    def body(self) -> dict:
        return {"atomic": self.atomic, "movements": [item.body() for item in self.items]}

    @property
    def poison(self) -> int | None:
        """The index of the first item made to be refused, if any."""
        return next((i for i, item in enumerate(self.items) if item.refused_with), None)

    @property
    def settled(self) -> bool:
        return any(answer.definite for answer in self.answers)

    @property
    def whole(self) -> int:
        """How many of its items are in the journal when it is applied and none refused for want of money."""
        if self.atomic:
            return 0 if self.poison is not None else len(self.items)
        return sum(1 for item in self.items if item.refused_with is None)


def send_batch(api: Api, batch: Batch, *, with_key: bool = True) -> Answer:
    """POSTs the batch (with its Idempotency-Key, if it has one and `with_key`) and records the answer."""
    headers = {"Idempotency-Key": batch.key} if batch.key and with_key else {}
    answer = Answer(status=None, body=None, started=time.monotonic(), with_key=bool(headers))
    try:
        response = api.post("/api/batches", batch.body(), headers=headers, timeout=BATCH_TIMEOUT)
    except requests.RequestException as error:
        answer.error, answer.finished = repr(error), time.monotonic()
        batch.answers.append(answer)
        return answer
    answer.finished = time.monotonic()
    answer.status = response.status_code
    answer.replayed = response.headers.get("Idempotency-Replayed") == "true"
    answer.retry_after = response.headers.get("Retry-After")
    try:
        answer.body = response.json()
    except ValueError:
        answer.error = f"not JSON: {response.text[:200]!r}"
    batch.answers.append(answer)
    return answer


@dataclass
class Maker:
    """Makes random batches for one client: transfers (most items) from one of `payers` to one of `payees`,
    deposits to and withdrawals from one of `payers`, amounts of 0.01 to `max_amount_minor` / 100. `pauper`
    is a user who is never paid anything: a payment from them is always refused for want of money."""
    chooser: random.Random
    prefix: str
    payers: list[int]
    payees: list[int]
    pauper: int
    max_amount_minor: int = 500

    def item(self, memo: str, key: str | None, transfers_only: bool) -> Item:
        roll, amount = self.chooser.random(), self.chooser.randint(1, self.max_amount_minor)
        payer = self.chooser.choice(self.payers)
        if roll < 0.1 and not transfers_only:
            return Item("deposit", memo, key, amount, None, payer)
        if roll < 0.2 and not transfers_only:
            return Item("withdrawal", memo, key, amount, payer, None)
        payee = self.chooser.choice([user for user in self.payees if user != payer])
        return Item("transfer", memo, key, amount, payer, payee)

    def refused_item(self, memo: str, key: str | None, refusal: tuple[int, str]) -> Item:
        payee = self.chooser.choice(self.payees)
        if refusal == OVERDRAFT:
            return Item("transfer", memo, key, self.chooser.randint(1, self.max_amount_minor), self.pauper, payee,
                        refusal)
        return Item("transfer", memo, key, self.chooser.randint(1, self.max_amount_minor),
                    self.chooser.choice(self.payers), LARGEST_ID, refusal)

    def batch(self, name: str, size: int, *, atomic: bool, keyed: bool, item_keys: bool = True,
              refused: dict[int, tuple[int, str]] | None = None) -> Batch:
        """A batch of `size` items named `name` (its items' memos, and keys when `item_keys`, are the name and
        the index), with the name as its Idempotency-Key when `keyed`; `refused` maps indexes to the refusal the
        item there is made to get. A batch without item keys is all transfers: the server applies such a batch
        as a set, in a few statements, rather than item by item."""
        refused = refused or {}
        memos = [f"{self.prefix}{name}-{i}" for i in range(size)]
        items = [self.refused_item(memo, memo if item_keys else None, refused[i]) if i in refused
                 else self.item(memo, memo if item_keys else None, transfers_only=not item_keys)
                 for i, memo in enumerate(memos)]
        return Batch(f"{self.prefix}{name}", atomic, items, key=f"{self.prefix}{name}" if keyed else None)


# --- judging the answers -------------------------------------------------------------------------------------------

def batch_error(answer: Answer, size: int) -> dict:
    """A refused batch's error: the usual error object, with the index of the item that refused it."""
    assert answer.body is not None and set(answer.body) == {"error"}, (answer.status, answer.body)
    error = answer.body["error"]
    assert set(error) - {"field"} == {"code", "message", "index", "request_id"}, error
    assert isinstance(error["message"], str) and error["message"].strip(), error
    assert isinstance(error["index"], int) and 0 <= error["index"] < size, error
    return error


def judge_movement(item: Item, movement: dict, batch_id: int | None) -> None:
    """A movement in a result is the item's, as its single endpoint answers it (the service role sees every
    balance), with the batch's id when `batch_id` is given (a replayed item keeps the batch that applied it)."""
    assert isinstance(movement.get("id"), int), movement
    assert (movement["kind"], movement["amount_minor"], movement["memo"]) == (
        item.kind, item.amount_minor, item.memo), (item, movement)
    assert isinstance(movement["batch_id"], int), movement
    if batch_id is not None:
        assert movement["batch_id"] == batch_id, (batch_id, movement)
    if item.kind == "transfer":
        assert (movement["from_user_id"], movement["to_user_id"]) == (item.debit, item.credit), (item, movement)
        assert movement["from_balance_minor"] >= 0 and movement["to_balance_minor"] >= 0, movement
    else:
        assert movement["user_id"] == (item.debit or item.credit), (item, movement)
        assert movement["balance_minor"] >= 0, movement


def judge_answer(batch: Batch, answer: Answer, *, overdrafts: bool) -> None:
    """A definite answer is what the contract says for this batch: applied whole (atomic, 201), refused whole at
    its first refused item (atomic), or item by item (200). An item refused for want of money that was not made
    to be is allowed only when `overdrafts` (balances that concurrent batches may run down)."""
    assert answer.definite, (answer.status, answer.body, answer.error)
    body, poison = answer.body, batch.poison
    assert body is not None, answer.error
    if batch.atomic and answer.status != 201:
        error = batch_error(answer, len(batch.items))
        index = error["index"]
        if index == poison:
            assert (answer.status, error["code"]) == batch.items[index].refused_with, (batch.name, error)
        else:
            assert overdrafts and (answer.status, error["code"]) == OVERDRAFT, (batch.name, answer.status, error)
            assert poison is None or index < poison, (batch.name, poison, error)
        return
    assert answer.status == (201 if batch.atomic else 200), (batch.name, answer.status, body)
    assert not (batch.atomic and poison is not None), f"{batch.name} was applied with an item that must be refused"
    assert set(body) == {"id", "atomic", "results"} and body["atomic"] is batch.atomic, body
    assert isinstance(body["id"], int), body
    results = body["results"]
    assert [result["index"] for result in results] == list(range(len(batch.items))), batch.name
    for item, result in zip(batch.items, results):
        status = result["status"]
        if status == APPLIED:
            judge_movement(item, result["movement"], body["id"])
        elif status == REPLAYED:
            judge_movement(item, result["movement"], None)
        else:
            assert status == REFUSED and not batch.atomic, (batch.name, result)
            assert set(result) == {"index", "status", "error"}, result
            code = result["error"]["code"]
            if item.refused_with:
                assert code == item.refused_with[1], (item, result)
            else:
                assert overdrafts and code == OVERDRAFT[1], (item, result)
    if poison is not None:
        assert all(result["status"] == REFUSED for item, result in zip(batch.items, results) if item.refused_with)


def judge_replay(batch: Batch, answer: Answer) -> None:
    """An answer to a repeat with the batch's Idempotency-Key, marked replayed, is the first definite answer to
    that key, status and body (when the client saw it)."""
    assert answer.replayed and answer.with_key, (batch.name, answer.status)
    first = next((seen for seen in batch.answers if seen.with_key and seen.definite and not seen.replayed), None)
    if first is not None:
        assert (answer.status, answer.body) == (first.status, first.body), (batch.name, first.body, answer.body)


def journal_entries(batches: list[Batch]) -> dict[str, dict]:
    """memo -> {"id", "batch_id"} of every item a definite answer says is in the journal (applied, or replayed
    from before); all the answers agree on it."""
    entries: dict[str, dict] = {}
    for batch in batches:
        for answer in batch.answers:
            if answer.status not in (200, 201):
                continue
            for result in answer.body["results"]:
                if result["status"] == REFUSED:
                    continue
                memo, movement = batch.items[result["index"]].memo, result["movement"]
                entry = {"id": movement["id"], "batch_id": movement["batch_id"]}
                assert entries.setdefault(memo, entry) == entry, (
                    f"{memo} answered as two movements: {entries[memo]} and {entry}")
    return entries


# --- the journal, the records, the books -----------------------------------------------------------------------------

def journal_by_memo(db: Database, prefix: str) -> dict[str, list[dict]]:
    """The journal's rows whose memo starts with `prefix`, by memo, with their batch ids."""
    rows = db.rows("SELECT memo, id, kind, debit_user_id, credit_user_id, amount, batch_id FROM movements "
                   "WHERE starts_with(memo, :'prefix') ORDER BY id", prefix=prefix)
    found: dict[str, list[dict]] = {}
    for memo, movement_id, kind, debit, credit, amount, batch_id in rows:
        found.setdefault(memo, []).append({
            "id": int(movement_id), "kind": kind, "debit": int(debit), "credit": int(credit), "amount": int(amount),
            "batch_id": int(batch_id) if batch_id else None})
    return found


def check_journal(db: Database, prefix: str, batches: list[Batch]) -> dict[str, dict]:
    """Every item an answer says is applied is in the journal exactly once, as answered (id, kind, its user's
    side, amount, batch id); every other item is not in it at all. Returns journal_entries(batches)."""
    journal = journal_by_memo(db, prefix)
    items = {item.memo: item for batch in batches for item in batch.items}
    assert set(journal) <= set(items), f"the journal has memos nobody sent: {sorted(set(journal) - set(items))[:5]}"
    entries = journal_entries(batches)
    for memo, item in items.items():
        rows = journal.get(memo, [])
        if memo not in entries:
            assert rows == [], f"{memo}, never answered as applied, is in the journal: {rows}"
            continue
        assert len(rows) == 1, f"{memo} is in the journal {len(rows)} times: {rows}"
        row, entry = rows[0], entries[memo]
        assert (row["id"], row["batch_id"], row["kind"], row["amount"]) == (
            entry["id"], entry["batch_id"], item.kind, item.amount_minor), (memo, row, entry)
        if item.debit is not None:
            assert row["debit"] == item.debit, (memo, row)
        if item.credit is not None:
            assert row["credit"] == item.credit, (memo, row)
    return entries


def check_wholly_or_not_at_all(db: Database, prefix: str, batches: list[Batch]) -> dict[str, int]:
    """Before they are settled: each batch without a definite answer is in the journal wholly or not at all
    (an atomic batch with an item made to be refused not at all), each item at most once; one whose every
    answer was 503 unavailable (nothing applied) not at all. Returns how many of them are in it wholly and
    how many not at all."""
    journal = journal_by_memo(db, prefix)
    found = {"wholly": 0, "not at all": 0}
    for batch in batches:
        if batch.settled:
            continue
        counts = [len(journal.get(item.memo, [])) for item in batch.items]
        assert max(counts) <= 1, f"{batch.name}: an item is in the journal {max(counts)} times"
        nothing_applied = all(answer.status == 503 and answer.code == "unavailable" for answer in batch.answers)
        allowed = {0} if nothing_applied else {0, batch.whole}
        assert sum(counts) in allowed, (
            f"{batch.name} ({'atomic' if batch.atomic else 'not atomic'}, {len(batch.items)} items, answers "
            f"{[(answer.status, answer.code) for answer in batch.answers]}) is in the journal {sum(counts)} times, "
            f"not {sorted(allowed)}")
        found["wholly" if sum(counts) else "not at all"] += 1
    return found


def check_batch_records(api: Api, batches: list[Batch]) -> int:
    """GET /api/batches/{id} of every batch an answer names says what that answer said: atomic or not, the service
    role as sender, and each item's outcome and movement id. Returns how many records were read."""
    seen: set[int] = set()
    for batch in batches:
        for answer in batch.answers:
            if answer.status not in (200, 201) or answer.body["id"] in seen:
                continue
            batch_id = answer.body["id"]
            seen.add(batch_id)
            response = api.get(f"/api/batches/{batch_id}")
            assert response.status_code == 200, (batch_id, response.status_code, response.text[:300])
            record = response.json()
            assert (record["id"], record["atomic"], record["sender"], record["item_count"]) == (
                batch_id, batch.atomic, {"role": "service"}, len(batch.items)), record
            assert [entry["index"] for entry in record["items"]] == list(range(len(batch.items))), record
            for entry, result in zip(record["items"], answer.body["results"]):
                movement = result.get("movement")
                assert (entry["status"], entry["movement_id"]) == (
                    result["status"], movement["id"] if movement else None), (batch_id, entry, result)
                if result["status"] == REFUSED:
                    assert entry["error"]["code"] == result["error"]["code"], (batch_id, entry, result)
    return len(seen)


def check_histories(api: Api, prefix: str, batches: list[Batch], users: list[int]) -> None:
    """Each user's history (GET /api/users/{id}/transactions, every page) holds exactly the batch items the
    answers say are applied and touch that user, each with its movement id and batch id."""
    entries = journal_entries(batches)
    items = {item.memo: item for batch in batches for item in batch.items}
    for user in users:
        rows = [row for row in api.all_pages(f"/api/users/{user}/transactions", limit=100)
                if (row["memo"] or "").startswith(prefix)]
        by_memo = {row["memo"]: row for row in rows}
        assert len(by_memo) == len(rows), f"user {user}: a batch item is twice in the history"
        expected = {memo for memo, entry in entries.items() if user in (items[memo].debit, items[memo].credit)}
        assert set(by_memo) == expected, (
            f"user {user}: in the history but not applied {sorted(set(by_memo) - expected)[:3]}, applied but not "
            f"in the history {sorted(expected - set(by_memo))[:3]}")
        for memo in expected:
            assert (by_memo[memo]["id"], by_memo[memo]["batch_id"]) == (
                entries[memo]["id"], entries[memo]["batch_id"]), (user, memo, by_memo[memo], entries[memo])


def batch_changes(batches: list[Batch], users: list[int]) -> dict[int, int]:
    """What the applied items did to each user's balance, by the answers (after check_journal has held them
    against the journal)."""
    entries = journal_entries(batches)
    changes = dict.fromkeys(users, 0)
    for batch in batches:
        for item in batch.items:
            if item.memo in entries:
                for user in (item.debit, item.credit):
                    if user in changes:
                        changes[user] += item.change(user)
    return changes


def ledger_total(db: Database) -> int:
    """Every user's balance plus the outside world's (from the journal: what it was paid, less what it paid in):
    no movement of any kind changes it."""
    return db.integer(
        "SELECT (SELECT COALESCE(sum(balance), 0) FROM users WHERE NOT is_system) + "
        "(SELECT COALESCE(sum(CASE WHEN m.credit_user_id = s.id THEN m.amount ELSE -m.amount END), 0) "
        " FROM movements m JOIN users s ON s.is_system AND s.id IN (m.debit_user_id, m.credit_user_id))")


def settle_batches(api: Api, batches: list[Batch], *, overdrafts: bool = False, attempts: int = 50) -> dict[str, int]:
    """Sends again every batch without a definite answer, the same body with its Idempotency-Key (one without a
    key: the same items with their keys), until the answer is definite, and judges it. Returns how many were
    settled and how many of them turn out to have been applied before (answered as a replay of an applied
    request, or with every item replayed)."""
    figures = {"settled": 0, "applied before": 0}
    for batch in batches:
        if batch.settled:
            continue
        assert batch.key or all(item.key for item in batch.items), f"{batch.name} has no key to be settled by"
        for _ in range(attempts):
            answer = send_batch(api, batch)
            if answer.definite:
                break
            time.sleep(0.2)
        assert answer.definite, (batch.name, [(seen.status, seen.code, seen.error) for seen in batch.answers])
        judge_answer(batch, answer, overdrafts=overdrafts)
        figures["settled"] += 1
        if answer.status not in (200, 201):
            continue
        results = answer.body["results"]
        if answer.replayed or all(result["status"] == REPLAYED for result in results
                                  if not batch.items[result["index"]].refused_with):
            figures["applied before"] += 1
    return figures


def pool_counters(api: Api) -> dict[str, int]:
    """The pool's serialization retries and exhausted retries so far (GET /api/status, the whole pool)."""
    status = api.get("/api/status").json()
    return {"serialization_retries": status["serialization_retries"], "retries_exhausted": status["retries_exhausted"]}
