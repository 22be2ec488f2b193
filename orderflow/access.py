"""``orderflow token`` and ``orderflow clients``: temporary accounts and API clients."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Annotated

import typer

from config.settings import get_settings
from domain.access import Role
from domain.ids import CHANNEL_PATTERN
from store.db import SessionFactory, make_engine, make_session_factory

tokens = typer.Typer(help="Temporary accounts: bearer tokens for people.", no_args_is_help=True)
clients = typer.Typer(help="API clients: storefronts with their own credentials.")

DURATION = re.compile(r"^(\d+)([mhd])$")
UNITS = {"m": "minutes", "h": "hours", "d": "days"}


def parse_ttl(text: str) -> timedelta:
    match = DURATION.match(text.strip())
    if not match or int(match[1]) == 0:
        raise typer.BadParameter("a duration such as 30m, 72h or 7d", param_hint="--ttl")
    return timedelta(**{UNITS[match[2]]: int(match[1])})


@contextmanager
def database() -> Iterator[SessionFactory]:
    engine = make_engine(get_settings().database_url)
    try:
        yield make_session_factory(engine)
    finally:
        engine.dispose()


@tokens.command("create")
def create_token(
    role: Annotated[Role, typer.Option(help="What the holder may do.")],
    subject: Annotated[
        str, typer.Option(help="Who holds it: a person's login, or the customer's ID.")
    ],
    ttl: Annotated[str | None, typer.Option(help="Lifetime: 30m, 72h, 7d (default 72h).")] = None,
    channel: Annotated[str | None, typer.Option(help="api_client only: its channel.")] = None,
) -> None:
    """Issue a token and print it. It expires after --ttl and can be revoked sooner."""
    from api.tokens import issue

    if (role is Role.API_CLIENT) != (channel is not None):
        raise typer.BadParameter("--channel goes with --role api_client, and only with it")
    if channel is not None and not re.match(CHANNEL_PATTERN, channel):
        raise typer.BadParameter("not a channel name", param_hint="--channel")
    if not 0 < len(subject) <= 64 or not subject.isprintable():
        raise typer.BadParameter("1 to 64 printable characters", param_hint="--subject")
    settings = get_settings()
    lifetime = parse_ttl(ttl) if ttl else timedelta(hours=settings.token_ttl_hours)
    with database() as sessions:
        issued = issue(
            sessions,
            settings,
            role=role,
            subject=subject,
            ttl=lifetime,
            channel=channel,
            issued_by="cli",
        )
    typer.echo(
        f"token id: {issued.token_id} (expires {issued.expires_at:%Y-%m-%d %H:%M} UTC)", err=True
    )
    typer.echo(issued.token)


@tokens.command("revoke")
def revoke_token(
    token_id: Annotated[str | None, typer.Argument(help="The token's ID.")] = None,
    subject: Annotated[str | None, typer.Option(help="Revoke every token of this holder.")] = None,
) -> None:
    """Revoke one token, or all of one holder's. Takes effect within the API's refresh time."""
    from store.access import AccessRepository
    from store.db import transaction
    from store.models import utcnow

    if (token_id is None) == (subject is None):
        raise typer.BadParameter("give a token ID or --subject, not both")
    with database() as sessions, transaction(sessions) as session:
        repository = AccessRepository(session)
        if token_id is not None:
            if not repository.revoke_token(token_id, at=utcnow()):
                typer.echo(f"no token {token_id}", err=True)
                raise typer.Exit(1)
            typer.echo(f"revoked {token_id}")
        else:
            assert subject is not None
            typer.echo(f"revoked {repository.revoke_subject(subject, at=utcnow())} token(s)")


@tokens.command("list")
def list_tokens(
    all_: Annotated[bool, typer.Option("--all", help="Expired and revoked ones too.")] = False,
) -> None:
    """The tokens issued (their IDs; a token itself is never kept)."""
    from store.access import AccessRepository, live
    from store.db import transaction
    from store.models import utcnow

    now = utcnow()
    with database() as sessions, transaction(sessions) as session:
        for token in AccessRepository(session).tokens(include_expired=all_, now=now):
            state = "live" if live(token, now) else "revoked" if token.revoked_at else "expired"
            scope = f" channel={token.channel}" if token.channel else ""
            typer.echo(
                f"{token.id}  {token.role:<10} {token.subject:<24}{scope} "
                f"expires {token.expires_at:%Y-%m-%d %H:%M}  {state}"
            )


@clients.command("create")
def create_client(
    channel: Annotated[str, typer.Option(help="The sales channel it places orders on.")],
    name: Annotated[str, typer.Option(help="Who it is, for people reading the list.")],
) -> None:
    """Create an API client; its secret is printed once and never shown again."""
    from api.tokens import create_client as create

    if not re.match(CHANNEL_PATTERN, channel):
        raise typer.BadParameter("not a channel name", param_hint="--channel")
    with database() as sessions:
        credentials = create(sessions, name=name, channel=channel)
    typer.echo(f"client_id={credentials.client_id}")
    typer.echo(f"client_secret={credentials.client_secret}")


@clients.command("revoke")
def revoke_client(client_id: Annotated[str, typer.Argument(help="The client's ID.")]) -> None:
    """Revoke a client: its secret and every token it holds stop working."""
    from store.access import AccessRepository
    from store.db import transaction
    from store.models import utcnow

    with database() as sessions, transaction(sessions) as session:
        if not AccessRepository(session).revoke_client(client_id, at=utcnow()):
            typer.echo(f"no client {client_id}", err=True)
            raise typer.Exit(1)
    typer.echo(f"revoked {client_id}")


@clients.command("list")
def list_clients() -> None:
    """Every API client: its ID, channel and whether it is revoked."""
    from store.access import AccessRepository
    from store.db import transaction

    with database() as sessions, transaction(sessions) as session:
        for client in AccessRepository(session).clients():
            state = "revoked" if client.revoked_at else "live"
            typer.echo(f"{client.id}  {client.channel:<12} {client.name:<30} {state}")
