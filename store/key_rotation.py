"""Reseal with the current key every stored value sealed with another (``orderflow keys rotate``).

Found in SQL by the key ID each value carries, a batch at a time, each batch its own
transaction: stopped anywhere, a second run carries on where the first stopped, and a run with
nothing left to do changes nothing. The API and workers keep running meanwhile: a row they
rewrote since the batch read it (under the current key, then) is left as they wrote it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import (
    ColumnElement,
    Engine,
    MetaData,
    TableClause,
    Text,
    column,
    func,
    or_,
    select,
    table,
    update,
)

from config.keyring import Keyring
from store.encryption import FORMAT, EncryptedJSON, EncryptedText, read_stored, seal_text
from store.models import Base

Progress = Callable[[str, int], None]  # table, rows done in the last batch


@dataclass(frozen=True)
class SealedTable:
    """A table with sealed columns, seen as plain text (no column type opens anything)."""

    name: str
    key: str  # its one-column primary key
    aads: dict[str, bytes]  # each sealed column and what its values are bound to
    raw: TableClause

    def stale(self, keyring: Keyring) -> ColumnElement[bool]:
        """A value not sealed with the current key (or, from before encryption, in clear)."""
        prefix = f"{FORMAT}:{keyring.current}:"
        return or_(*(func.substr(self.raw.c[name], 1, len(prefix)) != prefix for name in self.aads))


@dataclass
class RotationReport:
    resealed: dict[str, int] = field(default_factory=dict)  # rows, by table
    changed_meanwhile: int = 0  # rows the application rewrote first


def sealed_tables(metadata: MetaData = Base.metadata) -> list[SealedTable]:
    found = []
    for each in metadata.sorted_tables:
        aads = {
            c.name: c.type.aad.encode()
            for c in each.columns
            if isinstance(c.type, EncryptedText | EncryptedJSON)
        }
        if not aads:
            continue
        (key,) = each.primary_key.columns
        raw = table(each.name, column(key.name, key.type), *(column(name, Text()) for name in aads))
        found.append(SealedTable(each.name, key.name, aads, raw))
    return found


def count_stale(engine: Engine, keyring: Keyring) -> dict[str, int]:
    """Rows with a value to reseal, by table."""
    with engine.connect() as connection:
        return {
            sealed.name: connection.scalar(
                select(func.count()).select_from(sealed.raw).where(sealed.stale(keyring))
            )
            or 0
            for sealed in sealed_tables()
        }


def rotate(
    engine: Engine, keyring: Keyring, *, batch: int = 500, progress: Progress | None = None
) -> RotationReport:
    report = RotationReport()
    for sealed in sealed_tables():
        report.resealed[sealed.name] = 0
        last: object = None
        while True:
            with engine.begin() as connection:
                key = sealed.raw.c[sealed.key]
                query = select(sealed.raw).where(sealed.stale(keyring)).order_by(key).limit(batch)
                if last is not None:
                    # Past the rows done: one that a process still sealing with the old key
                    # rewrote meanwhile is left for the next run, not read again forever.
                    query = query.where(key > last)
                rows = connection.execute(query).mappings().all()
                for row in rows:
                    changes = {
                        name: _resealed(keyring, row[name], aad)
                        for name, aad in sealed.aads.items()
                        if row[name] is not None
                    }
                    unchanged = [sealed.raw.c[name] == row[name] for name in changes]
                    result = connection.execute(
                        update(sealed.raw).where(key == row[sealed.key], *unchanged).values(changes)
                    )
                    report.resealed[sealed.name] += result.rowcount
                    report.changed_meanwhile += 1 - result.rowcount
            if not rows:
                break
            last = rows[-1][sealed.key]
            if progress is not None:
                progress(sealed.name, len(rows))
    return report


def _resealed(keyring: Keyring, stored: str, aad: bytes) -> str:
    return seal_text(keyring, read_stored(keyring, stored, aad), aad)
