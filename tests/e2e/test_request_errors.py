"""Bad requests by real HTTP: bodies that are not JSON objects, wrong and unknown fields, unknown routes and
methods, bodies over the limit, bad paging. Each gets the JSON error shape and changes nothing."""

import json
import socket

import pytest

from tally_e2e import assert_error, env, unique

POST_PATHS = ["/api/users", "/api/transfers", "/api/users/{id}/deposits", "/api/users/{id}/withdrawals"]
LIST_PATHS = ["/api/users", "/api/transactions", "/api/users/{id}/transactions"]

NOT_JSON = [
    b"", b" ", b"{", b"}", b"not json", b"{'name': 'Ada'}", b'{"name": "Ada",}', b'{"name": "Ada"} x',
    b'{"name": "Ada"}{}', b'{name: "Ada"}', b'{"name": "\xff\xfe"}', b'\xef\xbb\xbf{"name": "Ada"}',
    b'{"name": "Ada\x01"}', b'{"name": "\\x41"}', b'{"name": "\\ud800"}', b"[" * 100 + b"]" * 100,
]
NOT_AN_OBJECT = [b"[]", b'[{"name": "Ada"}]', b'"Ada"', b"42", b"4.2", b"null", b"true", b"false"]


@pytest.fixture
def user_paths(new_user):
    """The POST and list paths with a real user's id filled in, and that user (5.00)."""
    user = new_user("5.00")

    def fill(path: str) -> str:
        return path.replace("{id}", str(user["id"]))

    return fill, user


@pytest.mark.parametrize("path", POST_PATHS)
@pytest.mark.parametrize("body", NOT_JSON + NOT_AN_OBJECT, ids=repr)
def test_bodies_that_are_not_a_json_object_are_malformed(api, db, user_paths, path, body):
    fill, user = user_paths
    movements_before = db.integer("SELECT count(*) FROM movements")
    users_before = db.integer("SELECT count(*) FROM users")
    assert_error(api.request("POST", fill(path), data=body), 400, "malformed_json")
    assert db.integer("SELECT count(*) FROM movements") == movements_before
    assert db.integer("SELECT count(*) FROM users") == users_before


def test_a_body_without_content_type_is_still_read_as_json(api, new_user):
    user = new_user()
    # requests itself, without the client's Content-Type default: only the token is added.
    response = api.session.post(api.base_url + f"/api/users/{user['id']}/deposits", data=b'{"amount": "1.00"}',
                                headers={"Authorization": api.authorization()}, timeout=(5, 30))
    assert "Content-Type" not in response.request.headers
    assert response.status_code == 201, response.text


def test_a_body_sent_chunked_is_read_whole(api, db, new_user):
    """A generator body makes requests send Transfer-Encoding: chunked, with no Content-Length."""
    user = new_user("0.00")
    chunks = (part for part in [b'{"amount": ', b'"2.50", "memo": "', b'in chunks"}'])
    response = api.session.post(api.base_url + f"/api/users/{user['id']}/deposits", data=chunks,
                                headers={"Authorization": api.authorization(), "Content-Type": "application/json"},
                                timeout=(5, 30))
    assert response.request.headers.get("Transfer-Encoding") == "chunked"
    assert response.status_code == 201, response.text
    assert (response.json()["amount_minor"], response.json()["memo"]) == (250, "in chunks")
    assert db.balance(user["id"]) == 250


@pytest.mark.parametrize("field, value", [
    ("from_user_id", "1"), ("from_user_id", 1.5), ("from_user_id", 0), ("from_user_id", -3),
    ("from_user_id", True), ("from_user_id", None), ("from_user_id", [1]), ("from_user_id", 1e3),
    ("from_user_id", 9223372036854775808),
    ("to_user_id", "2"), ("to_user_id", 0), ("to_user_id", None), ("to_user_id", {"id": 2}),
    ("memo", 5), ("memo", True), ("memo", ["a"]), ("memo", "m" * 501), ("memo", "a\u0000b"),
])
def test_transfer_fields_of_the_wrong_type_or_range_are_refused(api, db, new_user, field, value):
    alice, bob = new_user("5.00"), new_user()
    body = {"from_user_id": alice["id"], "to_user_id": bob["id"], "amount": "1.00", field: value}
    assert_error(api.post("/api/transfers", body), 422, "validation_failed", field)
    assert (db.balance(alice["id"]), db.balance(bob["id"])) == (500, 0)


@pytest.mark.parametrize("missing", ["from_user_id", "to_user_id", "amount"])
def test_transfers_missing_a_field_are_refused_naming_it(api, new_user, missing):
    alice, bob = new_user("5.00"), new_user()
    body = {"from_user_id": alice["id"], "to_user_id": bob["id"], "amount": "1.00"}
    del body[missing]
    assert_error(api.post("/api/transfers", body), 422, "validation_failed", missing)


def test_an_empty_transfer_body_is_refused(api):
    error = assert_error(api.post("/api/transfers", {}), 422, "validation_failed")
    assert error["field"] in ("from_user_id", "to_user_id", "amount")


@pytest.mark.parametrize("path", POST_PATHS)
def test_unknown_fields_are_refused_naming_them(api, db, user_paths, new_user, path):
    fill, user = user_paths
    other = new_user()
    bodies = {
        "/api/users": {"name": unique("u"), "nickname": "x"},
        "/api/transfers": {"from_user_id": user["id"], "to_user_id": other["id"], "amount": "1.00",
                           "nickname": "x"},
    }
    body = bodies.get(path, {"amount": "1.00", "nickname": "x"})
    movements_before = db.integer("SELECT count(*) FROM movements")
    assert_error(api.post(fill(path), body), 422, "validation_failed", "nickname")
    assert db.integer("SELECT count(*) FROM movements") == movements_before


@pytest.mark.parametrize("kind", ["deposits", "withdrawals"])
@pytest.mark.parametrize("field, value", [("memo", 1), ("memo", "m" * 501), ("memo", "\u0000"),
                                          ("user_id", 1), ("kind", "deposit")])
def test_cash_movement_fields_of_the_wrong_type_or_unknown_are_refused(api, db, new_user, kind, field, value):
    user = new_user("5.00")
    body = {"amount": "1.00", field: value}
    assert_error(api.post(f"/api/users/{user['id']}/{kind}", body), 422, "validation_failed", field)
    assert db.balance(user["id"]) == 500


def test_a_field_given_twice_is_refused(api, new_user):
    user = new_user()
    response = api.request("POST", f"/api/users/{user['id']}/deposits", data='{"amount": "1.00", "amount": "2.00"}')
    assert_error(response, 422, "validation_failed", "amount")
    assert api.balance_minor(user["id"]) == 0


def test_a_memo_of_500_characters_is_accepted(api, new_user):
    user = new_user()
    response = api.deposit(user["id"], "1.00", memo="é" * 500)
    assert response.status_code == 201, response.text
    assert response.json()["memo"] == "é" * 500


@pytest.mark.parametrize("memo", ["\U0001F1EB\U0001F1F7" * 251, "e\u0301" * 251], ids=["flags", "combining"])
def test_a_memo_over_500_code_points_is_refused_even_when_fewer_characters_show(api, db, new_user, memo):
    user, other = new_user("5.00"), new_user()
    assert_error(api.deposit(user["id"], "1.00", memo=memo), 422, "validation_failed", "memo")
    assert_error(api.transfer(user["id"], other["id"], "1.00", memo=memo), 422, "validation_failed", "memo")
    assert db.balance(user["id"]) == 500
    assert db.movement_count(user["id"]) == 1


def test_an_idempotency_key_over_255_code_points_is_refused(api, db, new_user):
    user = new_user()
    key = "\U0001F1EB\U0001F1F7" * 128  # 128 flags on screen, 256 code points
    response = api.deposit(user["id"], "1.00", headers={"Idempotency-Key": key.encode().decode("latin-1")})
    assert_error(response, 422, "validation_failed", "Idempotency-Key")
    assert db.balance(user["id"]) == 0


def test_idempotency_keys_that_are_not_utf8_are_refused_rather_than_merged(api, db, new_user):
    # b"k\xff" and b"k\xfe" would both read as "k\ufffd": one key for two different requests.
    user = new_user()
    for raw in (b"k\xff", b"k\xfe"):
        response = api.deposit(user["id"], "1.00", headers={"Idempotency-Key": raw})
        assert_error(response, 422, "validation_failed", "Idempotency-Key")
    assert db.balance(user["id"]) == 0


def test_transfer_to_oneself_is_refused(api, db, new_user):
    user = new_user("5.00")
    assert_error(api.transfer(user["id"], user["id"], "1.00"), 422, "validation_failed", "to_user_id")
    assert db.balance(user["id"]) == 500
    assert db.movement_count(user["id"]) == 1


@pytest.mark.parametrize("path", [
    "/api/nothing", "/api/users/1/nothing", "/api/users/1/deposits/2", "/api/transfers/1/2", "/api/", "/api/user",
    "/api/users/1/2/3/4", "/api/health/x", "/api/auth", "/api/auth/nothing", "/api/auth/login/x", "/api/me/1",
    "/api/logout",
])
def test_unknown_routes_are_not_found(api, path):
    assert_error(api.get(path), 404, "not_found")
    assert_error(api.post(path, {}), 404, "not_found")


@pytest.mark.parametrize("method, path, allowed", [
    ("DELETE", "/api/users", {"GET", "POST"}),
    ("PUT", "/api/users", {"GET", "POST"}),
    ("POST", "/api/health", {"GET"}),
    ("GET", "/api/transfers", {"POST"}),
    ("POST", "/api/transactions", {"GET"}),
    ("PUT", "/api/users/{id}", {"GET", "PATCH"}),
    ("DELETE", "/api/users/{id}", {"GET", "PATCH"}),
    ("GET", "/api/users/{id}/deposits", {"POST"}),
    ("PUT", "/api/users/{id}/withdrawals", {"POST"}),
    ("POST", "/api/users/{id}/transactions", {"GET"}),
    ("DELETE", "/api/transfers/1", {"GET"}),
    ("GET", "/api/auth/register", {"POST"}),
    ("GET", "/api/auth/login", {"POST"}),
    ("DELETE", "/api/auth/logout", {"POST"}),
    ("POST", "/api/me", {"GET"}),
])
def test_wrong_methods_are_refused_with_the_allowed_ones(api, db, user_paths, method, path, allowed):
    fill, user = user_paths
    movements_before = db.integer("SELECT count(*) FROM movements")
    response = api.request(method, fill(path), json_body={"amount": "1.00"})
    assert_error(response, 405, "method_not_allowed")
    assert {m.strip() for m in response.headers["Allow"].split(",")} == allowed
    assert db.integer("SELECT count(*) FROM movements") == movements_before
    assert db.balance(user["id"]) == 500


@pytest.mark.parametrize("path", POST_PATHS)
def test_bodies_over_64_kib_are_refused_by_nginx_with_json(api, db, user_paths, path):
    fill, _ = user_paths
    movements_before = db.integer("SELECT count(*) FROM movements")
    body = '{"name": "%s"}' % ("x" * (64 * 1024))
    assert len(body) > 64 * 1024
    assert_error(api.request("POST", fill(path), data=body), 413, "payload_too_large")
    assert db.integer("SELECT count(*) FROM movements") == movements_before


def test_a_body_of_exactly_64_kib_is_read(api):
    prefix, suffix = '{"name": "', '"}'
    body = prefix + "x" * (64 * 1024 - len(prefix) - len(suffix)) + suffix
    assert len(body) == 64 * 1024
    # It reaches the service, which refuses the name for its length, not the body for its size.
    assert_error(api.request("POST", "/api/users", data=body), 422, "validation_failed", "name")


@pytest.mark.parametrize("path", LIST_PATHS)
@pytest.mark.parametrize("limit", ["0", "101", "-1", "abc", "", "1.5", "1e1", "99999999999999999999"])
def test_limits_outside_1_to_100_are_refused(api, user_paths, path, limit):
    fill, _ = user_paths
    assert_error(api.get(fill(path), params={"limit": limit}), 422, "validation_failed", "limit")


@pytest.mark.parametrize("path", LIST_PATHS)
@pytest.mark.parametrize("limit", ["1", "100"])
def test_limits_of_1_and_100_are_accepted(api, user_paths, path, limit):
    fill, _ = user_paths
    response = api.get(fill(path), params={"limit": limit})
    assert response.status_code == 200, response.text
    assert len(response.json()["items"]) <= int(limit)


@pytest.mark.parametrize("path", LIST_PATHS)
@pytest.mark.parametrize("cursor", ["garbage", "!!!", "12", "dGFsbHk6", "dGFsbHk6YWJj", "%00", "a" * 300])
def test_cursors_the_api_did_not_give_out_are_refused(api, user_paths, path, cursor):
    fill, _ = user_paths
    assert_error(api.get(fill(path), params={"cursor": cursor}), 422, "validation_failed", "cursor")


def test_error_request_ids_differ_between_requests(api):
    first = assert_error(api.get("/api/nothing"), 404, "not_found")
    second = assert_error(api.get("/api/nothing"), 404, "not_found")
    assert first["request_id"] != second["request_id"]


# --- what nginx refuses itself, before the pool sees anything ----------------------------------------------------

def raw_http(request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Sends bytes as they are (no client library would send most of these) and reads the whole answer."""
    host, port = env("TALLY_URL").removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(request)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in header_lines)}
    return int(status_line.split()[1]), headers, body


def request_with(line: str, *headers: str, body: bytes = b"") -> bytes:
    return "\r\n".join([line, *headers, "Connection: close", "", ""]).encode("latin-1") + body


UNREADABLE_REQUESTS = {
    "garbage-request-line": (b"GARBAGE\r\n\r\n", 400),
    "nul-in-uri": (request_with("GET /api/users/1%00 HTTP/1.1", "Host: x"), 400),
    "uri-above-the-root": (request_with("GET /api/%2e%2e/%2e%2e/x HTTP/1.1", "Host: x"), 400),
    "no-host-in-http-1.1": (request_with("GET /api/ping HTTP/1.1"), 400),
    "header-line-without-colon": (request_with("GET /api/ping HTTP/1.1", "Host: x", "Bad Header"), 400),
    "content-length-not-a-number": (request_with("POST /api/transfers HTTP/1.1", "Host: x", "Content-Length: abc"), 400),
    "content-length-and-chunked": (
        request_with("POST /api/transfers HTTP/1.1", "Host: x", "Content-Length: 2", "Transfer-Encoding: chunked",
                     body=b"0\r\n\r\n"), 400),
    "broken-chunk": (
        request_with("POST /api/transfers HTTP/1.1", "Host: x", "Transfer-Encoding: chunked", body=b"zz\r\n"), 400),
    "unknown-transfer-coding": (
        request_with("POST /api/transfers HTTP/1.1", "Host: x", "Transfer-Encoding: gzip"), 501),
    "uri-over-8-kib": (request_with("GET /api/users/" + "1" * 9000 + " HTTP/1.1", "Host: x"), 414),
    "http-2-in-a-request-line": (request_with("GET /api/ping HTTP/2.0", "Host: x"), 505),
    "post-to-a-dashboard-file": (
        request_with("POST /index.html HTTP/1.1", "Host: x", "Content-Length: 0"), 405),
}


@pytest.mark.parametrize("request_bytes,status", UNREADABLE_REQUESTS.values(), ids=UNREADABLE_REQUESTS.keys())
def test_requests_nginx_cannot_read_get_the_json_error_shape_not_an_html_page(db, request_bytes, status):
    movements_before = db.integer("SELECT count(*) FROM movements")
    answered, headers, body = raw_http(request_bytes)
    assert answered == status, body
    assert headers["content-type"] == "application/json"
    error = json.loads(body)["error"]
    assert set(error) == {"code", "message", "request_id"}
    assert error["code"] and error["message"]
    assert error["request_id"] == headers["x-request-id"]
    assert db.integer("SELECT count(*) FROM movements") == movements_before


def test_the_error_documents_are_not_served_to_clients_directly():
    status, _, _ = raw_http(request_with("GET /.tally-errors/400.json HTTP/1.1", "Host: x"))
    assert status == 404
