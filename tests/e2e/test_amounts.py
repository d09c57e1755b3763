"""Amounts: the forms accepted (strings and JSON numbers, read exactly) and every form refused, on every
endpoint that takes one. Amounts are written into the body as raw JSON text, so that a number such as 1e2
or 0.07 reaches the service exactly as written."""

import pytest

from tally_e2e import assert_error

# (JSON text of the amount, minor units)
ACCEPTED = [
    ('"10"', 1000),
    ('"10.0"', 1000),
    ('"10.00"', 1000),
    ('"0.5"', 50),
    ('"0.05"', 5),
    ('"0.01"', 1),
    ('"007.50"', 750),
    ("10", 1000),
    ("12.34", 1234),
    ("0.1", 10),
    ("0.07", 7),      # not exact in binary floating point
    ("1.15", 115),    # 1.149999... as a double
    ("4.35", 435),    # 434.99999... cents as a double
    ('"90071992547409.93"', 9007199254740993),  # more cents than a double holds exactly (2^53 + 1)
    ("90071992547409.93", 9007199254740993),
]

# JSON text of amounts refused with 422 validation_failed naming the amount's field.
REFUSED = [
    '"0"', '"0.00"', "0", "0.0", "0.00",
    '"-1"', "-1", '"-0.01"', "-0.01", '"-0"', "-0",
    '"1.234"', "1.234", '"0.001"', "0.001",
    '"1e2"', "1e2", '"1E2"', "1E2", "1.5e1", "1e-2", '"1e-2"',
    '"abc"', '""', '" 1"', '"1 "', '"1,00"', '"1."', '".5"', '"+1"', '"0x10"', '"NaN"', '"Infinity"', '"1.2.3"',
    '"١٢"',
    "null", "true", "false", "[]", '["1.00"]', "{}", '{"amount": "1.00"}',
    '"92233720368547758.08"', "92233720368547758.08", '"99999999999999999999"', "99999999999999999999",
    '"92233720368547758.070"',
]


def cash_body(amount_json: str) -> str:
    return '{"amount": %s}' % amount_json


def transfer_body(from_id: int, to_id: int, amount_json: str) -> str:
    return '{"from_user_id": %d, "to_user_id": %d, "amount": %s}' % (from_id, to_id, amount_json)


@pytest.mark.parametrize("amount_json, minor_units", ACCEPTED, ids=[a for a, _ in ACCEPTED])
def test_deposit_reads_amounts_exactly_from_strings_and_numbers(api, db, new_user, amount_json, minor_units):
    user = new_user()
    response = api.request("POST", f"/api/users/{user['id']}/deposits", data=cash_body(amount_json))
    assert response.status_code == 201, response.text
    deposit = response.json()
    assert deposit["amount_minor"] == minor_units
    assert deposit["amount"] == f"{minor_units // 100}.{minor_units % 100:02d}"
    assert deposit["balance_minor"] == minor_units
    assert db.integer(f"SELECT amount FROM movements WHERE id = {deposit['id']}") == minor_units
    api.request("POST", f"/api/users/{user['id']}/withdrawals", data=cash_body(amount_json))
    assert db.balance(user["id"]) == 0


@pytest.mark.parametrize("amount_json, minor_units", [a for a in ACCEPTED if a[1] < 10**6],
                         ids=[a for a, m in ACCEPTED if m < 10**6])
def test_transfer_and_withdrawal_read_amounts_exactly(api, new_user, amount_json, minor_units):
    alice, bob = new_user("10000.00"), new_user()
    response = api.request("POST", "/api/transfers", data=transfer_body(alice["id"], bob["id"], amount_json))
    assert response.status_code == 201, response.text
    assert response.json()["amount_minor"] == minor_units
    assert response.json()["to_balance_minor"] == minor_units
    response = api.request("POST", f"/api/users/{bob['id']}/withdrawals", data=cash_body(amount_json))
    assert response.status_code == 201, response.text
    assert response.json()["balance_minor"] == 0


@pytest.mark.parametrize("amount_json, minor_units", ACCEPTED, ids=[a for a, _ in ACCEPTED])
def test_initial_balance_reads_amounts_exactly(api, amount_json, minor_units):
    response = api.request("POST", "/api/users", data='{"name": "Exact", "initial_balance": %s}' % amount_json)
    assert response.status_code == 201, response.text
    user = response.json()
    assert user["balance_minor"] == minor_units
    # Leave no giant balance behind for later tests.
    assert api.withdraw(user["id"], user["balance"]).status_code == 201


@pytest.mark.parametrize("amount_json", REFUSED)
def test_bad_deposit_amounts_are_refused_and_change_nothing(api, db, new_user, amount_json):
    user = new_user("5.00")
    response = api.request("POST", f"/api/users/{user['id']}/deposits", data=cash_body(amount_json))
    assert_error(response, 422, "validation_failed", "amount")
    assert db.balance(user["id"]) == 500
    assert db.movement_count(user["id"]) == 1


@pytest.mark.parametrize("amount_json", REFUSED)
def test_bad_withdrawal_amounts_are_refused_and_change_nothing(api, db, new_user, amount_json):
    user = new_user("5.00")
    response = api.request("POST", f"/api/users/{user['id']}/withdrawals", data=cash_body(amount_json))
    assert_error(response, 422, "validation_failed", "amount")
    assert db.balance(user["id"]) == 500
    assert db.movement_count(user["id"]) == 1


@pytest.mark.parametrize("amount_json", REFUSED)
def test_bad_transfer_amounts_are_refused_and_change_nothing(api, db, new_user, amount_json):
    alice, bob = new_user("5.00"), new_user("1.00")
    response = api.request("POST", "/api/transfers", data=transfer_body(alice["id"], bob["id"], amount_json))
    assert_error(response, 422, "validation_failed", "amount")
    assert (db.balance(alice["id"]), db.balance(bob["id"])) == (500, 100)
    assert db.movement_count(alice["id"], bob["id"]) == 2


# Zero is a valid initial balance; null means none. Every other refused form is refused here too.
@pytest.mark.parametrize("amount_json", [a for a in REFUSED if a not in ('"0"', '"0.00"', "0", "0.0", "0.00", "null")])
def test_bad_initial_balances_are_refused(api, db, amount_json):
    users_before = db.integer("SELECT count(*) FROM users")
    response = api.request("POST", "/api/users", data='{"name": "Bad", "initial_balance": %s}' % amount_json)
    assert_error(response, 422, "validation_failed", "initial_balance")
    assert db.integer("SELECT count(*) FROM users") == users_before


def test_a_missing_amount_is_refused(api, new_user):
    alice, bob = new_user("5.00"), new_user()
    assert_error(api.post(f"/api/users/{alice['id']}/deposits", {}), 422, "validation_failed", "amount")
    assert_error(api.post(f"/api/users/{alice['id']}/withdrawals", {"memo": "x"}), 422, "validation_failed",
                 "amount")
    assert_error(api.post("/api/transfers", {"from_user_id": alice["id"], "to_user_id": bob["id"]}), 422,
                 "validation_failed", "amount")
