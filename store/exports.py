"""Exports and their pages. An export's pages are written once, in the transaction that
approves it, and never change (a trigger refuses UPDATE on ``export_pages``)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from domain.exports import ExportStatus
from store.inserts import insert_once
from store.models import Customer, Export, ExportPage, Order, Payment, Refund


@dataclass(frozen=True)
class ExportedOrder:
    """An order's row as the database holds it; the API decides what of it finance sees."""

    order_id: str
    channel: str
    external_id: str | None
    created_at: datetime
    status: str
    currency: str
    total: int
    refunded: int
    customer_id: str
    customer_name: str
    customer_email: str
    payment_intent_id: str | None
    payment_status: str | None


# id, channel, external ID, created at, status, currency, total, customer ID, name, email, as
# the typed select gives them
OrderColumns = tuple[str, str, str | None, datetime, str, str, int, str, str, str, *tuple[Any, ...]]


@dataclass(frozen=True)
class PageSummary:
    number: int
    rows: int
    sha256: str


class ExportRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, export: Export) -> None:
        self.session.add(export)

    def add_once(self, export: Export) -> bool:
        """Add it unless an export with its ID exists (a retried nightly run); True if new."""
        values = {c.key: getattr(export, c.key) for c in Export.__table__.columns}
        return insert_once(self.session, Export, values)

    def get(self, export_id: str) -> Export | None:
        return self.session.get(Export, export_id)

    def claim_approval(self, export_id: str, *, by: str, at: datetime) -> bool:
        """Mark it approved if it still waits; False if someone else approved it first
        (their transaction holds the row until it commits)."""
        result = self.session.execute(
            update(Export)
            .where(Export.id == export_id, Export.status == ExportStatus.PENDING.value)
            .values(approved_by=by, approved_at=at),
            execution_options={"synchronize_session": False},
        )
        return bool(getattr(result, "rowcount", 0))

    def add_page(self, export_id: str, number: int, rows: int, sha256: str, body: bytes) -> None:
        page = ExportPage(export_id=export_id, number=number, rows=rows, sha256=sha256, body=body)
        self.session.add(page)
        self.session.flush()
        self.session.expunge(page)  # written: the session need not hold every page's bytes

    def mark_ready(self, export_id: str, *, rows: int, pages: int, sha256: str) -> None:
        self.session.execute(
            update(Export)
            .where(Export.id == export_id)
            .values(
                status=ExportStatus.READY.value, row_count=rows, page_count=pages, sha256=sha256
            ),
            execution_options={"synchronize_session": False},
        )

    def mark_mailed(self, export_id: str, at: datetime) -> bool:
        """True the first time only: the link is mailed once, however often a run retries."""
        result = self.session.execute(
            update(Export)
            .where(Export.id == export_id, Export.mailed_at.is_(None))
            .values(mailed_at=at),
            execution_options={"synchronize_session": False},
        )
        return bool(getattr(result, "rowcount", 0))

    def pages(self, export_id: str) -> list[PageSummary]:
        rows = self.session.execute(
            select(ExportPage.number, ExportPage.rows, ExportPage.sha256)
            .where(ExportPage.export_id == export_id)
            .order_by(ExportPage.number)
        )
        return [PageSummary(number, count, sha256) for number, count, sha256 in rows]

    def page(self, export_id: str, number: int) -> ExportPage | None:
        return self.session.get(ExportPage, (export_id, number))

    def orders(
        self, *, created_from: datetime, created_until: datetime, channel: str | None, batch: int
    ) -> Iterator[list[ExportedOrder]]:
        """The orders created in ``[created_from, created_until)``, oldest first (ties by ID,
        so the same rows always come in the same order), ``batch`` at a time."""
        query = (
            select(
                Order.id,
                Order.channel,
                Order.external_id,
                Order.created_at,
                Order.status,
                Order.currency,
                Order.total,
                Order.customer_id,
                Customer.name,
                Customer.email,
            )
            .join(Customer, Customer.id == Order.customer_id)
            .where(Order.created_at >= created_from, Order.created_at < created_until)
            .order_by(Order.created_at, Order.id)
        )
        if channel is not None:
            query = query.where(Order.channel == channel)
        result = self.session.execute(query, execution_options={"yield_per": batch})
        for partition in result.partitions():
            yield self._with_payments(partition)

    def _with_payments(self, rows: Sequence[OrderColumns]) -> list[ExportedOrder]:
        ids = [row[0] for row in rows]
        payments = {
            order_id: (intent, status)
            for order_id, intent, status in self.session.execute(
                select(Payment.order_id, Payment.provider_payment_id, Payment.status)
                .where(Payment.order_id.in_(ids))
                .order_by(Payment.id)  # an order's newest payment wins
            )
        }
        refunded = {
            order_id: int(amount or 0)
            for order_id, amount in self.session.execute(
                select(Refund.order_id, func.sum(Refund.amount))
                .where(Refund.order_id.in_(ids))
                .group_by(Refund.order_id)
            )
        }
        found = []
        for row in rows:
            order_id, channel, external_id, at, status, currency, total, customer, name, email = (
                row[:10]
            )
            intent, paid = payments.get(order_id, (None, None))
            found.append(
                ExportedOrder(
                    order_id=order_id,
                    channel=channel,
                    external_id=external_id,
                    created_at=at,
                    status=status,
                    currency=currency,
                    total=total,
                    refunded=refunded.get(order_id, 0),
                    customer_id=customer,
                    customer_name=name,
                    customer_email=email,
                    payment_intent_id=intent,
                    payment_status=paid,
                )
            )
        return found
