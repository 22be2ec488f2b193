"""Parcels on their way: the stages a carrier reports and the shipment workflow's contract."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, Field

from domain.contract import ParcelTracker, ShipmentOutcome
from domain.safe_text import SafeText
from domain.sla import EffectiveLimit, SlaLevel, SlaMark, SlaRules, Stage
from domain.splitting import PackageLine


class TrackingStage(StrEnum):
    """What a carrier reports, in the order a parcel normally goes through it."""

    PICKED_UP = "picked_up"
    IN_TRANSIT = "in_transit"
    OUT_FOR_DELIVERY = "out_for_delivery"
    DELIVERED = "delivered"
    EXCEPTION = "exception"  # lost, damaged, refused: a person must look
    RETURNED = "returned"  # back at the sender


# The normal road; a later stage implies the earlier ones happened.
ROAD = [
    TrackingStage.PICKED_UP,
    TrackingStage.IN_TRANSIT,
    TrackingStage.OUT_FOR_DELIVERY,
    TrackingStage.DELIVERED,
]


# How far a parcel got. An exception ranks below delivery (a delivery settles it; a late
# exception can't undo one); a return outranks everything.
PROGRESS = [
    TrackingStage.PICKED_UP,
    TrackingStage.IN_TRANSIT,
    TrackingStage.OUT_FOR_DELIVERY,
    TrackingStage.EXCEPTION,
    TrackingStage.DELIVERED,
    TrackingStage.RETURNED,
]


def progress_rank(stage: str) -> int:
    """-1 before the carrier has the parcel (a label bought, or nothing yet)."""
    values = [stage.value for stage in PROGRESS]
    return values.index(stage) if stage in values else -1


class ParcelEvent(BaseModel):
    carrier: str
    event_id: str
    tracking_number: str | None = None
    stage: TrackingStage
    at: datetime


class ShipmentInput(BaseModel):
    order_id: str
    customer_id: str
    package: int
    warehouse: str
    lines: list[PackageLine]
    weight_grams: int
    insured_value: int = 0
    carrier: str = "sandbox"
    # Ties the order, its ledger rows and this shipment: the package's reservation reference.
    transaction_id: str
    # When to warn and alarm if the carrier hasn't picked the parcel up (channel ship-by).
    sla_marks: list[SlaMark] = []
    # When the warehouse could start (payment, or presale goods ready), and the order's
    # stage limits.
    ready_at: datetime
    sla: SlaRules


class SlaBreach(BaseModel):
    shipment_id: str
    order_id: str
    package: int
    level: SlaLevel
    deadline: datetime


class StageLimits(BaseModel):
    """What a shipment watches: each stage's yellow and red limit."""

    limits: dict[Stage, EffectiveLimit]


class StageBreach(BaseModel):
    shipment_id: str
    order_id: str
    package: int
    stage: Stage
    level: SlaLevel
    since: datetime
    limit: EffectiveLimit


class ParcelTrouble(BaseModel):
    """The carrier reported an exception: lost, damaged, refused, address unknown."""

    shipment_id: str
    order_id: str
    package: int
    carrier: str
    tracking_number: str | None
    at: datetime


class LabelRequest(BaseModel):
    shipment_id: str
    order_id: str
    package: int
    warehouse: str
    weight_grams: int
    insured_value: int
    carrier: str
    transaction_id: str
    ready_at: datetime | None = None  # when the warehouse could start on the package
    tracked_by: ParcelTracker = ParcelTracker.SHIPMENT


@dataclass(frozen=True)
class ParcelOnRecord:
    """What the shipments table says of a parcel a carrier's report names."""

    order_id: str
    package: int
    tracked_by: ParcelTracker
    ended: bool  # delivered, returned or its label voided: its way is over


class LabelView(BaseModel):
    carrier: str
    label_id: str
    tracking_number: str


class ParcelPreparation(BaseModel):
    """Everything a parcel needs before it can leave, asked in one step: its stock still
    reserved for it, its label, the stage limits it will be watched by."""

    label: LabelRequest
    sla: SlaRules


class PreparedParcel(BaseModel):
    """No label when the package's stock is no longer reserved for it: it can't leave."""

    label: LabelView | None = None
    limits: dict[Stage, EffectiveLimit] = {}


class HandOver(BaseModel):
    """The parcel leaves: its stock is deducted and the shipment stamped, in one transaction."""

    shipment_id: str
    order_id: str
    package: int
    at: datetime


class StageStamp(BaseModel):
    shipment_id: str
    stage: TrackingStage
    at: datetime
    moving_again: bool = False  # after a carrier exception: it closes the exception's alert
    stale: bool = False  # an exception older than the parcel's progress: stamped, no status


class ShipmentProgress(BaseModel):
    """What a shipment tells its order."""

    package: int
    stage: TrackingStage
    at: datetime
    carrier: str
    tracking_number: str | None = None


class ShipmentResult(BaseModel):
    package: int
    outcome: ShipmentOutcome
    reason: str | None = None
    delivered_at: datetime | None = None
    packed_at: datetime | None = None  # the warehouse's out-time
    picked_up_at: datetime | None = None  # the carrier's first scan


class WarehouseScan(BaseModel):
    """One scan at the packing bench: this many units of this SKU into this package."""

    order_id: SafeText = Field(min_length=1, max_length=100)
    package: int = Field(ge=1)
    sku: SafeText = Field(min_length=1, max_length=64)
    quantity: int = Field(1, ge=1, le=1000)


class ScanProgress(BaseModel):
    shipment_id: str
    expected: dict[str, int]
    scanned: dict[str, int]
    packed: bool


class WarehouseStamp(BaseModel):
    shipment_id: str
    step: Literal["pick_started", "packed"]
    at: datetime
