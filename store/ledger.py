"""The finance ledger in the database: booked in the caller's transaction, once per movement."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from domain.ledger import EntryKind, legs
from domain.reconciliation import Movement, digest
from store.inserts import insert_once
from store.models import FinanceEntry, utcnow


class FinanceLedger:
    def __init__(self, session: Session) -> None:
        self.session = session

    def book(
        self,
        kind: EntryKind,
        *,
        order_id: str,
        trace_id: str | None,
        amount: int,
        currency: str,
        source: str,
    ) -> bool:
        """The movement's legs, unless booked before under ``source``; True when booked now."""
        booked = False
        movement = Movement(kind.value)
        for n, leg in enumerate(legs(kind, amount)):
            # The first leg carries the movement (``legs`` puts its debit first).
            carried = digest(trace_id, movement, amount, currency) if n == 0 else None
            booked |= insert_once(
                self.session,
                FinanceEntry,
                {
                    "trace_id": trace_id,
                    "order_id": order_id,
                    "kind": kind.value,
                    "account": leg.account.value,
                    "debit": leg.debit,
                    "credit": leg.credit,
                    "currency": currency.lower(),
                    "source": source,
                    "booked_at": utcnow(),
                    "fingerprint": carried,
                },
            )
        return booked

    def entries(self, order_id: str) -> list[FinanceEntry]:
        return list(
            self.session.scalars(
                select(FinanceEntry)
                .where(FinanceEntry.order_id == order_id)
                .order_by(FinanceEntry.id)
            )
        )

    def unbalanced_traces(self) -> list[str]:
        """Traces whose debits and credits differ: none, ever, if every booking is whole."""
        query = (
            select(FinanceEntry.trace_id)
            .group_by(FinanceEntry.trace_id)
            .having(func.sum(FinanceEntry.debit) != func.sum(FinanceEntry.credit))
        )
        return [trace for trace in self.session.scalars(query) if trace is not None]
