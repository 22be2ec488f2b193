"""Dependencies the routes declare; the app's lifespan fills them, tests override them."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from api.rate_limit import RateLimiter
from api.temporal import OrderWorkflows
from config.settings import Settings
from domain.rules import FulfilmentRules
from store.db import SessionFactory


# app.state is untyped: each getter names the type that the app's lifespan stored there.
# They are async: FastAPI runs a plain `def` dependency on a worker thread, a thread hop per
# getter per request (5 % of the API's CPU), and these only read the app's state.
async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_sessions(request: Request) -> SessionFactory:
    sessions: SessionFactory = request.app.state.sessions
    return sessions


async def get_workflows(request: Request) -> OrderWorkflows:
    workflows: OrderWorkflows = request.app.state.workflows
    return workflows


async def get_rules(request: Request) -> FulfilmentRules:
    rules: FulfilmentRules = request.app.state.rules
    return rules


async def get_intake_limiter(request: Request) -> RateLimiter:
    limiter: RateLimiter = request.app.state.intake_limiter
    return limiter


SettingsDep = Annotated[Settings, Depends(get_settings)]
SessionsDep = Annotated[SessionFactory, Depends(get_sessions)]
WorkflowsDep = Annotated[OrderWorkflows, Depends(get_workflows)]
RulesDep = Annotated[FulfilmentRules, Depends(get_rules)]
IntakeLimiterDep = Annotated[RateLimiter, Depends(get_intake_limiter)]
