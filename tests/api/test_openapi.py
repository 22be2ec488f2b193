"""The OpenAPI document names every status an operation answers, with the bodies it sends.

``test_fuzz.py`` holds the running API to the document; this holds the document to its rules
without running anything.
"""

from __future__ import annotations

from typing import Any

import pytest

from api.access import ACCESS, Public
from api.main import create_app
from api.openapi import NO_DEPENDENCIES
from config.settings import Settings
from tests.conftest import TEST_RULES


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return create_app(Settings(environment="test"), rules=TEST_RULES).openapi()


def operations(spec: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (f"{method.upper()} {path}", operation)
        for path, by_method in spec["paths"].items()
        for method, operation in by_method.items()
    ]


def ref(response: dict[str, Any]) -> str:
    return str(response["content"]["application/json"]["schema"].get("$ref", ""))


def test_fastapis_own_validation_body_is_gone(spec: dict[str, Any]) -> None:
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    assert "HTTPValidationError" not in str(spec)
    body = spec["components"]["schemas"]["ValidationError"]["properties"]["error"]
    assert body["required"] == ["code", "message", "details"]
    assert body["properties"]["details"]["items"]["required"] == ["field", "problem"]


def test_every_operation_documents_its_error_statuses(spec: dict[str, Any]) -> None:
    for key, operation in operations(spec):
        responses = operation["responses"]
        statuses = set(responses)
        if not isinstance(ACCESS[key], Public):
            assert {"401", "403"} <= statuses, key
        if "requestBody" in operation:
            assert {"400", "413", "422"} <= statuses, key
        if operation.get("parameters") or "requestBody" in operation:
            assert "ValidationError" in str(responses["422"]), key
        if any(p["in"] == "path" for p in operation.get("parameters", [])):
            assert "404" in statuses, key
        if key == "GET /healthz":
            continue  # its 503 is its own body: what is down
        assert ("503" in statuses) == (key not in NO_DEPENDENCIES), key
        for status, response in responses.items():
            if status.startswith(("4", "5")):
                assert "Error" in str(response["content"]), (key, status)


def test_a_route_adds_the_statuses_only_it_answers(spec: dict[str, Any]) -> None:
    by_key = dict(operations(spec))
    intake = by_key["POST /orders"]["responses"]
    assert {"200", "201", "409", "429"} <= set(intake)
    assert intake["429"]["headers"]["Retry-After"]["required"]
    # An order the catalog refuses is a 422 without `details`, beside the validation error.
    assert len(intake["422"]["content"]["application/json"]["schema"]["anyOf"]) == 2
    assert ref(by_key["POST /oauth/token"]["responses"]["401"]).endswith("/Error")
    assert ref(by_key["GET /healthz"]["responses"]["503"]).endswith("/Health")
    assert "text/plain" in by_key["GET /metrics"]["responses"]["200"]["content"]


def test_text_we_refuse_is_documented_as_a_pattern(spec: dict[str, Any]) -> None:
    name = spec["components"]["schemas"]["CustomerIn"]["properties"]["name"]
    assert name["pattern"].startswith("^[^\\x00-\\x1f")


def test_webhooks_document_the_body_their_signature_covers(spec: dict[str, Any]) -> None:
    by_key = dict(operations(spec))
    stripe = by_key["POST /webhooks/payments/stripe"]["requestBody"]["content"]
    assert stripe["application/json"]["schema"]["$ref"].endswith("/StripeEvent")
    carrier = by_key["POST /webhooks/carriers/{carrier}"]["requestBody"]["content"]
    assert "delivered" in carrier["application/json"]["schema"]["properties"]["stage"]["enum"]
