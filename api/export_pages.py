"""Writing an approved export's pages: its orders as finance sees them, frozen into CSV pages.

Done synchronously, in the transaction that approves the export: one SELECT streams the
orders (one consistent snapshot), each page is written as soon as it is full, and the export
turns ``ready`` with its checksums only if every page is in. A year of a busy shop takes a
while; if approvals start to time out, the same function moves into an activity and the
approval starts a workflow instead.
"""

from __future__ import annotations

from datetime import UTC, datetime

from api.privacy import mask_email
from domain.exports import PAGE_ROWS, ExportLine, RenderedPage, WholeChecksum, render_page
from store.exports import ExportedOrder, ExportRepository
from store.models import Export


def line_of(order: ExportedOrder) -> ExportLine:
    """Finance's view (``api/privacy.py``): the email masked; address and phone are not even
    read."""
    return ExportLine(
        order_id=order.order_id,
        channel=order.channel,
        external_id=order.external_id or "",
        created_at=_iso(order.created_at),
        status=order.status,
        currency=order.currency,
        total=order.total,
        refunded=order.refunded,
        customer_id=order.customer_id,
        customer_name=order.customer_name,
        customer_email=mask_email(order.customer_email),
        payment_intent_id=order.payment_intent_id or "",
        payment_status=order.payment_status or "",
    )


def write_pages(exports: ExportRepository, export: Export, per_page: int | None = None) -> None:
    """Render and store every page (``PAGE_ROWS`` orders each), then mark the export ready.
    An export without orders still has page 1: the header alone."""
    per_page = per_page or PAGE_ROWS
    checksum = WholeChecksum()
    rows = pages = 0
    for batch in exports.orders(
        created_from=export.created_from,
        created_until=export.created_until,
        channel=export.channel,
        batch=per_page,
    ):
        pages += 1
        rows += _store(
            exports, export.id, render_page(pages, [line_of(o) for o in batch]), checksum
        )
    if pages == 0:
        pages = 1
        _store(exports, export.id, render_page(1, []), checksum)
    exports.mark_ready(export.id, rows=rows, pages=pages, sha256=checksum.hexdigest())


def _store(
    exports: ExportRepository, export_id: str, page: RenderedPage, checksum: WholeChecksum
) -> int:
    exports.add_page(export_id, page.number, page.rows, page.sha256, page.body)
    checksum.add(page.body)
    return page.rows


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat()
