"""Who may call each route: the one place it is declared.

A route missing here is refused at startup (``declare``), and
``tests/api/test_access.py`` proves every route refuses every role not listed and a caller
without a token. The table also says which calls the audit log records (``audited``): every
call that changes something, and every read of a route marked ``personal_data``.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from starlette.routing import BaseRoute

from domain.access import Role


@dataclass(frozen=True)
class Public:
    """No token: the route checks its caller another way, or reveals nothing."""

    because: str
    # Who the audit log names as the caller; ``{name}`` is the route's path parameter.
    caller: str = "anonymous"


class PersonalData(frozenset[Role]):
    """The roles of a route that reads personal data or an export: each call is audited, as
    each call that changes something is."""


class OrLocalUi(frozenset[Role]):
    """These roles, and also the Temporal UI of a development stack, which has no way to send
    a token: only where ``ORDERFLOW_CODEC_TRUSTS_LOCAL_UI`` is on (never in production), from
    this machine, with the UI's own ``Origin``."""


Access = frozenset[Role] | Public

API_CLIENT, CUSTOMER, SUPPORT, WAREHOUSE, FINANCE, ADMIN = (
    Role.API_CLIENT,
    Role.CUSTOMER,
    Role.SUPPORT,
    Role.WAREHOUSE,
    Role.FINANCE,
    Role.ADMIN,
)


def roles(*allowed: Role) -> frozenset[Role]:
    """Admin may do everything; listing it at every route would only hide the others."""
    return frozenset({*allowed, ADMIN})


def personal_data(allowed: frozenset[Role]) -> PersonalData:
    return PersonalData(allowed)


ORDER_READERS = roles(API_CLIENT, CUSTOMER, SUPPORT, FINANCE)
EVERYONE_SIGNED_IN = roles(*Role)

ACCESS: dict[str, Access] = {
    # Orders: storefronts place them; customers act on their own; support changes them.
    "POST /orders": roles(API_CLIENT),
    "GET /orders": ORDER_READERS,
    # With the customer's contact details and address (masked by role: api/privacy.py).
    "GET /orders/{order_id}": personal_data(ORDER_READERS),
    # Cancelling a paid order refunds it: support up to its limit, finance above it.
    "POST /orders/{order_id}/cancel": roles(CUSTOMER, SUPPORT, FINANCE),
    "POST /orders/{order_id}/confirm-receipt": roles(CUSTOMER, SUPPORT),
    # Money back: support up to its limit at once, finance above it.
    "POST /orders/{order_id}/refunds": roles(SUPPORT, FINANCE),
    "GET /orders/{order_id}/refunds": roles(SUPPORT, FINANCE),
    # Where the order goes: the customer's own, or support for them.
    "POST /orders/{order_id}/address": roles(CUSTOMER, SUPPORT),
    # Returns: the customer (or support for them) opens one; the warehouse takes it back.
    "POST /orders/{order_id}/returns": roles(CUSTOMER, SUPPORT),
    "GET /orders/{order_id}/returns": roles(CUSTOMER, SUPPORT, FINANCE),
    "POST /warehouse/returns/scans": roles(WAREHOUSE),
    "POST /warehouse/returns/{rma}/inspection": roles(WAREHOUSE),
    # Reconciliation: finance's; the stock's also the warehouse's.
    "POST /reconciliation/runs": roles(FINANCE, WAREHOUSE),
    "GET /reconciliation/runs": roles(FINANCE, WAREHOUSE),
    "GET /reconciliation/runs/{run_id}": roles(FINANCE, WAREHOUSE),
    "GET /reconciliation/runs/{run_id}/differences.csv": roles(FINANCE, WAREHOUSE),
    "GET /reconciliation/report": roles(FINANCE),
    # Price protection: money back on every order of a SKU in a time range.
    "POST /compensations": roles(FINANCE),
    "GET /compensations/{batch_id}": roles(FINANCE),
    # A person playing the carrier: for demos and repairs, never for storefronts.
    "POST /orders/{order_id}/carrier-events": roles(),
    "PUT /customers/me": frozenset({CUSTOMER}),  # "me" is a customer; nobody acts for them
    "GET /products": EVERYONE_SIGNED_IN,
    # The warehouse floor and the shipment board.
    "POST /warehouse/scans": roles(WAREHOUSE),
    "POST /warehouse/receipts": roles(WAREHOUSE),
    "GET /shipments/stuck": roles(WAREHOUSE, SUPPORT),
    "GET /shipments/stage-limits": roles(WAREHOUSE, SUPPORT),
    "GET /alerts": roles(SUPPORT, WAREHOUSE, FINANCE),
    "POST /alerts/{alert_id}/resolve": roles(SUPPORT, WAREHOUSE, FINANCE),
    # Operators reading workflow payloads in the Temporal UI (docs/operations.md).
    "POST /codec/encode": OrLocalUi(roles(SUPPORT)),
    "POST /codec/decode": OrLocalUi(roles(SUPPORT)),
    "OPTIONS /codec/encode": Public("a browser's CORS preflight, which carries no token"),
    "OPTIONS /codec/decode": Public("a browser's CORS preflight, which carries no token"),
    # Exports: finance asks, a second person holding admin approves, then pages are served.
    "POST /exports": roles(FINANCE),
    "GET /exports/{export_id}": roles(FINANCE),
    "POST /exports/{export_id}/approve": roles(),
    "GET /exports/{export_id}/pages/{number}": personal_data(roles(FINANCE)),
    # Who did what, from where (client addresses are personal data too).
    "GET /audit": personal_data(roles()),
    # Callers who prove themselves without a bearer token.
    "POST /oauth/token": Public("the client authenticates with its client ID and secret"),
    "POST /webhooks/payments/stripe": Public(
        "checked by its Stripe-Signature", caller="webhook:stripe"
    ),
    "POST /webhooks/carriers/{carrier}": Public(
        "checked by its Carrier-Signature", caller="webhook:{carrier}"
    ),
    "GET /healthz": Public("load balancers; says only up or down"),
    "GET /metrics": Public("the metrics scraper; off in production unless enabled"),
}


def route_key(method: str, path: str) -> str:
    return f"{method} {path}"


# Methods that change nothing (HTTP's safe methods): a browser's CORS preflight is one.
READS = frozenset({"GET", "HEAD", "OPTIONS"})


def audited(access: Access, method: str) -> bool:
    """Whether the audit log records a call: a change (refused or not), or a read of
    personal data."""
    return method not in READS or isinstance(access, PersonalData)


def routes_of(app: FastAPI) -> list[tuple[str, BaseRoute]]:
    """Every (METHOD path, route) the app serves, HEAD aside, with the paths of included
    routers resolved."""
    return [
        (route_key(method, context.path or ""), context.original_route)
        for context in iter_route_contexts(app.routes)
        if isinstance(context.original_route, APIRoute)
        for method in sorted(context.methods or ())
        if method != "HEAD"
    ]


def declare(app: FastAPI) -> dict[int, Access]:
    """Each route's access, by the identity of the route object a request's scope names.
    Refuses to start with a route nobody said who may call."""
    found = routes_of(app)
    undeclared = [key for key, _ in found if key not in ACCESS]
    if undeclared:
        raise RuntimeError(f"routes without a declared role (api/access.py): {undeclared}")
    return {id(route): ACCESS[key] for key, route in found}


def keys_by_route(app: FastAPI) -> dict[tuple[int, str], str]:
    """Each route's key in ``ACCESS`` by (the identity of its route object, method): the
    action the audit log names a call by, template and all."""
    return {(id(route), key.partition(" ")[0]): key for key, route in routes_of(app)}
