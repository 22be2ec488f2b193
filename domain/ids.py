"""Order IDs: stable for the same channel order, so a re-push finds the same order."""

from __future__ import annotations

import hashlib
import re
import uuid
from typing import Annotated

from pydantic import StringConstraints

# Intake, the rules file and order IDs all build on these two, so a name one of them accepts
# is never refused by another. A channel name has no "-": the order ID joins it to the
# channel's own number with one, and channels "flash" and "flash-sale" would otherwise give
# two different orders ("flash" + "sale-1", "flash-sale" + "1") the same ID.
_CHANNEL = r"[a-z][a-z0-9_]{0,31}"
_EXTERNAL_ID = r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}"
CHANNEL_PATTERN = rf"^{_CHANNEL}$"
EXTERNAL_ID_PATTERN = rf"^{_EXTERNAL_ID}$"
ORDER_ID_PATTERN = re.compile(rf"^{_CHANNEL}-{_EXTERNAL_ID}$")
ChannelName = Annotated[str, StringConstraints(pattern=CHANNEL_PATTERN)]


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
