"""Random requests for the model-based test (test_batch_model.py): single movements and batches, atomic and
not, with items that must fail (overdrafts, unknown users, forbidden debits, amounts out of range or
malformed, repeated item keys with the same and with other content, non-increasing event times), chains that
only work in order (A pays B, then B pays C with B emptied first), request-level Idempotency-Key repeats, and
now and then a batch whose form is wrong. Everything it chooses comes from one random.Random, so a seed
replays the same sequence; it reads the model's balances only to aim amounts at a boundary."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

UNKNOWN_USERS = (9_000_000_000_001, 9223372036854775807)
BAD_AMOUNTS = ("abc", "1.234", "0", "0.00", "-5.00", "1e3", "", "92233720368547758.08", True, "5.", ".5",
               "+1.00", " 1.00", 1.234, 0, -5, [], {"minor": 100})
MAX_AMOUNT_MINOR = 25_000


@dataclass
class Request:
    """One request of the sequence: who sends it (None: the service role), where, the body and the key."""
    caller: int | None
    method: str
    path: str
    body: object
    key: str | None = None
    note: str = ""
    kind: str = "single"                      # single (movement), batch
    movement_kind: str | None = None          # for a single: transfer, deposit, withdrawal
    user_path: int | None = None              # for a deposit or withdrawal: the user in the path


@dataclass
class Generator:
    """Makes the next request from the seeded `rng`. It remembers the keys it handed out (item keys with the
    content they went with, request keys of batches) to send them again, and reads the model's balances, event
    times and stored keys only to aim: an amount at a balance, a replay at a key that holds a movement."""
    rng: random.Random
    users: list[int]                          # model users; the first `account_count` can log in
    account_count: int
    run_id: str
    counter: int = 0
    item_keys: dict = field(default_factory=dict)     # caller -> [(key, item members without the key)]
    request_keys: dict = field(default_factory=dict)  # caller -> [key]
    sent: list[Request] = field(default_factory=list)
    stored_keys: object = None                        # caller -> the model's keys of that caller (key -> record)

    def new_key(self, kind: str) -> str:
        self.counter += 1
        return f"{kind}-{self.run_id}-{self.counter}"

    def caller(self):
        if self.rng.random() < 0.45:
            return None
        return self.rng.choice(self.users[:self.account_count])

    def amount(self, minor: int):
        """Written as the API takes it: a string, a string with one decimal or none, or a JSON number."""
        choice = self.rng.random()
        if choice < 0.15 and minor < 10 ** 12:
            return minor / 100 if minor % 100 else minor // 100
        if choice < 0.25 and minor % 100 == 0:
            return str(minor // 100)
        if choice < 0.3 and minor % 10 == 0:
            return f"{minor // 100}.{(minor % 100) // 10}"
        if choice < 0.33:
            return f"00{minor // 100}.{minor % 100:02d}"
        return f"{minor // 100}.{minor % 100:02d}"

    def respelled(self, amount):
        """The same amount written another way ("10" for "10.00", 12.5 for "12.50"), when it is one."""
        if isinstance(amount, bool) or not isinstance(amount, (str, int, float)):
            return amount
        text = amount if isinstance(amount, str) else repr(amount)
        try:
            major, _, fraction = text.partition(".")
            if not major.isdigit() or (fraction and not fraction.isdigit()) or len(fraction) > 2:
                return amount
            minor = int(major) * 100 + int((fraction + "00")[:2])
        except ValueError:
            return amount
        if minor >= 10 ** 12 or not isinstance(amount, str):
            return f"{minor // 100}.{minor % 100:02d}"
        return minor / 100 if minor % 100 else minor // 100

    def legal_amount(self, balance: int) -> int:
        if balance <= 0:
            return self.rng.randint(1, 500)
        if self.rng.random() < 0.1:
            return balance                     # the whole balance
        return self.rng.randint(1, min(balance, MAX_AMOUNT_MINOR))

    def memo(self):
        choice = self.rng.random()
        if choice < 0.5:
            return None
        if choice < 0.55:
            return ""
        return f"m{self.rng.randint(0, 999)} ☕" if choice < 0.6 else f"m{self.rng.randint(0, 99999)}"

    # Items of a batch (and bodies of single requests): members in batch form.

    def item(self, caller, balances: dict[int, int], last_t: dict[int, int], failure_rate: float = 0.3,
             used_keys: set | None = None) -> dict:
        """One item, which must fail with about `failure_rate`; `balances` is the generator's guess of the
        balances after the items before it, `used_keys` the item keys the batch has so far."""
        rng = self.rng
        used_keys = set() if used_keys is None else used_keys
        payer = caller if caller is not None else rng.choice(self.users)
        stored = self.stored_keys(caller) if self.stored_keys else {}
        pool = [(key, members) for key, members in self.item_keys.get(caller, [])
                if key not in used_keys and key in stored]
        applied = [(key, members) for key, members in pool if stored[key].movement is not None]
        batch_keys = [key for key in self.request_keys.get(caller, []) if key not in used_keys]
        foreign = [(key, members) for other, keys in self.item_keys.items() if other != caller
                   for key, members in keys if key not in used_keys]
        failing = rng.random() < failure_rate
        if failing:
            kinds = ["overdraft", "unknown", "t"] + (["forbidden"] * 2 if caller is not None else []) + (
                ["reused key"] * 2 if pool else []) + (["batch key"] if batch_keys else [])
        else:
            kinds = ["transfer"] * 5 + ["deposit", "withdrawal"] + (["replayed key"] if applied else []) + (
                ["foreign key"] if foreign else [])
        kind = rng.choice(kinds)
        if kind in ("transfer", "withdrawal") and balances[payer] == 0:
            kind = "deposit"
        if kind == "t":                        # an event time that does not increase
            kind = "deposit"
            failing = True
        if kind == "transfer":
            to = rng.choice([u for u in self.users if u != payer])
            amount = self.legal_amount(balances[payer])
            members = {"type": "transfer", "from_user_id": payer, "to_user_id": to, "amount": self.amount(amount)}
            if amount <= balances[payer]:
                balances[payer] -= amount
                balances[to] += amount
        elif kind == "deposit":
            amount = rng.randint(1, MAX_AMOUNT_MINOR)
            members = {"type": "deposit", "user_id": payer, "amount": self.amount(amount)}
            balances[payer] += amount
            self.maybe_t(members, caller, payer, last_t, failing)
        elif kind == "withdrawal":
            amount = self.legal_amount(balances[payer])
            members = {"type": "withdrawal", "user_id": payer, "amount": self.amount(amount)}
            if amount <= balances[payer]:
                balances[payer] -= amount
            self.maybe_t(members, caller, payer, last_t, failing)
        elif kind == "overdraft":
            amount = balances[payer] + rng.randint(1, 5000)
            if rng.random() < 0.5:
                members = {"type": "transfer", "from_user_id": payer,
                           "to_user_id": rng.choice([u for u in self.users if u != payer]),
                           "amount": self.amount(amount)}
            else:
                members = {"type": "withdrawal", "user_id": payer, "amount": self.amount(amount)}
        elif kind == "unknown":
            unknown = rng.choice(UNKNOWN_USERS)
            choice = rng.randrange(3)
            if choice == 0 or caller is not None:
                members = {"type": "transfer", "from_user_id": payer, "to_user_id": unknown, "amount": "1.00"}
            elif choice == 1:
                members = {"type": "transfer", "from_user_id": unknown, "to_user_id": payer, "amount": "1.00"}
            else:
                members = {"type": rng.choice(["deposit", "withdrawal"]), "user_id": unknown, "amount": "1.00"}
        elif kind == "forbidden":             # another's account, or nobody's
            victim = rng.choice([u for u in self.users if u != caller] + [UNKNOWN_USERS[0]])
            choice = rng.randrange(3)
            amount = self.amount(rng.randint(1, 100_000))
            if choice == 0:
                members = {"type": "transfer", "from_user_id": victim, "to_user_id": caller, "amount": amount}
            else:
                members = {"type": ["deposit", "withdrawal"][choice - 1], "user_id": victim, "amount": amount}
        elif kind == "batch key":             # an earlier batch's request key: one namespace, other content
            key = rng.choice(batch_keys)
            used_keys.add(key)
            return {"type": "deposit", "user_id": payer, "amount": "1.00", "idempotency_key": key}
        elif kind == "foreign key":           # another caller's key: a key of this caller's own, new
            key, _ = rng.choice(foreign)
            used_keys.add(key)
            self.item_keys.setdefault(caller, []).append((key, {"type": "deposit", "user_id": payer,
                                                                "amount": "2.00"}))
            return {"type": "deposit", "user_id": payer, "amount": "2.00", "idempotency_key": key}
        else:                                 # an earlier item key: the same content, or other content
            key, members = rng.choice(pool if kind == "reused key" else applied)
            members = dict(members)
            if kind == "reused key":
                members["memo"] = f"other-{rng.randint(0, 999)}"
            used_keys.add(key)
            return {**members, "idempotency_key": key}
        memo = self.memo()
        if memo is not None:
            members["memo"] = memo
        if rng.random() < 0.3:
            key = self.new_key("item")
            self.item_keys.setdefault(caller, []).append((key, dict(members)))
            used_keys.add(key)
            members["idempotency_key"] = key
        return members

    def maybe_t(self, members: dict, caller, user: int, last_t: dict[int, int], failing: bool) -> None:
        """The service role gives an event time now and then, above the user's last; one that must fail is
        not above it (the service's) or comes from a user (who may not give one)."""
        if failing:
            members["t"] = last_t[user] - self.rng.randint(0, 3) if caller is None else last_t[user] + 5
        elif caller is None and self.rng.random() < 0.3:
            last_t[user] += self.rng.randint(1, 40)
            members["t"] = last_t[user]
        else:
            last_t[user] += 1

    def chain(self, balances: dict[int, int]) -> list[dict]:
        """The service empties B, A pays B, B pays C: only in order does B have the money."""
        a, b, c, d = self.rng.sample(self.users, 4)
        items = []
        # Emptied by a transfer to a fourth user as often as by a withdrawal: a batch of transfers only goes as
        # a set (one UPDATE by net change), where in-order balances are computed rather than applied one by one.
        if balances[b] > 0 and self.rng.random() < 0.5:
            items.append({"type": "transfer", "from_user_id": b, "to_user_id": d, "amount": self.amount(balances[b])})
            balances[d] += balances[b]
            balances[b] = 0
        elif balances[b] > 0:
            items.append({"type": "withdrawal", "user_id": b, "amount": self.amount(balances[b])})
            balances[b] = 0
        if balances[a] == 0:
            items.append({"type": "transfer", "from_user_id": d, "to_user_id": a,
                          "amount": self.amount(balances[d])} if balances[d] > 0 else
                         {"type": "deposit", "user_id": a, "amount": "10.00"})
            moved = balances[d] if balances[d] > 0 else 1000
            balances[d] -= moved if balances[d] > 0 else 0
            balances[a] += moved
        amount = self.legal_amount(balances[a])
        items.append({"type": "transfer", "from_user_id": a, "to_user_id": b, "amount": self.amount(amount)})
        items.append({"type": "transfer", "from_user_id": b, "to_user_id": c, "amount": self.amount(amount)})
        balances[a] -= amount
        balances[c] += amount
        return items

    def malformed(self, item: dict) -> dict:
        """The item with one thing wrong with its form."""
        rng = self.rng
        item = dict(item)
        choice = rng.randrange(10)
        if choice == 8:
            item["idempotency_key"] = rng.choice(["", "k" * 256, 5, "a\x00b", ["k"]])
            return item
        if choice == 9:
            item["memo"] = rng.choice(["a\x00b", "é" * 501, ["memo"]])
            return item
        if choice == 7 and item["type"] != "transfer":
            item["t"] = rng.choice(["5", 1.5, -1, None])
            return item if item["t"] is not None else {**item, "memo": 7}
        if choice == 0:
            item["amount"] = rng.choice(BAD_AMOUNTS)
        elif choice == 1:
            item.pop("amount")
        elif choice == 2:
            item["colour"] = "blue"
        elif choice == 3:
            item["type"] = rng.choice(["payment", "Transfer", ""])
        elif choice == 4:
            item["memo"] = "x" * 501
        elif choice == 5 and item["type"] == "transfer":
            item["to_user_id"] = item["from_user_id"]
        else:
            name = "from_user_id" if item["type"] == "transfer" else "user_id"
            item[name] = rng.choice([str(item[name]), 0, -1, 1.5])
        return item

    # Whole requests.

    def next(self, balances: dict[int, int], last_t: dict[int, int]) -> Request:
        rng = self.rng
        balances, last_t = dict(balances), dict(last_t)
        roll = rng.random()
        keyed = [r for r in self.sent if r.key is not None]
        batches = [r for r in self.sent if r.kind == "batch"]
        if roll < 0.06 and keyed:
            previous = rng.choice(keyed[-5:])
            body = previous.body
            if previous.kind == "single" and rng.random() < 0.5:
                body = {**body, "amount": self.respelled(body.get("amount"))}
            request = Request(previous.caller, previous.method, previous.path, body, previous.key,
                              "the same request again, same Idempotency-Key", previous.kind,
                              previous.movement_kind, previous.user_path)
        elif roll < 0.1 and batches:
            # A client resending a batch after a lost answer: items with keys are answered as replayed.
            previous = rng.choice(batches[-8:])
            request = Request(previous.caller, "POST", "/api/batches", previous.body, None,
                              "an earlier batch resent without its Idempotency-Key", "batch")
        elif roll < 0.13 and keyed:
            previous = rng.choice(keyed)
            request = self.fresh(previous.caller, balances, last_t, rng.random() < 0.5)
            request.key, request.note = previous.key, "another request with an earlier Idempotency-Key"
        elif roll < 0.16 and self.item_keys:
            # A single request under an item's key, with the item's content: one namespace, so the item's
            # movement answers it (or its refusal, or 422 for other content).
            caller = rng.choice(sorted(self.item_keys, key=lambda c: -1 if c is None else c))
            key, members = rng.choice(self.item_keys[caller])
            members = dict(members)
            kind = members.pop("type")
            if kind == "transfer":
                request = Request(caller, "POST", "/api/transfers", members, key, "a single under an item's key",
                                  movement_kind=kind)
            else:
                user = members.pop("user_id")
                request = Request(caller, "POST", f"/api/users/{user}/{kind}s", members, key,
                                  "a single under an item's key", movement_kind=kind, user_path=user)
        else:
            request = self.fresh(self.caller(), balances, last_t, roll < 0.45)
            if rng.random() < 0.3:
                request.key = self.new_key("req")
                if request.kind == "batch":
                    self.request_keys.setdefault(request.caller, []).append(request.key)
        self.sent.append(request)
        return request

    def fresh(self, caller, balances, last_t, single: bool) -> Request:
        rng = self.rng
        if single:
            item = self.item(caller, balances, last_t)
            item.pop("idempotency_key", None)
            kind = item.pop("type")
            if rng.random() < 0.04:
                item = self.malformed({"type": kind, **item})
                item.pop("type")
            if kind == "transfer":
                return Request(caller, "POST", "/api/transfers", item, movement_kind=kind)
            user = item.pop("user_id", None)
            if not isinstance(user, int) or isinstance(user, bool) or user <= 0:
                user = caller if caller is not None else self.users[0]
            path = f"/api/users/{user}/{'deposits' if kind == 'deposit' else 'withdrawals'}"
            request = Request(caller, "POST", path, item, movement_kind=kind, user_path=user)
            if rng.random() < 0.3:
                request.key = self.new_key("req")
                # The same key may come back as a batch item: one namespace per caller.
                self.item_keys.setdefault(caller, []).append(
                    (request.key, {"type": kind, "user_id": user, **item}))
            return request
        atomic = rng.random() < 0.5
        failure_rate = (0.0 if rng.random() < 0.6 else 0.08) if atomic else 0.25
        items: list[dict] = []
        used_keys: set = set()
        count = rng.randint(1, 20)
        note = ""
        while len(items) < count:
            if caller is None and rng.random() < 0.1:
                items.extend(self.chain(balances))
                note = "with a chain: B emptied, A pays B, B pays C"
            else:
                items.append(self.item(caller, balances, last_t, failure_rate, used_keys))
        items = items[:20]
        body: dict = {"movements": items}
        if atomic or rng.random() < 0.3:
            body["atomic"] = atomic
        roll = rng.random()
        if roll < 0.04:
            index = rng.randrange(len(items))
            items[index] = self.malformed(items[index])
        elif roll < 0.06 and len(items) > 1:
            first, second = sorted(rng.sample(range(len(items)), 2))
            items[first] = {**items[first], "idempotency_key": items[first].get("idempotency_key")
                            or self.new_key("item")}
            items[second] = {**items[second], "idempotency_key": items[first]["idempotency_key"]}
        elif roll < 0.075:
            body = rng.choice([{"movements": []}, {"atomic": True, "movements": items, "priority": 1},
                               {"atomic": "yes", "movements": items}, {"movements": {"0": items[0]}}])
        return Request(caller, "POST", "/api/batches", body, note=note, kind="batch")
