"""``orderflow token`` and ``orderflow clients``, as an operator types them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import jwt
import pytest
from typer.testing import CliRunner

from api.tokens import client_token, read
from config.settings import Settings, get_settings
from domain.access import Role
from domain.errors import InvalidClient
from orderflow.access import parse_ttl
from orderflow.cli import app
from store.access import AccessRepository
from store.db import SessionFactory, transaction
from store.models import utcnow

runner = CliRunner()


@pytest.fixture
def cli_settings(
    monkeypatch: pytest.MonkeyPatch, database_url: str, sessions: SessionFactory
) -> Iterator[Settings]:
    monkeypatch.setenv("ORDERFLOW_DATABASE_URL", database_url)
    get_settings.cache_clear()
    yield get_settings()
    get_settings.cache_clear()


def test_a_temporary_account_lasts_72_hours_unless_told_and_can_be_revoked(
    cli_settings: Settings, sessions: SessionFactory
) -> None:
    created = runner.invoke(app, ["token", "create", "--role", "support", "--subject", "ana"])
    assert created.exit_code == 0, created.output
    token = created.stdout.strip().splitlines()[-1]
    principal = read(token, cli_settings)
    assert (principal.role, principal.subject) == (Role.SUPPORT, "ana")
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 72 * 3600

    listed = runner.invoke(app, ["token", "list"])
    assert principal.token_id in listed.stdout and "live" in listed.stdout

    revoked = runner.invoke(app, ["token", "revoke", principal.token_id])
    assert revoked.exit_code == 0, revoked.output
    with transaction(sessions) as session:
        assert principal.token_id in AccessRepository(session).revoked(now=utcnow()).token_ids
    assert runner.invoke(app, ["token", "revoke", "nope"]).exit_code == 1


def test_token_options_are_checked(cli_settings: Settings) -> None:
    short = runner.invoke(
        app, ["token", "create", "--role", "customer", "--subject", "c-42", "--ttl", "30m"]
    )
    claims = jwt.decode(short.stdout.strip().splitlines()[-1], options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 30 * 60
    for wrong in (
        ["--role", "api_client", "--subject", "shop"],  # an API client needs its channel
        ["--role", "support", "--subject", "ana", "--channel", "web"],
        ["--role", "support", "--subject", "ana", "--ttl", "forever"],
        ["--role", "root", "--subject", "ana"],
    ):
        result = runner.invoke(app, ["token", "create", *wrong])
        assert result.exit_code == 2, (wrong, result.output)


def test_parse_ttl() -> None:
    assert parse_ttl("72h") == timedelta(hours=72)
    assert parse_ttl("7d") == timedelta(days=7)


def test_a_client_created_by_the_cli_gets_tokens_until_revoked(
    cli_settings: Settings, sessions: SessionFactory
) -> None:
    created = runner.invoke(app, ["clients", "create", "--channel", "web", "--name", "Web shop"])
    assert created.exit_code == 0, created.output
    fields = dict(line.split("=", 1) for line in created.stdout.strip().splitlines())
    issued = client_token(
        sessions,
        cli_settings,
        client_id=fields["client_id"],
        client_secret=fields["client_secret"],
    )
    principal = read(issued.token, cli_settings)
    assert (principal.role, principal.channel) == (Role.API_CLIENT, "web")

    assert runner.invoke(app, ["clients", "revoke", fields["client_id"]]).exit_code == 0
    assert "revoked" in runner.invoke(app, ["clients", "list"]).stdout
    with pytest.raises(InvalidClient):
        client_token(
            sessions,
            cli_settings,
            client_id=fields["client_id"],
            client_secret=fields["client_secret"],
        )
