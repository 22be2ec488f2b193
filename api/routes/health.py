"""Liveness and metrics for operators and load balancers."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, HTTPException, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel
from sqlalchemy import text
from starlette.concurrency import run_in_threadpool
from temporalio.client import Client

from api.deps import SessionsDep, SettingsDep, WorkflowsDep
from store.db import SessionFactory

router = APIRouter(tags=["operations"])

Check = Literal["ok", "down"]


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    database: Check
    temporal: Check


@router.get(
    "/healthz",
    response_model=Health,
    responses={503: {"model": Health, "description": "The database or Temporal is down"}},
)
async def healthz(*, sessions: SessionsDep, workflows: WorkflowsDep) -> JSONResponse:
    checks = {
        "database": await run_in_threadpool(_database_ok, sessions),
        "temporal": await _temporal_ok(workflows.client),
    }
    healthy = all(checks.values())
    return JSONResponse(
        {
            "status": "ok" if healthy else "degraded",
            **{k: "ok" if v else "down" for k, v in checks.items()},
        },
        status_code=200 if healthy else 503,
    )


@router.get("/metrics", response_class=PlainTextResponse)
async def metrics(*, settings: SettingsDep) -> Response:
    """Prometheus metrics; off in production unless ORDERFLOW_EXPOSE_METRICS says otherwise."""
    if not settings.metrics_exposed:
        raise HTTPException(status_code=404, detail="metrics are not exposed here")
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


def _database_ok(sessions: SessionFactory) -> bool:
    try:
        with sessions() as session:
            session.execute(text("SELECT 1"))
    except Exception:  # noqa: BLE001 - any failure is "down"
        return False
    return True


async def _temporal_ok(client: Client) -> bool:
    try:
        return await client.service_client.check_health()
    except Exception:  # noqa: BLE001
        return False
