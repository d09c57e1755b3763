"""Activity alerts through nginx: POST /api/event (the contract of the services Tally replaces), the four rules at
and around each boundary, refusals that raise and store nothing, idempotent replays, and the deposit and
withdrawal endpoints counting for the rules like events (transfers and initial balances not).

Every case gets a fresh user, so each starts with no history; t values are small and per user."""

import re
import time
import uuid

import pytest

from alert_rules import CashEvent, replay
from tally_e2e import LARGEST_ID, assert_error, assert_forbidden, assert_unauthorized, minor

EVENT_KEYS = {"alert", "alert_codes", "user_id"}
D, W = "deposit", "withdraw"
STORED_KIND = {D: "deposit", W: "withdrawal"}
RICH = "1000.00"  # every case's initial balance: enough for its withdrawals, and no event itself


def key() -> str:
    return f"alerts-{uuid.uuid4()}"


def assert_event_answer(response, user_id: int, codes: list[int] | None = None) -> dict:
    """200 with exactly {"alert", "alert_codes", "user_id"}: known codes, ascending, each once; alert a JSON
    boolean saying whether there is any. With `codes`, exactly those."""
    assert response.status_code == 200, response.text
    assert response.headers.get("Content-Type", "").startswith("application/json"), response.headers
    body = response.json()
    assert set(body) == EVENT_KEYS, body
    assert all(type(code) is int for code in body["alert_codes"]), body
    assert body["alert_codes"] == sorted(set(body["alert_codes"])), body
    assert set(body["alert_codes"]) <= {30, 123, 300, 1100}, body
    assert body["alert"] is (len(body["alert_codes"]) > 0), body
    assert body["user_id"] == user_id and type(body["user_id"]) is int, body
    if codes is not None:
        assert body["alert_codes"] == codes, body
    return body


def post_steps(api, user_id: int, steps) -> list[list[int]]:
    """Posts (type, amount, t) events in order; returns the codes each raised."""
    raised = []
    for kind, amount, t in steps:
        response = api.event(kind, amount, user_id, t)
        assert response.status_code == 200, f"{kind} {amount} at t={t}: {response.text}"
        raised.append(assert_event_answer(response, user_id)["alert_codes"])
    return raised


def model_events(steps) -> list[CashEvent]:
    return [CashEvent(STORED_KIND[kind], minor(amount), t) for kind, amount, t in steps]


def nothing_changed(db, user_id: int, before: dict, events_before: int = 0) -> None:
    assert db.snapshot(user_id) == before
    assert len(db.cash_events(user_id)) == events_before
    assert db.alert_count(user_id) == sum(len(event["codes"]) for event in db.cash_events(user_id))


# --- the contract's shapes ----------------------------------------------------------------------------------

def test_an_event_answers_alert_false_and_no_codes_when_nothing_is_raised(api, new_user):
    user = new_user(RICH)
    response = api.event(D, "42.00", user["id"], 10)
    assert_event_answer(response, user["id"], [])
    assert response.json() == {"alert": False, "alert_codes": [], "user_id": user["id"]}


def test_an_event_answers_its_codes_ascending_as_in_the_contract(api, new_user):
    """The contract's example answer: {"alert": true, "alert_codes": [30, 1100], "user_id": 1}."""
    user = new_user(RICH)
    post_steps(api, user["id"], [(W, "1.00", 1), (W, "1.00", 2)])
    response = api.event(W, "100.01", user["id"], 3)
    assert response.json() == {"alert": True, "alert_codes": [30, 1100], "user_id": user["id"]}
    assert '"alert_codes":[30,1100]' in response.text.replace(" ", "")


def test_an_event_moves_the_money_as_a_deposit_or_withdrawal_and_records_its_t(api, db, new_user):
    user = new_user("10.00")
    uid = user["id"]
    assert_event_answer(api.event(D, "42.00", uid, 10), uid, [])
    assert_event_answer(api.event(W, 2.5, uid, 11), uid, [])
    assert db.balance(uid) == 10_00 + 42_00 - 2_50
    assert api.balance_minor(uid) == 49_50
    events = db.cash_events(uid)
    assert [(e["kind"], e["amount"], e["t"], e["codes"]) for e in events] == [
        ("deposit", 42_00, 10, []), ("withdrawal", 2_50, 11, [])]
    # Each event is one journal entry with the outside world (account 0), without a memo.
    assert db.rows(
        f"SELECT kind, debit_user_id, credit_user_id, amount, memo IS NULL FROM movements "
        f"WHERE id IN ({events[0]['movement_id']}, {events[1]['movement_id']}) ORDER BY id") == [
        ["deposit", "0", str(uid), "4200", "t"], ["withdrawal", str(uid), "0", "250", "t"]]
    history = api.get(f"/api/users/{uid}/transactions").json()["items"]
    assert [(item["kind"], item["amount"], item["balance_after"]) for item in history] == [
        ("withdrawal", "2.50", "49.50"), ("deposit", "42.00", "52.00"), ("deposit", "10.00", "10.00")]


def test_members_in_any_order_and_amounts_as_numbers_are_the_same_event(api, new_user):
    user = new_user(RICH)
    body = '{"t": 1, "user_id": %d, "amount": 100.01, "type": "withdraw"}' % user["id"]
    assert_event_answer(api.request("POST", "/api/event", data=body), user["id"], [1100])


# --- each rule at and around its boundary -------------------------------------------------------------------

# (steps: (type, amount, t) in order, the codes each step raises). A fresh user with 1,000.00 per case.
BOUNDARY_CASES = [
    # 1100: a withdrawal of more than 100.00.
    pytest.param([(W, "100.00", 1)], [[]], id="1100-exactly-100.00-raises-nothing"),
    pytest.param([(W, "100.01", 1)], [[1100]], id="1100-100.01-raises-it"),
    pytest.param([(W, "99.99", 1)], [[]], id="1100-99.99-raises-nothing"),
    pytest.param([(W, 100, 1), (W, 100.01, 2)], [[], [1100]], id="1100-amounts-as-json-numbers"),
    pytest.param([(W, "900.00", 1)], [[1100]], id="1100-far-above"),
    pytest.param([(D, "100.01", 1)], [[]], id="1100-never-on-a-deposit"),
    # 30: the last 3 movements, this one included, are withdrawals.
    pytest.param([(W, "1.00", 1), (W, "1.00", 2)], [[], []], id="30-two-withdrawals-are-not-enough"),
    pytest.param([(W, "1.00", 1), (W, "1.00", 2), (W, "1.00", 3)], [[], [], [30]], id="30-the-third-in-a-row"),
    pytest.param([(W, "1.00", t) for t in (1, 2, 3, 4)], [[], [], [30], [30]], id="30-a-fourth-in-a-row-again"),
    pytest.param([(W, "1.00", 1), (W, "1.00", 2), (D, "1.00", 3), (W, "1.00", 4), (W, "1.00", 5), (W, "1.00", 6)],
                 [[], [], [], [], [], [30]], id="30-a-deposit-breaks-the-run"),
    pytest.param([(W, "1.00", 1), (W, "1.00", 2), (W, "1.00", 3), (D, "1.00", 4)], [[], [], [30], []],
                 id="30-never-on-a-deposit"),
    pytest.param([(D, "5.00", 1), (D, "5.00", 2), (W, "1.00", 3), (W, "1.00", 4), (W, "1.00", 5)],
                 [[], [], [], [], [30]], id="30-after-deposits"),
    # 300: the last 3 deposits, this one included, each strictly larger than the one before.
    pytest.param([(D, "10.00", 1), (D, "20.00", 2), (D, "30.00", 3)], [[], [], [300]], id="300-three-increasing"),
    pytest.param([(D, "10.00", 1), (D, "10.01", 2), (D, "10.02", 3)], [[], [], [300]],
                 id="300-one-cent-larger-is-larger"),
    pytest.param([(D, "10.00", 1), (D, "20.00", 2), (D, "20.00", 3)], [[], [], []], id="300-equal-last-is-not-larger"),
    pytest.param([(D, "10.00", 1), (D, "10.00", 2), (D, "20.00", 3)], [[], [], []],
                 id="300-equal-first-is-not-larger"),
    pytest.param([(D, "10.00", 1), (D, "20.00", 2)], [[], []], id="300-two-deposits-are-not-enough"),
    pytest.param([(D, "10.00", 1), (D, "20.00", 2), (D, "15.00", 3)], [[], [], []], id="300-a-smaller-one-breaks-it"),
    pytest.param([(D, "10.00", 1), (W, "5.00", 2), (D, "20.00", 3), (W, "5.00", 4), (D, "30.00", 5)],
                 [[], [], [], [], [300]], id="300-withdrawals-between-do-not-matter"),
    pytest.param([(D, "10.00", 1), (W, "20.00", 2), (D, "30.00", 3)], [[], [], []],
                 id="300-withdrawal-amounts-are-not-deposits"),
    pytest.param([(D, "10.00", 1), (D, "20.00", 2), (D, "30.00", 3), (D, "40.00", 4)], [[], [], [300], [300]],
                 id="300-a-fourth-increasing-again"),
    pytest.param([(D, "30.00", 1), (D, "10.00", 2), (D, "20.00", 3), (D, "40.00", 4)], [[], [], [], [300]],
                 id="300-only-the-last-three-count"),
    pytest.param([(D, "10.00", 1), (D, "20.00", 2), (D, "30.00", 3), (W, "1.00", 4)], [[], [], [300], []],
                 id="300-never-on-a-withdrawal"),
    # 123: deposits with t in (t - 30, t], this event included if a deposit, sum to more than 200.00.
    pytest.param([(D, "200.00", 1)], [[]], id="123-exactly-200.00-raises-nothing"),
    pytest.param([(D, "200.01", 1)], [[123]], id="123-200.01-raises-it"),
    pytest.param([(D, "200.01", 0)], [[123]], id="123-at-t-0"),
    pytest.param([(D, "100.00", 1), (D, "100.01", 30)], [[], [123]], id="123-t-minus-29-is-inside"),
    pytest.param([(D, "100.00", 1), (D, "100.01", 31)], [[], []], id="123-t-minus-30-is-outside"),
    pytest.param([(D, "100.00", 1), (D, "100.00", 30)], [[], []], id="123-exactly-200.00-over-two-deposits"),
    pytest.param([(D, "150.00", 10), (D, "60.00", 20), (W, "1.00", 39)], [[], [123], [123]],
                 id="123-on-a-withdrawal-inside-the-window"),
    pytest.param([(D, "150.00", 10), (D, "60.00", 20), (W, "1.00", 40)], [[], [123], []],
                 id="123-on-a-withdrawal-once-the-window-moved-on"),
    pytest.param([(D, "150.00", 1), (W, "100.00", 2), (D, "60.00", 3)], [[], [], [123]],
                 id="123-withdrawals-do-not-reduce-the-sum"),
    pytest.param([(D, "200.01", 0), (D, "0.01", 1000)], [[123], []], id="123-a-later-window-starts-afresh"),
    # Several codes at once.
    pytest.param([(W, "1.00", 1), (W, "1.00", 2), (W, "100.01", 3)], [[], [], [30, 1100]], id="30+1100"),
    pytest.param([(D, "100.00", 1), (D, "100.01", 2), (D, "100.02", 3)], [[], [123], [123, 300]], id="123+300"),
    pytest.param([(D, "200.01", 1), (W, "150.00", 2)], [[123], [123, 1100]], id="123+1100"),
    pytest.param([(D, "150.00", 1), (D, "60.00", 2), (W, "1.00", 3), (W, "1.00", 4), (W, "101.00", 5)],
                 [[], [123], [123], [123], [30, 123, 1100]], id="30+123+1100"),
]


@pytest.mark.parametrize("steps, expected", BOUNDARY_CASES)
def test_each_rule_at_and_around_its_boundary(api, db, new_user, steps, expected):
    # The Python model of the rules (used by the concurrency test) agrees with the table first.
    assert replay(model_events(steps)) == expected
    user = new_user(RICH)
    assert post_steps(api, user["id"], steps) == expected
    # Stored: one cash event per step, each with exactly the codes it answered.
    stored = db.cash_events(user["id"])
    assert [(e["kind"], e["amount"], e["t"]) for e in stored] == [
        (STORED_KIND[kind], minor(amount), t) for kind, amount, t in steps]
    assert [e["codes"] for e in stored] == expected
    assert db.alert_count(user["id"]) == sum(len(codes) for codes in expected)


def test_t_and_the_rules_are_per_user(api, new_user):
    alice, bob = new_user(RICH), new_user(RICH)
    # Each user has their own clock: bob may use alice's t, or one below it.
    assert_event_answer(api.event(D, "150.00", alice["id"], 5), alice["id"], [])
    assert_event_answer(api.event(D, "150.00", bob["id"], 5), bob["id"], [])
    # And their own window: 150.00 + 50.01 for bob; 150.00 + 50.00 for alice, whom bob's deposits do not concern.
    assert_event_answer(api.event(D, "50.01", bob["id"], 6), bob["id"], [123])
    assert_event_answer(api.event(D, "50.00", alice["id"], 6), alice["id"], [])


# --- refusals raise nothing and store nothing ----------------------------------------------------------------

def test_a_withdrawal_beyond_the_balance_is_409_and_raises_nothing(api, db, new_user):
    user = new_user("50.00")
    uid = user["id"]
    before = db.snapshot(uid)
    # Would be 1100 (and, after two withdrawals, 30) if it were applied.
    error = assert_error(api.event(W, "500.00", uid, 1), 409, "insufficient_funds")
    assert re.search(r"\b50\.00\b", error["message"]), error
    assert_error(api.event(W, "50.01", uid, 1), 409, "insufficient_funds")
    nothing_changed(db, uid, before)
    assert db.alert_count(uid) == 0
    # The refused events are not events: t=1 is still free, and they do not count in a run of withdrawals.
    assert_event_answer(api.event(W, "1.00", uid, 1), uid, [])
    assert_event_answer(api.event(W, "1.00", uid, 2), uid, [])
    assert_error(api.event(W, "100.01", uid, 3), 409, "insufficient_funds")
    assert_event_answer(api.event(W, "1.00", uid, 3), uid, [30])
    assert [e["codes"] for e in db.cash_events(uid)] == [[], [], [30]]
    assert db.alert_count(uid) == 1
    assert db.balance(uid) == 47_00


def test_an_overdraft_inside_a_busy_window_raises_no_123(api, db, new_user):
    user = new_user()
    uid = user["id"]
    assert_event_answer(api.event(D, "200.01", uid, 1), uid, [123])
    assert_error(api.event(W, "1000.00", uid, 2), 409, "insufficient_funds")
    assert [(e["t"], e["codes"]) for e in db.cash_events(uid)] == [(1, [123])]
    assert db.alert_count(uid) == 1


@pytest.mark.parametrize("t", [10, 9, 0], ids=["equal", "smaller", "zero"])
def test_a_t_that_does_not_increase_is_422_and_changes_nothing(api, db, new_user, t):
    user = new_user(RICH)
    uid = user["id"]
    assert_event_answer(api.event(D, "1.00", uid, 10), uid, [])
    before = db.snapshot(uid)
    for kind in (D, W):
        error = assert_error(api.event(kind, "300.00", uid, t), 422, "validation_failed", "t")
        assert "10" in error["message"], error   # it says what the last t was
    nothing_changed(db, uid, before, events_before=1)
    assert_event_answer(api.event(D, "1.00", uid, 11), uid, [])


def event_text(user_id: int, *, kind: str = '"deposit"', amount: str = '"1.00"', t: str = "1") -> str:
    """An event body with members given as JSON text, for forms json.dumps would not write (1e1, -0.5)."""
    return '{"type": %s, "amount": %s, "user_id": %d, "t": %s}' % (kind, amount, user_id, t)


@pytest.mark.parametrize("t", ['"10"', "-1", "-0.5", "1.5", "10.0", "1e1", "1E1", '"1e1"', "true", "[]", "{}",
                               "9223372036854775808", "99999999999999999999"])
def test_t_must_be_a_json_integer_of_zero_or_more(api, db, new_user, t):
    user = new_user(RICH)
    before = db.snapshot(user["id"])
    assert_error(api.request("POST", "/api/event", data=event_text(user["id"], t=t)), 422, "validation_failed", "t")
    nothing_changed(db, user["id"], before)


def test_the_largest_t_is_accepted(api, db, new_user):
    user = new_user(RICH)
    assert_event_answer(api.event(D, "1.00", user["id"], 9223372036854775807), user["id"], [])
    assert_error(api.event(D, "1.00", user["id"], 9223372036854775807), 422, "validation_failed", "t")


@pytest.mark.parametrize("kind", ["Deposit", "DEPOSIT", "withdrawal", "transfer", "", " deposit", 1, True, ["deposit"]])
def test_an_unknown_type_is_422(api, db, new_user, kind):
    user = new_user(RICH)
    before = db.snapshot(user["id"])
    body = {"type": kind, "amount": "1.00", "user_id": user["id"], "t": 1}
    assert_error(api.post("/api/event", body), 422, "validation_failed", "type")
    nothing_changed(db, user["id"], before)


@pytest.mark.parametrize("missing", ["type", "amount", "user_id", "t"])
@pytest.mark.parametrize("form", ["absent", "null"])
def test_each_missing_field_is_422_naming_it(api, db, new_user, missing, form):
    user = new_user(RICH)
    before = db.snapshot(user["id"])
    body = {"type": W, "amount": "1.00", "user_id": user["id"], "t": 1}
    if form == "absent":
        del body[missing]
    else:
        body[missing] = None
    error = assert_error(api.post("/api/event", body), 422, "validation_failed", missing)
    assert missing in error["message"], error
    nothing_changed(db, user["id"], before)


@pytest.mark.parametrize("amount", ['"0"', '"0.00"', "0", '"-1.00"', "-1", '"1.001"', "1.005", '"1e2"', "1e2",
                                    '"abc"', '""', "true", "[]", "{}", '"92233720368547758.08"'])
@pytest.mark.parametrize("kind", ['"deposit"', '"withdraw"'])
def test_an_amount_in_the_wrong_form_is_422(api, db, new_user, amount, kind):
    user = new_user(RICH)
    before = db.snapshot(user["id"])
    data = event_text(user["id"], kind=kind, amount=amount)
    assert_error(api.request("POST", "/api/event", data=data), 422, "validation_failed", "amount")
    nothing_changed(db, user["id"], before)


@pytest.mark.parametrize("user_id", ["0", "-1", '"1"', "1.5", "1e0", "true"])
def test_a_user_id_that_is_not_a_positive_integer_is_422(api, user_id):
    data = event_text(1, t="1").replace('"user_id": 1', f'"user_id": {user_id}')
    assert_error(api.request("POST", "/api/event", data=data), 422, "validation_failed", "user_id")


@pytest.mark.parametrize("extra", [{"memo": "x"}, {"time": 1}, {"T": 1}, {"alert": True}])
def test_an_unknown_field_is_422_naming_it(api, db, new_user, extra):
    user = new_user(RICH)
    before = db.snapshot(user["id"])
    body = {"type": D, "amount": "1.00", "user_id": user["id"], "t": 1, **extra}
    assert_error(api.post("/api/event", body), 422, "validation_failed", next(iter(extra)))
    nothing_changed(db, user["id"], before)


def test_a_field_given_twice_is_422(api, new_user):
    user = new_user(RICH)
    body = '{"type": "deposit", "amount": "1.00", "user_id": %d, "t": 1, "t": 2}' % user["id"]
    assert_error(api.request("POST", "/api/event", data=body), 422, "validation_failed", "t")


@pytest.mark.parametrize("data", ["", "{", "[]", '"deposit"', "null", "\xff"])
def test_a_body_that_is_not_a_json_object_is_400(api, data):
    assert_error(api.request("POST", "/api/event", data=data), 400, "malformed_json")


def test_an_unknown_user_is_404_and_nothing_is_stored(api, db):
    before = db.snapshot()
    for user_id in (LARGEST_ID, LARGEST_ID - 1):
        for kind in (D, W):
            error = assert_error(api.event(kind, "1.00", user_id, 1), 404, "not_found")
            assert str(user_id) in error["message"], error
    assert db.snapshot() == before
    assert db.integer(f"SELECT count(*) FROM cash_events WHERE user_id >= {LARGEST_ID - 1}") == 0


def test_without_a_valid_token_an_event_is_401(anonymous, api, db, new_user):
    user = new_user(RICH)
    before = db.snapshot(user["id"])
    body = {"type": D, "amount": "1.00", "user_id": user["id"], "t": 1}
    assert_unauthorized(anonymous.post("/api/event", body))
    assert_unauthorized(anonymous.post("/api/event", body, token="tly_" + "A" * 43))
    assert_unauthorized(api.post("/api/event", body, headers={"Authorization": "Basic dXNlcjpwYXNz"}))
    # The token is checked before the body is read.
    assert_unauthorized(anonymous.request("POST", "/api/event", data="{"))
    nothing_changed(db, user["id"], before)


def test_a_users_token_may_not_post_events_even_for_their_own_account(db, new_account, new_user):
    alice, bob = new_account(RICH), new_user(RICH)
    before = db.snapshot(alice.id, bob["id"])
    for user_id in (alice.id, bob["id"]):
        for kind, amount in ((D, "1.00"), (W, "1.00"), (W, "1000000.00")):
            for headers in ({}, {"Idempotency-Key": key()}):
                error = assert_forbidden(alice.api.event(kind, amount, user_id, 1, headers=headers))
                # The reason is the role, not whose account it is.
                assert error["message"] == "Only the service role may do this."
    assert db.snapshot(alice.id, bob["id"]) == before
    assert db.cash_events(alice.id) == db.cash_events(bob["id"]) == []


def test_a_users_token_is_403_on_post_event_whatever_the_body(new_account):
    alice = new_account(RICH)
    error = assert_forbidden(
        alice.api.post("/api/event", {"type": "transfer", "amount": "1.00", "user_id": alice.id, "t": 1}))
    assert error["message"] == "Only the service role may do this."


# --- idempotency ---------------------------------------------------------------------------------------------

def test_a_repeated_event_replays_its_answer_though_its_t_no_longer_increases(api, db, new_user):
    user = new_user(RICH)
    uid = user["id"]
    headers = {"Idempotency-Key": key()}
    post_steps(api, uid, [(W, "1.00", 1), (W, "1.00", 2)])
    first = api.event(W, "150.00", uid, 3, headers=headers)
    assert_event_answer(first, uid, [30, 1100])
    assert "Idempotency-Replayed" not in first.headers
    assert_event_answer(api.event(D, "5.00", uid, 4), uid, [])   # the user moves on: t=3 is now in the past
    for same_amount in ("150.00", "150", 150, 150.0):
        repeat = api.event(W, same_amount, uid, 3, headers=headers)
        assert repeat.status_code == 200, repeat.text
        assert repeat.headers.get("Idempotency-Replayed") == "true", repeat.headers
        assert repeat.json() == first.json()
    # Applied once: one cash event and its two alerts, the money moved once.
    assert [(e["t"], e["codes"]) for e in db.cash_events(uid)] == [(1, []), (2, []), (3, [30, 1100]), (4, [])]
    assert db.alert_count(uid) == 2
    assert db.balance(uid) == minor(RICH) - 152_00 + 5_00


@pytest.mark.parametrize("change", ["t", "amount", "type", "user_id"])
def test_the_same_key_for_another_event_is_refused_and_changes_nothing(api, db, new_user, change):
    user, other = new_user(RICH), new_user(RICH)
    uid = user["id"]
    headers = {"Idempotency-Key": key()}
    assert_event_answer(api.event(W, "1.00", uid, 5, headers=headers), uid, [])
    before = db.snapshot(uid, other["id"])
    body = {"type": W, "amount": "1.00", "user_id": uid, "t": 5}
    body[change] = {"t": 6, "amount": "2.00", "type": D, "user_id": other["id"]}[change]
    assert_error(api.post("/api/event", body, headers=headers), 422, "idempotency_key_reused", "Idempotency-Key")
    assert db.snapshot(uid, other["id"]) == before
    assert len(db.cash_events(uid)) == 1 and db.cash_events(other["id"]) == []


def test_a_refused_event_is_replayed_as_refused(api, db, new_user):
    user = new_user("10.00")
    uid = user["id"]
    headers = {"Idempotency-Key": key()}
    first = api.event(W, "20.00", uid, 1, headers=headers)
    assert_error(first, 409, "insufficient_funds")
    assert_event_answer(api.event(D, "100.00", uid, 2), uid, [])   # now the balance would cover it
    repeat = api.event(W, "20.00", uid, 1, headers=headers)
    assert_error(repeat, 409, "insufficient_funds", replayed=True)
    assert repeat.headers.get("Idempotency-Replayed") == "true"
    assert repeat.json() == first.json()
    assert [e["t"] for e in db.cash_events(uid)] == [2]
    assert db.balance(uid) == 110_00


def test_a_key_refused_for_a_t_that_did_not_increase_is_not_used_up(api, db, new_user):
    user = new_user(RICH)
    uid = user["id"]
    assert_event_answer(api.event(D, "1.00", uid, 10), uid, [])
    headers = {"Idempotency-Key": key()}
    assert_error(api.event(D, "2.00", uid, 10, headers=headers), 422, "validation_failed", "t")
    assert db.integer("SELECT count(*) FROM idempotency_keys WHERE key = :'k'", k=headers["Idempotency-Key"]) == 0
    assert_event_answer(api.event(D, "2.00", uid, 11, headers=headers), uid, [])
    assert [e["t"] for e in db.cash_events(uid)] == [10, 11]


# --- deposits and withdrawals through their endpoints count like events --------------------------------------

def test_deposit_and_withdrawal_endpoints_take_t_and_answer_their_alert_codes(api, db, new_user):
    user = new_user(RICH)
    uid = user["id"]
    deposit = api.deposit(uid, "200.01", t=1)
    assert deposit.status_code == 201, deposit.text
    assert deposit.json()["alert_codes"] == [123]
    assert deposit.json()["kind"] == "deposit" and deposit.json()["balance"] == "1200.01"
    # Events and endpoint movements make one history: W (event), W (endpoint), W (event) is a run of three.
    assert_event_answer(api.event(W, "1.00", uid, 2), uid, [123])
    withdrawal = api.withdraw(uid, "150.00", memo="atm", t=3)
    assert withdrawal.status_code == 201, withdrawal.text
    assert withdrawal.json()["alert_codes"] == [123, 1100]
    assert withdrawal.json()["memo"] == "atm"
    assert_event_answer(api.event(W, "1.00", uid, 4), uid, [30, 123])
    stored = db.cash_events(uid)
    assert [(e["movement_id"], e["t"], e["codes"]) for e in stored] == [
        (deposit.json()["id"], 1, [123]), (stored[1]["movement_id"], 2, [123]),
        (withdrawal.json()["id"], 3, [123, 1100]), (stored[3]["movement_id"], 4, [30, 123])]


@pytest.mark.parametrize("endpoint", ["deposits", "withdrawals"])
def test_endpoint_t_follows_the_event_rules(api, db, new_user, endpoint):
    user = new_user(RICH)
    uid = user["id"]
    path = f"/api/users/{uid}/{endpoint}"
    response = api.post(path, {"amount": "1.00", "t": 10})
    assert response.status_code == 201, response.text
    before = db.snapshot(uid)
    for t in (10, 9):
        assert_error(api.post(path, {"amount": "1.00", "t": t}), 422, "validation_failed", "t")
    for t in ("11", -1, 11.5, 1e2, True):
        assert_error(api.post(path, {"amount": "1.00", "t": t}), 422, "validation_failed", "t")
    nothing_changed(db, uid, before, events_before=1)
    response = api.post(path, {"amount": "1.00", "t": 11, "memo": None})
    assert response.status_code == 201, response.text


def test_without_t_a_movement_takes_the_current_second(api, db, new_user):
    user = new_user(RICH)
    uid = user["id"]
    started = int(time.time())
    responses = [api.withdraw(uid, "1.00"), api.withdraw(uid, "1.00"), api.withdraw(uid, "100.01"),
                 api.deposit(uid, "1.00")]
    ended = int(time.time()) + 1
    assert [r.status_code for r in responses] == [201] * 4, [r.text for r in responses]
    # They count like events: the third withdrawal in a row, and a large one.
    assert [r.json()["alert_codes"] for r in responses] == [[], [], [30, 1100], []]
    ts = [e["t"] for e in db.cash_events(uid)]
    assert ts == sorted(set(ts)), "strictly increasing, even within one second"
    # The current second, or just above the last t when several fall in one second.
    assert started <= ts[0] <= ended, (started, ts, ended)
    assert ts[-1] <= ended + len(ts), (ts, ended)


def test_without_t_a_movement_is_kept_above_the_users_last_t(api, db, new_user):
    user = new_user(RICH)
    uid = user["id"]
    future = int(time.time()) + 10_000
    assert_event_answer(api.event(D, "1.00", uid, future), uid, [])
    response = api.deposit(uid, "1.00")
    assert response.status_code == 201, response.text
    assert [e["t"] for e in db.cash_events(uid)] == [future, future + 1]
    assert_error(api.event(D, "1.00", uid, future + 1), 422, "validation_failed", "t")
    assert_event_answer(api.event(D, "1.00", uid, future + 2), uid, [])


def test_without_t_after_the_largest_t_a_movement_is_refused_not_a_server_error(api, db, new_user):
    user = new_user(RICH)
    uid = user["id"]
    assert_event_answer(api.event(D, "1.00", uid, 9223372036854775807), uid, [])
    before = db.snapshot(uid)
    assert_error(api.deposit(uid, "1.00"), 422, "validation_failed", "t")
    nothing_changed(db, uid, before, events_before=1)


def test_a_user_deposits_and_withdraws_on_their_own_account_at_the_servers_clock_and_sees_the_codes(
        api, db, new_account):
    # A user gives no t (tests/e2e/test_security_views.py: theirs is refused); the server's clock places the events.
    alice = new_account(RICH)
    for _ in range(2):
        assert alice.api.withdraw(alice.id, "1.00").json()["alert_codes"] == []
    response = alice.api.withdraw(alice.id, "100.01")
    assert response.status_code == 201, response.text
    assert response.json()["alert_codes"] == [30, 1100]
    assert [e["codes"] for e in db.cash_events(alice.id)] == [[], [], [30, 1100]]


def test_a_repeated_deposit_replays_its_alert_codes(api, db, new_user):
    user = new_user(RICH)
    uid = user["id"]
    headers = {"Idempotency-Key": key()}
    first = api.deposit(uid, "250.00", t=7, headers=headers)
    assert first.status_code == 201 and first.json()["alert_codes"] == [123], first.text
    api.deposit(uid, "1.00", t=8)
    repeat = api.deposit(uid, "250", t=7, headers=headers)
    assert repeat.status_code == 201 and repeat.headers.get("Idempotency-Replayed") == "true", repeat.text
    assert repeat.json() == first.json()
    assert [(e["t"], e["codes"]) for e in db.cash_events(uid)] == [(7, [123]), (8, [123])]


def test_transfers_do_not_count_for_the_rules(api, db, new_user):
    user, other = new_user(RICH), new_user(RICH)
    uid = user["id"]
    post_steps(api, uid, [(W, "1.00", 1), (W, "1.00", 2)])
    # Large transfers both ways: not a withdrawal (no 1100, no break in the run), not a deposit (no 123, 300).
    for sender, receiver in ((uid, other["id"]), (other["id"], uid), (other["id"], uid)):
        response = api.transfer(sender, receiver, "300.00")
        assert response.status_code == 201, response.text
        assert "alert_codes" not in response.json()
    assert_event_answer(api.event(W, "1.00", uid, 3), uid, [30])
    assert_event_answer(api.event(D, "1.00", uid, 4), uid, [])
    assert [e["t"] for e in db.cash_events(uid)] == [1, 2, 3, 4]
    assert db.cash_events(other["id"]) == []
    assert db.alert_count(uid) == 1 and db.alert_count(other["id"]) == 0


def test_an_initial_balance_is_not_an_event(api, db, new_user):
    """It is a deposit in the journal, but not one the rules see."""
    large, small = new_user("300.00"), new_user("0.50")
    assert db.cash_events(large["id"]) == db.cash_events(small["id"]) == []
    assert post_steps(api, large["id"], [(D, "1.00", 1)]) == [[]]                  # not 123 for 301.00
    assert post_steps(api, small["id"], [(D, "1.00", 1), (D, "2.00", 2)]) == [[], []]   # not 300 for 0.50 < 1 < 2
    assert db.alert_count(large["id"]) == db.alert_count(small["id"]) == 0
