"""Exports of orders for finance: what a page holds, how it is written and checksummed, and
the two-person rule that releases one.

A page is CSV (RFC 4180: UTF-8, comma-separated, CRLF line ends, a header row on every page so
each page stands alone), at most ``PAGE_ROWS`` orders, oldest first. Its checksum is the
SHA-256 of exactly the bytes served; the export's checksum is the SHA-256 of its pages'
bytes concatenated in page order (``cat page-1.csv page-2.csv ... | sha256sum``).
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Iterable, Sequence
from dataclasses import astuple, dataclass, fields
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum

from pydantic import BaseModel

PAGE_ROWS = 5_000
MEDIA_TYPE = "text/csv; charset=utf-8"
# The longest range one export may cover: a year of orders is already hundreds of pages.
MAX_SPAN = timedelta(days=366)
NIGHTLY_REQUESTER = "schedule:nightly-export"


class ExportStatus(StrEnum):
    PENDING = "pending"  # requested; waits for a second person's approval
    READY = "ready"  # approved: its pages are written and never change


@dataclass(frozen=True)
class ExportLine:
    """One order as finance sees it (``api/privacy.py``): the email masked, no address, no
    phone, no payment secret."""

    order_id: str
    channel: str
    external_id: str
    created_at: str  # ISO 8601, UTC
    status: str
    currency: str
    total: int  # minor units
    refunded: int  # minor units
    customer_id: str
    customer_name: str
    customer_email: str
    payment_intent_id: str
    payment_status: str


COLUMNS = tuple(field.name for field in fields(ExportLine))


@dataclass(frozen=True)
class RenderedPage:
    number: int  # from 1
    rows: int
    body: bytes
    sha256: str


# A cell a spreadsheet would run as a formula; customers choose their own names.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: str | int) -> str | int:
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def render_page(number: int, lines: Sequence[ExportLine]) -> RenderedPage:
    """The page's exact bytes and their checksum; the same lines always give the same bytes."""
    text = io.StringIO(newline="")
    writer = csv.writer(text, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    writer.writerows([_cell(value) for value in astuple(line)] for line in lines)
    body = text.getvalue().encode("utf-8")
    return RenderedPage(number, len(lines), body, hashlib.sha256(body).hexdigest())


class WholeChecksum:
    """SHA-256 of the pages' bytes one after the other, in page order, fed a page at a time
    (an export never has to be in memory whole)."""

    def __init__(self) -> None:
        self._digest = hashlib.sha256()

    def add(self, body: bytes) -> None:
        self._digest.update(body)

    def hexdigest(self) -> str:
        return self._digest.hexdigest()


def whole_checksum(pages: Iterable[bytes]) -> str:
    checksum = WholeChecksum()
    for body in pages:
        checksum.add(body)
    return checksum.hexdigest()


def person_of(actor: str) -> str:
    """The person behind an actor (``role:subject``): the same subject holding another role is
    still the same person, so it can't approve what it requested under the first. Compared
    without case or surrounding space: "Bob" is bob."""
    return actor.partition(":")[2].strip().casefold()


# --- the nightly export ------------------------------------------------------------------------


class NightlyExportRequest(BaseModel):
    """What the ``nightly-export`` schedule asks for each night: yesterday's orders (UTC),
    requested in the schedule's name, and a link mailed to finance."""

    mail_to: str
    link_base: str  # the API's public address
    channel: str | None = None


class NightlyExport(BaseModel):
    day: date
    mail_to: str
    link_base: str
    channel: str | None = None


class NightlyExportNotice(BaseModel):
    export_id: str
    mailed: bool  # False: a run before this one mailed it already


def day_range(day: date) -> tuple[datetime, datetime]:
    """The day in UTC, as an export's ``[created_from, created_until)``."""
    start = datetime.combine(day, time(), tzinfo=UTC)
    return start, start + timedelta(days=1)


def nightly_export_id(day: date) -> str:
    """One nightly export per day: a retried run finds the one it made."""
    return f"exp_nightly_{day.isoformat()}"
