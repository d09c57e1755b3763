"""www/openapi.yaml is a contract: it is a valid OpenAPI 3.0 document, nginx serves it, and what the live API
answers (statuses, bodies, headers) is what it documents."""

import re
import uuid
from pathlib import Path

import pytest
import yaml
from openapi_schema_validator import OAS30Validator, oas30_format_checker
from openapi_spec_validator import validate as validate_spec

from tally_e2e import LARGEST_ID

DOCUMENT = Path(__file__).resolve().parents[2] / "www" / "openapi.yaml"


@pytest.fixture(scope="module")
def spec() -> dict:
    return yaml.safe_load(DOCUMENT.read_text())


def operation_for(spec: dict, method: str, path: str) -> dict:
    """The documented operation whose path template matches path."""
    for template, item in spec["paths"].items():
        pattern = "^" + re.sub(r"\{[^}]+\}", "[^/]+", template) + "$"
        if re.match(pattern, path) and method.lower() in item:
            return item[method.lower()]
    raise AssertionError(f"{method} {path} is not documented")


def resolve(spec: dict, node: dict) -> dict:
    while "$ref" in node:
        target = spec
        for part in node["$ref"].lstrip("#/").split("/"):
            target = target[part]
        node = target
    return node


def check_against_document(spec: dict, method: str, path: str, response) -> None:
    operation = operation_for(spec, method, path)
    status = str(response.status_code)
    assert status in operation["responses"], f"{method} {path} answered {status}, undocumented: {response.text}"
    documented = resolve(spec, operation["responses"][status])
    schema = documented["content"]["application/json"]["schema"]
    validator = OAS30Validator({**schema, "components": spec["components"]}, format_checker=oas30_format_checker)
    errors = sorted(validator.iter_errors(response.json()), key=str)
    assert not errors, f"{method} {path} {status}: {response.text}\n" + "\n".join(e.message for e in errors)
    headers = {name: resolve(spec, header) for name, header in documented.get("headers", {}).items()}
    for name, header in headers.items():
        if header.get("required"):
            assert name in response.headers, f"{method} {path} {status} lacks {name}"
    if "Idempotency-Replayed" in response.headers:
        assert "Idempotency-Replayed" in headers, f"{method} {path} {status} replays undocumented"
        assert response.headers["Idempotency-Replayed"] == "true"
    if "Retry-After" in response.headers and response.status_code == 503:
        assert response.headers["Retry-After"].isdigit()


def test_the_openapi_document_is_valid_openapi_3_0(spec):
    assert spec["openapi"] == "3.0.3"
    validate_spec(spec)


def test_nginx_serves_the_openapi_document(api):
    response = api.get("/openapi.yaml")
    assert response.status_code == 200
    assert response.content == DOCUMENT.read_bytes()


def test_every_documented_operation_is_exercised_and_answers_as_documented(api, spec, new_user):
    alice, bob = new_user("10.00"), new_user()
    a, b = alice["id"], bob["id"]
    key = f"doc-{uuid.uuid4()}"
    transfer = api.transfer(a, b, "1.00", memo="doc", headers={"Idempotency-Key": key})
    exchanges = [
        ("GET", "/api/health", api.get("/api/health")),
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
        ("GET", "/api/transactions", api.get("/api/transactions", params={"limit": 3})),
        ("GET", "/api/transactions", api.get("/api/transactions", params={"limit": "x"})),
    ]
    exercised = set()
    for method, path, response in exchanges:
        check_against_document(spec, method, path, response)
        operation = operation_for(spec, method, path)
        exercised.add((operation["operationId"], response.status_code))
    documented_operations = {op["operationId"] for item in spec["paths"].values() for op in item.values()}
    assert documented_operations == {operation for operation, _ in exercised}
    assert {status for _, status in exercised} >= {200, 201, 400, 404, 409, 413, 422}


def test_undocumented_routes_and_methods_answer_with_the_documented_error_shapes(api, spec):
    for response, name, status in ((api.get("/api/nothing"), "NotFoundError", 404),
                                   (api.request("DELETE", "/api/users"), "MethodNotAllowedError", 405)):
        assert response.status_code == status
        schema = {"$ref": f"#/components/schemas/{name}", "components": spec["components"]}
        errors = list(OAS30Validator(schema).iter_errors(response.json()))
        assert not errors, [e.message for e in errors]
