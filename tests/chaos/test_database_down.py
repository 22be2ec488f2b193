"""The API while its database is unreachable: 503 and Retry-After, so clients wait and retry."""

from __future__ import annotations

from datetime import timedelta
from typing import cast

import httpx
import pytest
from temporalio.client import Client

from api.main import create_app
from api.tokens import sign
from config.settings import Settings
from domain.access import Role
from orderflow.stack import free_port
from store.db import make_engine, make_session_factory
from tests.helpers import order_body

pytestmark = pytest.mark.chaos


async def test_the_api_answers_503_while_the_database_is_unreachable() -> None:
    # Nothing listens there: every connection is refused, as during a database restart.
    url = f"postgresql+psycopg2://orderflow@127.0.0.1:{free_port()}/orderflow"
    engine = make_engine(url)
    # No request below gets as far as Temporal.
    settings = Settings(environment="test", database_url=url)
    admin = sign(settings, role=Role.ADMIN, subject="test-admin", ttl=timedelta(minutes=5))
    app = create_app(
        settings,
        client=cast(Client, object()),
        sessions=make_session_factory(engine),
    )
    requests = [
        ("POST", "/orders", order_body()),
        ("GET", "/orders/web-A-1", None),
        ("GET", "/orders", None),
        ("POST", "/orders/web-A-1/carrier-events", {"kind": "shipped"}),
    ]
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://orderflow") as api,
    ):
        for method, path, body in requests:
            response = await api.request(
                method,
                path,
                json=body,
                headers={"Idempotency-Key": "down-1", "Authorization": f"Bearer {admin.token}"},
            )
            assert response.status_code == 503, (method, path, response.text)
            assert response.json()["error"]["code"] == "service_unavailable"
            assert response.headers["Retry-After"]
    engine.dispose()
