"""Sending a recorded webhook again, re-signed with today's secret, and showing the exchange.

The provider's own signature is minutes or days old by now and the API refuses anything
outside ±5 minutes, so the replay carries a fresh one. Whether the original would still
verify (age aside) is the first thing to know when an integration misbehaves: it tells a
wrong secret or an altered body from a late delivery.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

import httpx
from rich.console import Console

from api.webhook_sources import REPLAY_HEADER, WebhookSource, source_named
from config.settings import Settings
from integrations.signing import SignatureRefused, sign, signed_at
from store.models import WebhookLog

BODY_CHARS = 4000
TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class Replay:
    """What a replay sends: the recorded bytes, freshly signed, to ``url``."""

    row: WebhookLog
    source: WebhookSource
    url: str
    headers: dict[str, str]

    @property
    def body(self) -> bytes:
        return self.row.body

    @property
    def complete(self) -> bool:
        """False when the body was too big to keep whole: sending a part would prove nothing."""
        return len(self.row.body) == self.row.body_size


def prepare(row: WebhookLog, settings: Settings, target: str | None) -> Replay:
    source = source_named(row.source)
    headers = {
        "Content-Type": "application/json",
        source.signature_header: sign(row.body, source.secret(settings)),
        REPLAY_HEADER: str(row.id),
        "User-Agent": "orderflow-webhook-replay",
    }
    url = target or f"{settings.public_api_url}{source.path}"
    return Replay(row=row, source=source, url=url, headers=headers)


@dataclass(frozen=True)
class Verdict:
    """What the recorded signature says of the recorded body, against today's secret."""

    vouches: bool  # it signs this very body; only its age may be against it
    text: str


def original_signature(body: bytes, header: str | None, secret: str, *, now: datetime) -> Verdict:
    """Does the recorded ``t=…,v1=…`` header sign ``body`` with ``secret``? Its age is told,
    not held against it."""
    if not header:
        return Verdict(False, "no signature was recorded")
    try:
        at = signed_at(body, header, secret)
    except SignatureRefused as error:
        return Verdict(False, f"does not match the secret ({error})")
    return Verdict(True, f"valid signature, {_age(now.timestamp() - at)}")


def _age(seconds: float) -> str:
    if seconds < 0:
        return f"dated {_span(-seconds)} in the future"
    return f"{_span(seconds)} old"


def _span(seconds: float) -> str:
    if seconds < 3600:
        minutes = int(seconds // 60)
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    hours = int(seconds // 3600)
    return f"{hours} hour{'s' if hours != 1 else ''}"


def pretty_body(body: bytes, limit: int = BODY_CHARS) -> str:
    """Indented JSON when it is JSON, the text as it is otherwise; cut after ``limit``."""
    try:
        text = json.dumps(json.loads(body), indent=2, ensure_ascii=False)
    except (ValueError, RecursionError):
        text = body.decode("utf-8", "replace")
    if len(text) > limit:
        return f"{text[:limit]}\n… {len(text) - limit} more characters"
    return text


def show_recorded(console: Console, row: WebhookLog, verdict: Verdict) -> None:
    replay = f" · replay of #{row.replay_of}" if row.replay_of else ""
    checked = "checked out" if row.signature_ok else "did not check out"
    console.print(f"webhook #{row.id} · {row.source} · event {row.event_id}{replay}")
    console.print(
        f"received {row.received_at:%Y-%m-%d %H:%M:%S} UTC · answered {row.status} · "
        f"its signature {checked} on arrival"
    )
    console.print(f"original signature against today's secret: {verdict.text}")
    if len(row.body) < row.body_size:
        console.print(f"the body was cut at {len(row.body)} of {row.body_size} bytes when recorded")


def show_request(console: Console, request: httpx.Request) -> None:
    """The request as it goes on the wire, the client's own headers included."""
    console.rule("request")
    console.print(f"{request.method} {request.url} HTTP/1.1")
    show_headers(console, request.headers)
    console.print()
    console.print(pretty_body(request.content), highlight=True)


def show_response(console: Console, response: httpx.Response) -> None:
    console.rule("response")
    elapsed = int(response.elapsed.total_seconds() * 1000)
    console.print(f"HTTP {response.status_code} {response.reason_phrase} · {elapsed} ms")
    show_headers(console, response.headers)
    console.print()
    console.print(pretty_body(response.content), highlight=True)


def show_headers(console: Console, headers: httpx.Headers) -> None:
    # Raw: names as spelled on the wire, repeated headers each on their own line.
    for name, value in headers.raw:
        console.print(f"{name.decode('latin-1')}: {value.decode('latin-1')}")


def client() -> httpx.Client:
    return httpx.Client(timeout=TIMEOUT_SECONDS)


def build_request(http: httpx.Client, replay: Replay) -> httpx.Request:
    return http.build_request("POST", replay.url, content=replay.body, headers=replay.headers)
