"""Random requests for the holds model test (test_holds_model.py): issue 25's singles and batches (the batch
generator, aimed at the users' available money) mixed with issue 26's requests: holds placed (some expiring
in 1-2 s, some too large, forbidden, to unknown users or malformed), captured (all, part, more than held, by
the payee, the payer or a stranger), voided, captured or voided after their expiry (now and then the sequence
sleeps past one, within a small budget), transfers reversed (by default what is left, part, exactly what is
left, one cent over, a reversal or a deposit), credit and daily debit limits changed (some below what is in
use, some malformed), and a keyed request of these sent again. One random.Random decides everything, and it
reads the model only to aim (available money, which holds are settled, which transfers have something left), so
a seed replays the sequence as far as the holds' expiries fall between the same steps: a slower or faster run
may see a hold expire a step sooner or later and go another way from there."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from model_generator import BAD_AMOUNTS, MAX_AMOUNT_MINOR, UNKNOWN_USERS, Generator, Request

UNKNOWN_ID = 9_000_000_000_001
SHORT_EXPIRIES = (1, 2)
LONG_EXPIRIES = (60, 3600, 86400, 2_592_000)
BAD_EXPIRIES = (0, -1, 2_592_001, "60", 1.5, True, None)
UNKNOWN_TIME_ZONE = "Mars/Olympus_Mons"


class NoBody:
    """A request sent without a body (capture or void with nothing to say)."""

    def __repr__(self) -> str:
        return "no body"


NO_BODY = NoBody()


@dataclass
class HoldsRequest(Request):
    target: int | None = None         # the hold, transfer or user the path names
    sleep_until: float | None = None  # wall-clock seconds to wait for before sending (past a hold's expiry)


@dataclass
class HoldsGenerator(Generator):
    """`ledger` is a callable answering the model (read only to aim: available money, holds, transfers)."""
    ledger: object = None
    zone: str = "UTC"                               # the users' time zone (far from its midnight)
    sleep_budget: float = 4.0                       # seconds the sequence may sleep past expiries, in all
    margin: float = 0.25
    keyed_done: list = field(default_factory=list)  # issue 26 requests sent with a key, to send again

    def next_step(self) -> Request:
        rng, model = self.rng, self.ledger()
        state = model.state
        roll = rng.random()
        if roll < 0.5:
            available = {user: max(0, state.available(user)) for user in self.users}
            return self.next(available, state.last_t)
        if roll < 0.63:
            request = self.hold()
        elif roll < 0.75:
            request = self.capture()
        elif roll < 0.81:
            request = self.void()
        elif roll < 0.9:
            request = self.reversal()
        elif roll < 0.955:
            request = self.patch()
        elif roll < 0.98:
            request = self.after_expiry() or self.hold()
        elif self.keyed_done:
            previous = rng.choice(self.keyed_done[-6:])
            return HoldsRequest(previous.caller, previous.method, previous.path, previous.body, previous.key,
                                "the same request again, same Idempotency-Key", previous.kind,
                                target=previous.target)
        else:
            request = self.hold()
        if request.kind in ("hold", "capture", "void", "reversal") and rng.random() < 0.25:
            request.key = self.new_key(request.kind)
        return request

    def party_caller(self, parties: tuple[int, int], roles: dict[str, float]):
        """A caller for an action on something between payer and payee: the service, the payer, the payee or a
        stranger, as weighted in `roles`, among those who can log in (else the service)."""
        rng = self.rng
        logins = self.users[:self.account_count]
        roll, upto = rng.random(), 0.0
        for role, weight in roles.items():
            upto += weight
            if roll < upto:
                break
        if role == "payer" and parties[0] in logins:
            return parties[0]
        if role == "payee" and parties[1] in logins:
            return parties[1]
        strangers = [user for user in logins if user not in parties]
        if role == "stranger" and strangers:
            return rng.choice(strangers)
        return None

    def hold(self) -> HoldsRequest:
        rng, state = self.rng, self.ledger().state
        caller = self.caller()
        payer = caller if caller is not None else rng.choice(self.users)
        payee = rng.choice([user for user in self.users if user != payer])
        available = max(0, state.available(payer))
        roll = rng.random()
        note = "a hold"
        if roll < 0.12 or available == 0:
            amount, note = available + rng.randint(1, 3000), "a hold above the available money"
        elif roll < 0.2:
            amount, note = available, "a hold of all the available money"
        else:
            amount = rng.randint(1, max(1, min(available, MAX_AMOUNT_MINOR)))
        expires_in = rng.choice(SHORT_EXPIRIES) if rng.random() < 0.35 else rng.choice(LONG_EXPIRIES)
        body = {"from_user_id": payer, "to_user_id": payee, "amount": self.amount(amount), "expires_in": expires_in}
        memo = self.memo()
        if memo is not None:
            body["memo"] = memo
        roll = rng.random()
        if roll < 0.06:
            body, note = self.malformed_hold(body), "a malformed hold"
        elif roll < 0.14 and caller is not None:
            body["from_user_id"] = rng.choice([user for user in self.users if user != caller])
            if body["from_user_id"] == body["to_user_id"]:
                body["to_user_id"] = caller
            note = "a hold on another's account"
        elif roll < 0.18:
            body["to_user_id"], note = rng.choice(UNKNOWN_USERS), "a hold for an unknown payee"
        return HoldsRequest(caller, "POST", "/api/holds", body, note=note, kind="hold")

    def malformed_hold(self, body: dict) -> dict:
        rng = self.rng
        body = dict(body)
        choice = rng.randrange(6)
        if choice == 0:
            expires_in = rng.choice(BAD_EXPIRIES)
            if expires_in is None:
                body.pop("expires_in")
            else:
                body["expires_in"] = expires_in
        elif choice == 1:
            body["amount"] = rng.choice(BAD_AMOUNTS)
        elif choice == 2:
            body["to_user_id"] = body["from_user_id"]
        elif choice == 3:
            body["colour"] = "blue"
        elif choice == 4:
            body["memo"] = "x" * 501
        else:
            body["from_user_id"] = rng.choice([str(body["from_user_id"]), 0, -1])
        return body

    def some_hold(self, unsettled_share: float):
        """A hold of the model's to act on: with `unsettled_share` one not captured or voided (pending or past
        its expiry: whether it has expired is the clock's, and the choice should not depend on it), else any;
        None when there is none."""
        rng, holds = self.rng, list(self.ledger().holds.values())
        if not holds:
            return None
        unsettled = [hold for hold in holds if hold.status in ("pending", "expired")]
        if unsettled and rng.random() < unsettled_share:
            return rng.choice(unsettled)
        return rng.choice(holds)

    def capture(self) -> HoldsRequest:
        rng = self.rng
        hold = self.some_hold(0.75)
        if hold is None or rng.random() < 0.03:
            return HoldsRequest(self.caller(), "POST", f"/api/holds/{UNKNOWN_ID}/capture", {}, note="an unknown hold",
                                kind="capture", target=UNKNOWN_ID)
        caller = self.party_caller((hold.debit, hold.credit), {"service": 0.45, "payee": 0.3, "payer": 0.15,
                                                               "stranger": 0.1})
        roll = rng.random()
        if roll < 0.2:
            body, note = NO_BODY, "capture all, no body"
        elif roll < 0.3:
            body, note = {}, "capture all, {}"
        elif roll < 0.45:
            body, note = {"amount": self.amount(hold.amount)}, "capture all, the amount given"
        elif roll < 0.8 and hold.amount > 1:
            body, note = {"amount": self.amount(rng.randint(1, hold.amount - 1))}, "a partial capture"
        elif roll < 0.95:
            body, note = {"amount": self.amount(hold.amount + rng.choice([1, rng.randint(2, 5000)]))}, \
                "a capture of more than held"
        else:
            body, note = rng.choice([{"amount": rng.choice(BAD_AMOUNTS)}, {"colour": 1}]), "a malformed capture"
        return HoldsRequest(caller, "POST", f"/api/holds/{hold.id}/capture", body, note=note, kind="capture",
                            target=hold.id)

    def void(self) -> HoldsRequest:
        rng = self.rng
        hold = self.some_hold(0.7)
        if hold is None or rng.random() < 0.03:
            return HoldsRequest(self.caller(), "POST", f"/api/holds/{UNKNOWN_ID}/void", NO_BODY,
                                note="an unknown hold", kind="void", target=UNKNOWN_ID)
        caller = self.party_caller((hold.debit, hold.credit), {"service": 0.45, "payer": 0.25, "payee": 0.2,
                                                               "stranger": 0.1})
        body = NO_BODY if rng.random() < 0.6 else {}
        return HoldsRequest(caller, "POST", f"/api/holds/{hold.id}/void", body, note="a void", kind="void",
                            target=hold.id)

    def after_expiry(self) -> HoldsRequest | None:
        """Waits (within the budget) until a short pending hold is past its expiry, then captures or voids it
        as the service: 409 hold_expired."""
        now = time.time()
        waits = [(hold.expires_epoch + self.margin + 0.05 - now, hold) for hold in self.ledger().holds.values()
                 if hold.status == "pending" and hold.expires_in <= 2]
        waits = [(wait, hold) for wait, hold in waits if wait <= self.sleep_budget]
        if not waits:
            return None
        wait, hold = min(waits, key=lambda pair: pair[0])
        self.sleep_budget -= max(0.0, wait)
        action = self.rng.choice(["capture", "capture", "void"])
        return HoldsRequest(None, "POST", f"/api/holds/{hold.id}/{action}", {}, note=f"{action} after the expiry",
                            kind=action, target=hold.id, sleep_until=now + max(0.0, wait))

    def reversal(self) -> HoldsRequest:
        rng, model = self.rng, self.ledger()
        transfers = [m for m in model.journal if m.kind == "transfer"]
        others = [m for m in model.journal if m.kind != "transfer"]
        roll = rng.random()
        if roll < 0.03 or not transfers:
            return HoldsRequest(None, "POST", f"/api/transfers/{UNKNOWN_ID}/reversals", {},
                                note="an unknown transfer", kind="reversal", target=UNKNOWN_ID)
        if roll < 0.12 and others:
            movement = rng.choice(others)
            return HoldsRequest(None, "POST", f"/api/transfers/{movement.id}/reversals", {},
                                note=f"a reversal of a {movement.kind}", kind="reversal", target=movement.id)
        open_ones = [m for m in transfers if m.unreversed > 0]
        movement = rng.choice(open_ones if open_ones and rng.random() < 0.85 else transfers)
        caller = self.party_caller((movement.debit, movement.credit), {"service": 0.45, "payee": 0.3,
                                                                       "payer": 0.15, "stranger": 0.1})
        left = movement.unreversed
        roll = rng.random()
        if roll < 0.3:
            body, note = rng.choice([NO_BODY, {}]), "a reversal of what is left"
        elif roll < 0.6 and left > 1:
            body, note = {"amount": self.amount(rng.randint(1, left - 1))}, "a partial reversal"
        elif roll < 0.8 and left > 0:
            body, note = {"amount": self.amount(left)}, "a reversal of exactly what is left"
        elif roll < 0.96:
            body, note = {"amount": self.amount(left + 1)}, "a reversal one cent over"
        else:
            body, note = rng.choice([{"amount": rng.choice(BAD_AMOUNTS)}, {"memo": ["m"]}, {"to": 1}]), \
                "a malformed reversal"
        memo = self.memo()
        if isinstance(body, dict) and memo is not None and "memo" not in body and rng.random() < 0.5:
            body = {**body, "memo": memo}
        return HoldsRequest(caller, "POST", f"/api/transfers/{movement.id}/reversals", body, note=note,
                            kind="reversal", target=movement.id)

    def patch(self) -> HoldsRequest:
        rng, state = self.rng, self.ledger().state
        roll = rng.random()
        user = rng.choice(self.users)
        in_use = [other for other in self.users if state.held(other) > state.balances[other]]
        if 0.3 <= roll < 0.48 and in_use:  # aimed at a user whose holds use their credit
            user = rng.choice(in_use)
        caller = None if rng.random() < 0.9 else rng.choice(self.users[:self.account_count])
        least = state.held(user) - state.balances[user]
        if roll < 0.3:
            body, note = {"credit_limit": self.amount(rng.randint(1, 40_000)) if rng.random() < 0.8 else "0.00"}, \
                "a credit limit"
        elif roll < 0.4 and least > 0:
            body, note = {"credit_limit": self.amount(least - 1) if least > 1 else "0.00"}, \
                "a credit limit below what is in use"
        elif roll < 0.48 and least > 0:
            body, note = {"credit_limit": self.amount(least)}, "a credit limit of exactly what is in use"
        elif roll < 0.66:
            debited = state.debited.get(user, 0)
            body, note = {"daily_debit_limit": self.amount(max(1, debited + rng.randint(-2_000, 20_000)))}, \
                "a daily debit limit near today's debits"
        elif roll < 0.76:
            body, note = {"daily_debit_limit": None}, "the daily limit removed"
        elif roll < 0.83:
            body, note = {"credit_limit": self.amount(rng.randint(0, 20_000) or 1),
                          "daily_debit_limit": self.amount(rng.randint(30_000, 90_000)), "time_zone": self.zone}, \
                "every limit at once"
        else:
            body, note = rng.choice([{}, {"colour": 1}, {"credit_limit": "-5.00"}, {"credit_limit": None},
                                     {"daily_debit_limit": 0}, {"daily_debit_limit": "1.234"},
                                     {"time_zone": UNKNOWN_TIME_ZONE}, {"time_zone": 5}]), "a malformed change"
        return HoldsRequest(caller, "PATCH", f"/api/users/{user}", body, note=note, kind="patch", target=user)
