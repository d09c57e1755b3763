"""The pool logs one JSON line per request, carrying the request id nginx generated."""

import json

from tally_e2e import access_log_lines, assert_error, pool_log_lines


def logged(request_id: str) -> dict:
    lines = pool_log_lines(request_id)
    assert len(lines) == 1, f"request {request_id} is logged {len(lines)} times: {lines}"
    return json.loads(lines[0])


def test_each_request_is_logged_as_one_json_line_with_nginx_request_id(api, new_user):
    user = new_user("1.00")
    response = api.deposit(user["id"], "2.00")
    assert response.status_code == 201
    entry = logged(response.headers["X-Request-Id"])
    assert {"time", "request_id", "method", "path", "status", "duration_ms", "retries", "worker"} <= set(entry)
    assert (entry["method"], entry["path"], entry["status"]) == ("POST", f"/api/users/{user['id']}/deposits", 201)
    assert isinstance(entry["duration_ms"], (int, float)) and entry["duration_ms"] >= 0
    assert isinstance(entry["retries"], int) and entry["retries"] >= 0


def test_refused_requests_are_logged_with_their_status_and_the_id_in_their_body(api):
    response = api.get("/api/users/9223372036854775807")
    error = assert_error(response, 404, "not_found")
    entry = logged(error["request_id"])
    assert (entry["method"], entry["path"], entry["status"]) == ("GET", "/api/users/9223372036854775807", 404)


def test_one_request_id_finds_the_request_in_nginx_access_log_and_the_pool_log(api, new_user):
    """nginx's access log is JSON lines with the request id, status, request time and the upstream's times;
    grepping the id finds the same request in both logs."""
    user = new_user("1.00")
    response = api.deposit(user["id"], "2.00")
    request_id = response.headers["X-Request-Id"]
    lines = access_log_lines(request_id)
    assert len(lines) == 1, lines
    access = json.loads(lines[0])
    assert access["request_id"] == request_id and access["status"] == 201
    assert access["method"] == "POST" and access["uri"] == f"/api/users/{user['id']}/deposits"
    assert isinstance(access["request_time"], (int, float))
    for name in ("upstream_connect_time", "upstream_header_time", "upstream_response_time"):
        assert float(access[name]) >= 0, (name, access[name])
    assert access["upstream_addr"].startswith("unix:")
    assert logged(request_id)["status"] == 201
