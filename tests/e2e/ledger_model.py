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
STORED_REFUSALS = {"not_found", "insufficient_funds", "limit_exceeded"}
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
    hold_id: int | None = None          # a capture: the hold it settles
    reversal_of: int | None = None      # a reversal: the transfer it reverses
    reversals: list = field(default_factory=list)  # a transfer's reversals (Movement), oldest first

    def parties(self) -> set[int]:
        return {self.debit, self.credit} - {0}

    @property
    def unreversed(self) -> int:
        return self.amount - sum(reversal.amount for reversal in self.reversals)

    def render(self, viewer: int | None, *, detail: bool = False) -> dict:
        """The movement as its single endpoint answers it to `viewer` (None: the service role); `detail`: as
        GET /api/transfers/{id} shows a transfer or reversal (with its reversals and what is left)."""
        def seen(user: int, after: int | None):
            if viewer is not None and viewer != user:
                return None, None
            return text(after), after
        common = {"id": self.id, "kind": self.kind, "amount": text(self.amount), "amount_minor": self.amount,
                  "memo": self.memo, "created_at": self.created_at, "batch_id": self.batch_id,
                  "hold_id": self.hold_id, "reversal_of": self.reversal_of}
        if detail:
            left = None if self.kind == "reversal" else self.unreversed
            common.update(reversals=[{"id": r.id, "amount": text(r.amount), "amount_minor": r.amount,
                                      "memo": r.memo, "created_at": r.created_at} for r in self.reversals],
                          unreversed_amount=text(left), unreversed_amount_minor=left)
        if self.kind in ("transfer", "reversal"):
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
    # Issue 26: each user's overdraft limit, daily debit limit (None: unset) and debits today, and the holds
    # (id -> Hold; a batch reads them, never changes them, so a trial copy shares them).
    credit: dict[int, int] = field(default_factory=dict)
    daily: dict[int, int | None] = field(default_factory=dict)
    debited: dict[int, int] = field(default_factory=dict)
    holds: dict = field(default_factory=dict)
    limit_refusals: dict[int, int] = field(default_factory=dict)  # user -> movements refused for the daily limit

    def copy(self) -> "State":
        return State(dict(self.balances), dict(self.last_t), {u: list(e) for u, e in self.events.items()},
                     {o: dict(k) for o, k in self.keys.items()}, dict(self.credit), dict(self.daily),
                     dict(self.debited), self.holds, dict(self.limit_refusals))

    def held(self, user: int) -> int:
        """What the user's pending holds reserve (a hold past its expiry is marked expired before a step is
        judged; one the step's time cannot place is decided by the world the checker tries)."""
        return sum(hold.amount for hold in self.holds.values() if hold.debit == user and hold.status == "pending")

    def available(self, user: int) -> int:
        return self.balances[user] + self.credit.get(user, 0) - self.held(user)

    def debit_refusal(self, user: int, amount: int, *, releasing: int = 0) -> "Refusal | None":
        """Why `user` may not pay `amount` (`releasing`: a hold of theirs the same movement settles): short of
        available money, or past the daily debit limit."""
        available = self.available(user) + releasing
        if available < amount:
            return Refusal(409, "insufficient_funds", "amount", text(available))
        limit = self.daily.get(user)
        if limit is not None and self.debited.get(user, 0) + amount > limit:
            return Refusal(409, "limit_exceeded", "amount", text(max(0, limit - self.debited.get(user, 0))))
        return None

    def debit(self, user: int, amount: int) -> None:
        self.balances[user] -= amount
        self.debited[user] = self.debited.get(user, 0) + amount


def text(minor_units: int | None) -> str | None:
    if minor_units is None:
        return None
    sign = "-" if minor_units < 0 else ""
    return f"{sign}{abs(minor_units) // 100}.{abs(minor_units) % 100:02d}"


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
        if command.debit != 0:
            refusal = state.debit_refusal(command.debit, command.amount)
            if refusal is not None:
                if refusal.code == "limit_exceeded":
                    state.limit_refusals[command.debit] = state.limit_refusals.get(command.debit, 0) + 1
                return ItemOutcome("refused", refusal=refusal)
        if command.credit != 0 and balances[command.credit] > LARGEST_MINOR - command.amount:
            return ItemOutcome("refused", refusal=Refusal(422, "validation_failed", "amount"))
        if command.debit != 0:
            state.debit(command.debit, command.amount)
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
            if movement.kind in ("transfer", "reversal"):
                outgoing = movement.debit == user
                kind = f"{movement.kind}_out" if outgoing else f"{movement.kind}_in"
                counterparty = movement.credit if outgoing else movement.debit
                after = movement.debit_after if outgoing else movement.credit_after
            else:
                kind, counterparty = movement.kind, None
                after = movement.credit_after if movement.kind == "deposit" else movement.debit_after
            rows.append({"id": movement.id, "kind": kind, "amount": text(movement.amount),
                         "amount_minor": movement.amount, "counterparty_user_id": counterparty,
                         "memo": movement.memo, "balance_after": text(after), "balance_after_minor": after,
                         "batch_id": movement.batch_id, "hold_id": movement.hold_id,
                         "reversal_of": movement.reversal_of})
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


# Issue 26: holds, reversals and limits (test_holds_model.py drives these beside the service).

HOLD_FIELDS = ("from_user_id", "to_user_id", "amount", "memo", "expires_in")
EXPIRES_IN_LARGEST = 2_592_000  # 30 days
TIME_ZONE_FORM = re.compile(r"^[A-Za-z_]+(/[A-Za-z0-9_+-]+)*$")


@dataclass
class Hold:
    """A hold the model placed. `id`, `created_at`, `expires_at` (and its epoch seconds on the database's
    clock) and `settled_at` come from the service's answer once the rest matched."""
    debit: int
    credit: int
    amount: int
    memo: str | None
    expires_in: int
    status: str = "pending"        # pending, captured, voided, expired
    id: int | None = None
    created_at: str | None = None
    expires_at: str | None = None
    expires_epoch: float = 0.0
    captured_amount: int | None = None
    transfer_id: int | None = None
    settled_at: str | None = None

    def parties(self) -> set[int]:
        return {self.debit, self.credit}

    def render(self) -> dict:
        settled = self.expires_at if self.status == "expired" else self.settled_at
        return {"id": self.id, "from_user_id": self.debit, "to_user_id": self.credit, "amount": text(self.amount),
                "amount_minor": self.amount, "memo": self.memo, "status": self.status,
                "created_at": self.created_at, "expires_at": self.expires_at,
                "captured_amount": text(self.captured_amount), "captured_amount_minor": self.captured_amount,
                "transfer_id": self.transfer_id, "settled_at": settled}


@dataclass(frozen=True)
class HoldCommand:
    debit: int
    credit: int
    amount: int
    memo: str | None
    expires_in: int


def _known_fields(body: dict, allowed: tuple) -> None:
    for name in body:
        if name not in allowed:
            raise Invalid(name)


def _memo(body: dict) -> str | None:
    memo = body.get("memo")
    if memo is not None and (not isinstance(memo, str) or len(memo) > MEMO_LIMIT or "\x00" in memo):
        raise Invalid("memo")
    return memo


def read_hold(body) -> HoldCommand:
    """POST /api/holds's body, or Invalid naming the field (the generator gets one thing wrong at a time)."""
    if not isinstance(body, dict):
        raise Invalid("body")
    debit = positive_id(body.get("from_user_id"), "from_user_id")
    credit = positive_id(body.get("to_user_id"), "to_user_id")
    minor = amount_minor(body.get("amount"))
    memo = _memo(body)
    expires_in = body.get("expires_in")
    if isinstance(expires_in, bool) or not isinstance(expires_in, int) or not 1 <= expires_in <= EXPIRES_IN_LARGEST:
        raise Invalid("expires_in")
    _known_fields(body, HOLD_FIELDS)
    if debit == credit:
        raise Invalid("to_user_id")
    return HoldCommand(debit, credit, minor, memo, expires_in)


def read_capture(body) -> int | None:
    """POST /api/holds/{id}/capture's body ({} or none: all of it), the amount or None."""
    if body is None:
        return None
    if not isinstance(body, dict):
        raise Invalid("body")
    _known_fields(body, ("amount",))
    return None if "amount" not in body else amount_minor(body["amount"])


def read_reversal(body) -> tuple[int | None, str | None]:
    if body is None:
        return None, None
    if not isinstance(body, dict):
        raise Invalid("body")
    _known_fields(body, ("amount", "memo"))
    amount = None if "amount" not in body else amount_minor(body["amount"])
    return amount, _memo(body)


def read_patch(body, known_zones: tuple[str, ...] = ("UTC",)) -> dict:
    """PATCH /api/users/{id}'s changes: credit_limit (minor units, >= 0), daily_debit_limit (minor units or
    None), time_zone (one of `known_zones`: the model does not know every name PostgreSQL knows)."""
    if not isinstance(body, dict) or not body:
        raise Invalid("body")
    _known_fields(body, ("credit_limit", "daily_debit_limit", "time_zone"))
    changes = {}
    if "credit_limit" in body:
        value = body["credit_limit"]
        zero = not isinstance(value, bool) and (value == 0 or isinstance(value, str) and AMOUNT_FORM.match(value)
                                                   and float(value) == 0)
        changes["credit_limit"] = 0 if zero else _field_amount(value, "credit_limit")
    if "daily_debit_limit" in body:
        value = body["daily_debit_limit"]
        changes["daily_debit_limit"] = None if value is None else _field_amount(value, "daily_debit_limit")
    if "time_zone" in body:
        zone = body["time_zone"]
        if not isinstance(zone, str) or not TIME_ZONE_FORM.match(zone) or zone not in known_zones:
            raise Invalid("time_zone")
        changes["time_zone"] = zone
    return changes


def _field_amount(value, name: str) -> int:
    try:
        return amount_minor(value)
    except Invalid:
        raise Invalid(name) from None


class HoldsLedger(Ledger):
    """The ledger with holds, reversals and limits. Holds live in the state (shared by a batch's trial copy);
    movements are found by id once bound."""

    def __init__(self, balances, last_t, events):
        super().__init__(balances, last_t, events)
        self.movements: dict[int, Movement] = {}
        self.time_zones: dict[int, str] = {}

    @property
    def holds(self) -> dict[int, Hold]:
        return self.state.holds

    def bind_movement(self, movement, movement_id, created_at, batch_id):
        problem = super().bind_movement(movement, movement_id, created_at, batch_id)
        if problem is None:
            self.movements[movement_id] = movement
        return problem

    def bind_hold(self, hold: Hold, hold_id) -> str | None:
        if not isinstance(hold_id, int) or hold_id in self.holds or hold_id <= 0:
            return f"hold id {hold_id!r} is not new"
        hold.id = hold_id
        self.holds[hold_id] = hold
        return None

    def _limit_refused(self, refusal: Refusal | None, user: int) -> Refusal | None:
        if refusal is not None and refusal.code == "limit_exceeded":
            self.state.limit_refusals[user] = self.state.limit_refusals.get(user, 0) + 1
        return refusal

    def place_hold(self, caller: int | None, command: HoldCommand) -> Refusal | Hold:
        state = self.state
        if caller is not None and caller != command.debit:
            return Refusal(403, "forbidden")
        for party in (command.debit, command.credit):
            if party not in state.balances:
                return Refusal(404, "not_found", quoted=f"id {party}.")
        available = state.available(command.debit)
        if available < command.amount:
            return Refusal(409, "insufficient_funds", "amount", text(available))
        return Hold(command.debit, command.credit, command.amount, command.memo, command.expires_in)

    def _settling(self, caller: int | None, hold_id: int, payer_may: bool) -> Refusal | Hold:
        """The hold if `caller` may settle it now, else why not: unknown to the caller (404), no longer pending
        (409: hold_expired for an expired one, whatever released it, hold_not_pending for a captured or voided
        one), or the payer capturing (403), in that order."""
        hold = self.holds.get(hold_id)
        if hold is None or (caller is not None and caller not in hold.parties()):
            return Refusal(404, "not_found", quoted=f"no hold with id {hold_id}.")
        if hold.status == "expired":
            return Refusal(409, "hold_expired")
        if hold.status != "pending":
            return Refusal(409, "hold_not_pending", quoted=f"is {hold.status}")
        if caller is not None and caller == hold.debit and not payer_may:
            return Refusal(403, "forbidden")
        return hold

    def capture(self, caller: int | None, hold_id: int, amount: int | None) -> Refusal | tuple[Hold, Movement]:
        """The hold captured (all of it when `amount` is None) and its transfer, or why not. The hold's own
        amount is released in the same movement, so only the daily limit can refuse the payer."""
        hold = self._settling(caller, hold_id, payer_may=False)
        if isinstance(hold, Refusal):
            return hold
        amount = hold.amount if amount is None else amount
        if amount > hold.amount:
            return Refusal(422, "capture_exceeds_hold", "amount", text(hold.amount))
        state = self.state
        refusal = self._limit_refused(state.debit_refusal(hold.debit, amount, releasing=hold.amount), hold.debit)
        if refusal is not None:
            # The payer's figures are theirs: a payee capturing hears only that the limit refused it.
            return refusal if caller is None else Refusal(refusal.status, refusal.code, refusal.field)
        state.debit(hold.debit, amount)
        state.balances[hold.credit] += amount
        hold.status, hold.captured_amount = "captured", amount
        movement = Movement("transfer", hold.debit, hold.credit, amount, hold.memo, state.balances[hold.debit],
                            state.balances[hold.credit], None, False, hold_id=hold_id)
        return hold, movement

    def void(self, caller: int | None, hold_id: int) -> Refusal | Hold:
        hold = self._settling(caller, hold_id, payer_may=True)
        if isinstance(hold, Refusal):
            return hold
        hold.status = "voided"
        return hold

    def reverse(self, caller: int | None, movement_id: int, amount: int | None,
                memo: str | None) -> Refusal | Movement:
        original = self.movements.get(movement_id)
        if original is None or (caller is not None and caller not in original.parties()):
            return Refusal(404, "not_found", quoted=f"no transfer with id {movement_id}.")
        if original.kind != "transfer":
            return Refusal(409, "not_reversible", quoted=f"is a {original.kind}")
        if caller is not None and caller == original.debit:
            return Refusal(403, "forbidden")
        left = original.unreversed
        amount = left if amount is None else amount
        if amount > left or left == 0:
            return Refusal(409, "reversal_exceeds_transfer", "amount", text(left))
        state = self.state
        payer, payee = original.credit, original.debit
        refusal = self._limit_refused(state.debit_refusal(payer, amount), payer)
        if refusal is not None:
            return refusal
        state.debit(payer, amount)
        state.balances[payee] += amount
        reversal = Movement("reversal", payer, payee, amount, memo, state.balances[payer], state.balances[payee],
                            None, False, reversal_of=movement_id)
        original.reversals.append(reversal)
        return reversal

    def patch(self, caller: int | None, user: int, changes: dict) -> Refusal | None:
        state = self.state
        if caller is not None:
            return Refusal(403, "forbidden")
        if user not in state.balances:
            return Refusal(404, "not_found")
        if "credit_limit" in changes:
            least = state.held(user) - state.balances[user]
            if changes["credit_limit"] < least:
                return Refusal(409, "credit_limit_in_use", "credit_limit", text(least))
            state.credit[user] = changes["credit_limit"]
        if "daily_debit_limit" in changes:
            state.daily[user] = changes["daily_debit_limit"]
        if "time_zone" in changes:
            self.time_zones[user] = changes["time_zone"]
        return None

    def user_money(self, user: int, held: int | None = None) -> dict:
        """The money members of a user's representation (`held`: the sum to show, when the step's time leaves
        some holds undecided)."""
        state = self.state
        held = state.held(user) if held is None else held
        balance, credit, daily = state.balances[user], state.credit.get(user, 0), state.daily.get(user)
        available = balance + credit - held
        return {"balance": text(balance), "balance_minor": balance, "available": text(available),
                "available_minor": available, "held": text(held), "held_minor": held,
                "credit_limit": text(credit), "credit_limit_minor": credit, "daily_debit_limit": text(daily),
                "daily_debit_limit_minor": daily, "time_zone": self.time_zones.get(user, "UTC")}
