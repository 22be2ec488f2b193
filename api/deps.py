"""Dependencies the routes declare; the app's lifespan fills them, tests override them."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from api.temporal import OrderWorkflows
from config.settings import Settings
from domain.rules import FulfilmentRules
from store.db import SessionFactory


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_sessions(request: Request) -> SessionFactory:
    return request.app.state.sessions


def get_workflows(request: Request) -> OrderWorkflows:
    return request.app.state.workflows


def get_rules(request: Request) -> FulfilmentRules:
    return request.app.state.rules


SettingsDep = Annotated[Settings, Depends(get_settings)]
SessionsDep = Annotated[SessionFactory, Depends(get_sessions)]
WorkflowsDep = Annotated[OrderWorkflows, Depends(get_workflows)]
RulesDep = Annotated[FulfilmentRules, Depends(get_rules)]
