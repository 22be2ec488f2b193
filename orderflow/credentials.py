"""Tokens for the project's own tools (demo, bench, load): minted from the settings' key and
recorded in the stack's database like any other, expiring soon after the run."""

from __future__ import annotations

from datetime import timedelta

from api.tokens import issue
from config.settings import Settings
from domain.access import Role
from store.db import make_engine, make_session_factory


def tool_headers(settings: Settings, tool: str, *, role: Role = Role.ADMIN) -> dict[str, str]:
    """``Authorization`` for a tool acting as an operator (it plays the carrier too)."""
    engine = make_engine(settings.database_url)
    try:
        issued = issue(
            make_session_factory(engine),
            settings,
            role=role,
            subject=tool,
            ttl=timedelta(hours=2),
            issued_by=tool,
        )
    finally:
        engine.dispose()
    return {"Authorization": f"Bearer {issued.token}"}
