"""The three-way match in SQL: the database fingerprints and counts every movement on the
three sides, and hands back only the rows of fingerprints that are not seen as many times
on each, ordered by movement, a batch at a time: memory stays flat however long the
statement (``domain/reconciliation.py`` says what each leftover means).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, func, select, text
from sqlalchemy.orm import Session

from domain.reconciliation import Movement, Seen, Side
from store.models import Payment, StatementLineRow, UTCDateTime
from store.repositories import CAPTURED

CHARGE_LINES = ("charge", "payment")
REFUND_LINES = ("refund", "payment_refund")
BATCH = 2_000

# Every movement, one row per side that knows it. The provider's lines find their trace ID
# through the payment they belong to; the ledger is read from the leg that carries the
# movement (a charge's receivable debit, a refund's refunds debit).
_SIDES = """
    SELECT 'provider' AS side,
           CASE WHEN s.type IN ('charge', 'payment') THEN 'charge' ELSE 'refund' END AS kind,
           coalesce(CASE WHEN s.type IN ('charge', 'payment') THEN s.payment_id END,
                    s.source_id) AS ref,
           p.trace_id AS trace_id, abs(s.amount) AS amount, lower(s.currency) AS currency,
           p.order_id AS order_id, s.created AS at
      FROM statement_lines s
      LEFT JOIN payments p ON p.provider_payment_id = s.payment_id
     WHERE s.provider = :provider
       AND s.type IN ('charge', 'payment', 'refund', 'payment_refund')
    UNION ALL
    SELECT 'orders', 'charge', p.provider_payment_id, p.trace_id, p.amount, lower(p.currency),
           p.order_id, p.updated_at
      FROM payments p
     WHERE p.provider = :provider AND p.status = :captured
    UNION ALL
    SELECT 'orders', 'refund', r.provider_refund_id, coalesce(r.trace_id, p.trace_id),
           r.amount, lower(coalesce(r.currency, p.currency)), r.order_id, r.created_at
      FROM refunds r
      JOIN payments p ON p.provider_payment_id = r.provider_payment_id
     WHERE p.provider = :provider AND r.status = 'refunded'
       AND r.provider_refund_id IS NOT NULL
    UNION ALL
    SELECT 'ledger', e.kind, e.source, e.trace_id, e.debit, lower(e.currency), e.order_id,
           e.booked_at
      FROM finance_entries e
      {ledger_where} ((e.kind = 'charge' AND e.account = 'receivable')
            OR (e.kind = 'refund' AND e.account = 'refunds'))
"""

# Which ledger rows are this provider's: asked only when another provider's payments exist.
_THIS_PROVIDERS_LEDGER = """LEFT JOIN payments p ON p.trace_id = e.trace_id
     WHERE (p.provider = :provider OR p.id IS NULL) AND"""

_KEY = (
    "coalesce(u.trace_id, '') || '|' || u.kind || '|' || cast(u.amount AS TEXT)"
    " || '|' || u.currency"
)
# Grouped as raw digests (half the bytes of hex); only the leftovers are shown as hex.
_FINGERPRINT = {
    "postgresql": f"sha256(convert_to({_KEY}, 'UTF8'))",
    "sqlite": f"sha256_hex({_KEY})",  # registered on every connection (store/db.py)
}
_HEX = {"postgresql": "encode(s.fp, 'hex')", "sqlite": "s.fp"}

_UNMATCHED = """
WITH sides AS (
    SELECT u.*, {fingerprint} AS fp FROM ({sides}) u
),
counts AS (
    SELECT fp,
           sum(CASE WHEN side = 'provider' THEN 1 ELSE 0 END) AS at_provider,
           sum(CASE WHEN side = 'orders' THEN 1 ELSE 0 END) AS in_orders,
           sum(CASE WHEN side = 'ledger' THEN 1 ELSE 0 END) AS in_ledger
      FROM sides
     GROUP BY fp
)
SELECT s.side, s.kind, s.ref, s.trace_id, s.amount, s.currency, s.order_id, s.at,
       {hex} AS fp, c.at_provider
  FROM sides s
  JOIN counts c ON c.fp = s.fp
 WHERE NOT (c.at_provider = c.in_orders AND c.in_orders = c.in_ledger)
 ORDER BY s.kind, s.ref, s.side
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
                StatementLineRow.type.in_(CHARGE_LINES + REFUND_LINES),
            )
        )
        or 0
    )


def unmatched_movements(session: Session, provider: str) -> Iterator[list[Seen]]:
    """Each movement whose fingerprint did not match on all three sides: every side's view
    of it, one movement at a time."""
    dialect = session.get_bind().dialect.name
    ledger_where = _THIS_PROVIDERS_LEDGER if _other_providers(session, provider) else "WHERE"
    sides = _SIDES.format(ledger_where=ledger_where)
    sql = _UNMATCHED.format(fingerprint=_FINGERPRINT[dialect], hex=_HEX[dialect], sides=sides)
    query = text(sql).columns(at=UTCDateTime())
    rows = session.execute(
        query.execution_options(yield_per=BATCH),
        {"provider": provider, "captured": CAPTURED},
    )
    views = (_seen(row) for row in rows)
    for _, movement in itertools.groupby(views, key=lambda view: (view.kind, view.ref)):
        yield list(movement)


def _other_providers(session: Session, provider: str) -> bool:
    others = select(Payment.id).where(Payment.provider != provider).limit(1)
    return session.scalar(others) is not None


def _seen(row: Row[Any]) -> Seen:
    side, kind, ref, trace_id, amount, currency, order_id, at, fp, at_provider = tuple(row)
    return Seen(
        side=Side(side),
        ref=ref,
        kind=Movement(kind),
        trace_id=trace_id,
        amount=int(amount),
        currency=currency,
        order_id=order_id,
        at=at,
        fingerprint=fp,
        elsewhere_at_provider=int(at_provider) > 0,
    )
