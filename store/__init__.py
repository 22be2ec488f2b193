"""Persistence: SQLAlchemy models, engine/session factories, repositories, migrations."""
