"""Personal data in responses, as each role may see it.

The customer sees everything; their storefront sees the order's own address but not the
customer's contact details, which are the customer's and may have been given to another
channel; support sees enough to help (the phone and email masked); finance sees no address
at all. Payment secrets go only to whoever completes the payment (and admins).
"""

from __future__ import annotations

from typing import Any

from api.schemas import AddressPublic, CustomerPublic, PaymentPublic
from domain.access import Principal, Role
from store.models import Customer

SEES_EVERYTHING = frozenset({Role.CUSTOMER, Role.API_CLIENT, Role.ADMIN})
# Anyone may name any customer ID in an order: a storefront is shown only the ID, never the
# details the customer keeps (``PUT /customers/me``) or gave on another channel.
SEES_CONTACT = frozenset({Role.CUSTOMER, Role.ADMIN})
PAYS = frozenset({Role.CUSTOMER, Role.API_CLIENT, Role.ADMIN})


def mask_email(email: str) -> str:
    local, _, domain = email.partition("@")
    return f"{local[:1]}***@{domain}"


def mask_phone(phone: str) -> str:
    digits = [c for c in phone if c.isdigit()]
    return "*** " + "".join(digits[-4:])


def customer_for(caller: Principal, customer: Customer | None) -> CustomerPublic | None:
    if customer is None:
        return None
    if caller.role in SEES_CONTACT:
        return CustomerPublic(id=customer.id, email=customer.email, name=customer.name)
    if caller.role is Role.API_CLIENT:
        return CustomerPublic(id=customer.id)
    return CustomerPublic(id=customer.id, email=mask_email(customer.email), name=customer.name)


def address_for(caller: Principal, address: dict[str, Any]) -> AddressPublic | None:
    if caller.role in SEES_EVERYTHING:
        return AddressPublic.model_validate(address)
    if caller.role is Role.SUPPORT:
        shown = AddressPublic.model_validate(address)
        return shown.model_copy(update={"phone": mask_phone(shown.phone or "")})
    return None


def payment_for(caller: Principal, payment: PaymentPublic | None) -> PaymentPublic | None:
    if payment is None or caller.role in PAYS:
        return payment
    return payment.model_copy(update={"client_secret": None})
