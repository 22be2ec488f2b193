"""A customer's own details: only their own token changes them, never an order."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from api.auth import PrincipalDep
from api.deps import SessionsDep
from api.schemas import ContactIn, ContactPublic
from domain.errors import CustomerNotFound, InvalidRequest
from store.db import transaction
from store.repositories import CustomerRepository

router = APIRouter(prefix="/customers", tags=["customers"])


@router.put("/me", response_model=ContactPublic)
async def change_my_contact(
    body: ContactIn, *, caller: PrincipalDep, sessions: SessionsDep
) -> ContactPublic:
    """Change the email and name notifications go to. Orders placed later keep them: intake
    never overwrites a customer's contact details."""
    customer_id = caller.customer_id
    if customer_id is None:  # the route table lets customers only
        raise InvalidRequest("only a customer has contact details of their own")

    def change() -> ContactPublic:
        with transaction(sessions) as session:
            customer = CustomerRepository(session).change_contact(
                customer_id, email=str(body.email), name=body.name
            )
            if customer is None:
                raise CustomerNotFound(f"customer {customer_id} has placed no order yet")
            return ContactPublic(id=customer.id, email=customer.email, name=customer.name)

    return await run_in_threadpool(change)
