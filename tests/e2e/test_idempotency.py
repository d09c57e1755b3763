"""Idempotency-Key: a repeat answers the first response and moves no money again, refusals included; the same
key for another request is refused."""

import uuid

import pytest

from tally_e2e import assert_error, unique


def key() -> str:
    return f"e2e-{uuid.uuid4()}"


def assert_replay_of(first, replay):
    assert replay.status_code == first.status_code, replay.text
    assert replay.headers.get("Idempotency-Replayed") == "true", replay.headers
    assert replay.json() == first.json()


def test_replayed_transfer_answers_the_same_and_moves_money_once(api, db, new_user):
    alice, bob = new_user("20.00"), new_user()
    headers = {"Idempotency-Key": key()}
    memo = unique("idem")
    first = api.transfer(alice["id"], bob["id"], "7.00", memo=memo, headers=headers)
    assert first.status_code == 201, first.text
    assert "Idempotency-Replayed" not in first.headers
    api.deposit(alice["id"], "1.00")  # the balances change; the replay still answers the first response
    for _ in range(3):
        assert_replay_of(first, api.transfer(alice["id"], bob["id"], "7.00", memo=memo, headers=headers))
    assert db.integer("SELECT count(*) FROM movements WHERE memo = :'memo'", memo=memo) == 1
    assert (db.balance(alice["id"]), db.balance(bob["id"])) == (1400, 700)


def test_replay_matches_parsed_values_not_text(api, db, new_user):
    alice, bob = new_user("20.00"), new_user()
    headers = {"Idempotency-Key": key()}
    first = api.transfer(alice["id"], bob["id"], "10", headers=headers)
    assert first.status_code == 201, first.text
    for same in ("10.00", "10.0", 10, 10.0):
        assert_replay_of(first, api.transfer(alice["id"], bob["id"], same, headers=headers))
    # Members in another order are the same request too.
    body = '{"amount": "10.00", "to_user_id": %d, "from_user_id": %d}' % (bob["id"], alice["id"])
    assert_replay_of(first, api.request("POST", "/api/transfers", data=body, headers=headers))
    assert db.balance(bob["id"]) == 1000


@pytest.mark.parametrize("change", ["amount", "to_user_id", "memo", "no memo"])
def test_same_key_with_another_transfer_is_refused_and_moves_nothing(api, db, new_user, change):
    alice, bob, carol = new_user("20.00"), new_user(), new_user()
    headers = {"Idempotency-Key": key()}
    original = {"from_user_id": alice["id"], "to_user_id": bob["id"], "amount": "5.00", "memo": "m"}
    assert api.post("/api/transfers", original, headers=headers).status_code == 201
    other = dict(original)
    if change == "amount":
        other["amount"] = "5.01"
    elif change == "to_user_id":
        other["to_user_id"] = carol["id"]
    elif change == "memo":
        other["memo"] = "n"
    else:
        del other["memo"]
    response = api.post("/api/transfers", other, headers=headers)
    assert_error(response, 422, "idempotency_key_reused", "Idempotency-Key")
    assert [db.balance(u["id"]) for u in (alice, bob, carol)] == [1500, 500, 0]


def test_same_key_on_another_endpoint_is_refused(api, db, new_user):
    user = new_user("20.00")
    headers = {"Idempotency-Key": key()}
    assert api.deposit(user["id"], "5.00", headers=headers).status_code == 201
    assert_error(api.withdraw(user["id"], "5.00", headers=headers), 422, "idempotency_key_reused",
                 "Idempotency-Key")
    assert_error(api.create_user(unique("k"), headers=headers), 422, "idempotency_key_reused", "Idempotency-Key")
    other = new_user()
    assert_error(api.deposit(other["id"], "5.00", headers=headers), 422, "idempotency_key_reused",
                 "Idempotency-Key")
    assert db.balance(user["id"]) == 2500
    assert db.balance(other["id"]) == 0


def test_replayed_refusal_stays_a_refusal_after_the_balance_would_cover_it(api, db, new_user):
    alice, bob = new_user("5.00"), new_user()
    headers = {"Idempotency-Key": key()}
    memo = unique("refused")
    first = api.transfer(alice["id"], bob["id"], "10.00", memo=memo, headers=headers)
    first_error = assert_error(first, 409, "insufficient_funds")
    assert "5.00" in first_error["message"]

    assert api.deposit(alice["id"], "20.00").status_code == 201  # now 25.00 would cover it
    replay = api.transfer(alice["id"], bob["id"], "10.00", memo=memo, headers=headers)
    assert_error(replay, 409, "insufficient_funds", replayed=True)
    assert_replay_of(first, replay)
    assert replay.json()["error"]["request_id"] == first_error["request_id"]
    assert db.integer("SELECT count(*) FROM movements WHERE memo = :'memo'", memo=memo) == 0
    assert (db.balance(alice["id"]), db.balance(bob["id"])) == (2500, 0)

    # Without the key, the same transfer is a new request, and now it goes through.
    assert api.transfer(alice["id"], bob["id"], "10.00", memo=memo).status_code == 201
    assert db.integer("SELECT count(*) FROM movements WHERE memo = :'memo'", memo=memo) == 1


def test_replayed_withdrawal_refusal_stays_a_refusal(api, db, new_user):
    user = new_user("1.00")
    headers = {"Idempotency-Key": key()}
    first = api.withdraw(user["id"], "2.00", headers=headers)
    assert_error(first, 409, "insufficient_funds")
    api.deposit(user["id"], "5.00")
    assert_replay_of(first, api.withdraw(user["id"], "2.00", headers=headers))
    assert db.balance(user["id"]) == 600


def test_replayed_not_found_stays_not_found(api, new_user):
    alice = new_user("5.00")
    headers = {"Idempotency-Key": key()}
    first = api.transfer(alice["id"], 9223372036854775807, "1.00", headers=headers)
    assert_error(first, 404, "not_found")
    assert_replay_of(first, api.transfer(alice["id"], 9223372036854775807, "1.00", headers=headers))


def test_replayed_deposit_and_withdrawal_move_money_once(api, db, new_user):
    user = new_user("10.00")
    deposit_headers, withdrawal_headers = {"Idempotency-Key": key()}, {"Idempotency-Key": key()}
    deposit = api.deposit(user["id"], "3.00", memo="d", headers=deposit_headers)
    withdrawal = api.withdraw(user["id"], "1.00", headers=withdrawal_headers)
    assert deposit.status_code == withdrawal.status_code == 201
    assert_replay_of(deposit, api.deposit(user["id"], "3.00", memo="d", headers=deposit_headers))
    assert_replay_of(withdrawal, api.withdraw(user["id"], "1.00", headers=withdrawal_headers))
    assert db.balance(user["id"]) == 1200
    assert db.movement_count(user["id"]) == 3


def test_replayed_user_creation_answers_the_same_user_and_creates_one(api, db):
    name = unique("Once")
    headers = {"Idempotency-Key": key()}
    first = api.create_user(name, "4.00", headers=headers)
    assert first.status_code == 201, first.text
    user = first.json()
    api.deposit(user["id"], "1.00")  # the replay is the first response, with the first balance
    replay = api.create_user(name, "4.00", headers=headers)
    assert_replay_of(first, replay)
    assert db.integer("SELECT count(*) FROM users WHERE name = :'name'", name=name) == 1
    assert db.balance(user["id"]) == 500
    assert_error(api.create_user(name, "4.01", headers=headers), 422, "idempotency_key_reused", "Idempotency-Key")
    assert_error(api.create_user(name + "x", "4.00", headers=headers), 422, "idempotency_key_reused",
                 "Idempotency-Key")


def test_keys_are_their_own_per_request_without_one(api, db, new_user):
    alice, bob = new_user("10.00"), new_user()
    assert api.transfer(alice["id"], bob["id"], "1.00").status_code == 201
    assert api.transfer(alice["id"], bob["id"], "1.00").status_code == 201
    assert db.balance(bob["id"]) == 200


def test_a_key_of_255_characters_is_accepted_and_one_of_256_refused(api, db, new_user):
    user = new_user()
    long_key = uuid.uuid4().hex + "k" * (255 - 32)
    assert len(long_key) == 255
    first = api.deposit(user["id"], "1.00", headers={"Idempotency-Key": long_key})
    assert first.status_code == 201, first.text
    assert_replay_of(first, api.deposit(user["id"], "1.00", headers={"Idempotency-Key": long_key}))

    response = api.deposit(user["id"], "1.00", headers={"Idempotency-Key": long_key + "k"})
    assert_error(response, 422, "validation_failed", "Idempotency-Key")
    response = api.create_user(unique("k"), headers={"Idempotency-Key": "x" * 300})
    assert_error(response, 422, "validation_failed", "Idempotency-Key")
    alice = new_user("5.00")
    response = api.transfer(alice["id"], user["id"], "1.00", headers={"Idempotency-Key": "y" * 256})
    assert_error(response, 422, "validation_failed", "Idempotency-Key")
    assert db.balance(user["id"]) == 100
    assert db.balance(alice["id"]) == 500


def test_a_request_refused_for_its_body_does_not_use_up_its_key(api, db, new_user):
    user = new_user()
    headers = {"Idempotency-Key": key()}
    assert_error(api.deposit(user["id"], "abc", headers=headers), 422, "validation_failed", "amount")
    response = api.deposit(user["id"], "1.00", headers=headers)
    assert response.status_code == 201, response.text
    assert "Idempotency-Replayed" not in response.headers
    assert db.balance(user["id"]) == 100


def test_keys_are_recorded_in_the_database(db, api, new_user):
    user = new_user()
    the_key = key()
    assert api.deposit(user["id"], "1.00", headers={"Idempotency-Key": the_key}).status_code == 201
    # Under the caller that sent it: 0 stands for the service role.
    assert db.integer("SELECT count(*) FROM idempotency_keys WHERE key = :'k' AND owner = 0 "
                      "AND created_at > now() - interval '1 hour'", k=the_key) == 1


def test_an_empty_key_is_refused(api, db, new_user):
    user = new_user()
    response = api.deposit(user["id"], "1.00", headers={"Idempotency-Key": ""})
    assert_error(response, 422, "validation_failed", "Idempotency-Key")
    assert db.balance(user["id"]) == 0
