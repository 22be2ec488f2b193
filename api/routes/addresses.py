"""Changing where a running order goes."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import Field
from starlette.concurrency import run_in_threadpool

from api.auth import PrincipalDep
from api.deps import SessionsDep, WorkflowsDep
from api.routes.orders import load_order
from api.schemas import AddressIn, Strict
from domain.addresses import AddressChange, AddressOutcome
from domain.errors import OrderflowError
from domain.safe_text import SafeText
from store.addresses import AddressChangeRepository
from store.db import SessionFactory, transaction

router = APIRouter(prefix="/orders", tags=["orders"])


class AddressChangeIn(Strict):
    address: AddressIn
    reason: SafeText = Field(min_length=1, max_length=500)


@router.post("/{order_id}/address", response_model=AddressOutcome)
async def change_address(
    order_id: str,
    body: AddressChangeIn,
    *,
    sessions: SessionsDep,
    workflows: WorkflowsDep,
    caller: PrincipalDep,
) -> AddressOutcome:
    """Send what has not arrived yet to a new address. Before anything is labelled, the
    packages are planned for it; a label already bought is voided and bought again; a parcel
    the carrier has is rerouted if the carrier still can. One it can't (out for delivery,
    say) makes the answer `needs_person`: support gets an alert due within the channel's
    `address_decision_within`. Every parcel arrived or came back, or the order ended: `409`,
    nothing changed."""
    order = await run_in_threadpool(load_order, sessions, order_id, caller)
    address = body.address.model_dump(mode="json")
    change_id = await run_in_threadpool(
        _request, sessions, order.id, address, body.reason, caller.actor
    )
    try:
        return await workflows.change_address(
            order.id, AddressChange(change_id=change_id, reason=body.reason, by=caller.actor)
        )
    except OrderflowError as refusal:
        await run_in_threadpool(_refuse, sessions, change_id, refusal.message)
        raise


def _request(
    sessions: SessionFactory, order_id: str, address: dict[str, object], reason: str, actor: str
) -> int:
    with transaction(sessions) as session:
        return AddressChangeRepository(session).request(order_id, address, reason, actor)


def _refuse(sessions: SessionFactory, change_id: int, note: str) -> None:
    with transaction(sessions) as session:
        AddressChangeRepository(session).refuse(change_id, note)
