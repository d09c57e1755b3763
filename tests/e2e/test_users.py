"""Users: creation, reading, listing with cursors, and the rules for names."""

import pytest

from tally_e2e import assert_error, assert_user_shape, unique


def test_health_reports_service_and_database_up(api):
    response = api.get("/api/health")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.json() == {"status": "ok", "database": "up"}


def test_creating_a_user_with_an_initial_balance_returns_it_with_both_amount_forms(api):
    name = unique("Ada")
    response = api.create_user(name, "100.00")
    assert response.status_code == 201, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    assert "Idempotency-Replayed" not in response.headers
    user = response.json()
    assert_user_shape(user, name=name, balance_minor=10000)


def test_creating_a_user_without_an_initial_balance_starts_at_zero_with_no_movement(api, db):
    name = unique("Zero")
    response = api.create_user(name)
    assert response.status_code == 201, response.text
    user = response.json()
    assert_user_shape(user, name=name, balance_minor=0)
    assert user["balance"] == "0.00"
    assert db.movement_count(user["id"]) == 0
    history = api.get(f"/api/users/{user['id']}/transactions").json()
    assert history == {"items": [], "next_cursor": None}


def test_initial_balance_as_null_means_zero(api):
    response = api.post("/api/users", {"name": unique("Null"), "initial_balance": None})
    assert response.status_code == 201, response.text
    assert response.json()["balance_minor"] == 0


def test_initial_balance_of_zero_is_accepted(api):
    for zero in ("0", "0.00", 0):
        response = api.post("/api/users", {"name": unique("Zero"), "initial_balance": zero})
        assert response.status_code == 201, (zero, response.text)
        assert response.json()["balance"] == "0.00"


def test_initial_balance_is_recorded_as_a_deposit_from_the_outside_world(api, db):
    user = api.create_user(unique("Dep"), "12.5").json()
    assert user["balance_minor"] == 1250
    rows = db.rows(
        f"SELECT kind, debit_user_id, credit_user_id, amount, credit_balance_after FROM movements "
        f"WHERE credit_user_id = {user['id']} OR debit_user_id = {user['id']}")
    assert rows == [["deposit", "0", str(user["id"]), "1250", "1250"]]
    assert db.balance(user["id"]) == 1250
    history = api.get(f"/api/users/{user['id']}/transactions").json()
    assert len(history["items"]) == 1
    entry = history["items"][0]
    assert entry["kind"] == "deposit"
    assert entry["amount"] == "12.50" and entry["amount_minor"] == 1250
    assert entry["counterparty_user_id"] is None
    assert entry["balance_after"] == "12.50" and entry["balance_after_minor"] == 1250


def test_getting_a_user_returns_what_creation_returned(api, new_user):
    user = new_user("7.05")
    response = api.get(f"/api/users/{user['id']}")
    assert response.status_code == 200
    assert response.json() == user


def test_user_rows_match_the_api(api, db, new_user):
    user = new_user("3.00")
    row = db.rows(f"SELECT name, balance, is_system, username IS NULL, password_hash IS NULL FROM users "
                  f"WHERE id = {user['id']}")
    assert row == [[user["name"], "300", "f", "t", "t"]]


def test_names_are_stored_verbatim_including_spaces_and_unicode(api):
    for name in ("  Ada Lovelace  ", "Zoë 🚀 中文", "O'Brien \"quoted\" \\ back", "x" * 200):
        response = api.create_user(name)
        assert response.status_code == 201, (name, response.text)
        user = response.json()
        assert user["name"] == name
        assert api.user(user["id"])["name"] == name


@pytest.mark.parametrize("name", ["", " ", "   ", "\t\n ", "\u00a0\u2003"], ids=[
    "empty", "one-space", "spaces", "tab-newline", "unicode-spaces"])
def test_empty_or_whitespace_names_are_refused(api, name):
    assert_error(api.create_user(name), 422, "validation_failed", "name")


def test_names_over_200_characters_are_refused(api):
    assert_error(api.create_user("x" * 201), 422, "validation_failed", "name")
    assert_error(api.create_user("é" * 201), 422, "validation_failed", "name")


# A flag is two code points (regional indicators), an e with a combining accent two: one character on screen.
# Lengths are counted in code points, as PostgreSQL's char_length does.
@pytest.mark.parametrize("name", ["\U0001F1EB\U0001F1F7" * 101, "e\u0301" * 101], ids=["flags", "combining"])
def test_names_over_200_code_points_are_refused_even_when_fewer_characters_show(api, db, name):
    users_before = db.integer("SELECT count(*) FROM users")
    assert_error(api.create_user(name), 422, "validation_failed", "name")
    assert db.integer("SELECT count(*) FROM users") == users_before


def test_a_name_of_200_code_points_in_100_flags_is_stored_verbatim(api):
    name = "\U0001F1EB\U0001F1F7" * 100
    response = api.create_user(name)
    assert response.status_code == 201, response.text
    assert api.user(response.json()["id"])["name"] == name


def test_names_with_a_nul_character_are_refused(api):
    assert_error(api.create_user("Ada\u0000Lovelace"), 422, "validation_failed", "name")


@pytest.mark.parametrize("body, field", [
    ({}, "name"),
    ({"name": None}, "name"),
    ({"name": 42}, "name"),
    ({"name": True}, "name"),
    ({"name": ["Ada"]}, "name"),
    ({"name": {"first": "Ada"}}, "name"),
    ({"initial_balance": "1.00"}, "name"),
    ({"name": "Ada", "balance": "1.00"}, "balance"),
    ({"name": "Ada", "initial_balance": "1.00", "id": 5}, "id"),
    ({"name": "Ada", "initial_balance": [1]}, "initial_balance"),
    ({"name": "Ada", "initial_balance": {"amount": 1}}, "initial_balance"),
    ({"name": "Ada", "initial_balance": True}, "initial_balance"),
    ({"name": "Ada", "initial_balance": "-1.00"}, "initial_balance"),
    ({"name": "Ada", "initial_balance": "1.001"}, "initial_balance"),
    ({"name": "Ada", "initial_balance": "abc"}, "initial_balance"),
    ({"name": "Ada", "initial_balance": "92233720368547758.08"}, "initial_balance"),
], ids=lambda value: repr(value) if isinstance(value, dict) else str(value))
def test_user_creation_with_bad_fields_is_refused_naming_the_field(api, db, body, field):
    users_before = db.integer("SELECT count(*) FROM users")
    assert_error(api.post("/api/users", body), 422, "validation_failed", field)
    # Other tests do not run concurrently: a refused creation made no user.
    assert db.integer("SELECT count(*) FROM users") == users_before


def test_unknown_user_is_not_found(api):
    assert_error(api.get("/api/users/9223372036854775807"), 404, "not_found")


@pytest.mark.parametrize("segment", ["0", "-1", "abc", "1.5", "9223372036854775808", "1e3", "%20"])
def test_user_ids_that_are_not_positive_integers_are_not_found(api, segment):
    assert_error(api.get(f"/api/users/{segment}"), 404, "not_found")


def test_the_system_account_is_not_a_user(api):
    assert_error(api.get("/api/users/0"), 404, "not_found")
    page = api.get("/api/users", params={"limit": 100}).json()
    assert all(user["id"] != 0 for user in page["items"])


def test_users_list_pages_follow_next_cursor_in_ascending_id_order(api, new_user):
    mine = [new_user(f"{i}.00") for i in range(1, 4)]
    everyone = api.all_pages("/api/users", limit=100)
    ids = [user["id"] for user in everyone]
    assert ids == sorted(ids) and len(ids) == len(set(ids))
    by_id = {user["id"]: user for user in everyone}
    for user in mine:
        assert by_id[user["id"]] == user

    # The same list in pages of 7 is the same list (tests run one at a time: nobody adds users meanwhile).
    small_pages = api.all_pages("/api/users", limit=7, max_pages=len(everyone) // 7 + 2)
    assert small_pages == everyone


def test_users_list_with_limit_one_gives_a_cursor_to_the_next_user(api, new_user):
    new_user()
    new_user()
    first = api.get("/api/users", params={"limit": 1}).json()
    assert len(first["items"]) == 1 and isinstance(first["next_cursor"], str)
    second = api.get("/api/users", params={"limit": 1, "cursor": first["next_cursor"]}).json()
    assert len(second["items"]) == 1
    two = api.get("/api/users", params={"limit": 2}).json()
    assert two["items"] == first["items"] + second["items"]


def test_users_list_defaults_to_20_per_page(api, new_user):
    for _ in range(21):
        new_user()
    page = api.get("/api/users").json()
    assert len(page["items"]) == 20
    assert isinstance(page["next_cursor"], str) and page["next_cursor"]


def test_an_empty_cursor_means_the_first_page(api, new_user):
    new_user()
    assert api.get("/api/users", params={"limit": 3, "cursor": ""}).json() == \
        api.get("/api/users", params={"limit": 3}).json()


def test_the_last_users_page_has_a_null_cursor(api, new_user):
    newest = new_user()
    everyone = api.all_pages("/api/users", limit=100)
    assert everyone[-1]["id"] == newest["id"]
