"""Orders already running must keep running: recorded histories replay against today's code.

A change to OrderWorkflow or ShipmentWorkflow that would break a running one (a new
activity, a reordered step) fails here. Guard such changes with ``workflow.patched``; refresh
the histories with ``pytest tests/workflows --record-histories`` only for changes that running
workflows never see.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from tests.conftest import HISTORIES, SHIPMENT_HISTORIES
from workflows.order import OrderWorkflow
from workflows.shipment import ShipmentWorkflow

RECORDED = sorted(HISTORIES.glob("*.json"))
RECORDED_SHIPMENTS = sorted(SHIPMENT_HISTORIES.glob("*.json"))


def test_representative_histories_are_recorded() -> None:
    """Today's shapes, and those of orders started before each patch (``before_<patch>__``)."""
    names = {path.stem for path in RECORDED}
    for shape in ("completed_after_confirmation_window", "cancelled_unpaid"):
        assert {shape, f"before_packages__{shape}"} <= names
    for patch in ("confirmation_terms", "shipments", "partial_fulfilment"):
        assert f"before_{patch}__completed_after_confirmation_window" in names
    # A cancellation whose last task the server refused (a signal came in) and retried.
    assert {
        "before_cancel_recorded_first__cancelled_and_refunded",
        "cancelled_and_refunded",
        "cancelled_unpaid_while_a_signal_arrived",
        "cancelled_on_hold_and_refunded_while_a_signal_arrived",
    } <= names
    assert {
        "delivered_by_carrier_in_two_packages",
        "carrier_exception_then_delivered",
        "returned_then_cancelled_and_restocked",
        "late_cancel_voided_one_of_two_packages",
    } <= names
    shipments = {path.stem for path in RECORDED_SHIPMENTS}
    for shape in ("late_pickup_yellow_then_red", "picked_up_and_delivered", "voided_before_pickup"):
        assert {shape, f"before_stage_sla__{shape}"} <= shipments
    assert {"every_stage_late", "exception_then_delivered"} <= shipments
    assert "void_refused_then_asked_the_carrier" in shipments


@pytest.mark.parametrize("path", RECORDED, ids=[p.stem for p in RECORDED])
async def test_recorded_order_replays_on_current_code(path: Path) -> None:
    history = WorkflowHistory.from_json(f"order-{path.stem}", path.read_text())
    await _replays(history, OrderWorkflow)


@pytest.mark.parametrize("path", RECORDED_SHIPMENTS, ids=[p.stem for p in RECORDED_SHIPMENTS])
async def test_recorded_shipment_replays_on_current_code(path: Path) -> None:
    """Parcels on their way live for days: their workflow changes are guarded the same way."""
    history = WorkflowHistory.from_json(f"shipment-{path.stem}", path.read_text())
    await _replays(history, ShipmentWorkflow)


async def _replays(history: WorkflowHistory, workflow: type) -> None:
    replayer = Replayer(workflows=[workflow], data_converter=pydantic_data_converter)
    result = await replayer.replay_workflow(history, raise_on_replay_failure=True)
    assert result.replay_failure is None
