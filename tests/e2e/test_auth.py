"""Accounts and tokens: sign-up, log-in, using a token, its expiry and revocation, every form of bad token,
and the secrets (passwords, tokens) that must never come back out of the service or into its logs."""

import base64
import hashlib
import json
import os
import random
import secrets
import string
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from tally_e2e import (TOKEN_FORM, USER_KEYS, Api, access_log_lines, assert_error, assert_unauthorized,
                       assert_user_shape, create_account, new_password, new_username, parse_timestamp, pool_log_lines,
                       unique)

# Bodies that are not valid JSON objects, for the endpoints that read credentials.
NOT_AN_OBJECT = [b"", b"{", b"not json", b"[]", b'"ada"', b"null", b'{"username": "ada",}']


def token_row(db, token: str) -> list[list[str]]:
    """The tokens row stored for a token's text: (user_id, role, expires_at set, revoked_at set)."""
    return db.rows("SELECT coalesce(user_id::text, ''), role, expires_at IS NOT NULL, revoked_at IS NOT NULL "
                   "FROM tokens WHERE hash = sha256(convert_to(:'token', 'UTF8'))", token=token)


def keys_named_like_password(value) -> list[str]:
    """Every object key in a JSON value that mentions a password."""
    if isinstance(value, dict):
        return [key for key in value if "password" in key.lower()] + [
            found for member in value.values() for found in keys_named_like_password(member)]
    if isinstance(value, list):
        return [found for item in value for found in keys_named_like_password(item)]
    return []


USERNAME_ALPHABET = string.ascii_letters + string.digits + "._-"


def random_username(length: int, alphabet: str = USERNAME_ALPHABET) -> str:
    return "".join(random.choice(alphabet) for _ in range(length))


def well_formed_unknown_token() -> str:
    return "tly_" + base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")


# --- register -----------------------------------------------------------------------------------------------

def test_registering_needs_no_token_and_makes_a_user_with_a_zero_balance(anonymous, db):
    username, password = new_username(), new_password()
    response = anonymous.register(username, password, name="Ada Lovelace")
    assert response.status_code == 201, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    user = response.json()
    assert_user_shape(user, name="Ada Lovelace", balance_minor=0, username=username)
    assert db.movement_count(user["id"]) == 0
    assert db.rows(f"SELECT name, username, balance, is_system FROM users WHERE id = {user['id']}") == [
        ["Ada Lovelace", username, "0", "f"]]


def test_the_name_defaults_to_the_username(anonymous):
    username = new_username()
    response = anonymous.register(username, new_password())
    assert response.status_code == 201, response.text
    assert_user_shape(response.json(), name=username, balance_minor=0, username=username)


def test_a_null_name_at_registration_defaults_to_the_username(anonymous):
    """Found by schemathesis: the document had name as a string only, while null means absent, as elsewhere."""
    username = new_username()
    response = anonymous.post("/api/auth/register", {"username": username, "password": new_password(), "name": None})
    assert response.status_code == 201, response.text
    assert_user_shape(response.json(), name=username, balance_minor=0, username=username)


VERBATIM_NAMES = [
    "<script>alert('owned')</script>", "O'Brien & \"Sons\" <b>bold</b>", "&lt;already escaped&gt; &amp;",
    "Zoë 🚀 中文 Ελληνικά עברית", "e\u0301 (combining) and \u00e9 (precomposed)", "👩‍👩‍👧 family",
    "\u202eright-to-left override", "  padded  ", "tab\tand\nnewline", "back\\slash \\u0041", "%00 %s {0}",
]


def stored_name(db, user_id: int) -> str:
    """The users.name column exactly (as UTF-8 in hex, so that newlines and tabs survive psql's output)."""
    return bytes.fromhex(db.value(f"SELECT encode(convert_to(name, 'UTF8'), 'hex') FROM users "
                                  f"WHERE id = {int(user_id)}")).decode("utf-8")


@pytest.mark.parametrize("name", VERBATIM_NAMES, ids=repr)
def test_names_with_any_unicode_or_html_are_stored_and_returned_verbatim(api, anonymous, db, name):
    username, password = new_username(), new_password()
    registered = anonymous.register(username, password, name=name)
    assert registered.status_code == 201, registered.text
    assert registered.headers["Content-Type"].startswith("application/json")
    user = registered.json()
    assert user["name"] == name
    own = anonymous.with_token(anonymous.login(username, password).json()["token"])
    assert own.me().json()["name"] == name
    assert api.user(user["id"])["name"] == name
    assert stored_name(db, user["id"]) == name
    # The service's way in keeps it verbatim too.
    made = api.create_user(name, username=new_username(), password=new_password())
    assert made.status_code == 201, made.text
    assert made.json()["name"] == name
    assert stored_name(db, made.json()["id"]) == name


def test_the_password_is_stored_only_as_an_argon2id_hash(anonymous, db):
    username, password = new_username(), new_password()
    user = anonymous.register(username, password).json()
    stored = db.value(f"SELECT password_hash FROM users WHERE id = {user['id']}")
    assert stored.startswith("$argon2id$"), stored
    assert password not in stored
    # Two users with the same password get different hashes (a salt of their own).
    other = anonymous.register(new_username(), password).json()
    assert db.value(f"SELECT password_hash FROM users WHERE id = {other['id']}") != stored


@pytest.mark.parametrize("make", [
    lambda: random_username(3),
    lambda: random_username(64),
    lambda: "a.b_c-D9" + secrets.token_hex(4),
    lambda: random_username(12, string.digits),
    lambda: random_username(8, "._-"),
], ids=["3 characters", "64 characters", "every kind", "digits only", "punctuation only"])
def test_usernames_of_3_to_64_letters_digits_dots_dashes_and_underscores_are_accepted(anonymous, make):
    username = make()
    response = anonymous.register(username, new_password())
    assert response.status_code == 201, response.text
    assert response.json()["username"] == username


@pytest.mark.parametrize("username", [
    "ab", "", "A" * 65, "has space", "émile", "a/b", "a@b", "a+b", "semi;colon", "quote'", "tab\tname", "ab\u0000c",
    "名前です", "<script>",
], ids=repr)
def test_malformed_usernames_are_refused_and_nothing_is_made(anonymous, db, username):
    before = db.snapshot()
    assert_error(anonymous.register(username, new_password()), 422, "validation_failed", "username")
    assert db.snapshot() == before


@pytest.mark.parametrize("password", ["", "x", "123456789", "p" * 257, "nine char", "0123456\u00008x"], ids=[
    "empty", "one", "nine", "257", "nine-with-space", "nul"])
def test_passwords_shorter_than_10_or_longer_than_256_or_with_nul_are_refused(anonymous, db, password):
    before = db.snapshot()
    assert_error(anonymous.register(new_username(), password), 422, "validation_failed", "password")
    assert db.snapshot() == before


@pytest.mark.parametrize("password", ["0123456789", "p" * 256, "ünïcødé 🔑 pässwörd", "  spaces   ", "é" * 256])
def test_passwords_of_10_to_256_characters_are_accepted_and_log_in(anonymous, password):
    username = new_username()
    assert anonymous.register(username, password).status_code == 201
    response = anonymous.login(username, password)
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("body, field", [
    ({"password": "0123456789"}, "username"),
    ({"username": "someone-new"}, "password"),
    ({"username": 42, "password": "0123456789"}, "username"),
    ({"username": None, "password": "0123456789"}, "username"),
    ({"username": ["ada"], "password": "0123456789"}, "username"),
    ({"username": "someone-new", "password": 1234567890}, "password"),
    ({"username": "someone-new", "password": "0123456789", "name": ""}, "name"),
    ({"username": "someone-new", "password": "0123456789", "name": "   "}, "name"),
    ({"username": "someone-new", "password": "0123456789", "name": "x" * 201}, "name"),
    ({"username": "someone-new", "password": "0123456789", "name": 5}, "name"),
    ({"username": "someone-new", "password": "0123456789", "initial_balance": "100.00"}, "initial_balance"),
    ({"username": "someone-new", "password": "0123456789", "role": "service"}, "role"),
], ids=repr)
def test_registration_with_bad_fields_is_refused_naming_the_field(anonymous, db, body, field):
    body = {key: (new_username() if value == "someone-new" else value) for key, value in body.items()}
    before = db.snapshot()
    assert_error(anonymous.post("/api/auth/register", body), 422, "validation_failed", field)
    assert db.snapshot() == before


@pytest.mark.parametrize("body", NOT_AN_OBJECT, ids=repr)
def test_registration_bodies_that_are_not_a_json_object_are_malformed(anonymous, db, body):
    before = db.snapshot()
    assert_error(anonymous.request("POST", "/api/auth/register", data=body), 400, "malformed_json")
    assert db.snapshot() == before


def test_usernames_are_unique_ignoring_case(anonymous, db):
    username = "Case." + secrets.token_hex(6)
    first = anonymous.register(username, new_password())
    assert first.status_code == 201, first.text
    before = db.snapshot()
    for taken in (username, username.upper(), username.lower()):
        assert_error(anonymous.register(taken, new_password()), 409, "username_taken", "username")
    assert db.snapshot() == before
    assert db.integer("SELECT count(*) FROM users WHERE lower(username) = lower(:'u')", u=username) == 1


def test_a_username_taken_by_a_user_the_service_made_is_refused_too(api, anonymous):
    username = new_username()
    assert api.create_user("Made", username=username, password=new_password()).status_code == 201
    assert_error(anonymous.register(username.upper(), new_password()), 409, "username_taken", "username")


# --- log in -------------------------------------------------------------------------------------------------

def test_logging_in_gives_a_bearer_token_that_expires_after_the_configured_lifetime(anonymous, db, token_ttl):
    username, password = new_username(), new_password()
    user = anonymous.register(username, password, name="Grace").json()
    before = datetime.now(timezone.utc)
    response = anonymous.login(username, password)
    after = datetime.now(timezone.utc)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"token", "token_type", "expires_at", "user"}, body
    assert TOKEN_FORM.match(body["token"]), body["token"]
    assert body["token_type"] == "Bearer"
    assert body["user"] == user
    expires_at = parse_timestamp(body["expires_at"])
    lifetime_from_before = (expires_at - before).total_seconds()
    lifetime_from_after = (expires_at - after).total_seconds()
    assert token_ttl - 1 <= lifetime_from_after and lifetime_from_before <= token_ttl + 1, (
        body["expires_at"], before, after)
    # Stored only as its SHA-256, for that user, with the expiry: the text is in no column of any token row.
    assert token_row(db, body["token"]) == [[str(user["id"]), "user", "t", "f"]]
    assert db.integer("SELECT count(*) FROM tokens t WHERE position(:'t' IN t::text) > 0", t=body["token"]) == 0
    assert db.integer("SELECT count(*) FROM tokens t WHERE position(:'t' IN t::text) > 0",
                      t=body["token"][4:]) == 0


def test_each_log_in_gives_a_new_token(new_account):
    account = new_account()
    tokens = {account.log_in()["token"] for _ in range(3)}
    assert len(tokens) == 3


def test_the_username_is_matched_ignoring_case_at_log_in(anonymous):
    username, password = "Mixed.Case-" + secrets.token_hex(4), new_password()
    user = anonymous.register(username, password).json()
    for spelling in (username, username.upper(), username.lower()):
        response = anonymous.login(spelling, password)
        assert response.status_code == 200, (spelling, response.text)
        assert response.json()["user"] == user


def test_a_user_the_service_made_with_credentials_can_log_in(api, anonymous, db):
    username, password = new_username(), new_password()
    response = api.create_user("Service-made", "12.00", username=username, password=password)
    assert response.status_code == 201, response.text
    user = response.json()
    assert_user_shape(user, name="Service-made", balance_minor=1200, username=username)
    assert db.value(f"SELECT password_hash FROM users WHERE id = {user['id']}").startswith("$argon2id$")
    login = anonymous.login(username, password)
    assert login.status_code == 200, login.text
    assert login.json()["user"] == user


def test_a_user_the_service_made_without_credentials_has_no_username_and_cannot_log_in(api, anonymous, new_user):
    user = new_user("1.00")
    assert user["username"] is None
    assert api.user(user["id"])["username"] is None
    assert_error(anonymous.login(user["name"], "0123456789"), 401, "invalid_credentials")


def test_service_user_creation_with_null_username_and_password_makes_a_user_without_credentials(api):
    """Found by schemathesis: the document had username and password as strings only, while null means absent."""
    response = api.post("/api/users", {"name": "No login", "username": None, "password": None})
    assert response.status_code == 201, response.text
    assert response.json()["username"] is None


@pytest.mark.parametrize("body, field", [
    ({"name": "Half", "username": "someone-new"}, "password"),
    ({"name": "Half", "password": "0123456789"}, "username"),
    ({"name": "Half", "username": "x", "password": "0123456789"}, "username"),
    ({"name": "Half", "username": "someone-new", "password": "short"}, "password"),
    ({"name": "Half", "username": 7, "password": "0123456789"}, "username"),
], ids=repr)
def test_service_user_creation_needs_both_username_and_password_valid_or_neither(api, db, body, field):
    body = {key: (new_username() if value == "someone-new" else value) for key, value in body.items()}
    before = db.snapshot()
    assert_error(api.post("/api/users", body), 422, "validation_failed", field)
    assert db.snapshot() == before


def test_service_user_creation_with_a_taken_username_is_refused(api, anonymous, db):
    username = new_username()
    assert anonymous.register(username, new_password()).status_code == 201
    before = db.snapshot()
    response = api.create_user("Twin", "5.00", username=username.upper(), password=new_password())
    assert_error(response, 409, "username_taken", "username")
    assert db.snapshot() == before


def test_replayed_service_user_creation_with_credentials_creates_one_user(api, anonymous, db):
    username, password = new_username(), new_password()
    headers = {"Idempotency-Key": unique("create")}
    first = api.create_user("Once", "2.00", username=username, password=password, headers=headers)
    assert first.status_code == 201, first.text
    replay = api.create_user("Once", "2.00", username=username, password=password, headers=headers)
    assert replay.status_code == 201 and replay.headers.get("Idempotency-Replayed") == "true", replay.text
    assert replay.json() == first.json()
    assert db.integer("SELECT count(*) FROM users WHERE username = :'u'", u=username) == 1
    assert_error(api.create_user("Once", "2.00", username=new_username(), password=password, headers=headers),
                 422, "idempotency_key_reused", "Idempotency-Key")
    assert anonymous.login(username, password).status_code == 200


def test_same_key_with_another_password_is_another_request(api, anonymous):
    username = new_username()
    headers = {"Idempotency-Key": unique("create")}
    first = api.create_user("Twice", username=username, password=new_password(), headers=headers)
    assert first.status_code == 201, first.text
    other_password = new_password()
    response = api.create_user("Twice", username=username, password=other_password, headers=headers)
    assert_error(response, 422, "idempotency_key_reused", "Idempotency-Key")


def test_wrong_password_and_unknown_username_get_the_same_answer(anonymous, db):
    username, password = new_username(), new_password()
    anonymous.register(username, password)
    tokens_before = db.integer("SELECT count(*) FROM tokens")
    wrong_password = anonymous.login(username, password + "!")
    unknown_user = anonymous.login(new_username(), password)
    empty_password = anonymous.login(username, "")
    for response in (wrong_password, unknown_user, empty_password):
        assert_error(response, 401, "invalid_credentials")
    bodies = [response.json()["error"] for response in (wrong_password, unknown_user, empty_password)]
    for error in bodies:
        del error["request_id"]
    assert bodies[0] == bodies[1] == bodies[2]
    assert {name.lower() for name in wrong_password.headers} == {name.lower() for name in unknown_user.headers}
    assert db.integer("SELECT count(*) FROM tokens") == tokens_before


def test_over_long_credentials_are_refused_before_any_password_work(anonymous, db):
    username, password = new_username(), new_password()
    anonymous.register(username, password)
    tokens_before = db.integer("SELECT count(*) FROM tokens")
    assert_error(anonymous.login("u" * 257, password), 422, "validation_failed", "username")
    assert_error(anonymous.login("é" * 129, password), 422, "validation_failed", "username")  # 258 bytes
    assert_error(anonymous.login(username, "p" * 257), 422, "validation_failed", "password")
    assert_error(anonymous.login(username, "p" * 100_000), 413, "payload_too_large")
    # At the limits they are only wrong.
    assert_error(anonymous.login("u" * 256, password), 401, "invalid_credentials")
    assert_error(anonymous.login(username, "p" * 256), 401, "invalid_credentials")
    assert db.integer("SELECT count(*) FROM tokens") == tokens_before


def test_a_login_username_with_a_nul_character_does_not_log_in_as_its_prefix(anonymous, db):
    """A username with NUL in it is malformed (422) or simply wrong (401); it must never match the user whose
    name is the part before the NUL."""
    username, password = new_username(), new_password()
    anonymous.register(username, password)
    tokens_before = db.integer("SELECT count(*) FROM tokens")
    response = anonymous.login(username + "\u0000anything", password)
    assert response.status_code in (401, 422), f"logged in as {username}: {response.status_code} {response.text}"
    assert db.integer("SELECT count(*) FROM tokens") == tokens_before


@pytest.mark.parametrize("body, status, code, field", [
    ({"password": "0123456789"}, 422, "validation_failed", "username"),
    ({"username": "ada"}, 422, "validation_failed", "password"),
    ({"username": 1, "password": "0123456789"}, 422, "validation_failed", "username"),
    ({"username": "ada", "password": None}, 422, "validation_failed", "password"),
    ({"username": "ada", "password": "0123456789", "remember": True}, 422, "validation_failed", "remember"),
], ids=repr)
def test_log_in_bodies_with_bad_fields_are_refused_naming_the_field(anonymous, body, status, code, field):
    assert_error(anonymous.post("/api/auth/login", body), status, code, field)


@pytest.mark.parametrize("body", NOT_AN_OBJECT, ids=repr)
def test_log_in_bodies_that_are_not_a_json_object_are_malformed(anonymous, body):
    assert_error(anonymous.request("POST", "/api/auth/login", data=body), 400, "malformed_json")


# --- using a token, /api/me ---------------------------------------------------------------------------------

def test_me_with_a_user_token_is_the_user_with_balance_and_role(new_account):
    account = new_account("3.25", name="Katherine")
    account.api.deposit(account.id, "1.00")
    response = account.api.me()
    assert response.status_code == 200, response.text
    me = response.json()
    assert set(me) == USER_KEYS | {"role"}, me
    assert me["role"] == "user"
    assert {key: me[key] for key in USER_KEYS} == {**account.user, "balance": "4.25", "balance_minor": 425,
                                                   "available": "4.25", "available_minor": 425}


def test_me_with_the_service_token_is_the_service_role(api):
    response = api.me()
    assert response.status_code == 200, response.text
    assert response.json() == {"role": "service"}


def test_a_registered_user_logs_in_and_uses_the_token_on_their_own_account(anonymous, db):
    username, password = new_username(), new_password()
    user = anonymous.register(username, password).json()
    login = anonymous.login(username, password)
    assert login.status_code == 200, login.text
    me = anonymous.with_token(login.json()["token"])
    deposit = me.deposit(user["id"], "20.00", memo="first")
    assert deposit.status_code == 201, deposit.text
    assert deposit.json()["balance"] == "20.00"
    withdrawal = me.withdraw(user["id"], "5.00")
    assert withdrawal.status_code == 201, withdrawal.text
    assert me.get(f"/api/users/{user['id']}").json()["balance"] == "15.00"
    history = me.get(f"/api/users/{user['id']}/transactions").json()["items"]
    assert [item["kind"] for item in history] == ["withdrawal", "deposit"]
    assert db.balance(user["id"]) == 1500


def test_the_scheme_name_is_case_insensitive(anonymous, new_account):
    account = new_account()
    token = account.current_token()
    for scheme in ("Bearer", "bearer", "BEARER"):
        response = anonymous.me(headers={"Authorization": f"{scheme} {token}"})
        assert response.status_code == 200, (scheme, response.text)


# --- expiry, logout, revocation -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def dead_tokens(base_url, token_ttl, mint_service_token):
    """Tokens that worked and no longer do: a user's expired and revoked log-in tokens, a service token made
    with --ttl 1 (expired) and one revoked. Made once for the module: waiting out a lifetime takes seconds.
    Returns the tokens, the user, the expiring log-in's body, and what /api/me answered each before."""
    service = Api(base_url)
    account = create_account(service, "10.00")
    expiring = account.log_in()
    tokens = {
        "expired": expiring["token"],
        "revoked": account.log_in()["token"],
        "expired service": mint_service_token(ttl=1),
        "revoked service": mint_service_token(),
    }
    worked = {}
    for name, token in tokens.items():
        worked[name] = service.with_token(token).me().status_code
    for name in ("revoked", "revoked service"):
        response = service.with_token(tokens[name]).logout()
        assert response.status_code == 200, response.text
    wait = (parse_timestamp(expiring["expires_at"]) - datetime.now(timezone.utc)).total_seconds() + 1.0
    assert wait <= token_ttl + 2, expiring
    time.sleep(max(wait, 0))
    service.close()
    return {"tokens": tokens, "account": account, "login": expiring, "worked": worked}


def test_a_log_in_token_stops_working_at_its_expiry(dead_tokens, api, db, anonymous):
    assert dead_tokens["worked"]["expired"] == 200
    token, account = dead_tokens["tokens"]["expired"], dead_tokens["account"]
    assert parse_timestamp(dead_tokens["login"]["expires_at"]) < datetime.now(timezone.utc)
    expired = anonymous.with_token(token)
    recipient = api.create_user(unique("to")).json()["id"]
    before = db.snapshot(account.id, recipient)
    assert_unauthorized(expired.me())
    assert_unauthorized(expired.get(f"/api/users/{account.id}"))
    assert_unauthorized(expired.get(f"/api/users/{account.id}/transactions"))
    assert_unauthorized(expired.deposit(account.id, "1.00"))
    assert_unauthorized(expired.withdraw(account.id, "1.00"))
    assert_unauthorized(expired.transfer(account.id, recipient, "1.00"))
    assert db.snapshot(account.id, recipient) == before
    assert [row[:3] for row in token_row(db, token)] == [[str(account.id), "user", "t"]]
    # Logging in again gives a token that works.
    assert anonymous.with_token(account.log_in()["token"]).me().status_code == 200


def test_a_service_token_made_with_a_lifetime_expires_too(dead_tokens, anonymous):
    assert dead_tokens["worked"]["expired service"] == 200
    assert_unauthorized(anonymous.with_token(dead_tokens["tokens"]["expired service"]).me())


def test_logging_out_revokes_only_the_token_presented(new_account, anonymous, db):
    account = new_account("5.00")
    first, second = account.log_in()["token"], account.log_in()["token"]
    leaving, staying = anonymous.with_token(first), anonymous.with_token(second)
    assert leaving.me().status_code == 200
    response = leaving.logout()
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "logged_out"}
    assert token_row(db, first) == [[str(account.id), "user", "t", "t"]]
    before = db.snapshot()
    assert_unauthorized(leaving.me())
    assert_unauthorized(leaving.deposit(account.id, "1.00"))
    assert_unauthorized(leaving.logout())  # a second logout
    assert db.snapshot() == before
    assert db.balance(account.id) == 500
    # The user's other token is untouched.
    assert staying.me().status_code == 200
    assert staying.deposit(account.id, "1.00").status_code == 201


def test_a_revoked_service_token_is_refused(dead_tokens, db, anonymous):
    assert dead_tokens["worked"]["revoked service"] == 200
    token = dead_tokens["tokens"]["revoked service"]
    assert token_row(db, token) == [["", "service", "f", "t"]]
    assert_unauthorized(anonymous.with_token(token).get("/api/users"))


def test_logout_needs_a_token(anonymous):
    assert_unauthorized(anonymous.logout())
    assert_unauthorized(anonymous.logout(headers={"Authorization": "Bearer " + well_formed_unknown_token()}))


# --- every bad token form, on a sample of endpoints ---------------------------------------------------------

BAD_AUTHORIZATIONS = {
    "missing": None,
    "empty": "",
    "scheme only": "Bearer",
    "scheme and space": "Bearer ",
    "basic": "Basic " + base64.b64encode(b"admin:correct horse").decode(),
    "garbage": "garbage",
    "bearer garbage": "Bearer garbage",
    "token without scheme": "{unknown}",
    "other scheme": "Token {unknown}",
    "two tokens": "Bearer {unknown} {unknown}",
    "too short": "Bearer tly_" + "A" * 42,
    "too long": "Bearer tly_" + "A" * 44,
    "no prefix": "Bearer " + "A" * 43,
    "padded base64": "Bearer {unknown}=",
    "not base64url": "Bearer tly_" + "+" * 43,
    "unknown well-formed": "Bearer {unknown}",
    "expired": "Bearer {expired}",
    "revoked": "Bearer {revoked}",
    "expired service": "Bearer {expired service}",
    "revoked service": "Bearer {revoked service}",
}

# id: (method, path, body); {user} is a real user with money, {transfer} a real transfer from them to {other}.
SAMPLE_ENDPOINTS = {
    "me": ("GET", "/api/me", None),
    "logout": ("POST", "/api/auth/logout", None),
    "list users": ("GET", "/api/users", None),
    "create user": ("POST", "/api/users", '{"name": "Nobody", "initial_balance": "5.00"}'),
    "get user": ("GET", "/api/users/{user}", None),
    "history": ("GET", "/api/users/{user}/transactions", None),
    "deposit": ("POST", "/api/users/{user}/deposits", '{"amount": "1.00"}'),
    "withdrawal, malformed body": ("POST", "/api/users/{user}/withdrawals", "{"),
    "transfer": ("POST", "/api/transfers", '{"from_user_id": {user}, "to_user_id": {other}, "amount": "1.00"}'),
    "transfer, not JSON": ("POST", "/api/transfers", "not json at all"),
    "transfer, bad fields": ("POST", "/api/transfers", '{"from_user_id": "me", "amount": -1}'),
    "get transfer": ("GET", "/api/transfers/{transfer}", None),
    "feed": ("GET", "/api/transactions", None),
}


@pytest.fixture(scope="module")
def sample_parties(base_url):
    service = Api(base_url)
    user = service.create_user(unique("victim"), "10.00").json()
    other = service.create_user(unique("other")).json()
    transfer = service.transfer(user["id"], other["id"], "1.00").json()
    service.close()
    return {"user": user["id"], "other": other["id"], "transfer": transfer["id"]}


@pytest.mark.parametrize("form, endpoint", [
    pytest.param(form, endpoint, id=f"{form}-{endpoint}")
    for form in BAD_AUTHORIZATIONS for endpoint in SAMPLE_ENDPOINTS])
def test_every_bad_token_form_is_refused_with_401_and_changes_nothing(anonymous, db, dead_tokens, sample_parties,
                                                                      form, endpoint):
    method, path, body = SAMPLE_ENDPOINTS[endpoint]
    values = {**dead_tokens["tokens"], "unknown": well_formed_unknown_token()}
    authorization = BAD_AUTHORIZATIONS[form]
    headers = {}
    if authorization is not None:
        for name, value in values.items():
            authorization = authorization.replace("{" + name + "}", value)
        headers["Authorization"] = authorization
    for name, value in sample_parties.items():
        path = path.replace("{" + name + "}", str(value))
        body = body.replace("{" + name + "}", str(value)) if body else body
    before = db.snapshot(sample_parties["user"], sample_parties["other"])
    response = anonymous.request(method, path, data=body, headers=headers)
    assert_unauthorized(response)
    assert db.snapshot(sample_parties["user"], sample_parties["other"]) == before


def test_an_authorization_header_too_large_for_nginx_gets_a_json_400(anonymous, db, sample_parties):
    """nginx reads headers of up to 8 KiB a line; beyond, it answers itself, in the API's error shape."""
    before = db.snapshot(sample_parties["user"])
    response = anonymous.deposit(sample_parties["user"], "1.00", headers={"Authorization": "Bearer " + "a" * 10_000})
    assert_error(response, 400, "request_header_too_large")
    assert db.snapshot(sample_parties["user"]) == before
    # Long, but within the limit: the pool reads it and refuses it like any other bad token.
    assert_unauthorized(anonymous.deposit(sample_parties["user"], "1.00",
                                          headers={"Authorization": "Bearer " + "a" * 6_000}))


# --- secrets ------------------------------------------------------------------------------------------------

def log_files() -> list[Path]:
    folder = Path(os.environ.get("TALLY_LOG_DIR") or "")
    assert folder.is_dir(), f"TALLY_LOG_DIR ({folder}) is not a folder: run through make test"
    files = sorted(path for path in folder.iterdir() if path.is_file())
    names = {path.name for path in files}
    assert {"tally.log", "nginx-access.log"} <= names, names
    return files


def test_passwords_and_tokens_never_come_back_in_any_response(api, anonymous):
    username, password = new_username(), new_password()
    registered = anonymous.register(username, password, name=unique("Secretive"))
    user = registered.json()
    login = anonymous.login(username, password)
    token = login.json()["token"]
    own = anonymous.with_token(token)
    made = api.create_user(unique("Made"), "1.00", username=new_username(), password=password + "-2")
    after_login = [own.me(), own.get(f"/api/users/{user['id']}"), own.deposit(user["id"], "1.00"),
                   api.get(f"/api/users/{user['id']}"), api.get(f"/api/users/{made.json()['id']}"),
                   api.create_user(unique("Made"), username=new_username(), password=password + "-2",
                                   headers={"Idempotency-Key": unique("k")}),
                   anonymous.login(username, password + "x"), anonymous.register(username, password),
                   anonymous.register(new_username(), "short")]
    for response in [registered, login, made] + after_login:
        assert response.status_code < 500, response.text
        assert password not in response.text, response.text
        assert "$argon2" not in response.text, response.text
        assert keys_named_like_password(response.json()) == [], response.text
    for response in after_login:
        assert token not in response.text, response.text
    everyone = json.dumps(api.all_pages("/api/users", limit=100))
    assert password not in everyone and "$argon2" not in everyone and "password" not in everyone


def test_passwords_and_tokens_never_appear_in_the_pool_or_nginx_logs(api, anonymous, db):
    username, password = new_username(), new_password()
    user = anonymous.register(username, password).json()
    token = anonymous.login(username, password).json()["token"]
    anonymous.login(username, password + "-wrong")
    anonymous.post("/api/auth/register", {"username": "bad name", "password": password})
    anonymous.with_token(token).deposit(user["id"], "1.00")
    service_made_password = new_password()
    api.create_user(unique("Logged"), username=new_username(), password=service_made_password)
    stored_hash = db.value(f"SELECT password_hash FROM users WHERE id = {user['id']}")
    last = anonymous.with_token(token).logout()
    # The pool writes its line before answering; nginx writes its access log line just after it answers.
    assert pool_log_lines(last.headers["X-Request-Id"]), "the last request is not in the pool's log"
    assert access_log_lines(last.headers["X-Request-Id"]), "the last request is not in nginx's access log"
    secrets_to_hide = {"password": password, "service-made password": service_made_password, "token": token,
                       "password hash": stored_hash, "token's secret part": token[4:]}
    for path in log_files():
        content = path.read_text(encoding="utf-8", errors="replace")
        for what, secret in secrets_to_hide.items():
            assert secret not in content, f"the {what} is in {path}"


def test_the_token_hash_is_the_sha256_of_the_token_text(new_account, db):
    account = new_account()
    token = account.log_in()["token"]
    digest = hashlib.sha256(token.encode()).hexdigest()
    assert db.integer("SELECT count(*) FROM tokens WHERE encode(hash, 'hex') = :'d'", d=digest) == 1
