"""Statement pulls in the database: where a pull is, and the lines it stored."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from domain.statements import StatementLine
from store.inserts import insert_once
from store.models import StatementLineRow, StatementPull, utcnow

# Lines of the same second may be listed in any order: each pull reads this far back past
# the newest line the last one saw, and the overlap is stored once (unique line IDs).
OVERLAP = timedelta(minutes=5)


class StatementRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def current_pull(self, provider: str, *, since_last: bool = True) -> StatementPull:
        """The pull a crash cut short, to go on with; else a new one, which stops where the
        last finished pull began (``since_last``; a file's reads every line)."""
        unfinished = self.session.scalar(
            select(StatementPull)
            .where(StatementPull.provider == provider, StatementPull.finished_at.is_(None))
            .order_by(StatementPull.id)
            .limit(1)
        )
        if unfinished is not None:
            return unfinished
        last = self.session.scalar(
            select(StatementPull)
            .where(StatementPull.provider == provider, StatementPull.finished_at.is_not(None))
            .order_by(StatementPull.id.desc())
            .limit(1)
        )
        seen = (last.newest_at or last.stop_before) if last and since_last else None
        pull = StatementPull(
            provider=provider,
            started_at=utcnow(),
            stop_before=seen - OVERLAP if seen else None,
            lines=0,
        )
        self.session.add(pull)
        self.session.flush()
        return pull

    def store(self, pull_id: int, provider: str, lines: list[StatementLine]) -> int:
        """The page's lines, each once; and the pull's cursor after them. Returns how many
        were new."""
        new = 0
        for line in lines:
            new += insert_once(
                self.session,
                StatementLineRow,
                {
                    "provider": provider,
                    "line_id": line.id,
                    "type": line.type,
                    "amount": line.amount,
                    "fee": line.fee,
                    "currency": line.currency,
                    "source_id": line.source_id,
                    "payment_id": line.payment_id,
                    "created": line.created,
                    "pull_id": pull_id,
                },
            )
        pull = self.session.get(StatementPull, pull_id)
        assert pull is not None
        if lines:
            newest = max(line.created for line in lines)
            pull.newest_at = max(pull.newest_at or newest, newest)
        pull.lines += new
        return new

    def move_cursor(self, pull_id: int, cursor: str) -> None:
        pull = self.session.get(StatementPull, pull_id)
        assert pull is not None
        pull.cursor = cursor

    def finish(self, pull_id: int) -> StatementPull:
        pull = self.session.get(StatementPull, pull_id)
        assert pull is not None
        pull.finished_at = utcnow()
        return pull

    def lines(self, provider: str) -> list[StatementLineRow]:
        return list(
            self.session.scalars(
                select(StatementLineRow)
                .where(StatementLineRow.provider == provider)
                .order_by(StatementLineRow.id)
            )
        )
