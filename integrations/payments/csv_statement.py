"""A provider's statement from its CSV export: for a provider whose statement comes as a
file (or a period Stripe's API no longer lists), read through the same seam as Stripe's
API, page by page.

One line per movement, a header row naming at least these columns (any order, any case):

    id,type,source,payment,amount,fee,currency,created

``amount`` and ``fee`` in minor units, signed (a refund is negative); ``payment`` is the
payment the line belongs to (empty for fees and payouts); ``created`` is ISO 8601 (UTC
unless it says otherwise).
"""

from __future__ import annotations

import csv
import itertools
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

from domain.reconciliation import STATEMENT_MOVEMENTS
from domain.statements import StatementLine, StatementPage

COLUMNS = ("id", "type", "source", "payment", "amount", "fee", "currency", "created")
_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,255}$")
_TYPE = re.compile(r"^[a-z_]{1,32}$")
_CURRENCY = re.compile(r"^[A-Za-z]{3}$")
_LARGEST = 10**15  # minor units: no line moves more
MATCHED = frozenset(STATEMENT_MOVEMENTS)  # the types reconciliation matches to orders


_Problem = Callable[[str], "StatementFileError"]


class StatementFileError(ValueError):
    """The file is not a statement this reads: says where and why."""


class CsvStatement:
    def __init__(self, path: Path) -> None:
        self.path = path
        # Where the last page ended, to go on from there rather than read the file again.
        self._rest: Iterator[StatementLine] | None = None
        self._last: str | None = None

    def check(self) -> int:
        """Read it all once: the number of lines, or the first problem (nothing is stored
        from a file with one). A line ID twice is a problem: an export joined to itself."""
        seen: set[str] = set()
        for line in self.lines():
            if line.id in seen:
                raise StatementFileError(f"{self.path}: line ID {line.id} is there twice")
            seen.add(line.id)
        return len(seen)

    def lines(self) -> Iterator[StatementLine]:
        try:
            with self.path.open(newline="", encoding="utf-8-sig") as file:
                rows = csv.reader(file)
                header = next(rows, None)
                if header is None:
                    raise StatementFileError(f"{self.path}: empty")
                where = _columns(header)
                for number, row in enumerate(rows, start=2):
                    if row:
                        yield _line(number, row, where)
        except (OSError, UnicodeDecodeError, csv.Error) as error:
            raise StatementFileError(f"{self.path}: {error}") from None

    def statement_page(self, *, starting_after: str | None, limit: int) -> StatementPage:
        """The ``limit`` lines after ``starting_after``, in the file's order."""
        if self._rest is None or starting_after != self._last:
            self._rest = self._after(starting_after)
        page = list(itertools.islice(self._rest, limit + 1))
        more = len(page) > limit
        if more:  # one read ahead, to know: put it back in front of the rest
            self._rest = itertools.chain([page.pop()], self._rest)
        self._last = page[-1].id if page else starting_after
        return StatementPage(lines=page, has_more=more)

    def _after(self, starting_after: str | None) -> Iterator[StatementLine]:
        lines = self.lines()
        if starting_after is None:
            return lines
        for line in lines:
            if line.id == starting_after:
                return lines
        raise StatementFileError(
            f"{self.path} has no line {starting_after}, where an unfinished load of this "
            "provider's statement stopped: load that file again to finish it first"
        )


def _columns(header: list[str]) -> dict[str, int]:
    named = {name.strip().lower(): n for n, name in enumerate(header)}
    missing = [column for column in COLUMNS if column not in named]
    if missing:
        raise StatementFileError(f"line 1: no column {', '.join(missing)}")
    return {column: named[column] for column in COLUMNS}


def _line(number: int, row: list[str], where: dict[str, int]) -> StatementLine:
    def field(column: str) -> str:
        n = where[column]
        return row[n].strip() if n < len(row) else ""

    def problem(what: str) -> StatementFileError:
        return StatementFileError(f"line {number}: {what}")

    line_id, kind, source = field("id"), field("type"), field("source")
    payment, currency = field("payment"), field("currency")
    if not _ID.match(line_id):
        raise problem(f"id {line_id!r} is not a provider's ID")
    if not _TYPE.match(kind):
        raise problem(f"type {kind!r} is not one (charge, refund, fee, payout...)")
    for name, value in (("source", source), ("payment", payment)):
        if value and not _ID.match(value):
            raise problem(f"{name} {value!r} is not a provider's ID")
    if kind in MATCHED and not payment:
        raise problem(f"a {kind} names no payment: it could not be matched to an order")
    if not _CURRENCY.match(currency):
        raise problem(f"currency {currency!r} is not a three-letter code")
    return StatementLine(
        id=line_id,
        type=kind,
        amount=_minor_units(field("amount"), problem),
        fee=_minor_units(field("fee") or "0", problem),
        currency=currency.lower(),
        source_id=source or line_id,
        payment_id=payment or None,
        created=_instant(field("created"), problem),
    )


def _minor_units(text: str, problem: _Problem) -> int:
    if not re.fullmatch(r"-?\d{1,16}", text):
        raise problem(f"amount {text!r} is not a whole number of minor units")
    value = int(text)
    if abs(value) > _LARGEST:
        raise problem(f"amount {text} is out of range")
    return value


def _instant(text: str, problem: _Problem) -> datetime:
    try:
        at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise problem(f"created {text!r} is not an ISO 8601 time") from None
    return at if at.tzinfo else at.replace(tzinfo=UTC)
