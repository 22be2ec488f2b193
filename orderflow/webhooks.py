"""``orderflow webhooks``: the webhooks the API received, and replaying one to debug with."""

from __future__ import annotations

from typing import Annotated

import httpx
import typer
from rich.console import Console
from rich.table import Table

from api.webhook_sources import SourceKind
from config.settings import get_settings
from orderflow.access import database
from orderflow.webhook_replay import (
    build_request,
    client,
    original_signature,
    prepare,
    show_recorded,
    show_request,
    show_response,
)
from store.db import transaction
from store.models import WebhookLog, utcnow
from store.webhook_log import WebhookLogRepository

webhooks = typer.Typer(
    help="Received webhooks (kept ORDERFLOW_WEBHOOK_LOG_DAYS days): list them, replay one.",
    no_args_is_help=True,
)

UNKNOWN_EVENT = 2
SourceOption = Annotated[
    SourceKind | None, typer.Option("--source", help="Only webhooks from this source.")
]


def _console(*, stderr: bool = False) -> Console:
    # Bodies and headers are the provider's text: no rich markup or emoji codes read into
    # them. soft_wrap: a signature or URL stays on one line, whatever the terminal's width.
    return Console(stderr=stderr, markup=False, emoji=False, highlight=False, soft_wrap=True)


@webhooks.command("list")
def list_webhooks(
    source: SourceOption = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="How many, newest first.")] = 20,
) -> None:
    """The latest webhooks received: source, event ID, signature check and the API's answer."""
    with database() as sessions, transaction(sessions) as session:
        rows = WebhookLogRepository(session).latest(source=source, limit=limit)
    table = Table("#", "source", "event ID", "received (UTC)", "signature", "status", "replay of")
    for row in rows:
        table.add_row(
            str(row.id),
            row.source,
            row.event_id or "-",
            f"{row.received_at:%Y-%m-%d %H:%M:%S}",
            "ok" if row.signature_ok else "not ok",
            str(row.status),
            f"#{row.replay_of}" if row.replay_of else "",
        )
    _console().print(table if rows else "no webhooks recorded")


@webhooks.command()
def replay(
    event_id: Annotated[str, typer.Argument(help="The provider's event ID (Stripe evt_…).")],
    target: Annotated[
        str | None,
        typer.Option(help="Where to send it; default: this API's route for its source."),
    ] = None,
    source: SourceOption = None,
    dry_run: Annotated[bool, typer.Option(help="Show what would be sent; send nothing.")] = False,
    force: Annotated[
        bool,
        typer.Option(
            help="Send even a body whose recorded signature does not match today's secret."
        ),
    ] = False,
) -> None:
    """Send a recorded webhook again, signed afresh with today's secret, and show the whole
    exchange. Exit 0 on a 2xx answer, 1 otherwise, 2 when no such event was recorded."""
    if target is not None and not _is_http_url(target):
        raise typer.BadParameter("an http:// or https:// URL", param_hint="--target")
    settings = get_settings()
    with database() as sessions, transaction(sessions) as session:
        log = WebhookLogRepository(session)
        row = log.for_replay(event_id, source=source)
        latest = [] if row else log.latest(source=source, limit=5)
    if row is None:
        _unknown(event_id, source, latest)
        raise typer.Exit(UNKNOWN_EVENT)

    console = _console()
    ready = prepare(row, settings, target)
    verdict = original_signature(
        row.body, row.signature, ready.source.secret(settings), now=utcnow()
    )
    show_recorded(console, row, verdict)
    with client() as http:
        request = build_request(http, ready)
        show_request(console, request)
        if not ready.complete:
            console.print("not sent: only part of the body was recorded")
            raise typer.Exit(1)
        if not verdict.vouches and not force:
            # Re-signing would vouch for a body the provider never signed: forged, or altered.
            console.print(
                "not sent: the recorded signature does not vouch for this body "
                "(--force sends it anyway)"
            )
            raise typer.Exit(1)
        if dry_run:
            console.print("dry run: nothing sent")
            return
        try:
            response = http.send(request)
        except httpx.HTTPError as error:
            console.rule("response")
            console.print(f"no answer from {ready.url}: {error!r}")
            raise typer.Exit(1) from None
    show_response(console, response)
    raise typer.Exit(0 if response.is_success else 1)


def _unknown(event_id: str, source: SourceKind | None, latest: list[WebhookLog]) -> None:
    console = _console(stderr=True)
    where = f" from {source}" if source else ""
    console.print(f"no webhook with event ID {event_id!r}{where} is recorded")
    if not latest:
        console.print("no webhooks recorded at all (they are kept for a limited time)")
        return
    console.print("the latest recorded:")
    for row in latest:
        console.print(
            f"  {row.event_id or '(no event ID)'}  {row.source}  "
            f"{row.received_at:%Y-%m-%d %H:%M:%S} UTC  answered {row.status}"
        )


def _is_http_url(text: str) -> bool:
    try:
        url = httpx.URL(text)
    except httpx.InvalidURL:
        return False
    return url.scheme in ("http", "https") and bool(url.host)
