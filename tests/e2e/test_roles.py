"""Who may do what. A user reads only their own user and history, deposits to and withdraws from only their own
account, pays only from their own account (to anyone), and reads only the transfers they paid or received (seeing
only their own balance in them); the service-only operations are never theirs. The service role may do everything.
Each rule is tested in both directions; every refusal is 403 `forbidden` (another's transfer: 404, as a missing one)
and the database shows that nothing changed."""

import uuid

import pytest

from tally_e2e import LARGEST_ID, assert_error, assert_forbidden, unique


@pytest.fixture
def parties(new_account, new_user):
    """alice (50.00) and bob (20.00) can log in; carol (5.00) was made by the service without credentials."""
    return new_account("50.00"), new_account("20.00"), new_user("5.00")


def key() -> str:
    return f"roles-{uuid.uuid4()}"


# --- reading ------------------------------------------------------------------------------------------------

def test_a_user_reads_their_own_user_and_history(api, parties):
    alice, _, _ = parties
    response = alice.api.get(f"/api/users/{alice.id}")
    assert response.status_code == 200, response.text
    assert response.json() == api.user(alice.id) == alice.user
    history = alice.api.get(f"/api/users/{alice.id}/transactions", params={"limit": 5})
    assert history.status_code == 200, history.text
    assert history.json() == api.get(f"/api/users/{alice.id}/transactions", params={"limit": 5}).json()
    assert [item["kind"] for item in history.json()["items"]] == ["deposit"]


def test_a_user_may_not_read_anyone_elses_user_or_history(parties):
    alice, bob, carol = parties
    for other in (bob.id, carol["id"], LARGEST_ID):  # another user, one without credentials, nobody at all
        error = assert_forbidden(alice.api.get(f"/api/users/{other}"))
        assert "20.00" not in error["message"] and "5.00" not in error["message"], error
        assert_forbidden(alice.api.get(f"/api/users/{other}/transactions"))
        assert_forbidden(alice.api.get(f"/api/users/{other}/transactions", params={"limit": 100}))


def test_a_user_reads_the_transfers_they_paid_or_received_and_no_others(api, parties, new_account):
    alice, bob, carol = parties
    dave = new_account()
    paid = alice.api.transfer(alice.id, bob.id, "3.00", memo="paid")
    assert paid.status_code == 201, paid.text
    by_service = api.transfer(carol["id"], bob.id, "1.00").json()
    path = f"/api/transfers/{paid.json()['id']}"
    # Each party reads it with their own balance after it; the other party's is null (the service sees both).
    readers = {alice.api: ("47.00", None), bob.api: (None, "23.00"), api: ("47.00", "23.00")}
    for reader, (from_balance, to_balance) in readers.items():
        response = reader.get(path)
        assert response.status_code == 200, response.text
        assert response.json() == {**paid.json(), "from_balance": from_balance, "to_balance": to_balance,
                                   "from_balance_minor": from_balance and 4700, "to_balance_minor": to_balance and 2300,
                                   "reversals": [], "unreversed_amount": "3.00", "unreversed_amount_minor": 300}
    # Another's transfer is 404, as a missing id is: nothing tells which ids are transfers.
    assert_error(dave.api.get(path), 404, "not_found")
    assert_error(alice.api.get(f"/api/transfers/{by_service['id']}"), 404, "not_found")
    assert bob.api.get(f"/api/transfers/{by_service['id']}").json() == {
        **by_service, "from_balance": None, "from_balance_minor": None, "reversals": [], "unreversed_amount": "1.00",
        "unreversed_amount_minor": 100}


# --- money --------------------------------------------------------------------------------------------------

def test_a_user_deposits_to_and_withdraws_from_their_own_account(parties, db):
    alice, _, _ = parties
    deposit = alice.api.deposit(alice.id, "7.50", memo="own")
    assert deposit.status_code == 201, deposit.text
    assert (deposit.json()["user_id"], deposit.json()["balance"]) == (alice.id, "57.50")
    withdrawal = alice.api.withdraw(alice.id, "2.50")
    assert withdrawal.status_code == 201, withdrawal.text
    assert withdrawal.json()["balance"] == "55.00"
    assert db.balance(alice.id) == 5500
    assert db.rows(f"SELECT kind, debit_user_id, credit_user_id, amount FROM movements "
                   f"WHERE id IN ({deposit.json()['id']}, {withdrawal.json()['id']}) ORDER BY id") == [
        ["deposit", "0", str(alice.id), "750"], ["withdrawal", str(alice.id), "0", "250"]]


@pytest.mark.parametrize("kind", ["deposits", "withdrawals"])
def test_a_user_may_not_deposit_to_or_withdraw_from_another_account(parties, db, kind):
    alice, bob, carol = parties
    before = db.snapshot(alice.id, bob.id, carol["id"])
    for other in (bob.id, carol["id"], LARGEST_ID):
        assert_forbidden(alice.api.post(f"/api/users/{other}/{kind}", {"amount": "1.00"}))
        assert_forbidden(alice.api.post(f"/api/users/{other}/{kind}", {"amount": "1.00"},
                                        headers={"Idempotency-Key": key()}))
        # More than the account holds: still 403, which tells nothing about the balance.
        error = assert_forbidden(alice.api.post(f"/api/users/{other}/{kind}", {"amount": "1000000.00"}))
        assert "20.00" not in error["message"] and "5.00" not in error["message"], error
    assert db.snapshot(alice.id, bob.id, carol["id"]) == before


def test_a_user_pays_from_their_own_account_to_anyone(parties, db):
    alice, bob, carol = parties
    to_bob = alice.api.transfer(alice.id, bob.id, "10.00", memo="to a user who can log in")
    assert to_bob.status_code == 201, to_bob.text
    # The payer's own balance after it; never the recipient's.
    assert (to_bob.json()["from_balance"], to_bob.json()["to_balance"]) == ("40.00", None)
    # Crediting needs no consent: carol has no credentials at all.
    to_carol = alice.api.transfer(alice.id, carol["id"], "0.01")
    assert to_carol.status_code == 201, to_carol.text
    assert (db.balance(alice.id), db.balance(bob.id), db.balance(carol["id"])) == (3999, 3000, 501)
    # A user's own refusals are theirs to see: short of money, nobody to pay.
    assert_error(alice.api.transfer(alice.id, bob.id, "1000.00"), 409, "insufficient_funds")
    assert_error(alice.api.transfer(alice.id, LARGEST_ID, "1.00"), 404, "not_found")


def test_paying_from_another_users_account_is_forbidden_and_moves_nothing(parties, db):
    alice, bob, carol = parties
    before = db.snapshot(alice.id, bob.id, carol["id"])
    memo = unique("theft")
    for victim, to in ((bob.id, alice.id), (bob.id, carol["id"]), (carol["id"], alice.id), (LARGEST_ID, alice.id)):
        assert_forbidden(alice.api.transfer(victim, to, "1.00", memo=memo))
    # More than the victim holds: 403 all the same, not 409 with the victim's balance in the message.
    error = assert_forbidden(alice.api.transfer(bob.id, alice.id, "100000.00", memo=memo))
    assert "20.00" not in error["message"], error
    assert db.snapshot(alice.id, bob.id, carol["id"]) == before
    assert db.integer("SELECT count(*) FROM movements WHERE memo = :'memo'", memo=memo) == 0


def test_a_forbidden_request_does_not_use_up_its_idempotency_key(parties, db):
    alice, bob, _ = parties
    headers = {"Idempotency-Key": key()}
    assert_forbidden(alice.api.transfer(bob.id, alice.id, "1.00", headers=headers))
    assert db.integer("SELECT count(*) FROM idempotency_keys WHERE key = :'k'", k=headers["Idempotency-Key"]) == 0
    response = alice.api.transfer(alice.id, bob.id, "1.00", headers=headers)
    assert response.status_code == 201, response.text
    assert "Idempotency-Replayed" not in response.headers
    assert (db.balance(alice.id), db.balance(bob.id)) == (4900, 2100)


# --- the service role's operations --------------------------------------------------------------------------

def test_a_users_token_never_grants_the_service_operations(parties, db):
    alice, _, _ = parties
    assert alice.api.me().json()["role"] == "user"
    before = db.snapshot(alice.id)
    assert_forbidden(alice.api.get("/api/users"))
    assert_forbidden(alice.api.get("/api/users", params={"limit": 1}))
    assert_forbidden(alice.api.get("/api/transactions"))
    assert_forbidden(alice.api.get("/api/transactions", params={"limit": 100}))
    assert_forbidden(alice.api.create_user(unique("Minted"), "1000.00"))
    assert_forbidden(alice.api.create_user(unique("Minted"), headers={"Idempotency-Key": key()}))
    assert_forbidden(alice.api.create_user(unique("Admin"), username=unique("admin"), password="0123456789ab"))
    assert db.snapshot(alice.id) == before


def test_the_service_role_may_act_on_every_account(api, parties, db):
    alice, bob, carol = parties
    assert api.get(f"/api/users/{bob.id}").status_code == 200
    assert api.get(f"/api/users/{carol['id']}/transactions").status_code == 200
    assert api.deposit(bob.id, "5.00").status_code == 201
    assert api.withdraw(alice.id, "10.00").status_code == 201
    transfer = api.transfer(bob.id, carol["id"], "25.00")
    assert transfer.status_code == 201, transfer.text
    assert api.get(f"/api/transfers/{transfer.json()['id']}").status_code == 200
    assert api.get("/api/users", params={"limit": 1}).status_code == 200
    assert api.get("/api/transactions", params={"limit": 1}).status_code == 200
    assert (db.balance(alice.id), db.balance(bob.id), db.balance(carol["id"])) == (4000, 0, 3000)


# --- idempotency keys belong to their caller ----------------------------------------------------------------

def test_the_same_key_from_two_users_is_two_requests(parties, db):
    alice, bob, _ = parties
    shared = {"Idempotency-Key": key()}
    for account in (alice, bob):
        response = account.api.deposit(account.id, "1.00", memo="same key", headers=shared)
        assert response.status_code == 201, response.text
        assert "Idempotency-Replayed" not in response.headers
    assert (db.balance(alice.id), db.balance(bob.id)) == (5100, 2100)
    owners = db.rows("SELECT owner FROM idempotency_keys WHERE key = :'k' ORDER BY owner",
                     k=shared["Idempotency-Key"])
    assert owners == sorted([[str(alice.id)], [str(bob.id)]])
    # Each repeat replays its own caller's first answer.
    replay = alice.api.deposit(alice.id, "1.00", memo="same key", headers=shared)
    assert replay.headers.get("Idempotency-Replayed") == "true" and replay.json()["user_id"] == alice.id
    # Another body under the same key is reuse for that caller only.
    assert_error(bob.api.deposit(bob.id, "2.00", headers=shared), 422, "idempotency_key_reused", "Idempotency-Key")
    assert (db.balance(alice.id), db.balance(bob.id)) == (5100, 2100)


def test_the_service_role_has_keys_of_its_own(api, parties, db):
    alice, _, _ = parties
    shared = {"Idempotency-Key": key()}
    mine = alice.api.deposit(alice.id, "2.00", headers=shared)
    theirs = api.deposit(alice.id, "2.00", headers=shared)  # the very same request, from the service
    assert mine.status_code == theirs.status_code == 201
    assert "Idempotency-Replayed" not in theirs.headers
    assert theirs.json()["id"] != mine.json()["id"]
    assert db.balance(alice.id) == 5400


def test_a_user_cannot_replay_another_users_answer_with_their_key(parties, db):
    alice, bob, _ = parties
    shared = {"Idempotency-Key": key()}
    first = alice.api.transfer(alice.id, bob.id, "4.00", memo="alice pays", headers=shared)
    assert first.status_code == 201, first.text
    # bob sends alice's exact request with alice's key: it is his own request, and he may not pay from alice.
    assert_forbidden(bob.api.transfer(alice.id, bob.id, "4.00", memo="alice pays", headers=shared))
    assert (db.balance(alice.id), db.balance(bob.id)) == (4600, 2400)
