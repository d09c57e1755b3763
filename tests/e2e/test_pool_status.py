"""The pool answers for itself: GET /api/ping without the database, and the whole pool's figures in
GET /api/status (JSON, php-fpm's fields and Tally's) and GET /api/metrics (Prometheus text)."""

import http.client
import json
from urllib.parse import urlsplit

from prometheus_client.parser import text_string_to_metric_families

from tally_e2e import assert_error

PHP_FPM_FIELDS = ["pool", "process_manager", "start_time", "start_since", "accepted_conn", "listen_queue",
                  "max_listen_queue", "listen_queue_len", "idle_processes", "active_processes",
                  "total_processes", "max_active_processes", "max_children_reached", "slow_requests"]
TALLY_FIELDS = ["movements", "serialization_retries", "retries_exhausted", "database_reconnects"]


def families(text: str) -> dict:
    """Prometheus text read by the Prometheus client's own parser: a malformed exposition fails here."""
    return {family.name: family for family in text_string_to_metric_families(text)}


def samples(text: str, name: str, **labels) -> list:
    """The samples named NAME (a family's sample, e.g. a histogram's _bucket) whose labels include LABELS."""
    return [sample for family in families(text).values() for sample in family.samples
            if sample.name == name and all(sample.labels.get(key) == value for key, value in labels.items())]


def metric(text: str, name: str, **labels) -> float:
    """The value of one series, 0 when it is absent."""
    found = [sample for sample in samples(text, name, **labels) if sample.labels == labels]
    assert len(found) <= 1, found
    return found[0].value if found else 0.0


def test_ping_answers_pong_without_a_token(anonymous):
    response = anonymous.get("/api/ping")
    assert response.status_code == 200
    assert response.json() == {"status": "pong"}


def test_status_has_php_fpm_fields_and_tallys_own(anonymous):
    response = anonymous.get("/api/status")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    status = response.json()
    for field in PHP_FPM_FIELDS + TALLY_FIELDS:
        assert field in status, field
    assert status["process_manager"] == "static"
    assert status["total_processes"] == status["idle_processes"] + status["active_processes"]
    # The worker answering is busy with this very request.
    assert status["active_processes"] >= 1
    assert status["listen_queue_len"] > 0


def test_status_counts_the_whole_pool_not_the_worker_that_answers(anonymous):
    before = anonymous.get("/api/status").json()
    for _ in range(40):
        assert anonymous.get("/api/ping").status_code == 200
    after = anonymous.get("/api/status").json()
    # 40 pings and this status request, whichever workers served them (nginx spreads them over the pool).
    assert after["accepted_conn"] - before["accepted_conn"] >= 41
    assert after["total_processes"] >= 2


def test_a_committed_transfer_counts_as_a_movement_and_a_replay_does_not(api, new_user):
    alice, bob = new_user("10.00"), new_user()
    before = api.get("/api/status").json()["movements"]
    headers = {"Idempotency-Key": f"status-{alice['id']}"}
    assert api.transfer(alice["id"], bob["id"], "1.00", headers=headers).status_code == 201
    assert api.transfer(alice["id"], bob["id"], "1.00", headers=headers).status_code == 201
    assert api.transfer(alice["id"], bob["id"], "100.00").status_code == 409
    after = api.get("/api/status").json()["movements"]
    # Other tests do not run at the same time: exactly the one committed movement.
    assert after - before == 1


def test_metrics_count_requests_by_route_and_status_with_a_latency_histogram(api, anonymous, new_user):
    user = new_user("1.00")
    before = anonymous.get("/api/metrics").text
    assert api.transfer(user["id"], user["id"] + 1_000_000, "1.00").status_code == 404
    assert api.get(f"/api/users/{user['id']}").status_code == 200
    response = anonymous.get("/api/metrics")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    after = response.text
    route = "POST /api/transfers"
    assert metric(after, "tally_requests_total", route=route, status="404") - \
        metric(before, "tally_requests_total", route=route, status="404") == 1
    assert metric(after, "tally_requests_total", route="GET /api/users/{id}", status="200") - \
        metric(before, "tally_requests_total", route="GET /api/users/{id}", status="200") == 1
    # The histogram: buckets cumulative, ending at +Inf with the count.
    buckets = samples(after, "tally_request_duration_seconds_bucket", route="GET /api/users/{id}")
    bounds = [float(sample.labels["le"]) for sample in buckets]
    counts = [sample.value for sample in buckets]
    assert len(buckets) == 14 and bounds == sorted(bounds) and bounds[-1] == float("inf")
    assert counts == sorted(counts)
    assert counts[-1] == metric(after, "tally_request_duration_seconds_count", route="GET /api/users/{id}")
    exposed = families(after)
    assert exposed["tally_request_duration_seconds"].type == "histogram"
    # The parser names a counter's family without its _total suffix.
    for name in ["tally_pool_accepted_connections", "tally_movements", "tally_serialization_retries",
                 "tally_database_reconnects"]:
        assert exposed[name].type == "counter", name


def test_status_and_metrics_answer_get_only(anonymous):
    for path in ("/api/status", "/api/metrics"):
        response = anonymous.request("POST", path, data="{}")
        assert_error(response, 405, "method_not_allowed")
        assert response.headers["Allow"] == "GET"


def test_nginx_answers_status_and_metrics_to_this_host_only(base_url):
    """A client from another address (here 127.0.0.2, which nginx does not count as this host) is refused
    with the JSON 403; the API itself answers it as usual."""
    url = urlsplit(base_url)
    for path, expected in (("/api/status", 403), ("/api/metrics", 403), ("/api/ping", 200)):
        connection = http.client.HTTPConnection(url.hostname, url.port, timeout=10,
                                                source_address=("127.0.0.2", 0))
        try:
            connection.request("GET", path)
            response = connection.getresponse()
            body = json.loads(response.read())
        finally:
            connection.close()
        assert response.status == expected, (path, response.status, body)
        if expected == 403:
            assert body["error"]["code"] == "forbidden"
