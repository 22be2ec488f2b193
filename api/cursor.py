"""The listing's cursor: a keyset position, opaque to clients."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

from domain.ids import ORDER_ID_PATTERN
from store.repositories import OrderPosition


def encode_cursor(position: OrderPosition) -> str:
    raw = json.dumps([position.created_at.isoformat(), position.order_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(token: str) -> OrderPosition:
    """Raises ValueError for anything ``encode_cursor`` did not make."""
    padded = token + "=" * (-len(token) % 4)
    try:
        created_at, order_id = json.loads(base64.urlsafe_b64decode(padded))
        at = datetime.fromisoformat(created_at)
        # Checked as an order ID: PostgreSQL refuses a NUL in a comparison, among others.
        if at.tzinfo is None or not ORDER_ID_PATTERN.fullmatch(order_id):
            raise ValueError("not a cursor")
        # The database compares in UTC; some dates near year 1 or 9999 have no UTC equivalent.
        at = at.astimezone(UTC)
    # binascii and json errors are ValueErrors; deep nesting is a RecursionError.
    except (TypeError, ValueError, OverflowError, RecursionError) as error:
        raise ValueError("not a cursor") from error
    return OrderPosition(at, order_id)
