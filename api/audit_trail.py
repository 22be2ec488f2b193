"""The audit log's one hook: an ASGI middleware around every route.

Which calls it records comes from the route's entry in ``api/access.py`` (``audited``): every
call that changes something, refused ones included, and every read of a route marked
``personal_data``. One row per call, written once the answer's status is known, so a route
that raises is recorded too (as the 4xx or 500 it answered).

- A read of personal data is recorded before the answer leaves. If the row can't be written
  the data is not served: 503.
- A change is recorded as soon as its answer has left, so the caller does not wait for the
  row. Nothing is lost by that: the change committed before its answer began, so the row comes
  after it either way. If the row can't be written, the failure is logged.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from dataclasses import dataclass

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.access import READS, Access, Public, audited
from api.errors import error_body
from api.rate_limit import RateLimiter
from domain.access import Principal
from domain.errors import TooManyRequests
from store.audit_log import AuditLogRepository
from store.db import SessionFactory, transaction
from store.models import AuditEntry, utcnow

log = logging.getLogger(__name__)

REQUEST_ID_HEADER = "X-Request-ID"
# A caller's (or proxy's) request ID is kept if it looks like one; otherwise we make one.
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
ORDERS_PREFIX = "/orders/"


@dataclass(frozen=True)
class Call:
    """An audited call: its route (the action) and the route's access entry."""

    action: str
    access: Access
    request_id: str


@dataclass
class Answer:
    """What the route answered, as far as it got."""

    status: int | None = None
    location: str | None = None
    recorded: bool = False
    withheld: bool = False  # replaced by a 503: the read could not be recorded


# Refusals of callers without a token, recorded per client address: a steady trickle and a
# burst. Beyond that they are counted, not written: anyone can send them, and the rows stay
# 180 days.
ANONYMOUS_REFUSALS_PER_SECOND = 1.0
ANONYMOUS_REFUSALS_BURST = 60


class AuditTrail:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._anonymous = RateLimiter(ANONYMOUS_REFUSALS_PER_SECOND, ANONYMOUS_REFUSALS_BURST)
        self._unrecorded = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        scope.setdefault("state", {})  # shared with the routes: `authorize` names the caller
        answer = Answer()

        async def send_recorded(message: Message) -> None:
            if answer.withheld:
                return
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers[REQUEST_ID_HEADER] = request_id
                answer.status, answer.location = message["status"], headers.get("location")
                call = _call(scope, request_id)
                if call is not None and scope["method"] in READS:  # a read of personal data
                    answer.recorded = True
                    if not await _record(scope, call, answer):
                        answer.withheld = True
                        await _unavailable(send, request_id)
                        return
            await send(message)

        try:
            await self.app(scope, receive, send_recorded)
        except Exception:
            # Unhandled: the outer handler answers 500 once this has recorded it.
            if answer.status is None:
                answer.status = 500
            await self._record_at_end(scope, request_id, answer)
            raise
        await self._record_at_end(scope, request_id, answer)

    async def _record_at_end(self, scope: Scope, request_id: str, answer: Answer) -> None:
        call = None if answer.recorded or answer.status is None else _call(scope, request_id)
        if call is None:
            return
        if answer.status == 401 and not _flood_checked(scope, call, self._anonymous):
            self._unrecorded += 1
            if self._unrecorded % 1000 == 1:
                log.warning("audit log: %d refusals without a token left out", self._unrecorded)
            return
        await _record(scope, call, answer)


def _flood_checked(scope: Scope, call: Call, limiter: RateLimiter) -> bool:
    """True if this refusal of a caller without a token is within its address's share."""
    state: dict[str, object] = scope.get("state", {})
    if isinstance(call.access, Public) or state.get("token_principal"):
        return True
    client = scope.get("client")
    try:
        limiter.take(str(client[0]) if client else "unknown")
    except TooManyRequests:
        return False
    return True


def _call(scope: Scope, request_id: str) -> Call | None:
    """The call's route and access, if the audit log records it: a route was found (an
    unknown path or method changes nothing) and its access says so."""
    state = scope["app"].state
    route = scope.get("route")
    key: str | None = state.audit_keys.get((id(route), scope["method"]))
    if key is None:
        return None
    access: Access = state.access[id(route)]
    if not audited(access, scope["method"]):
        return None
    return Call(action=key, access=access, request_id=request_id)


async def _record(scope: Scope, call: Call, answer: Answer) -> bool:
    """Write the row; False if the database would not take it."""
    entry = _entry(scope, call, answer.status or 500, answer.location)
    sessions: SessionFactory = scope["app"].state.sessions
    try:
        await run_in_threadpool(_append, sessions, entry)
    except Exception:
        log.exception(
            "audit log: could not record %s %s (%s)", call.action, entry.outcome, entry.path
        )
        return False
    return True


def _append(sessions: SessionFactory, entry: AuditEntry) -> None:
    with transaction(sessions) as session:
        AuditLogRepository(session).append(entry)


def _entry(scope: Scope, call: Call, status: int, location: str | None) -> AuditEntry:
    params: dict[str, str] = scope.get("path_params", {})
    state: dict[str, object] = scope.get("state", {})
    principal = state.get("principal") or state.get("token_principal")
    if isinstance(principal, Principal):
        actor, role = principal.actor, principal.role.value
    elif isinstance(call.access, Public):
        actor, role = _caller(call.access, params), None
    else:
        actor, role = "anonymous", None
    order_id = params.get("order_id")
    if order_id is None and location and location.startswith(ORDERS_PREFIX):
        order_id = location.removeprefix(ORDERS_PREFIX)  # the order a POST created
    client = scope.get("client")
    return AuditEntry(
        at=utcnow(),
        actor=_text(actor, 200),
        role=role,
        action=call.action,
        path=_text(scope.get("path", ""), 500),
        order_id=_text(order_id, 100) if order_id else None,
        client_ip=_text(str(client[0]), 64) if client else None,
        outcome=status,
        request_id=call.request_id,
    )


def _caller(access: Public, params: dict[str, str]) -> str:
    try:
        return str(access.caller.format(**params))
    except (KeyError, IndexError, ValueError):
        return access.caller


def _text(value: str, limit: int) -> str:
    """What the caller sent, as a column can hold it: no NUL (PostgreSQL refuses them), no
    lone surrogates, no longer than the column."""
    clean = value.replace("\x00", "\ufffd").encode("utf-8", "replace").decode("utf-8")
    return clean[:limit]


def _request_id(scope: Scope) -> str:
    for name, value in scope.get("headers", []):
        if name == b"x-request-id":
            text: str = value.decode("latin-1")
            if _REQUEST_ID.match(text):
                return text
            break
    return uuid.uuid4().hex


async def _unavailable(send: Send, request_id: str) -> None:
    body = json.dumps(
        error_body(
            "service_unavailable",
            "the audit log can't be written now, and personal data is not served without it",
        )
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 503,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"retry-after", b"5"),
                (REQUEST_ID_HEADER.lower().encode(), request_id.encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
