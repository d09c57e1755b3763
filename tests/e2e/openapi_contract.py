"""www/openapi.yaml as a contract to check live responses against: which documented operation a request is,
and whether a response's status, body and headers are what the document says for it."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from openapi_schema_validator import OAS30Validator, oas30_format_checker

DOCUMENT = Path(__file__).resolve().parents[2] / "www" / "openapi.yaml"


def load_spec() -> dict:
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


def schema_errors(spec: dict, schema: dict, value) -> list[str]:
    validator = OAS30Validator({**schema, "components": spec["components"]}, format_checker=oas30_format_checker)
    return [error.message for error in sorted(validator.iter_errors(value), key=str)]


def check_against_document(spec: dict, method: str, path: str, response) -> None:
    """The response's status is documented for the operation, its body fits the documented schema, the
    documented required headers are there with documented values, and a replay or a Retry-After is
    as documented."""
    operation = operation_for(spec, method, path)
    status = str(response.status_code)
    assert status in operation["responses"], f"{method} {path} answered {status}, undocumented: {response.text}"
    documented = resolve(spec, operation["responses"][status])
    media_type = response.headers.get("Content-Type", "").split(";")[0].strip()
    assert media_type in documented["content"], f"{method} {path} {status}: undocumented type {media_type}"
    if media_type == "application/json":
        schema = documented["content"]["application/json"]["schema"]
        errors = schema_errors(spec, schema, response.json())
        assert not errors, f"{method} {path} {status}: {response.text}\n" + "\n".join(errors)
    headers = {name: resolve(spec, header) for name, header in documented.get("headers", {}).items()}
    for name, header in headers.items():
        if header.get("required"):
            assert name in response.headers, f"{method} {path} {status} lacks {name}"
        if name in response.headers and "enum" in header.get("schema", {}):
            assert response.headers[name] in header["schema"]["enum"], (
                f"{method} {path} {status}: {name}: {response.headers[name]!r}")
    if "Idempotency-Replayed" in response.headers:
        assert "Idempotency-Replayed" in headers, f"{method} {path} {status} replays undocumented"
        assert response.headers["Idempotency-Replayed"] == "true"
    if "Retry-After" in response.headers and response.status_code in (429, 503):
        assert response.headers["Retry-After"].isdigit()
