"""Issue 23, item 9: tokens that ended are deleted, and no answer of the API may be kept by a cache.

Tokens that expired or were revoked more than a day ago are purged by the pool's workers, in the same turns
as the idempotency keys (the test stack runs a turn every second: TALLY_PURGE_INTERVAL=1 in scripts/test.sh);
those that ended lately, and live ones, stay. Every answer under /api/ carries `Cache-Control: no-store`: the
pool's own (any status, its status and metrics pages too) and those nginx makes itself for an /api/ path (413,
429, the 400s for requests it cannot read; its 502 is checked in tests/faults/test_pool_faults.py). The
dashboard's files keep `no-cache`."""

import time

import pytest

from tally_e2e import assert_error, new_password, new_username
from test_request_errors import UNREADABLE_REQUESTS, raw_http, request_with

ROW = "SELECT count(*) FROM tokens WHERE hash = sha256(convert_to(:'token', 'UTF8'))"


def log_in(anonymous) -> str:
    """A new log-in token of a new user."""
    username, password = new_username(), new_password()
    assert anonymous.register(username, password).status_code == 201
    response = anonymous.login(username, password)
    assert response.status_code == 200, response.text
    return response.json()["token"]


def test_tokens_that_ended_over_a_day_ago_are_purged_and_the_rest_stay(anonymous, api, db, mint_service_token):
    tokens = {name: log_in(anonymous) for name in ("expired", "revoked", "revoked-lately")}
    # Log-in tokens live 8 s in the test stack: the live one is a service token, which outlasts the test.
    tokens["live"] = mint_service_token()
    for name in ("revoked", "revoked-lately"):
        assert api.with_token(tokens[name]).logout().status_code == 200
    # Aged by hand with the owner's SQL: a day is too long to wait for.
    db.execute("UPDATE tokens SET expires_at = now() - interval '25 hours' "
               "WHERE hash = sha256(convert_to(:'token', 'UTF8'))", token=tokens["expired"])
    db.execute("UPDATE tokens SET revoked_at = now() - interval '25 hours' "
               "WHERE hash = sha256(convert_to(:'token', 'UTF8'))", token=tokens["revoked"])
    db.execute("UPDATE tokens SET revoked_at = now() - interval '23 hours' "
               "WHERE hash = sha256(convert_to(:'token', 'UTF8'))", token=tokens["revoked-lately"])
    assert all(db.integer(ROW, token=token) == 1 for token in tokens.values())

    # Each worker takes its turn after an answer: keep them answering until the two rows are gone.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if db.integer(ROW, token=tokens["expired"]) + db.integer(ROW, token=tokens["revoked"]) == 0:
            break
        api.get("/api/health")
        time.sleep(0.1)
    assert db.integer(ROW, token=tokens["expired"]) == 0, "the token that expired a day ago is still there"
    assert db.integer(ROW, token=tokens["revoked"]) == 0, "the token revoked a day ago is still there"
    assert db.integer(ROW, token=tokens["revoked-lately"]) == 1
    assert db.integer(ROW, token=tokens["live"]) == 1
    assert api.with_token(tokens["live"]).me().status_code == 200
    for name in ("expired", "revoked", "revoked-lately"):
        assert_error(api.with_token(tokens[name]).me(), 401, "unauthorized")


def assert_no_store(response) -> None:
    assert response.headers.get("Cache-Control") == "no-store", (response.status_code, response.headers)


def test_every_answer_of_the_pool_is_no_store(api, anonymous, new_user):
    user = new_user("1.00")
    answers = {
        200: [api.get("/api/health"), api.get(f"/api/users/{user['id']}"), api.get("/api/stats"),
              api.get("/api/status"), api.get("/api/metrics")],
        201: [api.deposit(user["id"], "1.00")],
        400: [api.request("POST", "/api/transfers", data="{")],
        401: [anonymous.get("/api/me"), anonymous.login(new_username(), new_password())],
        404: [api.get("/api/nothing-here"), api.get("/api/users/999999999999")],
        405: [api.request("DELETE", "/api/users")],
        409: [api.withdraw(user["id"], "100.00")],
        422: [api.get("/api/stats", params={"since": "soon"})],
    }
    for status, responses in answers.items():
        for response in responses:
            assert response.status_code == status, (status, response.status_code, response.text[:200])
            assert_no_store(response)
            # One header, not nginx's added to the pool's.
            assert response.raw.headers.getlist("Cache-Control") == ["no-store"]


def test_answers_nginx_makes_itself_for_api_paths_are_no_store(api):
    too_large = api.post("/api/transfers", data=b"x" * (64 * 1024 + 1),
                         headers={"Content-Type": "application/json"})
    assert too_large.status_code == 413
    assert_no_store(too_large)
    for name in ("nul-in-uri", "content-length-not-a-number", "unknown-transfer-coding", "uri-over-8-kib"):
        request_bytes, status = UNREADABLE_REQUESTS[name]
        answered, headers, _ = raw_http(request_bytes)
        assert answered == status, name
        assert headers.get("cache-control") == "no-store", (name, headers)


def test_a_rate_limited_log_in_is_no_store(anonymous):
    limited = None
    for _ in range(200):
        response = anonymous.request("POST", "/api/auth/login", data="{")
        if response.status_code == 429:
            limited = response
            break
    assert limited is not None
    assert_error(limited, 429, "rate_limited")
    assert_no_store(limited)
    time.sleep(4)  # let the log-in bucket fill again (burst 30 at 10 a second) for the tests after


@pytest.mark.parametrize("path", ["/", "/index.html", "/js/app.js", "/openapi.yaml"])
def test_the_dashboards_files_are_still_revalidated_not_no_store(anonymous, path):
    response = anonymous.get(path)
    assert response.status_code == 200
    assert response.headers.get("Cache-Control") == "no-cache"


def test_a_request_nginx_cannot_read_outside_the_api_is_not_cached_either():
    answered, headers, _ = raw_http(request_with("POST /index.html HTTP/1.1", "Host: x", "Content-Length: 0"))
    assert answered == 405
    assert headers.get("cache-control") == "no-store"
