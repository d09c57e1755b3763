"""A small in-memory model of the ledger's rules, written from the contract (docs/api.md, docs/alerts.md and
issue 25's batches) without looking at how the service computes anything: who may move what, balances, the
order in which a movement is refused (forbidden, an event's t, the idempotency key, an unknown user, the
balance), idempotency keys per caller (one namespace for requests and batch items), batches applied item by
item in order (atomic: all or nothing with the first refused item's error and index; non-atomic: each item on
its own) and the activity alert codes of deposits and withdrawals (alert_rules.py).

test_batch_model.py drives it beside the service. The model says what an answer must be; the movement ids,
batch ids and timestamps it cannot know are bound from the service's answer once the rest has matched (and
checked to be new, increasing, and the same wherever they appear again)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from alert_rules import CashEvent, codes_for

LARGEST_MINOR = 9223372036854775807
AMOUNT_FORM = re.compile(r"^[0-9]+(\.[0-9]{1,2})?$")
MEMO_LIMIT = 500
BATCH_LIMIT = 1000

# Where the contract leaves a choice open, the model takes the one the single endpoints make (see
# tests/e2e/test_idempotency.py and migration 11's tally_move): a key is kept with an applied movement and with
# a refusal the ledger decided (unknown user, short balance), not with one for who the caller is (403), for
# the request's form (422) or for a key used before.
STORED_REFUSALS = {"not_found", "insufficient_funds"}
ITEM_FIELDS = {"transfer": ("type", "from_user_id", "to_user_id", "amount", "memo", "idempotency_key"),
               "deposit": ("type", "user_id", "amount", "memo", "t", "idempotency_key"),
               "withdrawal": ("type", "user_id", "amount", "memo", "t", "idempotency_key")}
SINGLE_FIELDS = {"transfer": ("from_user_id", "to_user_id", "amount", "memo"),
                 "deposit": ("amount", "memo", "t"), "withdrawal": ("amount", "memo", "t")}


class Invalid(Exception):
    """The request's form is refused (422 validation_failed) before the ledger is asked; `field` names it."""

    def __init__(self, field_name: str):
        super().__init__(field_name)
        self.field = field_name


@dataclass
class Movement:
    """A movement the model applied. `id`, `created_at` and `batch_id` come from the service's answer."""
    kind: str                      # transfer, deposit, withdrawal
    debit: int                     # 0: the outside world
    credit: int
    amount: int
    memo: str | None
    debit_after: int | None
    credit_after: int | None
    alert_codes: list[int] | None  # deposits and withdrawals
    in_batch: bool
    id: int | None = None
    created_at: str | None = None
    batch_id: int | None = None

    def parties(self) -> set[int]:
        return {self.debit, self.credit} - {0}

    def render(self, viewer: int | None) -> dict:
        """The movement as its single endpoint answers it to `viewer` (None: the service role)."""
        def seen(user: int, after: int | None):
            if viewer is not None and viewer != user:
                return None, None
            return text(after), after
        common = {"id": self.id, "kind": self.kind, "amount": text(self.amount), "amount_minor": self.amount,
                  "memo": self.memo, "created_at": self.created_at, "batch_id": self.batch_id}
        if self.kind == "transfer":
            from_text, from_minor = seen(self.debit, self.debit_after)
            to_text, to_minor = seen(self.credit, self.credit_after)
            return {**common, "from_user_id": self.debit, "to_user_id": self.credit, "from_balance": from_text,
                    "from_balance_minor": from_minor, "to_balance": to_text, "to_balance_minor": to_minor}
        user, after = (self.credit, self.credit_after) if self.kind == "deposit" else (self.debit, self.debit_after)
        return {**common, "user_id": user, "balance": text(after), "balance_minor": after,
                "alert_codes": list(self.alert_codes)}


@dataclass
class Refusal:
    """Why the ledger refused a movement: the status and code its single endpoint answers, and the field."""
    status: int
    code: str
    field: str | None = None
    quoted: str | None = None  # what the message must say: the balance that was short, the unknown user's id


@dataclass
class KeyRecord:
    """What a caller's idempotency key holds: the request's content and its outcome (a movement or a refusal
    for a movement; the first response for a whole batch)."""
    fingerprint: tuple
    movement: Movement | None = None
    refusal: Refusal | None = None
    response: tuple | None = None  # (status, body) of a batch request


@dataclass
class ItemOutcome:
    """What the model says of one movement: applied (new), replayed (an earlier one) or refused."""
    status: str
    movement: Movement | None = None
    refusal: Refusal | None = None
    replayed_refusal: bool = False  # a refusal kept with the key, answered again


@dataclass
class BatchRecord:
    id: int
    atomic: bool
    sender: int | None
    outcomes: list[ItemOutcome]


@dataclass
class State:
    """What the rules depend on. Copied (shallowly, per user) to try a batch, kept only when it applies."""
    balances: dict[int, int]
    last_t: dict[int, int]
    events: dict[int, list[CashEvent]]
    keys: dict[int, dict[str, KeyRecord]]  # owner (0: the service role) -> key -> record

    def copy(self) -> "State":
        return State(dict(self.balances), dict(self.last_t), {u: list(e) for u, e in self.events.items()},
                     {o: dict(k) for o, k in self.keys.items()})


def text(minor_units: int | None) -> str | None:
    if minor_units is None:
        return None
    return f"{minor_units // 100}.{minor_units % 100:02d}"


def amount_minor(value) -> int:
    """The amount's minor units as the API reads it, or Invalid."""
    if isinstance(value, bool) or value is None:
        raise Invalid("amount")
    if isinstance(value, (int, float)):
        value = json.dumps(value)
    if not isinstance(value, str) or not AMOUNT_FORM.match(value):
        raise Invalid("amount")
    major, _, fraction = value.partition(".")
    minor = int(major) * 100 + int((fraction + "00")[:2])
    if minor <= 0 or minor > LARGEST_MINOR:
        raise Invalid("amount")
    return minor


def positive_id(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= LARGEST_MINOR:
        raise Invalid(name)
    return value


@dataclass(frozen=True)
class Command:
    """A movement's content once its form is read: what its idempotency fingerprint is made of."""
    kind: str
    debit: int
    credit: int
    amount: int
    memo: str | None
    t: int | None

    @property
    def acting(self) -> int:
        """The account the caller must be allowed to act on: the payer's, or the deposit's own."""
        return self.credit if self.kind == "deposit" else self.debit

    @property
    def user(self) -> int:
        return self.acting

    def fingerprint(self) -> tuple:
        return (self.kind, self.debit, self.credit, self.amount, self.memo, self.t)


def read_command(kind: str, members: dict, *, in_batch: bool, user_path: int | None = None) -> Command:
    """The command a single endpoint's body (or a batch item, `type` and `idempotency_key` included) asks for,
    in the order the endpoint reads it; Invalid names the first field it refuses (without the item prefix)."""
    allowed = ITEM_FIELDS[kind] if in_batch else SINGLE_FIELDS[kind]
    value = members.get
    if kind == "transfer":
        debit = positive_id(value("from_user_id"), "from_user_id")
        credit = positive_id(value("to_user_id"), "to_user_id")
    else:
        user = positive_id(value("user_id"), "user_id") if in_batch else user_path
        debit, credit = (0, user) if kind == "deposit" else (user, 0)
    minor = amount_minor(value("amount"))
    memo = value("memo")
    if memo is not None and not isinstance(memo, str):
        raise Invalid("memo")
    t = None
    if kind != "transfer" and value("t") is not None:
        t = value("t")
        if isinstance(t, bool) or not isinstance(t, int) or t < 0:
            raise Invalid("t")
    if in_batch and value("idempotency_key") is not None:
        key = value("idempotency_key")
        if not isinstance(key, str) or not 1 <= len(key) <= 255 or "\x00" in key or "\ufffd" in key:
            raise Invalid("idempotency_key")
    for name in members:
        if name not in allowed:
            raise Invalid(name)
    if memo is not None and (len(memo) > MEMO_LIMIT or "\x00" in memo):
        raise Invalid("memo")
    if kind == "transfer" and debit == credit:
        raise Invalid("to_user_id")
    return Command(kind, debit, credit, minor, memo, t)


class Ledger:
    """The model: users (known and their balances), callers' keys, the journal, batches."""

    def __init__(self, balances: dict[int, int], last_t: dict[int, int], events: dict[int, list[CashEvent]]):
        self.state = State(dict(balances), dict(last_t), {u: list(e) for u, e in events.items()}, {})
        self.journal: list[Movement] = []
        self.batches: dict[int, BatchRecord] = {}
        self.last_movement_id = 0
        self.baseline_id = 0  # movements up to this id were there before the model began
        self.last_batch_id = 0

    @property
    def users(self) -> list[int]:
        return sorted(self.state.balances)

    # One movement, against a state (the ledger's own or a batch's trial copy).

    def move(self, state: State, caller: int | None, command: Command, key: str | None, *,
             in_batch: bool, staged: list[Movement]) -> ItemOutcome:
        """A movement sent by `caller` (None: the service role) with an idempotency key or none, judged in
        the ledger's order and applied to `state` when it may be; a new movement is appended to `staged`."""
        if caller is not None and command.t is not None:
            # Only the service role gives an event's t: refused before anything else is asked.
            return ItemOutcome("refused", refusal=Refusal(422, "validation_failed", "t"))
        if caller is not None and caller != command.acting:
            return ItemOutcome("refused", refusal=Refusal(403, "forbidden"))
        owner_keys = state.keys.setdefault(caller or 0, {})
        record = owner_keys.get(key) if key is not None else None
        if command.kind != "transfer" and command.t is not None and record is None:
            last = state.last_t.get(command.user)
            if last is not None and command.t <= last:
                return ItemOutcome("refused", refusal=Refusal(422, "validation_failed", "t"))
        if record is not None:
            if record.fingerprint != command.fingerprint():
                return ItemOutcome("refused", refusal=Refusal(422, "idempotency_key_reused", "Idempotency-Key"))
            if record.movement is not None:
                return ItemOutcome("replayed", movement=record.movement)
            return ItemOutcome("refused", refusal=record.refusal, replayed_refusal=True)
        outcome = self._judge(state, command, in_batch)
        if key is not None and (outcome.movement is not None or outcome.refusal.code in STORED_REFUSALS):
            owner_keys[key] = KeyRecord(command.fingerprint(), outcome.movement, outcome.refusal)
        if outcome.movement is not None:
            staged.append(outcome.movement)
        return outcome

    @staticmethod
    def _judge(state: State, command: Command, in_batch: bool) -> ItemOutcome:
        balances = state.balances
        for party in (command.debit, command.credit):
            if party != 0 and party not in balances:
                return ItemOutcome("refused", refusal=Refusal(404, "not_found", quoted=f"id {party}."))
        if command.debit != 0 and balances[command.debit] < command.amount:
            balance = f"the balance is {text(balances[command.debit])};"
            return ItemOutcome("refused", refusal=Refusal(409, "insufficient_funds", "amount", balance))
        if command.credit != 0 and balances[command.credit] > LARGEST_MINOR - command.amount:
            return ItemOutcome("refused", refusal=Refusal(422, "validation_failed", "amount"))
        if command.debit != 0:
            balances[command.debit] -= command.amount
        if command.credit != 0:
            balances[command.credit] += command.amount
        codes = None
        if command.kind != "transfer":
            user = command.user
            t = command.t if command.t is not None else state.last_t[user] + 1
            event = CashEvent(command.kind, command.amount, t)
            codes = codes_for(event, state.events[user])
            state.events[user].append(event)
            state.last_t[user] = t
        return ItemOutcome("applied", movement=Movement(
            command.kind, command.debit, command.credit, command.amount, command.memo,
            balances.get(command.debit), balances.get(command.credit), codes, in_batch))

    # What the service must answer.

    def single(self, caller: int | None, command: Command, key: str | None) -> tuple[ItemOutcome, list[Movement]]:
        staged: list[Movement] = []
        return self.move(self.state, caller, command, key, in_batch=False, staged=staged), staged

    def batch(self, caller: int | None, commands: list[tuple[Command, str | None]], atomic: bool):
        """Every item in order on a trial copy of the state: (outcomes, new movements, the index of the
        refused item that refuses an atomic batch or None). The copy becomes the state unless refused."""
        trial = self.state.copy()
        staged: list[Movement] = []
        outcomes = []
        for index, (command, key) in enumerate(commands):
            outcome = self.move(trial, caller, command, key, in_batch=True, staged=staged)
            outcomes.append(outcome)
            if atomic and outcome.status == "refused":
                return outcomes, [], index
        self.state = trial
        return outcomes, staged, None

    def request_key(self, caller: int | None, key: str) -> KeyRecord | None:
        return self.state.keys.get(caller or 0, {}).get(key)

    def keep_request_key(self, caller: int | None, key: str, fingerprint: tuple, response: tuple) -> None:
        self.state.keys.setdefault(caller or 0, {})[key] = KeyRecord(fingerprint, response=response)

    # Binding what only the service knows, once the rest matched.

    def bind_movement(self, movement: Movement, movement_id, created_at, batch_id) -> str | None:
        """Takes the service's id and timestamp for a new movement; a complaint when the id is not new."""
        if not isinstance(movement_id, int) or movement_id <= self.last_movement_id:
            return f"movement id {movement_id!r} is not above the last one, {self.last_movement_id}"
        movement.id, movement.created_at, movement.batch_id = movement_id, created_at, batch_id
        self.last_movement_id = movement_id
        self.journal.append(movement)
        return None

    def bind_batch(self, batch_id) -> str | None:
        if not isinstance(batch_id, int) or batch_id <= self.last_batch_id:
            return f"batch id {batch_id!r} is not above the last one, {self.last_batch_id}"
        self.last_batch_id = batch_id
        return None

    def history(self, user: int) -> list[dict]:
        """The user's movements since the model began, newest first, as GET /api/users/{id}/transactions
        shows them (without created_at)."""
        rows = []
        for movement in reversed(self.journal):
            if user not in movement.parties():
                continue
            if movement.kind == "transfer":
                outgoing = movement.debit == user
                kind = "transfer_out" if outgoing else "transfer_in"
                counterparty = movement.credit if outgoing else movement.debit
                after = movement.debit_after if outgoing else movement.credit_after
            else:
                kind, counterparty = movement.kind, None
                after = movement.credit_after if movement.kind == "deposit" else movement.debit_after
            rows.append({"id": movement.id, "kind": kind, "amount": text(movement.amount),
                         "amount_minor": movement.amount, "counterparty_user_id": counterparty,
                         "memo": movement.memo, "balance_after": text(after), "balance_after_minor": after,
                         "batch_id": movement.batch_id})
        return rows

    def batch_view(self, batch_id: int, viewer: int | None) -> list[dict] | None:
        """GET /api/batches/{id}'s items as `viewer` sees them (None: the service role), or None for 404:
        the sender and the service see every item, a party to a movement of it only those items."""
        record = self.batches[batch_id]
        items = []
        for index, outcome in enumerate(record.outcomes):
            visible = (viewer is None or viewer == record.sender
                       or (outcome.movement is not None and viewer in outcome.movement.parties()))
            if not visible:
                continue
            item = {"index": index, "status": outcome.status,
                    "movement_id": outcome.movement.id if outcome.movement is not None else None}
            if outcome.refusal is not None:
                item["error"] = {"code": outcome.refusal.code}
            items.append(item)
        return items or None
