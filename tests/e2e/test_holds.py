"""Holds (issue 26) through nginx: POST /api/holds reserves money without moving it, /capture moves all or part of
it as a transfer linked to the hold, /void releases it, and a hold past its expires_at is expired; the payer's
available balance (balance + credit limit - pending holds) drops at once and is what every debit is checked
against. Roles, idempotency keys and the listing GET /api/users/{id}/holds."""

from __future__ import annotations

import time
import uuid

import pytest

from tally_e2e import (assert_error, assert_forbidden, assert_recent_timestamp, parse_timestamp, text, unique,
                       wait_for)

HOLD_KEYS = {"id", "from_user_id", "to_user_id", "amount", "amount_minor", "memo", "status", "created_at",
             "expires_at", "captured_amount", "captured_amount_minor", "transfer_id", "settled_at"}


def place(api, payer, payee, amount, expires_in=3600, memo=None, **kwargs) -> dict:
    response = api.hold(payer["id"], payee["id"], amount, expires_in, memo, **kwargs)
    assert response.status_code == 201, response.text
    return response.json()


def money(api, user) -> tuple[int, int, int]:
    """(balance, available, held) in minor units, as GET /api/users/{id} shows them."""
    shown = api.user(user["id"])
    assert shown["available"] == signed_text(shown["available_minor"]), shown
    assert shown["held"] == text(shown["held_minor"]), shown
    return shown["balance_minor"], shown["available_minor"], shown["held_minor"]


def signed_text(minor_units: int) -> str:
    return ("-" if minor_units < 0 else "") + text(abs(minor_units))


def hold_of(api, hold_id) -> dict:
    response = api.get(f"/api/holds/{hold_id}")
    assert response.status_code == 200, response.text
    return response.json()


def key() -> str:
    return f"hold-{uuid.uuid4()}"


def test_a_hold_reserves_the_amount_at_once_and_moves_no_money(api, db, new_user):
    payer, payee = new_user("10.00"), new_user()
    movements = db.movement_count(payer["id"], payee["id"])
    memo = unique("hold")
    hold = place(api, payer, payee, "4.00", 3600, memo)
    assert set(hold) == HOLD_KEYS, hold
    assert isinstance(hold["id"], int) and hold["id"] > 0
    assert (hold["from_user_id"], hold["to_user_id"], hold["amount"], hold["amount_minor"], hold["memo"]) == (
        payer["id"], payee["id"], "4.00", 400, memo)
    assert hold["status"] == "pending"
    assert (hold["captured_amount"], hold["captured_amount_minor"], hold["transfer_id"], hold["settled_at"]) == (
        None, None, None, None)
    created = assert_recent_timestamp(hold["created_at"])
    assert abs((parse_timestamp(hold["expires_at"]) - created).total_seconds() - 3600) < 1, hold
    assert money(api, payer) == (1000, 600, 400)
    assert money(api, payee) == (0, 0, 0)
    assert db.movement_count(payer["id"], payee["id"]) == movements
    assert hold_of(api, hold["id"]) == hold
    # A memo is optional: null when absent.
    assert place(api, payer, payee, "1.00")["memo"] is None
    assert money(api, payer) == (1000, 500, 500)


def test_capturing_a_hold_moves_the_held_amount_as_a_transfer_linked_to_the_hold(api, db, new_user):
    payer, payee = new_user("10.00"), new_user()
    hold = place(api, payer, payee, "4.00", memo="order 66")
    response = api.capture(hold["id"])
    assert response.status_code == 200, response.text
    captured = response.json()
    assert set(captured) == HOLD_KEYS | {"transfer"}, captured
    transfer = captured.pop("transfer")
    assert captured["status"] == "captured"
    assert (captured["captured_amount"], captured["captured_amount_minor"]) == ("4.00", 400)
    assert captured["transfer_id"] == transfer["id"]
    assert_recent_timestamp(captured["settled_at"])
    assert (transfer["kind"], transfer["from_user_id"], transfer["to_user_id"], transfer["amount_minor"],
            transfer["hold_id"], transfer["reversal_of"]) == ("transfer", payer["id"], payee["id"], 400,
                                                               hold["id"], None)
    assert (transfer["from_balance_minor"], transfer["to_balance_minor"]) == (600, 400)
    assert money(api, payer) == (600, 600, 0)
    assert money(api, payee) == (400, 400, 0)
    assert hold_of(api, hold["id"]) == captured
    stored = api.get(f"/api/transfers/{transfer['id']}").json()
    assert stored["hold_id"] == hold["id"] and stored["amount_minor"] == 400, stored
    row = db.rows(f"SELECT kind, debit_user_id, credit_user_id, amount FROM movements WHERE id = {transfer['id']}")
    assert row == [["transfer", str(payer["id"]), str(payee["id"]), "400"]]
    # The payer's history shows the capture like a transfer, with the hold's id.
    newest = api.get(f"/api/users/{payer['id']}/transactions").json()["items"][0]
    assert (newest["id"], newest["kind"], newest["amount_minor"], newest["counterparty_user_id"],
            newest["hold_id"]) == (transfer["id"], "transfer_out", 400, payee["id"], hold["id"])
    incoming = api.get(f"/api/users/{payee['id']}/transactions").json()["items"][0]
    assert (incoming["id"], incoming["kind"], incoming["hold_id"]) == (transfer["id"], "transfer_in", hold["id"])
    # Holds and captures are not cash events: the alert rules see nothing of them.
    assert db.cash_events(payer["id"]) == db.cash_events(payee["id"]) == []
    assert db.alert_count(payer["id"]) == db.alert_count(payee["id"]) == 0


def test_a_capture_without_a_body_captures_the_whole_hold(api, new_user):
    payer, payee = new_user("3.00"), new_user()
    hold = place(api, payer, payee, "2.50")
    response = api.post(f"/api/holds/{hold['id']}/capture")
    assert response.status_code == 200, response.text
    assert response.json()["captured_amount_minor"] == 250
    assert money(api, payer) == (50, 50, 0) and money(api, payee)[0] == 250


def test_a_partial_capture_moves_that_much_and_releases_the_rest(api, new_user):
    payer, payee = new_user("10.00"), new_user()
    hold = place(api, payer, payee, "5.00")
    response = api.capture(hold["id"], "2.00")
    assert response.status_code == 200, response.text
    captured = response.json()
    assert (captured["status"], captured["amount_minor"], captured["captured_amount"],
            captured["captured_amount_minor"]) == ("captured", 500, "2.00", 200)
    assert captured["transfer"]["amount_minor"] == 200
    assert money(api, payer) == (800, 800, 0)
    assert money(api, payee) == (200, 200, 0)
    # The rest is released for good: the hold cannot be captured again for it.
    assert "captured" in assert_error(api.capture(hold["id"], "3.00"), 409, "hold_not_pending")["message"]
    assert money(api, payer) == (800, 800, 0)


def test_capturing_more_than_held_is_refused_and_leaves_the_hold_pending(api, db, new_user):
    payer, payee = new_user("10.00"), new_user()
    hold = place(api, payer, payee, "5.00")
    before = db.snapshot(payer["id"], payee["id"])
    assert_error(api.capture(hold["id"], "5.01"), 422, "capture_exceeds_hold", "amount")
    assert db.snapshot(payer["id"], payee["id"]) == before
    assert hold_of(api, hold["id"])["status"] == "pending"
    assert money(api, payer) == (1000, 500, 500)
    for amount, field in (("0", "amount"), ("-1.00", "amount"), ("1.001", "amount"), ("ten", "amount")):
        assert_error(api.capture(hold["id"], amount), 422, "validation_failed", field)
    assert_error(api.post(f"/api/holds/{hold['id']}/capture", {"amount": "1.00", "colour": "red"}), 422,
                 "validation_failed", "colour")
    assert api.capture(hold["id"], "5.00").status_code == 200
    assert money(api, payer) == (500, 500, 0)


def test_a_voided_hold_releases_its_amount_and_cannot_be_captured_or_voided_again(api, db, new_user):
    payer, payee = new_user("10.00"), new_user()
    hold = place(api, payer, payee, "6.00")
    movements = db.movement_count(payer["id"], payee["id"])
    response = api.void(hold["id"])
    assert response.status_code == 200, response.text
    voided = response.json()
    assert set(voided) == HOLD_KEYS, voided
    assert (voided["status"], voided["captured_amount"], voided["transfer_id"]) == ("voided", None, None)
    assert_recent_timestamp(voided["settled_at"])
    assert money(api, payer) == (1000, 1000, 0)
    error = assert_error(api.capture(hold["id"]), 409, "hold_not_pending")
    assert "is voided" in error["message"], error
    assert "voided" in assert_error(api.void(hold["id"]), 409, "hold_not_pending")["message"]
    assert db.movement_count(payer["id"], payee["id"]) == movements
    assert money(api, payer) == (1000, 1000, 0) and money(api, payee) == (0, 0, 0)
    assert hold_of(api, hold["id"]) == voided


def test_a_captured_hold_cannot_be_voided_or_captured_again(api, new_user):
    payer, payee = new_user("10.00"), new_user()
    hold = place(api, payer, payee, "6.00")
    captured = api.capture(hold["id"]).json()
    error = assert_error(api.void(hold["id"]), 409, "hold_not_pending")
    assert "is captured" in error["message"], error
    assert "captured" in assert_error(api.capture(hold["id"]), 409, "hold_not_pending")["message"]
    assert money(api, payer) == (400, 400, 0) and money(api, payee) == (600, 600, 0)
    captured.pop("transfer")
    assert hold_of(api, hold["id"]) == captured


def test_an_expired_hold_cannot_be_captured_or_voided_and_no_longer_reserves(api, db, new_user):
    payer, payee = new_user("10.00"), new_user()
    hold = place(api, payer, payee, "7.00", expires_in=1)
    assert abs((parse_timestamp(hold["expires_at"]) - parse_timestamp(hold["created_at"])).total_seconds() - 1) < 0.01
    assert money(api, payer) == (1000, 300, 700)
    time.sleep(1)
    assert wait_for(lambda: hold_of(api, hold["id"])["status"] == "expired", 10, 0.1), hold_of(api, hold["id"])
    # Before anything touches the hold or the payer, the money is theirs again.
    assert money(api, payer) == (1000, 1000, 0)
    movements = db.movement_count(payer["id"], payee["id"])
    assert_error(api.capture(hold["id"]), 409, "hold_expired")
    assert_error(api.capture(hold["id"], "1.00"), 409, "hold_expired")
    assert_error(api.void(hold["id"]), 409, "hold_expired")
    expired = hold_of(api, hold["id"])
    assert (expired["status"], expired["settled_at"], expired["captured_amount"], expired["transfer_id"]) == (
        "expired", hold["expires_at"], None, None)
    assert money(api, payer) == (1000, 1000, 0)
    assert db.movement_count(payer["id"], payee["id"]) == movements
    # The released money is available again at once.
    assert api.transfer(payer["id"], payee["id"], "10.00").status_code == 201


def test_a_capture_racing_the_expiry_is_decided_by_the_database_clock(api, new_user):
    """Holds of one second, captured at moments spread over their expiry: a capture that succeeds was settled
    before expires_at, one that is refused says hold_expired, and the money moved only for the captured."""
    payer, payee = new_user("100.00"), new_user()
    holds = [place(api, payer, payee, "1.00", expires_in=1) for _ in range(8)]
    placed, answers = time.monotonic(), []
    for n, hold in enumerate(holds):
        time.sleep(max(0.0, placed + 0.6 + 0.1 * n - time.monotonic()))
        answers.append((hold, api.capture(hold["id"])))
    captured = 0
    for hold, response in answers:
        if response.status_code == 200:
            body = response.json()
            assert parse_timestamp(body["settled_at"]) < parse_timestamp(hold["expires_at"]), body
            assert body["transfer"]["amount_minor"] == 100
            captured += 1
        else:
            assert_error(response, 409, "hold_expired")
            assert hold_of(api, hold["id"])["status"] == "expired"
    assert money(api, payee)[0] == 100 * captured
    wait_for(lambda: money(api, payer)[2] == 0, 10, 0.1)
    assert money(api, payer) == (10000 - 100 * captured,) * 2 + (0,)


@pytest.mark.parametrize("expires_in", [0, -1, 2592001, "60", 1.5, None, True])
def test_expires_in_must_be_a_whole_number_of_seconds_from_1_to_30_days(api, db, new_user, expires_in):
    payer, payee = new_user("10.00"), new_user()
    before = db.snapshot(payer["id"])
    body = {"from_user_id": payer["id"], "to_user_id": payee["id"], "amount": "1.00", "expires_in": expires_in}
    if expires_in is None:
        del body["expires_in"]
    assert_error(api.post("/api/holds", body), 422, "validation_failed", "expires_in")
    assert db.snapshot(payer["id"]) == before


def test_a_hold_of_thirty_days_is_accepted(api, new_user):
    payer, payee = new_user("10.00"), new_user()
    hold = place(api, payer, payee, "1.00", expires_in=2592000)
    assert abs((parse_timestamp(hold["expires_at"]) - parse_timestamp(hold["created_at"])).total_seconds()
               - 2592000) < 1


def test_bad_holds_are_refused_naming_the_field_and_reserve_nothing(api, db, new_user):
    payer, payee = new_user("10.00"), new_user()
    before = db.snapshot(payer["id"], payee["id"])
    good = {"from_user_id": payer["id"], "to_user_id": payee["id"], "amount": "1.00", "expires_in": 60}
    for change, field in (({"to_user_id": payer["id"]}, "to_user_id"), ({"amount": "0"}, "amount"),
                          ({"amount": "1.001"}, "amount"), ({"amount": "-1.00"}, "amount"),
                          ({"colour": "red"}, "colour"), ({"memo": 5}, "memo"), ({"to_user_id": 0}, "to_user_id"),
                          ({"from_user_id": 0}, "from_user_id")):
        assert_error(api.post("/api/holds", {**good, **change}), 422, "validation_failed", field)
    assert_error(api.hold(payer["id"], 999_999_999, "1.00"), 404, "not_found")
    assert_error(api.hold(999_999_999, payee["id"], "1.00"), 404, "not_found")
    error = assert_error(api.hold(payer["id"], payee["id"], "10.01"), 409, "insufficient_funds")
    assert "10.00" in error["message"]
    assert db.snapshot(payer["id"], payee["id"]) == before
    assert money(api, payer) == (1000, 1000, 0)
    assert_error(api.get("/api/holds/999999999"), 404, "not_found")
    assert_error(api.capture(999_999_999), 404, "not_found")
    assert_error(api.void(999_999_999), 404, "not_found")


def test_the_available_balance_bounds_transfers_withdrawals_holds_and_batch_items(api, new_user):
    payer, payee = new_user("10.00"), new_user()
    hold = place(api, payer, payee, "7.00")
    assert money(api, payer) == (1000, 300, 700)
    assert_error(api.transfer(payer["id"], payee["id"], "3.01"), 409, "insufficient_funds")
    assert_error(api.withdraw(payer["id"], "3.01"), 409, "insufficient_funds")
    assert_error(api.hold(payer["id"], payee["id"], "3.01"), 409, "insufficient_funds")
    batch = api.post("/api/batches", {"movements": [
        {"type": "transfer", "from_user_id": payer["id"], "to_user_id": payee["id"], "amount": "2.00"},
        {"type": "withdrawal", "user_id": payer["id"], "amount": "1.01"}]})
    assert assert_error(batch, 409, "insufficient_funds", "movements[1].amount")["index"] == 1
    assert money(api, payer) == (1000, 300, 700)
    # Exactly the available amount passes, then nothing more.
    assert api.transfer(payer["id"], payee["id"], "2.00").status_code == 201
    assert api.withdraw(payer["id"], "0.50").status_code == 201
    place(api, payer, payee, "0.50")
    assert money(api, payer) == (750, 0, 750)
    for response in (api.transfer(payer["id"], payee["id"], "0.01"), api.withdraw(payer["id"], "0.01"),
                     api.hold(payer["id"], payee["id"], "0.01")):
        assert "0.00" in assert_error(response, 409, "insufficient_funds")["message"]
    # The held money still goes where the hold says.
    assert api.capture(hold["id"]).status_code == 200
    assert money(api, payer) == (50, 0, 50)
    assert money(api, payee)[0] == 900


def test_a_users_own_refusal_says_their_available_amount(new_account, new_user):
    alice, bob = new_account("10.00"), new_user()
    assert alice.api.hold(alice.id, bob["id"], "6.00").status_code == 201
    error = assert_error(alice.api.transfer(alice.id, bob["id"], "5.00"), 409, "insufficient_funds")
    assert "4.00" in error["message"], error
    me = alice.api.me().json()
    assert (me["balance_minor"], me["available_minor"], me["held_minor"]) == (1000, 400, 600), me


def test_users_show_balance_available_and_held_in_every_representation(api, new_user):
    payer, payee = new_user("10.00"), new_user()
    place(api, payer, payee, "2.50")
    shown = api.user(payer["id"])
    assert (shown["balance"], shown["available"], shown["available_minor"], shown["held"], shown["held_minor"]) == (
        "10.00", "7.50", 750, "2.50", 250)
    listed = api.all_pages("/api/users", 100)
    mine = next(user for user in listed if user["id"] == payer["id"])
    assert mine == shown


def test_a_user_places_holds_only_on_their_own_account(api, new_account, new_user):
    alice, bob = new_account("10.00"), new_account("10.00")
    response = alice.api.hold(alice.id, bob.id, "1.00")
    assert response.status_code == 201, response.text
    assert_forbidden(alice.api.hold(bob.id, alice.id, "1.00"))
    assert money(api, bob.user) == (1000, 1000, 0)
    assert money(api, alice.user) == (1000, 900, 100)


def test_the_payee_captures_the_payer_may_not_and_a_stranger_does_not_see_the_hold(api, new_account):
    alice, bob, eve = new_account("10.00"), new_account(), new_account("1.00")
    hold = place(api, alice.user, bob.user, "3.00")
    assert alice.api.get(f"/api/holds/{hold['id']}").json() == hold
    assert bob.api.get(f"/api/holds/{hold['id']}").json() == hold
    assert_error(eve.api.get(f"/api/holds/{hold['id']}"), 404, "not_found")
    assert_forbidden(alice.api.capture(hold["id"]))
    assert_error(eve.api.capture(hold["id"]), 404, "not_found")
    assert_error(eve.api.void(hold["id"]), 404, "not_found")
    assert hold_of(api, hold["id"])["status"] == "pending"
    response = bob.api.capture(hold["id"], "1.00")
    assert response.status_code == 200, response.text
    assert response.json()["transfer"]["amount_minor"] == 100
    assert money(api, alice.user) == (900, 900, 0) and money(api, bob.user) == (100, 100, 0)


def test_the_payer_or_the_payee_may_void_a_hold(api, new_account):
    alice, bob = new_account("10.00"), new_account()
    by_payer, by_payee = place(api, alice.user, bob.user, "1.00"), place(api, alice.user, bob.user, "2.00")
    assert alice.api.void(by_payer["id"]).json()["status"] == "voided"
    assert bob.api.void(by_payee["id"]).json()["status"] == "voided"
    assert money(api, alice.user) == (1000, 1000, 0)


def test_a_repeated_key_answers_the_first_response_and_holds_captures_or_voids_once(api, db, new_user):
    payer, payee = new_user("10.00"), new_user()
    hold_key = key()
    first = api.hold(payer["id"], payee["id"], "4.00", 600, "once", headers={"Idempotency-Key": hold_key})
    again = api.hold(payer["id"], payee["id"], "4.00", 600, "once", headers={"Idempotency-Key": hold_key})
    assert first.status_code == again.status_code == 201, again.text
    assert again.headers.get("Idempotency-Replayed") == "true"
    assert again.json() == first.json()
    hold = first.json()
    assert money(api, payer) == (1000, 600, 400)
    assert api.get(f"/api/requests/{hold_key}").json() == {"status": "applied", "idempotency_key": hold_key,
                                                           "hold_id": hold["id"]}
    assert_error(api.hold(payer["id"], payee["id"], "5.00", 600, "once", headers={"Idempotency-Key": hold_key}),
                 422, "idempotency_key_reused")

    capture_key = key()
    captured = api.capture(hold["id"], "3.00", headers={"Idempotency-Key": capture_key})
    replayed = api.capture(hold["id"], "3.00", headers={"Idempotency-Key": capture_key})
    assert captured.status_code == replayed.status_code == 200, replayed.text
    assert replayed.headers.get("Idempotency-Replayed") == "true" and replayed.json() == captured.json()
    # The key's record names the capture's movement (as it does a transfer's: the movement itself).
    movement = api.get(f"/api/requests/{capture_key}").json()["movement"]
    assert (movement["id"], movement["hold_id"]) == (captured.json()["transfer_id"], hold["id"])
    assert db.integer(f"SELECT count(*) FROM movements WHERE debit_user_id = {payer['id']} AND kind = 'transfer'") == 1
    assert money(api, payer) == (700, 700, 0)
    # The hold's own key still answers the hold as it was placed: pending.
    late = api.hold(payer["id"], payee["id"], "4.00", 600, "once", headers={"Idempotency-Key": hold_key})
    assert late.json() == hold and late.json()["status"] == "pending"

    # A refusal is kept under its key too: the same request answers it again after the money has come.
    refused_key = key()
    refused = api.hold(payer["id"], payee["id"], "50.00", 600, headers={"Idempotency-Key": refused_key})
    assert_error(refused, 409, "insufficient_funds")
    api.deposit(payer["id"], "100.00")
    again = api.hold(payer["id"], payee["id"], "50.00", 600, headers={"Idempotency-Key": refused_key})
    assert again.status_code == 409 and again.json() == refused.json(), again.text
    assert again.headers.get("Idempotency-Replayed") == "true"
    api.withdraw(payer["id"], "100.00")

    other = place(api, payer, payee, "1.00")
    void_key = key()
    voided = api.void(other["id"], headers={"Idempotency-Key": void_key})
    revoided = api.void(other["id"], headers={"Idempotency-Key": void_key})
    assert voided.status_code == revoided.status_code == 200
    assert revoided.headers.get("Idempotency-Replayed") == "true" and revoided.json() == voided.json()
    assert money(api, payer) == (700, 700, 0)


def test_a_users_holds_are_listed_newest_first_paged_and_filtered_by_status(api, new_user):
    user, other, third = new_user("100.00"), new_user("100.00"), new_user()
    pending = place(api, user, other, "1.00")
    captured = place(api, user, other, "2.00")
    api.capture(captured["id"])
    voided = place(api, user, third, "3.00")
    api.void(voided["id"])
    incoming = place(api, other, user, "4.00")            # the user is the payee
    expired = place(api, user, other, "5.00", expires_in=1)
    place(api, other, third, "6.00")                      # not the user's
    assert wait_for(lambda: hold_of(api, expired["id"])["status"] == "expired", 10, 0.1)
    mine = [expired, incoming, voided, captured, pending]
    path = f"/api/users/{user['id']}/holds"
    for limit in (1, 2, 5):
        items = api.all_pages(path, limit)
        assert [item["id"] for item in items] == [hold["id"] for hold in mine], (limit, items)
    items = api.all_pages(path, 100)
    assert items == [hold_of(api, hold["id"]) for hold in mine]
    expected = {"pending": [incoming, pending], "captured": [captured], "voided": [voided], "expired": [expired]}
    for status, holds in expected.items():
        response = api.get(path, params={"status": status})
        assert response.status_code == 200, response.text
        page = response.json()
        assert [item["id"] for item in page["items"]] == [hold["id"] for hold in holds], (status, page)
        assert {item["status"] for item in page["items"]} == {status}
        assert page["next_cursor"] is None
    first = api.get(path, params={"status": "pending", "limit": 1}).json()
    assert [item["id"] for item in first["items"]] == [incoming["id"]] and first["next_cursor"]
    rest = api.get(path, params={"status": "pending", "limit": 1, "cursor": first["next_cursor"]}).json()
    assert [item["id"] for item in rest["items"]] == [pending["id"]]
    assert_error(api.get(path, params={"status": "held"}), 422, "validation_failed", "status")
    assert_error(api.get(path, params={"limit": 0}), 422, "validation_failed", "limit")
    assert_error(api.get("/api/users/999999999/holds"), 404, "not_found")


def test_a_user_lists_their_own_holds_and_not_anothers(api, new_account):
    alice, bob = new_account("10.00"), new_account()
    hold = place(api, alice.user, bob.user, "1.00")
    seen = alice.api.get(f"/api/users/{alice.id}/holds")
    assert seen.status_code == 200 and [item["id"] for item in seen.json()["items"]] == [hold["id"]]
    assert [item["id"] for item in bob.api.get(f"/api/users/{bob.id}/holds").json()["items"]] == [hold["id"]]
    assert_forbidden(bob.api.get(f"/api/users/{alice.id}/holds"))


def test_verify_finds_a_held_amount_or_a_capture_changed_by_hand(api, db, new_user, verify):
    payer, payee = new_user("10.00"), new_user()
    place(api, payer, payee, "2.00")
    captured = api.capture(place(api, payer, payee, "3.00")["id"], "1.00").json()
    result = verify()
    assert result.returncode == 0, result.stdout + result.stderr
    db.execute(f"UPDATE users SET held = held + 1 WHERE id = {payer['id']}")
    try:
        result = verify()
        assert result.returncode == 1 and "HELD: 1 users" in result.stdout, result.stdout
    finally:
        db.execute(f"UPDATE users SET held = held - 1 WHERE id = {payer['id']}")
    db.execute(f"UPDATE holds SET captured_amount = 2 WHERE id = {captured['id']}")
    try:
        result = verify()
        assert result.returncode == 1 and "HOLDS: 1 captured holds" in result.stdout, result.stdout
    finally:
        db.execute(f"UPDATE holds SET captured_amount = 100 WHERE id = {captured['id']}")
    result = verify()
    assert result.returncode == 0, result.stdout + result.stderr
