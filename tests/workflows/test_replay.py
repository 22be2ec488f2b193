"""Orders already running must keep running: recorded histories replay against today's code.

``BASELINE`` names the histories recorded when the workflows took their present shape (one
per representative order and shipment). From then on, a change that a running order or
shipment could replay (a new activity, a reordered step) fails here: guard it with
``workflow.patched`` in the phase module it changes and record a history of the new shape
(docs/operations.md). A baseline history that is deleted fails here too.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from domain.contract import ORDER_STATUS
from domain.order import ALLOWED_TRANSITIONS, OrderStatus
from integrations.temporal import data_converter
from tests.conftest import (
    COMPENSATION_HISTORIES,
    HISTORIES,
    KEYRING,
    RECONCILIATION_HISTORIES,
    RETURN_HISTORIES,
    SHIPMENT_HISTORIES,
)
from workers.main import WORKFLOW_RUNNER
from workflows.compensation_batch import CompensationWorkflow
from workflows.order import OrderWorkflow
from workflows.reconciliation import ReconciliationWorkflow
from workflows.returns import ReturnWorkflow
from workflows.shipment import ShipmentWorkflow

# Recorded in every shape of the order: as they run now; as ``before_order_shape_5__*``, from
# before the gate ``order-shape-5`` (the order's stock planned and reserved in one step); as
# ``before_order_shape_4__*``, from before the gate ``order-shape-4`` (the confirmation
# window's reminders scheduled when it opens, for the outbox to send); as
# ``before_order_shape_3__*``, from before the gate ``order-shape-3`` (paid and allocated in
# one step when the stock was held; the parcel an order runs prepared in one step); and as
# ``before_order_shape_2__*``, from before the gate ``order-shape-2`` (an order of one package
# runs its parcel itself).
IN_EVERY_SHAPE = [
    "completed_after_confirmation_window",
    "completed_on_customer_confirmation",
    "audited_then_confirmed",
    "cancelled_unpaid",
    "cancelled_unpaid_while_a_signal_arrived",
    "cancelled_and_refunded",
    "cancelled_on_hold_and_refunded_while_a_signal_arrived",
    "two_packages_allocated",
    "held_without_stock_then_cancelled",
    "backorder_cancelled_and_refunded",
    "pre_reservation_lapsed_then_paid",
    "delivered_by_carrier_in_two_packages",
    "carrier_exception_then_delivered",
    "returned_then_cancelled_and_restocked",
    "late_cancel_voided_one_of_two_packages",
    "blocked_parcel_held",
    "mismatched_payment_held_then_cancelled",
    "partly_refunded_then_completed",
    "partly_refunded_then_refunded_in_full",
    "refunded_in_full_on_delivery",
    "held_with_a_returned_parcel_settled_by_a_partial_refund",
    "held_then_refunded_in_full",
    "partly_refunded_by_a_return_then_completed",
    "compensated_while_delivered",
    "address_changed_after_labelling_then_delivered",
    "address_change_too_late_then_overdue",
    "partly_refunded_at_the_dashboard_found_by_reconciliation",
]
# The parcel's way in an order of one package: its scans, clocks and void, which only the
# shipment histories held before the second shape.
PARCEL_WAYS = [
    "parcel_scanned_and_packed",
    "parcel_late_for_pickup_yellow_then_red",
    "parcel_late_at_every_stage",
    "parcel_voided_before_pickup",
    "parcel_void_refused_then_asked_the_carrier",
]
BASELINE = [
    *IN_EVERY_SHAPE,
    *PARCEL_WAYS,
    *(f"before_order_shape_5__{name}" for name in IN_EVERY_SHAPE + PARCEL_WAYS),
    *(f"before_order_shape_4__{name}" for name in IN_EVERY_SHAPE + PARCEL_WAYS),
    *(f"before_order_shape_3__{name}" for name in IN_EVERY_SHAPE + PARCEL_WAYS),
    *(f"before_order_shape_2__{name}" for name in IN_EVERY_SHAPE),
]
RETURN_BASELINE = [
    "passed_and_refunded_by_the_running_order",
    "passed_and_refunded_after_the_order_completed",
    "failed_and_quarantined",
    "expired_without_a_parcel",
    "even_exchange_delivered",
    "dearer_exchange_paid_then_delivered",
]
COMPENSATION_BASELINE = ["one_closed_order_one_running"]
RECONCILIATION_BASELINE = ["payments_run_told_a_running_order"]
# Most were recorded when an order of one package still had a ShipmentWorkflow of its own. The
# workflow still ships every package of an order of two or more, and an exchange's replacement.
SHIPMENT_BASELINE = [
    "picked_up_and_delivered",
    "scanned_and_packed",
    "late_pickup_yellow_then_red",
    "every_stage_late",
    "exception_then_delivered",
    "voided_before_pickup",
    "void_refused_then_asked_the_carrier",
    "relabelled_for_a_new_address",
]


def test_every_recorded_history_is_in_the_baseline() -> None:
    """A history recorded for a new shape is named here, so deleting it later fails."""
    assert sorted(p.stem for p in HISTORIES.glob("*.json")) == sorted(BASELINE)
    assert sorted(p.stem for p in SHIPMENT_HISTORIES.glob("*.json")) == sorted(SHIPMENT_BASELINE)
    assert sorted(p.stem for p in RETURN_HISTORIES.glob("*.json")) == sorted(RETURN_BASELINE)
    assert sorted(p.stem for p in COMPENSATION_HISTORIES.glob("*.json")) == sorted(
        COMPENSATION_BASELINE
    )
    assert sorted(p.stem for p in RECONCILIATION_HISTORIES.glob("*.json")) == sorted(
        RECONCILIATION_BASELINE
    )


@pytest.mark.parametrize("name", BASELINE)
async def test_recorded_order_replays_on_current_code(name: str) -> None:
    await _replays(HISTORIES / f"{name}.json", OrderWorkflow)


@pytest.mark.parametrize("name", SHIPMENT_BASELINE)
async def test_recorded_shipment_replays_on_current_code(name: str) -> None:
    """Parcels on their way live for days: their workflow changes are guarded the same way."""
    await _replays(SHIPMENT_HISTORIES / f"{name}.json", ShipmentWorkflow)


@pytest.mark.parametrize("name", RETURN_BASELINE)
async def test_recorded_return_replays_on_current_code(name: str) -> None:
    """A return waits days for its parcel: its workflow changes are guarded too."""
    await _replays(RETURN_HISTORIES / f"{name}.json", ReturnWorkflow)


@pytest.mark.parametrize("name", COMPENSATION_BASELINE)
async def test_recorded_compensation_replays_on_current_code(name: str) -> None:
    await _replays(COMPENSATION_HISTORIES / f"{name}.json", CompensationWorkflow)


@pytest.mark.parametrize("name", RECONCILIATION_BASELINE)
async def test_recorded_reconciliation_replays_on_current_code(name: str) -> None:
    await _replays(RECONCILIATION_HISTORIES / f"{name}.json", ReconciliationWorkflow)


async def _replays(path: Path, workflow: type) -> None:
    assert path.exists(), f"baseline history {path.name} is missing: running workflows go unguarded"
    history = WorkflowHistory.from_json(path.stem, path.read_text())
    replayer = Replayer(
        workflows=[workflow],
        # The baseline predates sealed payloads: the codec passes them through as they are.
        data_converter=data_converter(KEYRING),
        workflow_runner=WORKFLOW_RUNNER,
    )
    result = await replayer.replay_workflow(history, raise_on_replay_failure=True)
    assert result.replay_failure is None


def test_every_move_the_state_machine_allows_is_made_by_a_baseline_order() -> None:
    """A status or a move nothing enters is a rule nobody can rely on: each allowed move must
    be made by one of the recorded orders (as its ``OrderStatus`` search attribute shows)."""
    made: set[tuple[OrderStatus, OrderStatus]] = set()
    for name in BASELINE:
        statuses = _statuses(HISTORIES / f"{name}.json")
        made.update(zip(statuses, statuses[1:], strict=False))
    allowed = {(old, new) for old, moves in ALLOWED_TRANSITIONS.items() for new in moves}
    assert sorted(allowed - made) == []


def _statuses(path: Path) -> list[OrderStatus]:
    """The order's statuses as it entered them; intake starts it in ``pending_payment``."""
    statuses = [OrderStatus.PENDING_PAYMENT]
    for event in json.loads(path.read_text())["events"]:
        upsert = event.get("upsertWorkflowSearchAttributesEventAttributes")
        fields = upsert["searchAttributes"]["indexedFields"] if upsert else {}
        if ORDER_STATUS.name in fields:
            payload = base64.b64decode(fields[ORDER_STATUS.name]["data"])
            statuses.append(OrderStatus(json.loads(payload)))
    return statuses
