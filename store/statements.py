"""Statement pulls in the database: where a pull is, and the lines it stored."""

from __future__ import annotations

from collections.abc import Collection
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from domain.reconciliation import STATEMENT_MOVEMENTS, digest
from domain.statements import StatementLine
from store.inserts import insert_once
from store.models import Payment, StatementLineRow, StatementPull, utcnow

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
        traces = self.traces({line.payment_id for line in lines if line.payment_id})
        for line in lines:
            trace = traces.get(line.payment_id or "")
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
                    "trace_id": trace,
                    "fingerprint": line_fingerprint(line, trace),
                },
            )
        # Counted in the database: an attempt the server gave up on may still be storing
        # beside its retry, and neither may lose the other's count.
        pull = self.session.get(StatementPull, pull_id, with_for_update=True)
        assert pull is not None
        if lines:
            newest = max(line.created for line in lines)
            pull.newest_at = max(pull.newest_at or newest, newest)
        pull.lines = StatementPull.lines + new
        return new

    def traces(self, payment_ids: Collection[str]) -> dict[str, str]:
        """Our trace ID of each of these payments that is ours."""
        if not payment_ids:
            return {}
        rows = self.session.execute(
            select(Payment.provider_payment_id, Payment.trace_id).where(
                Payment.provider_payment_id.in_(list(payment_ids))
            )
        )
        return {payment_id: trace for payment_id, trace in rows if trace}

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


def line_fingerprint(line: StatementLine, trace_id: str | None) -> bytes | None:
    return movement_fingerprint(line.type, line.amount, line.currency, trace_id)


def movement_fingerprint(
    kind: str, amount: int, currency: str, trace_id: str | None
) -> bytes | None:
    """A charge's or refund's fingerprint (amounts are signed on a statement); None for the
    lines reconciliation does not match (fees, payouts...)."""
    movement = STATEMENT_MOVEMENTS.get(kind)
    if movement is None:
        return None
    return digest(trace_id, movement, abs(amount), currency)
