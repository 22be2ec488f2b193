"""The merchant's fulfilment rules: how orders split, when stock is locked, when it runs low.

Rules are data (``rules.yaml``, see docs/rules.md), validated by these models. The order
workflow gets its channel's rules in its input, so a running order keeps the rules it started
with and replays identically after the merchant edits the file.
"""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, model_validator

from domain.confirmation import ConfirmationRules
from domain.ids import ChannelName
from domain.sla import SlaRules


class Strict(BaseModel):
    # A misspelt key in a rules file is an error, never a silently ignored rule.
    model_config = ConfigDict(extra="forbid", frozen=True)


class SplitRules(Strict):
    """The planner's rules. Their order is fixed (docs/rules.md); these switch and tune them."""

    separate_cold_chain: bool = True
    separate_fragile: bool = True
    # A line worth at least this much (minor units) ships alone; None turns the rule off.
    high_value_threshold: int | None = Field(50_000, gt=0)
    insure_high_value: bool = True
    max_parcel_weight_grams: int = Field(20_000, gt=0)


class LockStrategy(StrEnum):
    AT_ORDER = "at_order"  # reserve at intake; released when the payment window ends unpaid
    AT_PAYMENT = "at_payment"  # reserve once the payment is verified
    PRE_RESERVE = "pre_reserve"  # reserve at intake for a short TTL; re-reserve at payment


class ShortageAction(StrEnum):
    """What happens to a paid order whose stock is gone."""

    BACKORDER = "backorder"  # wait for stock up to backorder_wait, then cancel and refund
    REFUND = "refund"  # cancel and refund at once
    HOLD = "hold"  # put on hold for a person to decide


class ChannelRules(Strict):
    lock: LockStrategy = LockStrategy.AT_ORDER
    reservation_ttl: timedelta = timedelta(minutes=10)  # pre_reserve only
    on_shortage: ShortageAction = ShortageAction.BACKORDER
    backorder_wait: timedelta = timedelta(hours=24)
    backorder_recheck: timedelta = timedelta(minutes=30)
    # How long after delivery support may refund what the customer paid for (goodwill
    # refunds are not bound by it).
    refund_window: timedelta = timedelta(days=30)
    # How long a return's parcel may take to reach the warehouse before its RMA expires.
    return_parcel_wait: timedelta = timedelta(days=14)
    # How soon support must take up an address change a parcel could not follow.
    address_decision_within: timedelta = timedelta(hours=2)

    @model_validator(mode="after")
    def _positive_durations(self) -> ChannelRules:
        for name in (
            "reservation_ttl",
            "backorder_wait",
            "backorder_recheck",
            "refund_window",
            "return_parcel_wait",
        ):
            if getattr(self, name) <= timedelta(0):
                raise ValueError(f"{name} must be longer than zero")
        return self


class FulfilmentRules(Strict):
    splitting: SplitRules = SplitRules()
    # Channels not listed here use "default".
    channels: dict[ChannelName, ChannelRules] = Field(
        default_factory=lambda: {"default": ChannelRules()}
    )
    # Units available at or below which a SKU in a warehouse raises a low-stock alert,
    # unless its stock level sets its own threshold.
    low_stock_threshold: int = Field(5, ge=0)
    confirmation: ConfirmationRules = ConfirmationRules()
    sla: SlaRules = SlaRules()

    def for_channel(self, channel: str) -> ChannelRules:
        return self.channels.get(channel) or self.channels.get("default") or ChannelRules()
