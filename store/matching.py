"""The three-way match in SQL. Every movement carries its fingerprint from the moment it is
written (a statement line when pulled, a payment when captured, a refund when made, the
ledger leg that carries a movement when booked), so the match is one count per fingerprint
and side over three indexed columns; only the fingerprints not seen as many times on every
side come back, and only their rows are read, by index, a batch of fingerprints at a time:
memory follows the differences, not the statement. ``domain/reconciliation.py`` says what
each difference means.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, bindparam, func, select, text, update
from sqlalchemy.orm import Session

from domain.reconciliation import STATEMENT_MOVEMENTS, Movement, Seen, Side
from store.models import Payment, StatementLineRow, UTCDateTime
from store.statements import movement_fingerprint

BATCH = 1_000  # fingerprints whose rows are read at once

# Which ledger legs are this provider's: asked only when another provider's payments exist.
_THIS_PROVIDERS_LEDGER = """
      JOIN payments p ON p.trace_id = e.trace_id AND p.provider = :provider"""

_COUNTS = """
SELECT fp, sum(at_provider) AS at_provider
  FROM (
    SELECT fingerprint AS fp, 1 AS at_provider, 0 AS in_orders, 0 AS in_ledger
      FROM statement_lines
     WHERE provider = :provider AND fingerprint IS NOT NULL
    UNION ALL
    SELECT fingerprint, 0, 1, 0
      FROM payments
     WHERE provider = :provider AND fingerprint IS NOT NULL
    UNION ALL
    SELECT r.fingerprint, 0, 1, 0
      FROM refunds r
      JOIN payments p ON p.provider_payment_id = r.provider_payment_id
     WHERE p.provider = :provider AND r.fingerprint IS NOT NULL
    UNION ALL
    SELECT e.fingerprint, 0, 0, 1
      FROM finance_entries e{ledger}
     WHERE e.fingerprint IS NOT NULL
  ) sides
 GROUP BY fp
HAVING NOT (sum(at_provider) = sum(in_orders) AND sum(in_orders) = sum(in_ledger))
"""

# The rows of some unmatched fingerprints, every side, with what classifying them takes.
_ROWS = """
SELECT 'provider' AS side, s.type AS kind,
       coalesce(CASE WHEN s.type IN ('charge', 'payment') THEN s.payment_id END, s.source_id)
           AS ref,
       s.trace_id AS trace_id, abs(s.amount) AS amount, lower(s.currency) AS currency,
       p.order_id AS order_id, s.created AS at, s.fingerprint AS fp
  FROM statement_lines s
  LEFT JOIN payments p ON p.provider_payment_id = s.payment_id
 WHERE s.provider = :provider AND s.fingerprint IN :fps
UNION ALL
SELECT 'orders', 'charge', provider_payment_id, trace_id, amount, lower(currency), order_id,
       updated_at, fingerprint
  FROM payments
 WHERE provider = :provider AND fingerprint IN :fps
UNION ALL
SELECT 'orders', 'refund', r.provider_refund_id, coalesce(r.trace_id, p.trace_id), r.amount,
       lower(coalesce(r.currency, p.currency)), r.order_id, r.created_at, r.fingerprint
  FROM refunds r
  JOIN payments p ON p.provider_payment_id = r.provider_payment_id
 WHERE p.provider = :provider AND r.fingerprint IN :fps
UNION ALL
SELECT 'ledger', e.kind, e.source, e.trace_id, e.debit, lower(e.currency), e.order_id,
       e.booked_at, e.fingerprint
  FROM finance_entries e{ledger}
 WHERE e.fingerprint IN :fps
"""


@dataclass(frozen=True)
class Window:
    """What the statement covers, less a grace at each end for the side that records a
    movement a little later than the other: only movements inside it are judged."""

    starts: datetime
    ends: datetime

    def holds(self, views: list[Seen]) -> bool:
        """By the provider's time when it has the movement (the statement's own clock),
        else by when we first recorded it."""
        at_provider = [view.at for view in views if view.side is Side.PROVIDER]
        at = min(at_provider or [view.at for view in views])
        return self.starts <= at <= self.ends


def statement_window(
    session: Session, provider: str, *, grace: timedelta, now: datetime
) -> Window | None:
    """None while nothing of the provider's statement has been pulled."""
    oldest, newest = session.execute(
        select(func.min(StatementLineRow.created), func.max(StatementLineRow.created)).where(
            StatementLineRow.provider == provider
        )
    ).one()
    if oldest is None or newest is None:
        return None
    return Window(starts=oldest + grace, ends=min(newest, now) - grace)


def provider_movements(session: Session, provider: str) -> int:
    """How many charges and refunds the statement holds: what a run compared."""
    return (
        session.scalar(
            select(func.count())
            .select_from(StatementLineRow)
            .where(
                StatementLineRow.provider == provider,
                StatementLineRow.type.in_(list(STATEMENT_MOVEMENTS)),
            )
        )
        or 0
    )


def trace_late_lines(session: Session, provider: str) -> int:
    """Lines pulled before their payment was ours to know (none, in the usual order of
    things) get its trace, and the fingerprint that goes with it."""
    late = session.execute(
        select(StatementLineRow, Payment.trace_id)
        .join(Payment, Payment.provider_payment_id == StatementLineRow.payment_id)
        .where(
            StatementLineRow.provider == provider,
            StatementLineRow.trace_id.is_(None),
            Payment.trace_id.is_not(None),
        )
    ).all()
    for row, trace in late:
        fingerprint = movement_fingerprint(row.type, row.amount, row.currency, trace)
        session.execute(
            update(StatementLineRow)
            .where(StatementLineRow.id == row.id)
            .values(trace_id=trace, fingerprint=fingerprint)
        )
    return len(late)


def unmatched_movements(session: Session, provider: str) -> Iterator[list[Seen]]:
    """Each movement with a fingerprint not matched on all three sides: every side's view
    of it. Movements come a batch of fingerprints at a time, each whole."""
    ledger = _THIS_PROVIDERS_LEDGER if _other_providers(session, provider) else ""
    counted = session.execute(
        text(_COUNTS.format(ledger=ledger)).execution_options(yield_per=BATCH),
        {"provider": provider},
    )
    at_provider = {bytes(fp): int(n) for fp, n in counted}
    prints = list(at_provider)
    views = [
        _seen(row, at_provider)
        for start in range(0, len(prints), BATCH)
        for row in _rows(session, provider, ledger, prints[start : start + BATCH])
    ]
    views.sort(key=lambda view: (view.kind, view.ref, view.side))
    for _, movement in itertools.groupby(views, key=lambda view: (view.kind, view.ref)):
        yield list(movement)


def _rows(session: Session, provider: str, ledger: str, fps: Sequence[bytes]) -> list[Row[Any]]:
    query = (
        text(_ROWS.format(ledger=ledger))
        .bindparams(bindparam("fps", expanding=True))
        .columns(at=UTCDateTime())
    )
    return list(session.execute(query, {"provider": provider, "fps": list(fps)}))


def _other_providers(session: Session, provider: str) -> bool:
    others = select(Payment.id).where(Payment.provider != provider).limit(1)
    return session.scalar(others) is not None


def _seen(row: Row[Any], at_provider: dict[bytes, int]) -> Seen:
    side, kind, ref, trace_id, amount, currency, order_id, at, fp = tuple(row)
    movement = STATEMENT_MOVEMENTS[kind] if side == Side.PROVIDER else Movement(kind)
    return Seen(
        side=Side(side),
        ref=ref,
        kind=movement,
        trace_id=trace_id,
        amount=int(amount),
        currency=currency,
        order_id=order_id,
        at=at,
        fingerprint=bytes(fp).hex(),
        elsewhere_at_provider=at_provider[bytes(fp)] > 0,
    )
