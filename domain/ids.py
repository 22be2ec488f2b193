"""Names that several processes must agree on: task queues and workflow IDs."""

from __future__ import annotations

import hashlib
import re
import uuid

ORDERS_TASK_QUEUE = "orders"
SKELETON_TASK_QUEUE = "bench-skeleton"

CHANNEL_PATTERN = r"^[a-z][a-z0-9_]{0,31}$"
EXTERNAL_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
ORDER_ID_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,31}-[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def order_workflow_id(order_id: str) -> str:
    return f"order-{order_id}"


def derive_order_id(channel: str, external_id: str | None, idempotency_key: str | None) -> str:
    """The order ID is stable for the same channel order, so a re-push finds the same order.

    Without the channel's own number, the client's Idempotency-Key plays that role; with
    neither, every request is a new order (as with any non-idempotent POST).
    """
    if external_id:
        return f"{channel}-{external_id}"
    if idempotency_key:
        digest = hashlib.sha256(idempotency_key.encode()).hexdigest()[:24]
        return f"{channel}-k{digest}"
    return f"{channel}-{uuid.uuid4().hex[:24]}"
