"""The OpenAPI document: who may call each operation, and every status it can answer.

Access comes from the table ``authorize`` enforces (``api/access.py``). The error statuses
are derived in ``statuses_of`` from what an operation is (protected, has a body, has
parameters, names something by ID, reaches the database or Temporal), plus ``SPECIFIC`` for
what only some routes answer. A status a route declares itself (FastAPI's ``responses=``)
is kept as the route wrote it. ``tests/api/test_fuzz.py`` holds the API to this document.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from api.access import ACCESS, Access, Public, route_key
from api.routes.webhooks import StripeEvent
from domain.safe_text import SAFE_TEXT_PATTERN
from domain.shipping import TrackingStage
from integrations.carriers.sandbox import MAX_TEXT

SCHEME = "bearerAuth"
ERROR = "Error"
VALIDATION_ERROR = "ValidationError"
# FastAPI's own 422 body, which this API never sends (``api/errors.py`` answers instead).
FASTAPI_422 = ("HTTPValidationError", "ValidationError")

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
        }
    },
}
VALIDATION_ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "details"],
            "properties": {
                "code": {"type": "string", "enum": ["validation_error"]},
                "message": {"type": "string"},
                "details": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["field", "problem"],
                        "properties": {
                            "field": {"type": "string", "description": "e.g. lines.0.quantity"},
                            "problem": {"type": "string"},
                        },
                    },
                },
            },
        }
    },
}


@dataclass(frozen=True)
class Answer:
    """One error status as an operation documents it."""

    description: str
    schema: str = ERROR
    header: str | None = None  # a response header it always carries


RETRY_AFTER = "Retry-After"

UNREADABLE = Answer("The body can't be read: not JSON, or not UTF-8")
UNAUTHENTICATED = Answer("No bearer token, or not a valid one", header="WWW-Authenticate")
FORBIDDEN = Answer("The token's role may not do this")
NOT_FOUND = Answer("Nothing by that ID, or nothing this caller may see")
TOO_LARGE = Answer("The body is larger than the API reads (`ORDERFLOW_MAX_BODY_BYTES`)")
INVALID = Answer("A parameter or the body is not valid; `details` names each", VALIDATION_ERROR)
UNAVAILABLE = Answer("The database or Temporal is unavailable: retry later", header=RETRY_AFTER)

# What only some routes answer; an entry for a derived status adds a second kind of body.
SPECIFIC: dict[str, dict[int, Answer]] = {
    "POST /orders": {
        409: Answer("Not enough stock, an `Idempotency-Key` or order number used for another "
                    "order, or the customer's unpaid units at their cap"),
        422: Answer("The catalog refuses the order: an unknown SKU, several currencies, a parcel "
                    "too heavy"),
        429: Answer("More orders a second than this caller may place", header=RETRY_AFTER),
    },
    "GET /orders": {400: Answer("The cursor is not one this API returned")},
    "POST /orders/{order_id}/cancel": {409: Answer("The order can no longer be cancelled")},
    "POST /orders/{order_id}/confirm-receipt": {409: Answer("The order is not awaiting receipt")},
    "POST /orders/{order_id}/refunds": {
        409: Answer("The order can't refund that: not delivered, outside the window, more "
                    "than is left, another refund or a cancellation came first; or the "
                    "Idempotency-Key named another refund"),
    },
    "GET /compensations/{batch_id}": {404: Answer("No batch by that ID")},
    "GET /reconciliation/runs": {400: Answer("The cursor is not one this API returned")},
    "GET /reconciliation/runs/{run_id}": {
        400: Answer("The cursor is not one this API returned"),
        404: Answer("No run by that ID"),
    },
    "GET /reconciliation/runs/{run_id}/differences.csv": {404: Answer("No run by that ID")},
    "GET /reconciliation/report": {400: Answer("Not a month like 2026-11")},
    "POST /orders/{order_id}/address": {
        409: Answer("Nothing left to send: every parcel arrived or came back, the order ended, "
                    "or it is being cancelled"),
    },
    "POST /orders/{order_id}/returns": {
        409: Answer("Those units can't be returned: not delivered, already on their way back "
                    "or refunded, or the return window ended"),
    },
    "POST /warehouse/returns/scans": {
        404: Answer("No open return by that RMA"),
        409: Answer("The item is not in the return, or is one too many"),
    },
    "POST /warehouse/returns/{rma}/inspection": {
        404: Answer("No open return by that RMA"),
        409: Answer("The return is not waiting for its inspection"),
    },
    "PUT /customers/me": {
        400: Answer("The caller is not a customer"),
        404: Answer("The customer has placed no order yet"),
    },
    "POST /warehouse/scans": {
        404: Answer("No such package of that order is being shipped"),
        409: Answer("The item does not belong in the package, or is one too many"),
    },
    "POST /warehouse/receipts": {
        409: Answer("The delivery note was booked before with other goods"),
        422: Answer("An unknown SKU or warehouse"),
    },
    "GET /alerts": {400: Answer("The cursor is not one this API returned")},
    "GET /audit": {400: Answer("The cursor is not one this API returned")},
    "POST /exports/{export_id}/approve": {409: Answer("The export is approved already")},
    "GET /exports/{export_id}/pages/{number}": {409: Answer("The export is not approved yet")},
    "POST /codec/decode": {
        400: Answer("Not Temporal payloads, one that can't be opened, or another namespace"),
    },
    "POST /codec/encode": {
        400: Answer("Not Temporal payloads, or another namespace"),
    },
    "POST /oauth/token": {
        401: Answer("No live client by that ID and secret", header="WWW-Authenticate"),
    },
    "POST /webhooks/payments/stripe": {
        400: Answer("The Stripe-Signature is missing, stale or does not match the body, or the "
                    "body is not a Stripe event"),
    },
    "POST /webhooks/carriers/{carrier}": {
        400: Answer("The Carrier-Signature is missing, stale or does not match the body, or "
                    "the body is not a tracking report or is dated ahead of our clock"),
    },
    "GET /metrics": {404: Answer("Metrics are not exposed here (`ORDERFLOW_EXPOSE_METRICS`)")},
}  # fmt: skip
_TEXT = {"type": "string", "minLength": 1, "maxLength": MAX_TEXT, "pattern": SAFE_TEXT_PATTERN}
TRACKING_REPORT: dict[str, Any] = {
    "type": "object",
    "required": ["event_id", "tracking_number", "stage", "at"],
    "properties": {
        "event_id": _TEXT,
        "tracking_number": _TEXT,
        "stage": {"type": "string", "enum": [stage.value for stage in TrackingStage]},
        "at": {"type": "string", "format": "date-time", "description": "With its time zone"},
    },
}
# Routes that read their body raw, since the signature covers its bytes: what it holds.
# FastAPI validates none of it, so a bad one is answered 400, never 422.
RAW_BODIES: dict[str, dict[str, Any]] = {
    "POST /webhooks/payments/stripe": {"$ref": "#/components/schemas/StripeEvent"},
    "POST /webhooks/carriers/{carrier}": TRACKING_REPORT,
}
# Routes that reach neither the database nor Temporal, or answer their outage themselves.
NO_DEPENDENCIES = frozenset({"GET /metrics", "GET /healthz"})


def statuses_of(key: str, operation: dict[str, Any], access: Access) -> dict[int, list[Answer]]:
    """Every error status the operation can answer, and with which bodies."""
    found: dict[int, list[Answer]] = {}

    def add(status: int, answer: Answer) -> None:
        if answer not in found.setdefault(status, []):
            found[status].append(answer)

    if not isinstance(access, Public):
        add(401, UNAUTHENTICATED)
        add(403, FORBIDDEN)
    if "requestBody" in operation:
        add(400, UNREADABLE)
        add(413, TOO_LARGE)
        if key not in RAW_BODIES:
            add(422, INVALID)
    parameters = operation.get("parameters", [])
    if parameters:
        add(422, INVALID)
    if any(parameter["in"] == "path" for parameter in parameters):
        add(404, NOT_FOUND)
    if key not in NO_DEPENDENCIES:
        add(503, UNAVAILABLE)
    for status, answer in SPECIFIC.get(key, {}).items():
        add(status, answer)
    return found


def document(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        spec = get_openapi(
            title=app.title,
            version=app.version,
            summary=app.summary,
            routes=app.routes,
        )
        schemas = spec.setdefault("components", {}).setdefault("schemas", {})
        for name in FASTAPI_422:
            schemas.pop(name, None)
        schemas[ERROR] = ERROR_SCHEMA
        schemas[VALIDATION_ERROR] = VALIDATION_ERROR_SCHEMA
        event = StripeEvent.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(event.pop("$defs", {}))
        schemas["StripeEvent"] = event
        spec["components"]["securitySchemes"] = {
            SCHEME: {
                "type": "http",
                "scheme": "bearer",
                "bearerFormat": "JWT",
                "description": "`orderflow token create`, or `POST /oauth/token` for API clients",
            }
        }
        for path, operations in spec.get("paths", {}).items():
            for method, operation in operations.items():
                key = route_key(method.upper(), path)
                _document_operation(key, operation, ACCESS[key])
        app.openapi_schema = spec
        return spec

    app.openapi = openapi  # type: ignore[method-assign]


def _document_operation(key: str, operation: dict[str, Any], access: Access) -> None:
    if isinstance(access, Public):
        operation["description"] = _with(operation, f"No token: {access.because}.")
    else:
        allowed = ", ".join(sorted(role.value for role in access))
        operation["security"] = [{SCHEME: []}]
        operation["description"] = _with(operation, f"Roles: {allowed}.")
    if key in RAW_BODIES:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": RAW_BODIES[key]}},
        }
    responses: dict[str, Any] = operation.setdefault("responses", {})
    if _is_fastapis_422(responses.get("422")):
        del responses["422"]
    for status, answers in sorted(statuses_of(key, operation, access).items()):
        responses.setdefault(str(status), _response(answers))


def _is_fastapis_422(response: dict[str, Any] | None) -> bool:
    schema = (response or {}).get("content", {}).get("application/json", {}).get("schema", {})
    return bool(schema.get("$ref", "").endswith(f"/{FASTAPI_422[0]}"))


def _response(answers: list[Answer]) -> dict[str, Any]:
    refs = [{"$ref": f"#/components/schemas/{name}"} for name in _unique(a.schema for a in answers)]
    response: dict[str, Any] = {
        "description": " Or: ".join(f"{answer.description}." for answer in answers),
        "content": {"application/json": {"schema": refs[0] if len(refs) == 1 else {"anyOf": refs}}},
    }
    # Only a header that every answer under this status carries.
    carried = set.intersection(*({a.header} if a.header else set() for a in answers))
    if carried:
        response["headers"] = {
            name: {"required": True, "schema": {"type": "string"}} for name in sorted(carried)
        }
    return response


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _with(operation: dict[str, Any], line: str) -> str:
    description = operation.get("description", "")
    return f"{description}\n\n{line}" if description else line
