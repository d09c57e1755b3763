"""Reversals (issue 26) through nginx: POST /api/transfers/{id}/reversals pays all or part of a transfer back from the
payee to the payer as a movement of kind reversal linked to it; the reversals of a transfer never add up to more
than it; a reversal cannot be reversed; the payee (or the service role) reverses, the payer may not; the payee's
available money bounds it. GET /api/transfers/{id} lists a transfer's reversals and what is left."""

from __future__ import annotations

import threading
import uuid

from tally_e2e import Api, assert_error, assert_forbidden, assert_recent_timestamp, unique

REVERSAL_ENTRY_KEYS = {"id", "amount", "amount_minor", "memo", "created_at"}


def pay(api, payer, payee, amount, memo=None) -> dict:
    response = api.transfer(payer["id"], payee["id"], amount, memo)
    assert response.status_code == 201, response.text
    return response.json()


def reverse(api, transfer, amount=None, memo=None, **kwargs) -> dict:
    response = api.reverse(transfer["id"], amount, memo, **kwargs)
    assert response.status_code == 201, response.text
    return response.json()


def read(api, movement_id) -> dict:
    response = api.get(f"/api/transfers/{movement_id}")
    assert response.status_code == 200, response.text
    return response.json()


def balances(api, *users) -> tuple[int, ...]:
    return tuple(api.balance_minor(user["id"]) for user in users)


def test_a_reversal_without_an_amount_pays_back_what_is_left(api, db, new_user):
    payer, payee = new_user("20.00"), new_user()
    transfer = pay(api, payer, payee, "12.34", "dinner")
    memo = unique("refund")
    reversal = reverse(api, transfer, memo=memo)
    assert (reversal["kind"], reversal["from_user_id"], reversal["to_user_id"], reversal["amount"],
            reversal["amount_minor"], reversal["memo"], reversal["reversal_of"], reversal["hold_id"]) == (
        "reversal", payee["id"], payer["id"], "12.34", 1234, memo, transfer["id"], None)
    assert (reversal["from_balance_minor"], reversal["to_balance_minor"]) == (0, 2000)
    assert_recent_timestamp(reversal["created_at"])
    assert balances(api, payer, payee) == (2000, 0)
    assert db.rows(f"SELECT kind, debit_user_id, credit_user_id, amount FROM movements WHERE id = {reversal['id']}") \
        == [["reversal", str(payee["id"]), str(payer["id"]), "1234"]]
    # Nothing is left: another reversal, with or without an amount, is refused.
    assert "0.00" in assert_error(api.reverse(transfer["id"]), 409, "reversal_exceeds_transfer")["message"]
    assert_error(api.reverse(transfer["id"], "0.01"), 409, "reversal_exceeds_transfer")
    assert balances(api, payer, payee) == (2000, 0)


def test_partial_reversals_add_up_to_the_transfer_exactly_and_not_one_cent_more(api, db, new_user, verify):
    payer, payee = new_user("10.00"), new_user()
    transfer = pay(api, payer, payee, "10.00")
    first, second = reverse(api, transfer, "3.33"), reverse(api, transfer, "3.33")
    error = assert_error(api.reverse(transfer["id"], "3.35"), 409, "reversal_exceeds_transfer")
    assert "3.34" in error["message"], error
    assert read(api, transfer["id"])["unreversed_amount_minor"] == 334
    third = reverse(api, transfer, "3.34")
    assert [r["amount_minor"] for r in (first, second, third)] == [333, 333, 334]
    assert balances(api, payer, payee) == (1000, 0)
    # Even with money to pay it, one cent more than the transfer is refused.
    api.deposit(payee["id"], "5.00")
    assert_error(api.reverse(transfer["id"], "0.01"), 409, "reversal_exceeds_transfer")
    assert balances(api, payer, payee) == (1000, 500)
    assert db.integer(f"SELECT COALESCE(sum(amount), 0) FROM movements WHERE kind = 'reversal' "
                      f"AND reversal_of = {transfer['id']}") == 1000
    result = verify()
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_transfer_lists_its_reversals_oldest_first_and_what_is_left(api, new_user):
    payer, payee = new_user("10.00"), new_user()
    transfer = pay(api, payer, payee, "8.00")
    shown = read(api, transfer["id"])
    assert (shown["reversals"], shown["unreversed_amount"], shown["unreversed_amount_minor"]) == ([], "8.00", 800)
    assert shown["reversal_of"] is None and shown["hold_id"] is None
    first = reverse(api, transfer, "1.50", "partly")
    second = reverse(api, transfer, "2.00")
    shown = read(api, transfer["id"])
    assert all(set(entry) == REVERSAL_ENTRY_KEYS for entry in shown["reversals"]), shown
    assert [(e["id"], e["amount"], e["amount_minor"], e["memo"], e["created_at"]) for e in shown["reversals"]] == [
        (first["id"], "1.50", 150, "partly", first["created_at"]), (second["id"], "2.00", 200, None,
                                                                    second["created_at"])]
    assert (shown["unreversed_amount"], shown["unreversed_amount_minor"]) == ("4.50", 450)
    # A reversal read back: the movement as answered, with no reversals of its own.
    again = read(api, first["id"])
    assert (again["reversals"], again["unreversed_amount"], again["unreversed_amount_minor"]) == ([], None, None)
    assert {k: again[k] for k in first} == first


def test_a_reversal_cannot_be_reversed_nor_can_a_deposit_or_withdrawal(api, new_user):
    payer, payee = new_user("10.00"), new_user()
    transfer = pay(api, payer, payee, "5.00")
    reversal = reverse(api, transfer, "2.00")
    error = assert_error(api.reverse(reversal["id"]), 409, "not_reversible")
    assert "is a reversal" in error["message"], error
    assert_error(api.reverse(reversal["id"], "1.00"), 409, "not_reversible")
    deposit = api.deposit(payee["id"], "1.00").json()
    withdrawal = api.withdraw(payee["id"], "1.00").json()
    assert_error(api.reverse(deposit["id"]), 409, "not_reversible")
    assert_error(api.reverse(withdrawal["id"]), 409, "not_reversible")
    assert_error(api.reverse(999_999_999), 404, "not_found")
    assert balances(api, payer, payee) == (700, 300)


def test_bad_reversal_bodies_are_refused_naming_the_field(api, db, new_user):
    payer, payee = new_user("10.00"), new_user()
    transfer = pay(api, payer, payee, "5.00")
    before = db.snapshot(payer["id"], payee["id"])
    path = f"/api/transfers/{transfer['id']}/reversals"
    for body, field in (({"amount": "0"}, "amount"), ({"amount": "-1.00"}, "amount"), ({"amount": "1.001"}, "amount"),
                        ({"colour": "red"}, "colour"), ({"memo": 7}, "memo")):
        assert_error(api.post(path, body), 422, "validation_failed", field)
    assert db.snapshot(payer["id"], payee["id"]) == before


def test_the_payee_may_reverse_the_payer_may_not_and_a_stranger_does_not_see_it(api, new_account):
    alice, bob, eve = new_account("10.00"), new_account(), new_account("5.00")
    transfer = pay(api, alice.user, bob.user, "6.00")
    assert_forbidden(alice.api.reverse(transfer["id"]))
    assert_error(eve.api.reverse(transfer["id"]), 404, "not_found")
    assert balances(api, alice.user, bob.user) == (400, 600)
    response = bob.api.reverse(transfer["id"], "2.50")
    assert response.status_code == 201, response.text
    assert response.json()["from_user_id"] == bob.id and response.json()["reversal_of"] == transfer["id"]
    assert balances(api, alice.user, bob.user) == (650, 350)


def test_a_payee_without_the_available_money_cannot_reverse(api, new_user):
    payer, payee, elsewhere = new_user("10.00"), new_user(), new_user()
    transfer = pay(api, payer, payee, "10.00")
    pay(api, payee, elsewhere, "8.00")
    assert_error(api.reverse(transfer["id"]), 409, "insufficient_funds")
    assert_error(api.reverse(transfer["id"], "2.01"), 409, "insufficient_funds")
    assert balances(api, payer, payee) == (0, 200)
    # A hold of the payee's counts against it too.
    hold = api.hold(payee["id"], elsewhere["id"], "1.50").json()
    assert_error(api.reverse(transfer["id"], "0.51"), 409, "insufficient_funds")
    reverse(api, transfer, "0.50")
    assert balances(api, payer, payee) == (50, 150)
    assert api.user(payee["id"])["available_minor"] == 0
    api.void(hold["id"])
    reverse(api, transfer, "1.50")
    assert read(api, transfer["id"])["unreversed_amount_minor"] == 800


def test_reversals_show_in_the_histories_and_the_feed(api, new_user):
    payer, payee = new_user("10.00"), new_user()
    transfer = pay(api, payer, payee, "4.00")
    reversal = reverse(api, transfer, "1.25", "back")
    paid_back = api.get(f"/api/users/{payer['id']}/transactions").json()["items"][0]
    assert (paid_back["id"], paid_back["kind"], paid_back["amount_minor"], paid_back["counterparty_user_id"],
            paid_back["memo"], paid_back["reversal_of"], paid_back["hold_id"], paid_back["balance_after_minor"]) == (
        reversal["id"], "reversal_in", 125, payee["id"], "back", transfer["id"], None, 725)
    paid_out = api.get(f"/api/users/{payee['id']}/transactions").json()["items"][0]
    assert (paid_out["id"], paid_out["kind"], paid_out["counterparty_user_id"], paid_out["reversal_of"],
            paid_out["balance_after_minor"]) == (reversal["id"], "reversal_out", payer["id"], transfer["id"], 275)
    feed = api.get("/api/transactions", params={"limit": 100}).json()["items"]
    entry = next(item for item in feed if item["id"] == reversal["id"])
    assert (entry["kind"], entry["from_user_id"], entry["to_user_id"], entry["reversal_of"]) == (
        "reversal", payee["id"], payer["id"], transfer["id"])
    original = next(item for item in feed if item["id"] == transfer["id"])
    assert original["reversal_of"] is None and original["hold_id"] is None


def test_a_captured_hold_is_reversed_like_any_transfer(api, new_user):
    payer, payee = new_user("10.00"), new_user()
    hold = api.hold(payer["id"], payee["id"], "6.00").json()
    captured = api.capture(hold["id"], "5.00").json()
    reversal = reverse(api, captured["transfer"])
    assert (reversal["amount_minor"], reversal["reversal_of"], reversal["from_user_id"]) == (
        500, captured["transfer_id"], payee["id"])
    shown = read(api, captured["transfer_id"])
    assert shown["hold_id"] == hold["id"] and [e["id"] for e in shown["reversals"]] == [reversal["id"]]
    assert shown["unreversed_amount_minor"] == 0
    assert balances(api, payer, payee) == (1000, 0)
    # The hold stays captured: a reversal is a refund, not an undoing of the capture.
    assert api.get(f"/api/holds/{hold['id']}").json()["status"] == "captured"


def test_a_repeated_reversal_key_answers_the_first_reversal_and_pays_back_once(api, new_user):
    payer, payee = new_user("10.00"), new_user()
    transfer = pay(api, payer, payee, "10.00")
    headers = {"Idempotency-Key": f"reversal-{uuid.uuid4()}"}
    first = api.reverse(transfer["id"], "4.00", headers=headers)
    again = api.reverse(transfer["id"], "4.00", headers=headers)
    assert first.status_code == again.status_code == 201, again.text
    assert again.headers.get("Idempotency-Replayed") == "true" and again.json() == first.json()
    assert api.get(f"/api/requests/{headers['Idempotency-Key']}").json()["movement"] == first.json()
    assert_error(api.reverse(transfer["id"], "5.00", headers=headers), 422, "idempotency_key_reused")
    assert balances(api, payer, payee) == (400, 600)
    assert read(api, transfer["id"])["unreversed_amount_minor"] == 600


def test_concurrent_reversals_of_one_transfer_never_add_up_to_more_than_it(api, db, new_user, base_url, verify):
    """Twelve clients at once each reverse 2.00 of a 10.00 transfer (its payee has money to spare): five of them
    are applied, the others refused for what is left, and the reversals add up to the transfer exactly."""
    payer, payee = new_user("10.00"), new_user("100.00")
    transfer = pay(api, payer, payee, "10.00")
    answers, lock, start = [], threading.Lock(), threading.Barrier(12)

    def client() -> None:
        own = Api(base_url)
        try:
            start.wait(30)
            response = own.reverse(transfer["id"], "2.00")
            with lock:
                answers.append(response)
        finally:
            own.close()

    clients = [threading.Thread(target=client, daemon=True) for _ in range(12)]
    for thread in clients:
        thread.start()
    for thread in clients:
        thread.join(60)
    assert len(answers) == 12
    applied = [response for response in answers if response.status_code == 201]
    assert len(applied) == 5, [(response.status_code, response.text[:200]) for response in answers]
    for response in answers:
        if response.status_code != 201:
            assert_error(response, 409, "reversal_exceeds_transfer")
    assert db.integer(f"SELECT sum(amount) FROM movements WHERE reversal_of = {transfer['id']}") == 1000
    shown = read(api, transfer["id"])
    assert shown["unreversed_amount_minor"] == 0 and len(shown["reversals"]) == 5
    assert balances(api, payer, payee) == (1000, 10000)
    result = verify()
    assert result.returncode == 0, result.stdout + result.stderr


def test_verify_finds_a_reversal_pointed_at_another_transfer_by_hand(api, db, new_user, verify):
    payer, payee, other = new_user("10.00"), new_user(), new_user("10.00")
    transfer = pay(api, payer, payee, "5.00")
    elsewhere = pay(api, other, payer, "1.00")
    reversal = reverse(api, transfer, "2.00")
    db.execute(f"UPDATE movements SET reversal_of = {elsewhere['id']} WHERE id = {reversal['id']}")
    try:
        result = verify()
        # It pays back neither the parties of that transfer nor within its amount: both are counted.
        assert result.returncode == 1 and "REVERSALS: 2 reversals" in result.stdout, result.stdout
    finally:
        db.execute(f"UPDATE movements SET reversal_of = {transfer['id']} WHERE id = {reversal['id']}")
    result = verify()
    assert result.returncode == 0, result.stdout + result.stderr
