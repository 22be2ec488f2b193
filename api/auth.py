"""Authentication and authorisation for every route, in one dependency.

``authorize`` runs before each route: it finds the route's entry in ``api/access.py``, reads
the bearer token, and answers 401 (no token, or one that is not valid) or 403 (a valid token
whose role is not listed) before the route sees the request.
"""

from __future__ import annotations

import logging
import time
from typing import Annotated

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from api.access import Access, OrLocalUi, Public
from api.tokens import read
from config.settings import Settings
from domain.access import Principal, Role
from domain.errors import Forbidden, Unauthenticated
from store.access import AccessRepository, Revoked
from store.db import OUTAGE_ERRORS, SessionFactory, database_unavailable, transaction
from store.models import utcnow

log = logging.getLogger(__name__)


class Revocations:
    """The revoked tokens and clients, re-read at most every ``refresh_seconds``: a
    revocation takes effect within that time, and requests cost no extra query."""

    def __init__(self, sessions: SessionFactory, refresh_seconds: float) -> None:
        self.sessions = sessions
        self.refresh_seconds = refresh_seconds
        self._revoked = Revoked(frozenset(), frozenset())
        self._read_at = float("-inf")

    async def current(self) -> Revoked:
        if time.monotonic() - self._read_at >= self.refresh_seconds:
            read_at = time.monotonic()
            try:
                self._revoked = await run_in_threadpool(self._read)
            except OUTAGE_ERRORS as error:
                # A database away for a moment: the list read last still holds. Never read
                # at all: nobody's token can be trusted yet (the caller gets a 503).
                if not database_unavailable(error) or self._read_at == float("-inf"):
                    raise
                log.warning("revocations not refreshed: database unavailable")
                return self._revoked
            self._read_at = read_at
        return self._revoked

    def _read(self) -> Revoked:
        with transaction(self.sessions) as session:
            return AccessRepository(session).revoked(now=utcnow())


def bearer_token(request: Request) -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


async def authorize(request: Request) -> None:
    declared: dict[int, Access] = request.app.state.access
    access = declared.get(id(request.scope.get("route")))
    if access is None:  # `declare` refused to start the app without one; never here
        raise Forbidden("no access is declared for this route")
    if isinstance(access, Public):
        return
    token = bearer_token(request)
    settings: Settings = request.app.state.settings
    if token is None and isinstance(access, OrLocalUi) and _local_ui(request, settings):
        request.state.principal = LOCAL_UI
        return
    if token is None:
        raise Unauthenticated("this route needs a bearer token (Authorization: Bearer ...)")
    principal = read(token, settings)
    # Whom a genuine token names, before the checks below: the audit log names them when
    # they are refused too.
    request.state.token_principal = principal
    revocations: Revocations = request.app.state.revocations
    revoked = await revocations.current()
    if principal.token_id in revoked.token_ids or principal.subject in revoked.subjects:
        raise Unauthenticated("the token has been revoked")
    if principal.role not in access:
        allowed = ", ".join(sorted(role.value for role in access))
        raise Forbidden(f"role {principal.role.value} may not do this; allowed: {allowed}")
    request.state.principal = principal


# The development stack's Temporal UI, reading payloads through the codec server.
LOCAL_UI = Principal(subject="local-temporal-ui", role=Role.SUPPORT, token_id="local-ui")
LOOPBACK = frozenset({"127.0.0.1", "::1"})


def _local_ui(request: Request, settings: Settings) -> bool:
    if not settings.codec_trusts_local_ui or request.client is None:
        return False
    origin = request.headers.get("Origin", "")
    return request.client.host in LOOPBACK and origin == settings.temporal_ui_url.rstrip("/")


async def current_principal(request: Request) -> Principal:
    # async: only reads the request; a plain `def` dependency would run on a worker thread.
    principal: Principal | None = getattr(request.state, "principal", None)
    if principal is None:  # a public route asked for a caller it never checked
        raise Unauthenticated("this route needs a bearer token")
    return principal


PrincipalDep = Annotated[Principal, Depends(current_principal)]
