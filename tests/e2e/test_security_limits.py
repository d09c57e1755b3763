"""Issue 23, items 2 and 10: no way around the log-in limit, and slow clients cannot hold every connection.

- Only the canonical spelling of a path routes: /api/auth/login/, /api/auth//login and /api/auth/login%2F are
  404 (not a log-in outside nginx's log-in limit), and /api/users/+5 or /05 is not user 5.
- The pool locks a username after 10 failed log-ins in a minute, whatever the client address, known username
  or not: 429 rate_limited with Retry-After (60 s, doubling with each lock up to 15 min), refused before the
  password is checked, so the right password is refused too; a success clears it.
- nginx: registrations 5 a second per address (bursts of 60) whatever the headers; an Authorization header
  that is not a bearer token's exact form does not lift the anonymous limit; at most 512 connections per
  address with a request in progress (429 JSON beyond); a request header that is not all there after 10 s is
  cut.

Each test that empties a bucket waits for it to refill before it ends; tests that lock a username use a fresh
one, so the tests after these are not affected."""

import json
import threading
import time

import pytest
import requests

import slow_clients
from fastcgi_client import FastCGI
from openapi_contract import check_against_document, load_spec
from rate_limits import (ANONYMOUS_BURST, ANONYMOUS_RATE, LOGIN_BURST, LOGIN_RATE, assert_rate_limited, burst,
                         refill)
from tally_e2e import SERVICE, Api, assert_error, env, new_password, new_username

REGISTER_BURST, REGISTER_RATE = 60, 5
FAILURES_BEFORE_LOCK, FIRST_LOCK_SECONDS, LONGEST_LOCK_SECONDS = 10, 60, 900
CONNECTIONS_PER_ADDRESS = 512
HEADER_TIMEOUT_SECONDS = 10


@pytest.fixture(scope="module")
def spec() -> dict:
    return load_spec()


def parallel(count: int, call, threads: int = 12) -> list:
    """`call(n)` for n in range(count) from `threads` threads at once; the answers in order."""
    answers: list = [None] * count
    next_index, lock = [0], threading.Lock()

    def worker():
        while True:
            with lock:
                n = next_index[0]
                next_index[0] += 1
            if n >= count:
                return
            answers[n] = call(n)

    workers = [threading.Thread(target=worker, daemon=True) for _ in range(threads)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join(120)
    return answers


def raw_post(base_url: str, path: str, body: dict, headers: dict | None = None) -> requests.Response:
    """A POST to exactly `path`, as written (requests keeps // and %2F as they are)."""
    return requests.post(base_url + path, json=body, headers=headers or {}, timeout=30)


# --- item 2: canonical paths -----------------------------------------------------------------------------------

def test_other_spellings_of_the_log_in_path_are_404_and_only_the_canonical_one_logs_in(base_url, anonymous):
    username, password = new_username(), new_password()
    assert anonymous.register(username, password).status_code == 201
    refill(LOGIN_BURST, LOGIN_RATE)
    wrong = {"username": username, "password": password + "-wrong"}
    for path in ("/api/auth/login/", "/api/auth/login%2F", "/api/auth/login%2f", "/api/auth/./login/"):
        answers = parallel(60, lambda _: raw_post(base_url, path, wrong))
        assert {a.status_code for a in answers} == {404}, (path, [a.status_code for a in answers])
        assert_error(answers[0], 404, "not_found")
    # nginx merges the slashes of //login and limits it as a log-in; the pool answers 404 for it.
    answers = parallel(60, lambda _: raw_post(base_url, "/api/auth//login", wrong))
    statuses = [a.status_code for a in answers]
    assert set(statuses) <= {404, 429} and 404 in statuses, statuses
    refill(LOGIN_BURST, LOGIN_RATE)
    # None of those was a log-in attempt: the username has no failure on record and logs in.
    right = {"username": username, "password": password}
    for path in ("/api/auth/login/", "/api/auth//login", "/api/auth/login%2F"):
        assert_error(raw_post(base_url, path, right), 404, "not_found")
    assert raw_post(base_url, "/api/auth/login", right).status_code == 200

    # The canonical path, 60 wrong log-ins at once (each for a username of its own, so only nginx limits them):
    # nginx takes its burst of 30, and refuses most of the rest before the pool has answered many.
    answers = parallel(60, lambda _: raw_post(base_url, "/api/auth/login",
                                              {"username": new_username(), "password": password}), threads=60)
    statuses = [a.status_code for a in answers]
    assert set(statuses) <= {401, 429} and statuses.count(429) >= 10, statuses
    assert_rate_limited(next(a for a in answers if a.status_code == 429))
    refill(LOGIN_BURST, LOGIN_RATE)


def test_ids_have_one_spelling(api, new_user):
    user = new_user()
    user_id = user["id"]
    assert api.get(f"/api/users/{user_id}").json() == user
    for spelling in (f"+{user_id}", f"0{user_id}", f"00{user_id}", f"{user_id}%20", f"%20{user_id}", f"{user_id}/",
                     f"{user_id}.0", f"{user_id}%2F"):
        assert_error(api.get(f"/api/users/{spelling}"), 404, "not_found")
        assert_error(api.post(f"/api/users/{spelling}/deposits", {"amount": "1.00"}), 404, "not_found")
        assert_error(api.get(f"/api/transfers/{spelling}"), 404, "not_found")
    assert api.balance_minor(user_id) == 0


# --- item 2: the per-username lock in the pool -------------------------------------------------------------------

def fastcgi_login(username: str, password: str, address: str) -> tuple[int, dict]:
    """A log-in straight to the pool's socket, from `address` as nginx would say (REMOTE_ADDR)."""
    body = json.dumps({"username": username, "password": password}).encode()
    params = {"REQUEST_METHOD": "POST", "DOCUMENT_URI": "/api/auth/login", "SCRIPT_NAME": "/api/auth/login",
              "REQUEST_URI": "/api/auth/login", "QUERY_STRING": "", "CONTENT_TYPE": "application/json",
              "CONTENT_LENGTH": str(len(body)), "REMOTE_ADDR": address, "REQUEST_ID": f"lock-{address}",
              "SERVER_PROTOCOL": "HTTP/1.1"}
    connection = FastCGI.send(params, body, end_of_body=True)
    try:
        return FastCGI.answer(connection)
    finally:
        connection.close()


def fail_from_many_addresses(username: str, count: int = FAILURES_BEFORE_LOCK) -> None:
    for n in range(count):
        status, body = fastcgi_login(username, "not-the-password", f"10.23.{n // 250}.{n % 250 + 1}")
        assert status == 401 and body["error"]["code"] == "invalid_credentials", (n, status, body)


def assert_locked(response: requests.Response, at_least: int, at_most: int) -> None:
    """The pool's 429 for a locked username (nginx's own says Retry-After: 1)."""
    assert_error(response, 429, "rate_limited")
    assert at_least <= int(response.headers["Retry-After"]) <= at_most, response.headers


def expire_lock(db, username: str) -> None:
    """Ends the username's current lock now, as the clock would (the lockout count stays)."""
    db.execute("UPDATE login_failures SET locked_until = now() WHERE username_key = lower(:'u')", u=username)


def test_a_username_failed_from_many_addresses_is_locked_even_for_the_right_password(anonymous, db, spec):
    username, password = new_username(), new_password()
    assert anonymous.register(username, password).status_code == 201
    fail_from_many_addresses(username)

    locked = anonymous.login(username, password, wait_when_limited=False)
    assert_locked(locked, FIRST_LOCK_SECONDS - 5, FIRST_LOCK_SECONDS)
    check_against_document(spec, "POST", "/api/auth/login", locked)
    # A wrong password gets the same answer: the 429 says nothing about the password.
    wrong = anonymous.login(username.upper(), password + "x", wait_when_limited=False)
    assert_locked(wrong, FIRST_LOCK_SECONDS - 5, FIRST_LOCK_SECONDS)
    assert wrong.json()["error"]["message"] == locked.json()["error"]["message"]
    status, _ = fastcgi_login(username, password, "192.0.2.77")
    assert status == 429

    # Once the lock is over, the right password logs in, and that clears the record.
    expire_lock(db, username)
    assert anonymous.login(username, password, wait_when_limited=False).status_code == 200
    assert db.integer("SELECT count(*) FROM login_failures WHERE username_key = lower(:'u')", u=username) == 0


def test_each_lock_of_a_username_lasts_twice_as_long_up_to_15_minutes(anonymous, db):
    username = new_username()  # never registered: unknown usernames are locked alike
    expected = [60, 120, 240, 480, 900, 900]
    for lock in expected:
        fail_from_many_addresses(username)
        assert_locked(anonymous.login(username, "whatever-password", wait_when_limited=False), lock - 5, lock)
        expire_lock(db, username)
    assert db.integer("SELECT lockouts FROM login_failures WHERE username_key = lower(:'u')",
                      u=username) == len(expected)


def test_nine_failures_do_not_lock_and_a_success_starts_the_count_again(anonymous, db):
    username, password = new_username(), new_password()
    assert anonymous.register(username, password).status_code == 201
    fail_from_many_addresses(username, FAILURES_BEFORE_LOCK - 1)
    assert anonymous.login(username, password, wait_when_limited=False).status_code == 200
    fail_from_many_addresses(username, FAILURES_BEFORE_LOCK - 1)
    assert anonymous.login(username, password, wait_when_limited=False).status_code == 200


# --- item 2: nginx's register limit and the anonymous limit -------------------------------------------------------

def test_register_floods_are_refused_with_429_whatever_the_headers(base_url, anonymous, spec):
    refill(REGISTER_BURST, REGISTER_RATE)
    # Attempts that cost the pool nothing (a body that is not JSON): the limit counts attempts. The service
    # token's header does not lift it.
    headers = {"Authorization": f"Bearer {env('TALLY_ADMIN_TOKEN')}", "Content-Type": "application/json"}
    answers = parallel(120, lambda _: requests.post(base_url + "/api/auth/register", data="{", headers=headers,
                                                   timeout=30), threads=8)
    statuses = [a.status_code for a in answers]
    assert set(statuses) == {400, 429}, statuses
    assert REGISTER_BURST <= statuses.count(400) <= REGISTER_BURST + 20, statuses
    limited = next(a for a in answers if a.status_code == 429)
    assert_rate_limited(limited)
    check_against_document(spec, "POST", "/api/auth/register", limited)
    # Log-ins have a bucket of their own.
    assert anonymous.login(new_username(), new_password(), wait_when_limited=False).status_code == 401
    refill(REGISTER_BURST, REGISTER_RATE)
    assert anonymous.register(new_username(), new_password()).status_code == 201


@pytest.mark.parametrize("authorization", ["Basic dXNlcjpwYXNz", "Bearer garbage", "Bearer tly_short",
                                           "Bearer tly_" + "A" * 44])
def test_an_authorization_header_that_is_no_bearer_token_does_not_lift_the_anonymous_limit(base_url,
                                                                                          authorization):
    refill(ANONYMOUS_BURST, ANONYMOUS_RATE)
    result = burst(base_url, None, stop_at_first_429=True, total=5_000,
                   headers={"Authorization": authorization})
    assert result["first_429"] is not None, result["counts"]
    assert set(result["counts"]) <= {401, 429}, result["counts"]
    assert_rate_limited(result["first_429"])
    refill(ANONYMOUS_BURST, ANONYMOUS_RATE)


# --- item 10: slow clients ------------------------------------------------------------------------------------------

def nginx_address(base_url: str) -> tuple[str, int]:
    host, port = base_url.split("//", 1)[1].split(":")
    return host, int(port)


def test_connections_beyond_the_per_address_limit_are_refused_with_429_json(base_url, api):
    address = nginx_address(base_url)
    extra = 20
    # Each sends a whole POST header and then none of its body: a request in progress, held open.
    connections = [slow_clients.open_connection(address, slow_clients.body_start(address[0]))
                   for _ in range(CONNECTIONS_PER_ADDRESS + extra)]
    try:
        assert all(connection is not None for connection in connections)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            slow_clients.poll(connections, time.monotonic())
            if sum(1 for c in connections if c.answer) >= extra:
                break
            time.sleep(0.1)
        answered = [c for c in connections if c.answer]
        # A few of the limit's places may be other requests of this run still finishing.
        assert extra <= len(answered) <= extra + 8, len(answered)
        status, headers, body = slow_clients.read_response(answered[0].answer)
        assert status == 429 and body["error"]["code"] == "rate_limited", (status, body)
        assert headers["content-type"] == "application/json" and headers["retry-after"] == "1"
        assert body["error"]["request_id"] == headers["x-request-id"]
    finally:
        for connection in connections:
            if connection is not None:
                connection.close(time.monotonic())
    # Once they are gone, this address is served again.
    time.sleep(0.5)
    assert api.get("/api/health").status_code == 200


def test_a_request_header_sent_a_byte_at_a_time_is_cut_after_the_header_timeout(base_url, api):
    address = nginx_address(base_url)
    connection = slow_clients.open_connection(address, slow_clients.header_start(address[0]))
    assert connection is not None
    generous = 3 * HEADER_TIMEOUT_SECONDS  # nginx's default was 60 s
    deadline = connection.opened + generous
    try:
        while connection.closed is None and time.monotonic() < deadline:
            slow_clients.trickle([connection], time.monotonic())
            slow_clients.poll([connection], time.monotonic())
            time.sleep(1)
        assert connection.closed is not None, f"still open after {generous} s of a byte a second"
        assert connection.answer == b"", connection.answer  # nginx closes without an answer (408)
    finally:
        connection.close(time.monotonic())
    assert api.get("/api/health").status_code == 200
