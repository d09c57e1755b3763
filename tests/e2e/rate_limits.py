"""nginx's rate limits per client address, as the tests meet them (used by the e2e and fault suites): the
log-in and anonymous buckets' sizes and rates, waiting for a bucket to refill, and bursts of requests."""

from __future__ import annotations

import threading
import time

from tally_e2e import Api, assert_error

LOGIN_BURST, LOGIN_RATE = 30, 10
ANONYMOUS_BURST, ANONYMOUS_RATE = 400, 200


def refill(burst: int, rate: float) -> None:
    """Waits until a bucket emptied by a burst is full again (with a margin for a busy machine)."""
    time.sleep(burst / rate + 1.0)


def assert_rate_limited(response) -> None:
    assert_error(response, 429, "rate_limited")
    assert response.headers.get("Retry-After", "").isdigit(), response.headers
    assert int(response.headers["Retry-After"]) >= 1


def burst(base_url: str, token, stop_at_first_429: bool, total: int, threads: int = 8,
          seconds: float = 30, headers: dict | None = None) -> dict:
    """GET /api/me from `threads` clients at once, `total` requests in all (or until the first 429), with
    `headers` when given; returns how many of each status came back and when the first 429 came."""
    counts: dict = {}
    lock, sent = threading.Lock(), [0]
    first_limited: list = []
    deadline = time.monotonic() + seconds

    def client():
        own = Api(base_url, token)
        try:
            while time.monotonic() < deadline:
                with lock:
                    if sent[0] >= total or (stop_at_first_429 and first_limited):
                        return
                    sent[0] += 1
                response = own.get("/api/me", headers=headers)
                with lock:
                    counts[response.status_code] = counts.get(response.status_code, 0) + 1
                    if response.status_code == 429 and not first_limited:
                        first_limited.append(response)
        finally:
            own.close()

    workers = [threading.Thread(target=client, daemon=True) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(seconds + 30)
    return {"counts": counts, "first_429": first_limited[0] if first_limited else None, "sent": sent[0]}
