"""Signed webhooks, the way Stripe signs them: ``t=<unix time>,v1=<HMAC-SHA256 hex>`` over
``"<t>." + body``. orderflow signs its own outbound notifications the same way, so a receiver
that checks Stripe's can check ours."""

from __future__ import annotations

import hashlib
import hmac
import time


def sign(payload: bytes, secret: str, at: int | None = None) -> str:
    at = int(time.time()) if at is None else at
    digest = hmac.new(secret.encode(), f"{at}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={at},v1={digest}"


def verify(payload: bytes, header: str, secret: str, tolerance_seconds: int = 300) -> bool:
    """True when ``header`` signs ``payload`` with ``secret`` and is fresh enough."""
    fields = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    try:
        at = int(fields["t"])
    except (KeyError, ValueError):
        return False
    if abs(time.time() - at) > tolerance_seconds:
        return False
    return hmac.compare_digest(sign(payload, secret, at), f"t={at},v1={fields.get('v1', '')}")
