"""www/openapi.yaml is a contract: it is a valid OpenAPI 3.0 document, nginx serves it, and what the live API
answers (statuses, bodies, headers) is what it documents."""

import uuid

import pytest
from openapi_spec_validator import validate as validate_spec

from openapi_contract import DOCUMENT, check_against_document, load_spec, operation_for, schema_errors
from tally_e2e import LARGEST_ID, new_password, new_username

PUBLIC_OPERATIONS = {"getHealth", "ping", "getPoolStatus", "getPoolMetrics", "register", "logIn"}


@pytest.fixture(scope="module")
def spec() -> dict:
    return load_spec()


def test_the_openapi_document_is_valid_openapi_3_0(spec):
    assert spec["openapi"] == "3.0.3"
    validate_spec(spec)


def test_nginx_serves_the_openapi_document(api):
    response = api.get("/openapi.yaml")
    assert response.status_code == 200
    assert response.content == DOCUMENT.read_bytes()


def test_nginx_serves_the_document_as_json_exactly_as_the_yaml_reads(api, spec):
    """/docs reads openapi.json (`make openapi` writes it from the YAML): it must be the same document."""
    response = api.get("/openapi.json")
    assert response.status_code == 200
    assert response.headers["Content-Type"].split(";")[0] == "application/json"
    assert response.json() == spec
    assert response.content == (DOCUMENT.parent / "openapi.json").read_bytes()


def test_every_documented_operation_is_exercised_and_answers_as_documented(api, anonymous, spec, new_user,
                                                                           new_account):
    alice, bob = new_user("10.00"), new_user()
    a, b = alice["id"], bob["id"]
    key = f"doc-{uuid.uuid4()}"
    transfer = api.transfer(a, b, "1.00", memo="doc", headers={"Idempotency-Key": key})
    carol = new_account("5.00")
    c, as_carol = carol.id, carol.api
    batch = api.post("/api/batches", {"movements": [
        {"type": "transfer", "from_user_id": a, "to_user_id": c, "amount": "1.00", "memo": "doc"},
        {"type": "deposit", "user_id": b, "amount": "2.00"}]})
    username, password = new_username(), new_password()
    registered = anonymous.register(username, password, name="Doc")
    login = anonymous.login(username, password)
    leaving = anonymous.with_token(login.json()["token"])
    # Alerts: d has withdrawn twice, so a third large withdrawal raises 30 and 1100 (stored, then listed).
    d = new_user("500.00")["id"]
    event_key = f"doc-event-{uuid.uuid4()}"
    for t in (1, 2):
        api.event("withdraw", "1.00", d, t)
    alerting = api.event("withdraw", "150.00", d, 3, headers={"Idempotency-Key": event_key})
    exchanges = [
        ("POST", "/api/event", api.event("deposit", "1.00", d, 4)),
        ("POST", "/api/event", alerting),
        ("POST", "/api/event", api.event("withdraw", "150.00", d, 3, headers={"Idempotency-Key": event_key})),
        ("POST", "/api/event", api.event("withdraw", "150.00", d, 4, headers={"Idempotency-Key": event_key})),
        ("POST", "/api/event", api.event("deposit", "1.00", d, 4)),
        ("POST", "/api/event", api.event("deposit", "1.00", d, "5")),
        ("POST", "/api/event", api.event("transfer", "1.00", d, 5)),
        ("POST", "/api/event", api.event("withdraw", "10000.00", d, 5)),
        ("POST", "/api/event", api.event("deposit", "1.00", LARGEST_ID, 5)),
        ("POST", "/api/event", api.request("POST", "/api/event", data="[")),
        ("POST", "/api/event", as_carol.event("deposit", "1.00", c, 1)),
        ("POST", "/api/event", anonymous.event("deposit", "1.00", d, 5)),
        ("POST", "/api/event", api.request("POST", "/api/event", data='{"t": "%s"}' % ("x" * 70000))),
        ("GET", "/api/alerts", api.get("/api/alerts", params={"limit": 2})),
        ("GET", "/api/alerts", api.get("/api/alerts", params={"limit": 0})),
        ("GET", "/api/alerts", as_carol.get("/api/alerts")),
        ("GET", "/api/alerts", anonymous.get("/api/alerts")),
        ("GET", f"/api/users/{d}/alerts", api.get(f"/api/users/{d}/alerts", params={"limit": 1})),
        ("GET", f"/api/users/{c}/alerts", as_carol.get(f"/api/users/{c}/alerts")),
        ("GET", f"/api/users/{d}/alerts", as_carol.get(f"/api/users/{d}/alerts")),
        ("GET", f"/api/users/{d}/alerts", anonymous.get(f"/api/users/{d}/alerts")),
        ("GET", f"/api/users/{d}/alerts", api.get(f"/api/users/{d}/alerts", params={"cursor": "nope"})),
        ("GET", f"/api/users/{LARGEST_ID}/alerts", api.get(f"/api/users/{LARGEST_ID}/alerts")),
        ("POST", f"/api/users/{d}/deposits", api.deposit(d, "250.00", t=10)),
        ("POST", f"/api/users/{d}/withdrawals", api.withdraw(d, "101.00", memo="atm", t=11)),
        ("POST", f"/api/users/{d}/withdrawals", api.withdraw(d, "1.00", t=11)),

        ("GET", "/api/health", api.get("/api/health")),
        ("GET", f"/api/requests/{key}", api.get(f"/api/requests/{key}")),
        ("GET", "/api/requests/never-used", api.get(f"/api/requests/never-used-{uuid.uuid4()}")),
        ("GET", f"/api/requests/{key}", anonymous.get(f"/api/requests/{key}")),
        ("GET", "/api/ping", anonymous.get("/api/ping")),
        ("GET", "/api/status", anonymous.get("/api/status")),
        ("GET", "/api/metrics", anonymous.get("/api/metrics")),
        ("POST", "/api/auth/register", registered),
        ("POST", "/api/auth/register", anonymous.register(username.upper(), password)),
        ("POST", "/api/auth/register", anonymous.register("no spaces allowed", password)),
        ("POST", "/api/auth/register", anonymous.register(new_username(), "too short")),
        ("POST", "/api/auth/register", anonymous.request("POST", "/api/auth/register", data="[")),
        ("POST", "/api/auth/login", login),
        ("POST", "/api/auth/login", anonymous.login(username, password + "x")),
        ("POST", "/api/auth/login", anonymous.login("x" * 257, password)),
        ("POST", "/api/auth/login", anonymous.request("POST", "/api/auth/login", data="{")),
        ("GET", "/api/me", api.me()),
        ("GET", "/api/me", leaving.me()),
        ("GET", "/api/me", anonymous.me()),
        ("POST", "/api/auth/logout", leaving.logout()),
        ("POST", "/api/auth/logout", leaving.logout()),
        ("GET", "/api/users", as_carol.get("/api/users")),
        ("GET", "/api/users", anonymous.get("/api/users")),
        ("POST", "/api/users", api.create_user("Doc", username=new_username(), password=new_password())),
        ("POST", "/api/users", api.create_user("Doc", username=username, password=new_password())),
        ("POST", "/api/users", as_carol.create_user("Doc")),
        ("POST", "/api/users", anonymous.create_user("Doc")),
        ("GET", f"/api/users/{c}", as_carol.get(f"/api/users/{c}")),
        ("GET", f"/api/users/{a}", as_carol.get(f"/api/users/{a}")),
        ("GET", f"/api/users/{a}", anonymous.get(f"/api/users/{a}")),
        ("POST", f"/api/users/{c}/deposits", as_carol.deposit(c, "1.00")),
        ("POST", f"/api/users/{a}/deposits", as_carol.deposit(a, "1.00")),
        ("POST", f"/api/users/{a}/deposits", anonymous.deposit(a, "1.00")),
        ("POST", f"/api/users/{c}/withdrawals", as_carol.withdraw(c, "1.00")),
        ("POST", f"/api/users/{a}/withdrawals", as_carol.withdraw(a, "1.00")),
        ("POST", f"/api/users/{a}/withdrawals", anonymous.request("POST", f"/api/users/{a}/withdrawals", data="{")),
        ("GET", f"/api/users/{c}/transactions", as_carol.get(f"/api/users/{c}/transactions")),
        ("GET", f"/api/users/{a}/transactions", as_carol.get(f"/api/users/{a}/transactions")),
        ("GET", f"/api/users/{a}/transactions", anonymous.get(f"/api/users/{a}/transactions")),
        ("POST", "/api/transfers", as_carol.transfer(c, a, "1.00")),
        ("POST", "/api/transfers", as_carol.transfer(a, c, "1.00")),
        ("POST", "/api/transfers", anonymous.transfer(a, b, "1.00")),
        ("GET", f"/api/transfers/{transfer.json()['id']}", as_carol.get(f"/api/transfers/{transfer.json()['id']}")),
        ("GET", f"/api/transfers/{transfer.json()['id']}", anonymous.get(f"/api/transfers/{transfer.json()['id']}")),
        ("GET", "/api/transactions", as_carol.get("/api/transactions")),
        ("GET", "/api/transactions", anonymous.get("/api/transactions")),
        ("GET", "/api/users", api.get("/api/users", params={"limit": 2})),
        ("GET", "/api/users", api.get("/api/users", params={"limit": 0})),
        ("GET", "/api/users", api.get("/api/users", params={"cursor": "nope"})),
        ("POST", "/api/users", api.create_user("Doc", "1.50")),
        ("POST", "/api/users", api.create_user("Doc", None)),
        ("POST", "/api/users", api.post("/api/users", {"name": ""})),
        ("POST", "/api/users", api.request("POST", "/api/users", data="[")),
        ("POST", "/api/users", api.request("POST", "/api/users", data='{"name": "%s"}' % ("x" * 70000))),
        ("GET", f"/api/users/{a}", api.get(f"/api/users/{a}")),
        ("GET", f"/api/users/{LARGEST_ID}", api.get(f"/api/users/{LARGEST_ID}")),
        ("GET", "/api/users/abc", api.get("/api/users/abc")),
        ("POST", f"/api/users/{a}/deposits", api.deposit(a, "2.00")),
        ("POST", f"/api/users/{a}/deposits", api.deposit(a, "2.001")),
        ("POST", f"/api/users/{LARGEST_ID}/deposits", api.deposit(LARGEST_ID, "1")),
        ("POST", f"/api/users/{a}/withdrawals", api.withdraw(a, "1.00", memo="cash")),
        ("POST", f"/api/users/{b}/withdrawals", api.withdraw(b, "100.00")),
        ("POST", f"/api/users/{a}/withdrawals", api.request("POST", f"/api/users/{a}/withdrawals", data="1")),
        ("GET", f"/api/users/{a}/transactions", api.get(f"/api/users/{a}/transactions", params={"limit": 2})),
        ("GET", f"/api/users/{a}/transactions", api.get(f"/api/users/{a}/transactions", params={"limit": 101})),
        ("GET", f"/api/users/{LARGEST_ID}/transactions", api.get(f"/api/users/{LARGEST_ID}/transactions")),
        ("POST", "/api/transfers", transfer),
        ("POST", "/api/transfers", api.transfer(a, b, "1.00", memo="doc", headers={"Idempotency-Key": key})),
        ("POST", "/api/transfers", api.transfer(a, b, "2.00", memo="doc", headers={"Idempotency-Key": key})),
        ("POST", "/api/transfers", api.transfer(b, a, "500.00")),
        ("POST", "/api/transfers", api.transfer(a, a, "1.00")),
        ("POST", "/api/transfers", api.transfer(a, LARGEST_ID, "1.00")),
        ("GET", f"/api/transfers/{transfer.json()['id']}", api.get(f"/api/transfers/{transfer.json()['id']}")),
        ("GET", f"/api/transfers/{LARGEST_ID}", api.get(f"/api/transfers/{LARGEST_ID}")),
        ("POST", "/api/batches", batch),
        ("POST", "/api/batches", api.post("/api/batches", {"atomic": False, "movements": [
            {"type": "transfer", "from_user_id": a, "to_user_id": b, "amount": "1.00"},
            {"type": "withdrawal", "user_id": b, "amount": "900.00"}]})),
        ("POST", "/api/batches", api.post("/api/batches", {"movements": [
            {"type": "transfer", "from_user_id": a, "to_user_id": b, "amount": "900.00"}]})),
        ("POST", "/api/batches", api.post("/api/batches", {"movements": [
            {"type": "transfer", "from_user_id": a, "to_user_id": LARGEST_ID, "amount": "1.00"}]})),
        ("POST", "/api/batches", as_carol.post("/api/batches", {"movements": [
            {"type": "transfer", "from_user_id": a, "to_user_id": c, "amount": "1.00"}]})),
        ("POST", "/api/batches", api.post("/api/batches", {"movements": []})),
        ("POST", "/api/batches", anonymous.post("/api/batches", {"movements": []})),
        ("POST", "/api/batches", api.request("POST", "/api/batches", data="[")),
        ("GET", f"/api/batches/{batch.json()['id']}", api.get(f"/api/batches/{batch.json()['id']}")),
        ("GET", f"/api/batches/{LARGEST_ID}", api.get(f"/api/batches/{LARGEST_ID}")),
        ("GET", f"/api/batches/{LARGEST_ID}", anonymous.get(f"/api/batches/{LARGEST_ID}")),
        ("GET", "/api/transactions", api.get("/api/transactions", params={"limit": 3})),
        ("GET", "/api/transactions", api.get("/api/transactions", params={"limit": "x"})),
        ("GET", "/api/stats", api.get("/api/stats")),
        ("GET", "/api/stats", api.get("/api/stats", params={"since": 0})),
        ("GET", "/api/stats", api.get("/api/stats", params={"since": "yesterday"})),
        ("GET", "/api/stats", as_carol.get("/api/stats")),
        ("GET", "/api/stats", anonymous.get("/api/stats")),
        ("GET", "/api/users", api.get("/api/users", params={"name": "Doc", "limit": 2})),
        ("GET", "/api/users", api.get("/api/users", params={"name": "x" * 201})),
    ] + holds_reversals_and_limits(api, anonymous, new_user, as_carol, c, a, b)
    exercised = set()
    for method, path, response in exchanges:
        check_against_document(spec, method, path, response)
        operation = operation_for(spec, method, path)
        exercised.add((operation["operationId"], response.status_code))
    documented_operations = {op["operationId"] for item in spec["paths"].values() for op in item.values()}
    assert documented_operations == {operation for operation, _ in exercised}
    assert {status for _, status in exercised} >= {200, 201, 400, 401, 403, 404, 409, 413, 422}
    # Every operation that needs a token was seen refusing a request without one.
    assert {operation for operation, status in exercised if status == 401} >= \
        documented_operations - PUBLIC_OPERATIONS


def holds_reversals_and_limits(api, anonymous, new_user, as_carol, c, a, b) -> list:
    """Exchanges with the holds', reversals' and limits' operations, each answer one the document lists."""
    e = new_user("20.00")["id"]

    def hold(body=None, client=api, **kwargs):
        return client.post("/api/holds", {"from_user_id": e, "to_user_id": b, "amount": "5.00", "expires_in": 600,
                                          **(body or {})}, **kwargs)

    def patch(user_id, body, client=api):
        return client.request("PATCH", f"/api/users/{user_id}", json_body=body)

    hold_key = f"doc-hold-{uuid.uuid4()}"
    placed = hold(headers={"Idempotency-Key": hold_key})
    h = placed.json()["id"]
    second = hold({"amount": "1.00", "memo": "doc"}).json()["id"]
    captured = api.post(f"/api/holds/{h}/capture", {"amount": "2.00"})
    capture_id = captured.json()["transfer"]["id"]
    reversal = api.post(f"/api/transfers/{capture_id}/reversals", {"amount": "1.00", "memo": "doc"})
    # f owes 3.00 on a credit limit of 5.00: a credit limit below 3.00 is in use.
    f = api.post("/api/users", {"name": "Doc", "credit_limit": "5.00", "daily_debit_limit": 50,
                                "time_zone": "Europe/Paris"})
    api.transfer(f.json()["id"], b, "3.00")
    carols_payment = as_carol.transfer(c, a, "1.00").json()["id"]
    return [
        ("POST", "/api/holds", placed),
        ("POST", "/api/holds", hold(headers={"Idempotency-Key": hold_key})),
        ("POST", "/api/holds", hold({"amount": "1000.00"})),
        ("POST", "/api/holds", hold({"expires_in": 0})),
        ("POST", "/api/holds", hold({"to_user_id": LARGEST_ID})),
        ("POST", "/api/holds", hold(client=as_carol)),
        ("POST", "/api/holds", hold(client=anonymous)),
        ("POST", "/api/holds", api.request("POST", "/api/holds", data="[")),
        ("GET", f"/api/holds/{h}", api.get(f"/api/holds/{h}")),
        ("GET", f"/api/holds/{h}", as_carol.get(f"/api/holds/{h}")),
        ("GET", f"/api/holds/{h}", anonymous.get(f"/api/holds/{h}")),
        ("POST", f"/api/holds/{h}/capture", captured),
        ("POST", f"/api/holds/{h}/capture", api.post(f"/api/holds/{h}/capture")),
        ("POST", f"/api/holds/{second}/capture", api.post(f"/api/holds/{second}/capture", {"amount": "9.00"})),
        ("POST", f"/api/holds/{second}/capture", as_carol.post(f"/api/holds/{second}/capture")),
        ("POST", f"/api/holds/{second}/capture", anonymous.post(f"/api/holds/{second}/capture")),
        ("POST", f"/api/holds/{second}/capture", api.request("POST", f"/api/holds/{second}/capture", data="[")),
        ("POST", f"/api/holds/{second}/void", api.post(f"/api/holds/{second}/void", {"colour": "red"})),
        ("POST", f"/api/holds/{second}/void", as_carol.post(f"/api/holds/{second}/void")),
        ("POST", f"/api/holds/{second}/void", anonymous.post(f"/api/holds/{second}/void")),
        ("POST", f"/api/holds/{second}/void", api.post(f"/api/holds/{second}/void")),
        ("POST", f"/api/holds/{second}/void", api.post(f"/api/holds/{second}/void")),
        ("GET", f"/api/users/{e}/holds", api.get(f"/api/users/{e}/holds", params={"status": "voided", "limit": 1})),
        ("GET", f"/api/users/{e}/holds", api.get(f"/api/users/{e}/holds", params={"status": "settled"})),
        ("GET", f"/api/users/{e}/holds", as_carol.get(f"/api/users/{e}/holds")),
        ("GET", f"/api/users/{e}/holds", anonymous.get(f"/api/users/{e}/holds")),
        ("GET", f"/api/users/{LARGEST_ID}/holds", api.get(f"/api/users/{LARGEST_ID}/holds")),
        ("GET", f"/api/requests/{hold_key}", api.get(f"/api/requests/{hold_key}")),
        ("POST", f"/api/transfers/{capture_id}/reversals", reversal),
        ("POST", f"/api/transfers/{capture_id}/reversals",
         api.post(f"/api/transfers/{capture_id}/reversals", {"amount": "1.01"})),
        ("POST", f"/api/transfers/{capture_id}/reversals",
         api.post(f"/api/transfers/{capture_id}/reversals", {"amount": "0"})),
        ("POST", f"/api/transfers/{capture_id}/reversals", as_carol.post(f"/api/transfers/{capture_id}/reversals")),
        ("POST", f"/api/transfers/{capture_id}/reversals", anonymous.post(f"/api/transfers/{capture_id}/reversals")),
        ("POST", f"/api/transfers/{carols_payment}/reversals",
         as_carol.post(f"/api/transfers/{carols_payment}/reversals")),
        ("POST", f"/api/transfers/{LARGEST_ID}/reversals", api.post(f"/api/transfers/{LARGEST_ID}/reversals")),
        ("POST", f"/api/transfers/{capture_id}/reversals",
         api.request("POST", f"/api/transfers/{capture_id}/reversals", data="[")),
        ("GET", f"/api/transfers/{capture_id}", api.get(f"/api/transfers/{capture_id}")),
        ("GET", f"/api/transfers/{reversal.json()['id']}", api.get(f"/api/transfers/{reversal.json()['id']}")),
        ("POST", "/api/users", f),
        ("POST", "/api/users", api.post("/api/users", {"name": "Doc", "time_zone": "Mars/Olympus_Mons"})),
        ("PATCH", f"/api/users/{e}", patch(e, {"credit_limit": "1.50", "daily_debit_limit": None})),
        ("PATCH", f"/api/users/{f.json()['id']}", patch(f.json()["id"], {"credit_limit": "2.99"})),
        ("PATCH", f"/api/users/{e}", patch(e, {})),
        ("PATCH", f"/api/users/{e}", patch(e, {"credit_limit": "1"}, as_carol)),
        ("PATCH", f"/api/users/{e}", patch(e, {"credit_limit": "1"}, anonymous)),
        ("PATCH", f"/api/users/{LARGEST_ID}", patch(LARGEST_ID, {"credit_limit": "1"})),
        ("PATCH", f"/api/users/{e}", api.request("PATCH", f"/api/users/{e}", data="[")),
    ]


def test_the_document_says_which_operations_need_a_token_as_the_service_does(anonymous, spec, new_user):
    """Public operations (security: []) answer without a token; every other one answers 401 without one."""
    user = new_user("1.00")
    assert spec["security"] == [{"bearerAuth": []}]
    scheme = spec["components"]["securitySchemes"]["bearerAuth"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    for template, item in spec["paths"].items():
        path = template.replace("{id}", str(user["id"]))
        for method, operation in item.items():
            public = operation.get("security", spec["security"]) == []
            assert public == (operation["operationId"] in PUBLIC_OPERATIONS), operation["operationId"]
            response = anonymous.request(method.upper(), path, data="{}" if method == "post" else None)
            if public:
                assert response.status_code != 401, (method, path, response.text)
            else:
                assert response.status_code == 401, (method, path, response.text)
            check_against_document(spec, method.upper(), path, response)


def test_undocumented_routes_and_methods_answer_with_the_documented_error_shapes(api, spec):
    for response, name, status in ((api.get("/api/nothing"), "NotFoundError", 404),
                                   (api.request("DELETE", "/api/users"), "MethodNotAllowedError", 405),
                                   (api.get("/api/auth/login"), "MethodNotAllowedError", 405)):
        assert response.status_code == status
        errors = schema_errors(spec, {"$ref": f"#/components/schemas/{name}"}, response.json())
        assert not errors, errors
