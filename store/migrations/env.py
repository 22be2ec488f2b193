"""Alembic environment: the URL comes from the caller's config or from orderflow's settings,
and so does the keyring the migrations seal personal data with."""

from __future__ import annotations

from alembic import context

from config.keyring import Keyring
from config.settings import get_settings, keyring_from
from store.db import make_engine
from store.models import Base

config = context.config
url = config.get_main_option("sqlalchemy.url") or get_settings().database_url
keyring = config.attributes.get("keyring")


def run_migrations() -> None:
    ring = keyring if isinstance(keyring, Keyring) else keyring_from(get_settings())
    engine = make_engine(url, keyring=ring)
    with engine.connect() as connection:
        if connection.dialect.name == "sqlite":
            # Batch mode rebuilds a table by dropping it, which SQLite refuses for a table
            # others refer to while it enforces foreign keys. Off for this connection only,
            # before any transaction (SQLite ignores the pragma inside one).
            connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
            connection.commit()
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations()
