"""The FastAPI application: ``create_app`` builds it, the lifespan connects its dependencies."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, Depends, FastAPI
from temporalio.client import Client

from api.access import declare, keys_by_route
from api.audit_trail import AuditTrail
from api.auth import Revocations, authorize
from api.errors import install_error_handlers
from api.limits import BodySizeLimit
from api.openapi import document
from api.rate_limit import RateLimiter
from api.routes import (
    addresses,
    alerts,
    audit,
    carrier_webhooks,
    codec,
    compensations,
    customers,
    exports,
    health,
    oauth,
    orders,
    products,
    reconciliation,
    refunds,
    returns,
    shipments,
    warehouse,
    webhooks,
)
from api.temporal import OrderWorkflows
from api.webhook_recording import WebhookRecorder
from config.rules import load_rules
from config.settings import Settings, get_settings, keyring_from
from domain.rules import FulfilmentRules
from integrations.temporal import connect
from store.db import SessionFactory, make_engine, make_session_factory


def create_app(
    settings: Settings | None = None,
    *,
    client: Client | None = None,
    sessions: SessionFactory | None = None,
    task_queue: str | None = None,
    rules: FulfilmentRules | None = None,
) -> FastAPI:
    """Build the app. Tests pass their own Temporal client and sessions; production passes none."""
    settings = settings or get_settings()
    # Read now: a broken rules file stops the API at start, with the file's problem named.
    rules = rules or load_rules(settings.rules_file)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = None
        app.state.settings = settings
        app.state.rules = rules
        if sessions is None:
            engine = make_engine(settings.database_url, keyring=keyring_from(settings))
            app.state.sessions = make_session_factory(engine)
        else:
            app.state.sessions = sessions
        app.state.revocations = Revocations(
            app.state.sessions, settings.revocations_refresh_seconds
        )
        temporal = client or await connect(settings)
        app.state.workflows = (
            OrderWorkflows(temporal, task_queue) if task_queue else OrderWorkflows(temporal)
        )
        yield
        if engine is not None:
            engine.dispose()

    app = FastAPI(
        title="orderflow",
        summary="Order management where every order is a durable Temporal workflow.",
        version="0.1.0",
        lifespan=lifespan,
        docs_url="/docs" if settings.docs_exposed else None,
        redoc_url="/redoc" if settings.docs_exposed else None,
        openapi_url="/openapi.json" if settings.docs_exposed else None,
    )
    install_error_handlers(app)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.state.intake_limiter = RateLimiter(settings.intake_rate_per_second, settings.intake_burst)
    # Every webhook received is kept a while for `orderflow webhooks list|replay`.
    app.add_middleware(WebhookRecorder)
    # Every route passes `authorize` first: its entry in api/access.py says who may call it.
    router = APIRouter(dependencies=[Depends(authorize)])
    modules = (
        orders,
        refunds,
        returns,
        addresses,
        compensations,
        reconciliation,
        customers,
        products,
        warehouse,
        shipments,
        alerts,
        exports,
        audit,
        oauth,
        codec,
        webhooks,
        carrier_webhooks,
        health,
    )
    for module in modules:
        router.include_router(module.router)
    app.include_router(router)
    app.state.access = declare(app)
    # Every call the access table says to audit leaves a row in the audit log.
    app.state.audit_keys = keys_by_route(app)
    app.add_middleware(AuditTrail)
    document(app)
    return app
