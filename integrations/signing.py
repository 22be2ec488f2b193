"""Signed webhooks, the way Stripe signs them: ``t=<unix time>,v1=<HMAC-SHA256 hex>`` over
``"<t>." + body``. orderflow signs its own outbound notifications the same way, so a receiver
that checks Stripe's can check ours; Stripe's callbacks and the carriers' are checked here too.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time

TOLERANCE_SECONDS = 300

# ASCII digits only (``int`` also takes "+1", "1_0" and other scripts' digits); 12 digits
# reach far past any clock, and keep the number an exact float.
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_DIGEST = re.compile(r"[0-9a-f]{64}")


class SignatureRefused(ValueError):
    """Why a signature header was refused. The message names no secret and quotes no input."""


def sign(payload: bytes, secret: str, at: int | None = None) -> str:
    at = int(time.time()) if at is None else at
    return f"t={at},v1={_digest(payload, secret, at)}"


def check(
    payload: bytes,
    header: str,
    secret: str,
    *,
    tolerance_seconds: int = TOLERANCE_SECONDS,
    now: float | None = None,
) -> None:
    """Returns when ``header`` signs ``payload`` with ``secret`` within ``tolerance_seconds``
    of ``now``, early or late; raises SignatureRefused saying why otherwise.

    Stripe's own check accepts a signature dated any time ahead: one made with a leaked
    secret and a future date would stay good until that date. Stripe sends one ``v1`` per
    active secret while a secret is rolled; any of them may match. Other schemes (``v0``)
    are ignored, as Stripe's check does.
    """
    at, digests = _parse(header)
    now = time.time() if now is None else now
    if abs(now - at) > tolerance_seconds:
        raise SignatureRefused(f"the timestamp is more than {tolerance_seconds} s from now")
    _require_match(payload, secret, at, digests)


def signed_at(payload: bytes, header: str, secret: str) -> int:
    """When ``header`` says it signed ``payload`` with ``secret``, however long ago: the
    unix time. SignatureRefused saying why if it doesn't sign it. For looking back at a
    webhook received earlier; a request arriving now is held to ``check``'s tolerance."""
    at, digests = _parse(header)
    _require_match(payload, secret, at, digests)
    return at


def verify(
    payload: bytes, header: str, secret: str, tolerance_seconds: int = TOLERANCE_SECONDS
) -> bool:
    """True when ``header`` signs ``payload`` with ``secret`` and is fresh enough."""
    try:
        check(payload, header, secret, tolerance_seconds=tolerance_seconds)
    except SignatureRefused:
        return False
    return True


def _parse(header: str) -> tuple[int, list[str]]:
    """The timestamp and the well-formed ``v1`` digests; SignatureRefused if either is missing
    or the header isn't a comma-separated list of ``key=value``."""
    stamps: list[str] = []
    digests: list[str] = []
    for part in header.split(","):
        key, equals, value = part.partition("=")
        if not equals:
            raise SignatureRefused("the header is not a list of key=value")
        if key == "t":
            stamps.append(value)
        elif key == "v1" and _DIGEST.fullmatch(value):
            digests.append(value)
    if len(stamps) != 1 or not _TIMESTAMP.fullmatch(stamps[0]):
        raise SignatureRefused("the header needs exactly one t=<unix seconds>")
    if not digests:
        raise SignatureRefused("the header has no v1 signature of 64 hex digits")
    return int(stamps[0]), digests


def _require_match(payload: bytes, secret: str, at: int, digests: list[str]) -> None:
    expected = _digest(payload, secret, at)
    # All compared: stopping at the first match would let the time taken say which matched.
    matches = [hmac.compare_digest(expected, digest) for digest in digests]
    if not any(matches):
        raise SignatureRefused("no v1 signature matches the body")


def _digest(payload: bytes, secret: str, at: int) -> str:
    return hmac.new(secret.encode(), f"{at}.".encode() + payload, hashlib.sha256).hexdigest()
