"""What operators and load balancers poll: health and Prometheus metrics."""

from __future__ import annotations

from tests.api.support import WEBHOOKS, webhook_count
from tests.conftest import Stack


async def test_healthz_reports_database_and_temporal_ok(stack: Stack) -> None:
    response = await stack.api.get("/healthz")
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "ok", "database": "ok", "temporal": "ok"}


async def test_metrics_are_prometheus_text_and_count_webhooks(stack: Stack) -> None:
    before = await stack.api.get("/metrics")
    assert before.status_code == 200
    assert before.headers["content-type"].startswith("text/plain")
    assert WEBHOOKS in before.text
    assert f"# TYPE {WEBHOOKS} counter" in before.text

    refused = await stack.api.post("/webhooks/payments/stripe", content=b"{}")
    assert refused.json()["error"]["code"] == "bad_signature"

    after = await stack.api.get("/metrics")
    assert (
        webhook_count(after.text, "bad_signature")
        == webhook_count(before.text, "bad_signature") + 1
    )
