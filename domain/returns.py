"""Returns (RMA): the customer sends delivered units back; the warehouse scans and inspects
them; what passes is refunded and restocked, what fails goes to quarantine.

One ``ReturnWorkflow`` per RMA, apart from its order's workflow, which has usually completed
by the time a parcel comes back. Its money goes through the order while the order runs (so
the order counts it), straight to the provider once it has closed.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field

from domain.messages import PaymentView
from domain.refunds import RefundLine
from domain.sla import SlaRules

# An exchange's replacement is a package of the order numbered past any the planner makes,
# reserved in a round of its own (ledger references ``<order>/<round>/<package>``).
REPLACEMENT_BASE = 100
REPLACEMENT_ROUND_BASE = 1000


class ReturnStatus(StrEnum):
    OPEN = "open"  # label issued, waiting for the parcel
    RECEIVED = "received"  # every unit scanned at the warehouse, waiting for inspection
    PASSED = "passed"  # refunded and restocked
    FAILED = "failed"  # quarantined, support told
    EXPIRED = "expired"  # no parcel in time
    ABANDONED = "abandoned"  # its workflow could not be started: asked again under a new RMA


FINAL_RETURN_STATUSES = frozenset(
    {ReturnStatus.PASSED, ReturnStatus.FAILED, ReturnStatus.EXPIRED, ReturnStatus.ABANDONED}
)
# Returns whose units are free to be returned again.
LAPSED = (ReturnStatus.EXPIRED, ReturnStatus.ABANDONED)


class Verdict(StrEnum):
    PASS = "pass"
    FAIL = "fail"


class Replacement(BaseModel):
    """What an exchange sends instead, its stock reserved when the exchange was accepted."""

    package: int
    round: int
    warehouse: str
    lines: list[RefundLine]
    weight_grams: int
    value: int
    # What each unit counts for: its price in the order for a SKU the order holds, today's
    # catalog price for another (what a return of the replacement gives back, later).
    prices: dict[str, int] = {}

    @property
    def transaction_id(self) -> str:
        return f"{self.round}/{self.package}"


class ReturnInput(BaseModel):
    """What the ReturnWorkflow is started with (the RMA row is written first)."""

    rma: str
    order_id: str
    customer_id: str
    lines: list[RefundLine]
    warehouse: str  # where the units go back (the package's warehouse)
    amount: int  # what passing refunds: the lines at their price
    currency: str
    reason: str
    by: str | None = None
    expires_at: datetime  # no parcel scanned by then: the RMA expires
    # An exchange: what goes out instead once the return passes, and what the customer
    # owes for it (> 0: charged first; < 0: refunded).
    replacement: Replacement | None = None
    difference: int = 0
    channel: str = ""
    sla: SlaRules = SlaRules()


class ReturnLabel(BaseModel):
    carrier: str
    tracking_number: str


class ReturnView(BaseModel):
    """The return as its workflow knows it: the API's answer."""

    rma: str
    order_id: str
    status: ReturnStatus
    lines: list[RefundLine]
    scanned: dict[str, int] = {}
    label: ReturnLabel | None = None
    expires_at: datetime
    note: str | None = None
    replacement: Replacement | None = None
    difference: int = 0
    # What the customer pays for a dearer replacement (its client secret from the API).
    payment: PaymentView | None = None


class ReturnScan(BaseModel):
    sku: str = Field(min_length=1, max_length=64)
    quantity: int = Field(1, gt=0, le=10_000)
    by: str | None = None


class Inspection(BaseModel):
    verdict: Verdict
    note: str = Field("", max_length=500)
    by: str | None = None


class ReturnStamp(BaseModel):
    """A step of the return, for its row: the status it reached and when."""

    rma: str
    status: ReturnStatus
    at: datetime
    note: str | None = None


class ReturnStock(BaseModel):
    """Units that came back: restocked (passed) or quarantined (failed)."""

    rma: str
    order_id: str
    warehouse: str
    lines: list[RefundLine]


class ReturnRefund(BaseModel):
    """A passed return's money: through the order while it runs, else straight."""

    rma: str
    order_id: str
    amount: int
    lines: list[RefundLine]
    reason: str
    by: str | None = None
    directly: bool = False  # the order's workflow has ended: refund here

    @property
    def purpose(self) -> str:
        return f"return-{self.rma}"


class ReturnRefunded(BaseModel):
    amount: int = 0
    running: bool = False  # the order's workflow refunds it (it was told)


class ReturnNotice(BaseModel):
    """A message to the customer about their return."""

    rma: str
    order_id: str
    customer_id: str
    key: str
    message: str


class ExchangePayment(BaseModel):
    rma: str
    order_id: str
    customer_id: str
    amount: int
    currency: str
