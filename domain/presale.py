"""Presale goods: when they can ship, and the rule that keeps a promise realistic.

An expected ship time less than 30 minutes away (or already past) can't be kept by a
warehouse that hasn't started: it becomes now + 120 minutes, and the customer is told.
"""

from __future__ import annotations

from datetime import datetime, timedelta

TOO_SOON = timedelta(minutes=30)
POSTPONE_TO = timedelta(minutes=120)


def realistic_ship_time(expected: datetime, now: datetime) -> datetime:
    return now + POSTPONE_TO if expected - now < TOO_SOON else expected
