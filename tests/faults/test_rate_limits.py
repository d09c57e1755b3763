"""nginx's rate limits, per client address: log-ins (10 a second, bursts of 30) and requests without a
bearer token (200 a second, bursts of 400) are answered 429 `rate_limited` with Retry-After and the API's JSON
error shape beyond them; requests with a bearer token are never limited by nginx (the register limit, other
Authorization headers and the per-username log-in lock: test_security_limits.py).

This module is in the fault suite because it empties the buckets on purpose; each test also waits for its bucket
to refill before it ends, so that the tests after it are not throttled."""

import time

import pytest

from openapi_contract import check_against_document, load_spec
from rate_limits import (ANONYMOUS_BURST, ANONYMOUS_RATE, LOGIN_BURST, LOGIN_RATE, assert_rate_limited, burst,
                         refill)
from tally_e2e import SERVICE, Api, new_password, new_username


@pytest.fixture(scope="module")
def spec() -> dict:
    return load_spec()


def test_log_ins_beyond_the_burst_are_refused_with_429_json_and_retry_after(api, anonymous, spec):
    username, password = new_username(), new_password()
    assert anonymous.register(username, password).status_code == 201
    refill(LOGIN_BURST, LOGIN_RATE)  # start from a full bucket, whatever the tests before did

    # Attempts that cost the pool nothing (a body that is not JSON): the limit counts attempts, not failures.
    answered, limited = [], None
    for _ in range(200):
        response = anonymous.request("POST", "/api/auth/login", data="{")
        if response.status_code == 429:
            limited = response
            break
        answered.append(response.status_code)
    assert limited is not None, f"{len(answered)} log-in attempts in a row and none was refused"
    assert set(answered) == {400}, answered
    assert LOGIN_BURST <= len(answered) <= 2 * LOGIN_BURST, f"{len(answered)} attempts went through first"
    assert_rate_limited(limited)
    check_against_document(spec, "POST", "/api/auth/login", limited)

    # While the bucket is empty, the right password is refused as well (wait_when_limited: see it happen). The
    # bucket regains one attempt every 1/LOGIN_RATE s: on a busy machine the log-in can leave later than that after
    # the 429 and rightly pass, so an attempt that passed counts only when it left within that time of a 429.
    for _ in range(5):
        emptied_at = empty_the_log_in_bucket(anonymous)
        response = anonymous.login(username, password, wait_when_limited=False)
        if response.status_code == 429:
            break
        assert time.monotonic() - emptied_at > 1 / LOGIN_RATE, f"log-in passed an empty bucket: {response.text}"
    assert_rate_limited(response)
    # Other endpoints are not limited by the log-in bucket.
    assert api.me().status_code == 200
    assert anonymous.register(new_username(), new_password()).status_code == 201

    refill(LOGIN_BURST, LOGIN_RATE)
    response = anonymous.login(username, password, wait_when_limited=False)
    assert response.status_code == 200, response.text


def empty_the_log_in_bucket(client: Api) -> float:
    """Sends attempts that cost the pool nothing until nginx refuses one; returns when that 429 arrived."""
    for _ in range(2 * LOGIN_BURST + 10):
        response = client.request("POST", "/api/auth/login", data="{")
        if response.status_code == 429:
            return time.monotonic()
    raise AssertionError("the log-in limit refused nothing")


def test_requests_without_a_token_are_limited_and_requests_with_one_are_not(base_url, anonymous, spec):
    refill(ANONYMOUS_BURST, ANONYMOUS_RATE)
    started = time.monotonic()
    without = burst(base_url, None, stop_at_first_429=True, total=20_000)
    took = time.monotonic() - started
    print(f"\nwithout a token: {without['counts']} in {took:.2f} s")
    limited = without["first_429"]
    assert limited is not None, f"{without['sent']} requests without a token in {took:.1f} s, none refused"
    assert without["counts"].get(401, 0) >= ANONYMOUS_BURST, without["counts"]
    assert set(without["counts"]) <= {401, 429}, without["counts"]
    assert_rate_limited(limited)
    check_against_document(spec, "GET", "/api/me", limited)
    refill(ANONYMOUS_BURST, ANONYMOUS_RATE)

    # As many requests again, and more, as fast, with the service token: nginx lets every one through.
    started = time.monotonic()
    total = 2 * without["sent"]
    with_token = burst(base_url, SERVICE, stop_at_first_429=False, total=total)
    print(f"with the service token: {with_token['counts']} in {time.monotonic() - started:.2f} s")
    assert with_token["counts"] == {200: total}, with_token["counts"]

    # The anonymous bucket is full again for the tests after this one.
    assert anonymous.get("/api/health").status_code == 200
