"""The listing's cursor: a keyset position, opaque to clients."""

from __future__ import annotations

import base64
import json
from datetime import datetime

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
    except (TypeError, ValueError) as error:  # binascii and json errors are ValueErrors
        raise ValueError("not a cursor") from error
    if at.tzinfo is None or not isinstance(order_id, str):
        raise ValueError("not a cursor")
    return OrderPosition(at, order_id)
