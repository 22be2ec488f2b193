"""Every webhook the API receives goes into ``webhook_log``, refused ones included.

An ASGI middleware, so it holds the exact bytes the route verified and the status of every
answer, errors included; the routes only say when a signature checked out
(``signature_checked``). Recording never changes an answer: it starts once the answer has
been sent, runs on a few threads of its own (a slow database can't take the threads the
routes need), and a failure to record is logged and dropped.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

import anyio
from fastapi import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.webhook_sources import REPLAY_HEADER, WebhookSource, source_at
from integrations.signing import SignatureRefused, signed_at
from store.db import SessionFactory, transaction
from store.models import utcnow
from store.webhook_log import MAX_BODY_BYTES, ReceivedWebhook, WebhookLogRepository

log = logging.getLogger(__name__)

# Set on the request's state by the route; the middleware reads it once the answer is out.
SIGNATURE_OK = "webhook_signature_ok"
RECORDING_THREADS = 4
# Recordings queued behind a slow database beyond this are dropped, not held in memory.
MAX_WAITING = 200
# Kept of a body no signature vouches for, ever.
UNVOUCHED_BODY_BYTES = 1024


def signature_checked(request: Request) -> None:
    """A webhook route calls this once the request's signature has verified."""
    setattr(request.state, SIGNATURE_OK, True)


@dataclass
class Exchange:
    """One webhook request as it passes: the body (up to the cap) and the answer's status."""

    source: WebhookSource
    received_at: datetime
    headers: dict[str, str]
    body: bytearray = field(default_factory=bytearray)
    body_size: int = 0
    status: int | None = None

    def receiving(self, receive: Receive) -> Receive:
        async def tee() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                chunk: bytes = message.get("body", b"")
                self.body_size += len(chunk)
                self.body += chunk[: max(0, MAX_BODY_BYTES - len(self.body))]
            return message

        return tee

    def sending(self, send: Send) -> Send:
        async def watch(message: Message) -> None:
            if message["type"] == "http.response.start":
                self.status = int(message["status"])
            await send(message)

        return watch

    def received(self, *, signature_ok: bool) -> ReceivedWebhook:
        body = bytes(self.body)
        return ReceivedWebhook(
            source=self.source.name,
            # A cut body is no longer JSON: its event ID stays unknown.
            event_id=event_id_in(body, self.source.event_id_field)
            if self.body_size <= MAX_BODY_BYTES
            else None,
            received_at=self.received_at,
            signature=self.headers.get(self.source.signature_header.lower()),
            signature_ok=signature_ok,
            status=self.status or 500,
            body=body,
            body_size=self.body_size,
            replay_of=_replay_of(self.headers.get(REPLAY_HEADER.lower())),
        )


class WebhookRecorder:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._limiter: anyio.CapacityLimiter | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        source = source_at(scope["path"]) if _is_post(scope) else None
        if source is None:
            await self.app(scope, receive, send)
            return
        exchange = Exchange(
            source,
            received_at=utcnow(),
            headers={name.decode("latin-1"): v.decode("latin-1") for name, v in scope["headers"]},
        )
        # Shared by every copy of the scope the route's Request may be built on.
        state: dict[str, object] = scope.setdefault("state", {})
        try:
            await self.app(scope, exchange.receiving(receive), exchange.sending(send))
        except Exception:
            # The server answers 500 next; record that, then let the error go on its way.
            await self._record(scope, exchange, state)
            raise
        await self._record(scope, exchange, state)

    async def _record(self, scope: Scope, exchange: Exchange, state: dict[str, object]) -> None:
        app_state = getattr(scope.get("app"), "state", None)
        sessions: SessionFactory | None = getattr(app_state, "sessions", None)
        settings = getattr(app_state, "settings", None)
        if sessions is None or settings is None:
            return
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(RECORDING_THREADS)
        if self._limiter.statistics().tasks_waiting >= MAX_WAITING:
            log.warning(
                "webhook to %s not recorded: the log is falling behind", exchange.source.name
            )
            return
        await anyio.to_thread.run_sync(
            _record_quietly,
            sessions,
            exchange,
            state.get(SIGNATURE_OK) is True,
            exchange.source.secret(settings),
            timedelta(days=settings.webhook_log_days),
            limiter=self._limiter,
        )


def _record_quietly(
    sessions: SessionFactory, exchange: Exchange, signature_ok: bool, secret: str, keep: timedelta
) -> None:
    try:
        webhook = exchange.received(signature_ok=signature_ok)
        if not (signature_ok or _signed_some_time(webhook, secret)):
            # Nobody vouches for it (forged, or noise): a glimpse is enough to debug with,
            # and anyone posting megabytes anonymously fills nothing.
            webhook = replace(webhook, body=webhook.body[:UNVOUCHED_BODY_BYTES])
        with transaction(sessions) as session:
            WebhookLogRepository(session).record(webhook, keep=keep)
    except Exception as error:  # the answer has gone out; the log is only for debugging
        log.warning("webhook to %s not recorded: %s", exchange.source.name, error)


def _signed_some_time(webhook: ReceivedWebhook, secret: str) -> bool:
    """Signed with the secret, however long ago: a genuine event refused as too old, which is
    exactly what an operator replays."""
    if webhook.signature is None or len(webhook.body) != webhook.body_size:
        return False
    try:
        signed_at(webhook.body, webhook.signature, secret)
    except SignatureRefused:
        return False
    return True


def event_id_in(body: bytes, field_name: str) -> str | None:
    """The provider's event ID, read from a body nobody has vouched for yet: anything odd
    (not JSON, too deep, not an object, not a string) leaves it unknown."""
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):
        return None
    value = payload.get(field_name) if isinstance(payload, dict) else None
    return value if isinstance(value, str) and value else None


def _replay_of(header: str | None) -> int | None:
    # A row ID (the column is a 32-bit integer); any other value is ignored.
    if header is None or not (header.isascii() and header.isdigit()) or len(header) > 9:
        return None
    return int(header)


def _is_post(scope: Scope) -> bool:
    return bool(scope["type"] == "http" and scope["method"] == "POST")
