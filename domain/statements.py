"""A payment provider's statement, as reconciliation reads it."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

# A provider's name as runs and statement lines carry it (a file's pull adds ":file").
PROVIDER_NAME = r"^[a-z][a-z0-9_-]{0,26}$"


class StatementLine(BaseModel):
    """One line of the provider's statement (Stripe: a balance transaction), in its words:
    what moved (``charge``, ``refund``, a ``fee``, a ``payout``...), for which payment."""

    id: str
    type: str
    amount: int  # signed: a refund is negative
    fee: int
    currency: str
    source_id: str  # the charge's or refund's own ID
    payment_id: str | None  # the payment it belongs to, when it belongs to one
    created: datetime


class StatementPage(BaseModel):
    lines: list[StatementLine]  # newest first
    has_more: bool


class StatementPullRequest(BaseModel):
    provider: str = "stripe"
    page_size: int = 100


class StatementPulled(BaseModel):
    pull_id: int
    lines: int  # new lines this pull stored
    pages: int
