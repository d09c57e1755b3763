"""Movements the ledger refuses: not enough money, unknown users. A refusal changes nothing."""

import re

from tally_e2e import LARGEST_ID, assert_error


def snapshot(db, *users):
    """Balances of the users and the journal's size: what a refusal must leave as it was."""
    return ({u["id"]: db.balance(u["id"]) for u in users}, db.integer("SELECT count(*) FROM movements"))


def test_transfer_beyond_the_balance_is_refused_with_the_balance_in_the_message(api, db, new_user):
    alice, bob = new_user("5.00"), new_user("1.00")
    before = snapshot(db, alice, bob)
    error = assert_error(api.transfer(alice["id"], bob["id"], "10.00", memo="too much"), 409,
                         "insufficient_funds")
    assert re.search(r"\b5\.00\b", error["message"]), error
    assert snapshot(db, alice, bob) == before
    assert db.integer("SELECT count(*) FROM movements WHERE memo = 'too much'") == 0
    assert api.balance_minor(alice["id"]) == 500 and api.balance_minor(bob["id"]) == 100


def test_transfer_one_cent_beyond_the_balance_is_refused(api, db, new_user):
    alice, bob = new_user("5.00"), new_user()
    before = snapshot(db, alice, bob)
    error = assert_error(api.transfer(alice["id"], bob["id"], "5.01"), 409, "insufficient_funds")
    assert "5.00" in error["message"]
    assert snapshot(db, alice, bob) == before


def test_transfer_from_an_empty_account_is_refused(api, db, new_user):
    alice, bob = new_user(), new_user("3.00")
    error = assert_error(api.transfer(alice["id"], bob["id"], "0.01"), 409, "insufficient_funds")
    assert "0.00" in error["message"]
    assert db.movement_count(alice["id"]) == 0


def test_withdrawal_beyond_the_balance_is_refused_with_the_balance_in_the_message(api, db, new_user):
    user = new_user("2.50")
    before = snapshot(db, user)
    error = assert_error(api.withdraw(user["id"], "2.51"), 409, "insufficient_funds")
    assert "2.50" in error["message"]
    assert snapshot(db, user) == before


def test_the_message_gives_the_balance_at_the_time_of_the_request(api, new_user):
    alice, bob = new_user("5.00"), new_user()
    api.transfer(alice["id"], bob["id"], "1.25")
    error = assert_error(api.transfer(alice["id"], bob["id"], "100"), 409, "insufficient_funds")
    assert "3.75" in error["message"]


def test_transfer_from_an_unknown_user_is_not_found(api, db, new_user):
    bob = new_user("1.00")
    before = snapshot(db, bob)
    assert_error(api.transfer(LARGEST_ID, bob["id"], "1.00"), 404, "not_found")
    assert snapshot(db, bob) == before


def test_transfer_to_an_unknown_user_is_not_found(api, db, new_user):
    alice = new_user("10.00")
    before = snapshot(db, alice)
    assert_error(api.transfer(alice["id"], LARGEST_ID, "1.00"), 404, "not_found")
    assert snapshot(db, alice) == before


def test_transfer_to_the_outside_world_account_is_refused(api, db, new_user):
    alice = new_user("10.00")
    before = snapshot(db, alice)
    response = api.post("/api/transfers", {"from_user_id": alice["id"], "to_user_id": 0, "amount": "1.00"})
    assert_error(response, 422, "validation_failed", "to_user_id")
    assert snapshot(db, alice) == before


def test_deposit_to_an_unknown_user_is_not_found(api, db):
    movements_before = db.integer("SELECT count(*) FROM movements")
    assert_error(api.deposit(LARGEST_ID, "1.00"), 404, "not_found")
    assert_error(api.post("/api/users/abc/deposits", {"amount": "1.00"}), 404, "not_found")
    assert_error(api.post("/api/users/0/deposits", {"amount": "1.00"}), 404, "not_found")
    assert db.integer("SELECT count(*) FROM movements") == movements_before


def test_withdrawal_from_an_unknown_user_is_not_found(api, db):
    movements_before = db.integer("SELECT count(*) FROM movements")
    assert_error(api.withdraw(LARGEST_ID, "1.00"), 404, "not_found")
    assert_error(api.post("/api/users/-4/withdrawals", {"amount": "1.00"}), 404, "not_found")
    assert db.integer("SELECT count(*) FROM movements") == movements_before


def test_validation_comes_before_looking_up_users(api):
    # An unknown user with a bad amount: the amount is what the client must fix first.
    assert_error(api.transfer(LARGEST_ID, LARGEST_ID - 1, "-1"), 422, "validation_failed", "amount")
