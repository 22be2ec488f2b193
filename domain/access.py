"""Who may do what: the roles a caller can hold and what a caller's token says about them.

Pure rules, no I/O: the API decides with them, the audit log records them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    """Least privilege: each role reaches the routes its work needs and nothing else."""

    API_CLIENT = "api_client"  # a storefront or marketplace: places orders, reads its channel's
    CUSTOMER = "customer"  # one customer: their own orders only
    SUPPORT = "support"  # reads orders (no payment secrets), changes them, small refunds
    WAREHOUSE = "warehouse"  # scans, receipts, shipments
    FINANCE = "finance"  # payments, reconciliation, exports, large refunds
    ADMIN = "admin"  # everything, and approves what needs a second person


@dataclass(frozen=True)
class Principal:
    """The authenticated caller, as their token says."""

    subject: str
    role: Role
    token_id: str
    channel: str | None = None  # an api_client acts for one sales channel

    @property
    def customer_id(self) -> str | None:
        """A customer's token is issued to the customer: its subject is their customer ID."""
        return self.subject if self.role is Role.CUSTOMER else None

    @property
    def actor(self) -> str:
        """How timelines and the audit log name who did something."""
        return f"{self.role.value}:{self.subject}"

    def may_see(self, *, channel: str, customer_id: str) -> bool:
        """Whether this caller may see an order of this channel and customer at all."""
        if self.role is Role.CUSTOMER:
            return customer_id == self.subject
        if self.role is Role.API_CLIENT:
            return channel == self.channel
        return True
