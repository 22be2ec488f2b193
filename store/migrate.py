"""Bring a database to the newest schema with Alembic (used by the CLI and the tests)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from config.keyring import Keyring

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(url: str, keyring: Keyring | None = None) -> Config:
    """``keyring`` seals what a migration encrypts; None: the one the settings configure."""
    config = Config(str(MIGRATIONS / "alembic.ini"))
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if keyring is not None:
        config.attributes["keyring"] = keyring
    return config


def upgrade(url: str, keyring: Keyring | None = None) -> None:
    command.upgrade(alembic_config(url, keyring), "head")
