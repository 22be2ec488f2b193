"""Pure rules: the order state machine, order IDs, payment verdicts, request fingerprints."""

from __future__ import annotations

import pytest

from api.intake import fingerprint
from api.schemas import OrderCreate
from domain.contract import order_workflow_id
from domain.errors import InvalidTransition
from domain.ids import ORDER_ID_PATTERN, derive_order_id
from domain.order import ALLOWED_TRANSITIONS, OrderStatus, check_transition, is_final
from domain.payments import judge_payment
from tests.helpers import order_body

S = OrderStatus

HAPPY_PATH = [S.PENDING_PAYMENT, S.PAID, S.ALLOCATED, S.FULFILLING, S.DELIVERED, S.COMPLETED]


# --- state machine ---------------------------------------------------------------------------


def test_every_status_has_a_rule() -> None:
    assert set(ALLOWED_TRANSITIONS) == set(OrderStatus)


def test_the_happy_path_is_allowed_step_by_step() -> None:
    for current, target in zip(HAPPY_PATH, HAPPY_PATH[1:], strict=False):
        check_transition(current, target)


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (S.PENDING_PAYMENT, S.CANCELLED),
        (S.PENDING_PAYMENT, S.ON_HOLD),
        (S.PAID, S.CANCELLED),
        (S.PAID, S.ON_HOLD),
        (S.ALLOCATED, S.CANCELLED),
        (S.ALLOCATED, S.ON_HOLD),
        (S.FULFILLING, S.ON_HOLD),
        (S.ON_HOLD, S.FULFILLING),
        (S.ON_HOLD, S.CANCELLED),
    ],
)
def test_side_paths_are_allowed(current: OrderStatus, target: OrderStatus) -> None:
    check_transition(current, target)


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (S.PENDING_PAYMENT, S.ALLOCATED),  # no stock allocation before payment
        (S.PENDING_PAYMENT, S.DELIVERED),
        (S.DELIVERED, S.ON_HOLD),  # delivered: a complaint is a return, not a hold
        (S.ON_HOLD, S.PAID),  # a hold ends in fulfilment or a cancellation
        (S.PAID, S.PENDING_PAYMENT),  # no going back
        (S.FULFILLING, S.CANCELLED),  # shipped: a return, not a cancellation
        (S.DELIVERED, S.CANCELLED),
        (S.DELIVERED, S.FULFILLING),
        (S.ON_HOLD, S.DELIVERED),
        (S.PAID, S.PAID),  # a duplicate payment is not a new transition
    ],
)
def test_impossible_transitions_are_refused(current: OrderStatus, target: OrderStatus) -> None:
    with pytest.raises(InvalidTransition) as refused:
        check_transition(current, target)
    assert refused.value.code == "invalid_transition"
    assert str(current) in refused.value.message and str(target) in refused.value.message


@pytest.mark.parametrize("final", [S.COMPLETED, S.CANCELLED])
def test_final_states_are_final(final: OrderStatus) -> None:
    assert is_final(final)
    for target in OrderStatus:
        with pytest.raises(InvalidTransition):
            check_transition(final, target)


@pytest.mark.parametrize(
    "status",
    [
        S.PENDING_PAYMENT,
        S.PAID,
        S.ALLOCATED,
        S.FULFILLING,
        S.DELIVERED,
        S.ON_HOLD,
    ],
)
def test_open_states_are_not_final_and_can_move_on(status: OrderStatus) -> None:
    assert not is_final(status)
    assert ALLOWED_TRANSITIONS[status]


def test_every_open_state_can_still_reach_a_final_state() -> None:
    """No order can get stuck: from anywhere there is a path to an end."""
    for start in OrderStatus:
        seen, frontier = {start}, [start]
        while frontier:
            for nxt in ALLOWED_TRANSITIONS[frontier.pop()]:
                if nxt not in seen:
                    seen.add(nxt)
                    frontier.append(nxt)
        assert any(is_final(s) for s in seen), start


# --- order IDs -------------------------------------------------------------------------------


def test_channel_order_number_gives_the_channel_form() -> None:
    assert derive_order_id("web", "A-1001", None) == "web-A-1001"
    # The channel's own number wins over the client's key: a re-push finds the same order.
    assert derive_order_id("web", "A-1001", "key-1") == "web-A-1001"
    assert derive_order_id("app", "A-1001", None) == "app-A-1001"
    assert order_workflow_id("web-A-1001") == "order-web-A-1001"


def test_idempotency_key_gives_a_stable_id_that_differs_by_key() -> None:
    first = derive_order_id("web", None, "key-1")
    assert first == derive_order_id("web", None, "key-1")
    assert first != derive_order_id("web", None, "key-2")
    assert first != derive_order_id("app", None, "key-1")
    assert first.startswith("web-k")
    assert "key-1" not in first  # the client's key is hashed, not echoed


def test_without_key_or_number_every_request_is_a_new_order() -> None:
    assert derive_order_id("web", None, None) != derive_order_id("web", None, None)


@pytest.mark.parametrize("channel", ["web", "flash_sale"])
@pytest.mark.parametrize(
    ("external_id", "key"),
    [("A-1001", None), (None, "a key with spaces / and slashes"), (None, None), ("x" * 64, None)],
)
def test_derived_ids_are_valid_order_ids(
    channel: str, external_id: str | None, key: str | None
) -> None:
    assert ORDER_ID_PATTERN.match(derive_order_id(channel, external_id, key))


# --- payment verdicts ------------------------------------------------------------------------


def judge(**changes: object) -> tuple[str, str | None]:
    facts: dict[str, object] = {
        "status": "succeeded",
        "amount": 3600,
        "currency": "usd",
        "expected_amount": 3600,
        "expected_currency": "usd",
    }
    facts.update(changes)
    return judge_payment(**facts)  # type: ignore[arg-type]


def test_a_succeeded_payment_of_the_right_amount_and_currency_is_paid() -> None:
    assert judge() == ("paid", None)


@pytest.mark.parametrize("status", ["requires_payment_method", "processing", "canceled"])
def test_a_payment_that_has_not_succeeded_is_unpaid(status: str) -> None:
    verdict, reason = judge(status=status)
    assert verdict == "unpaid"
    assert reason is not None and status in reason


def test_a_different_amount_is_a_mismatch() -> None:
    verdict, reason = judge(amount=3599)
    assert verdict == "mismatch"
    assert reason is not None and "3599" in reason and "3600" in reason


def test_a_different_currency_is_a_mismatch_even_for_the_same_amount() -> None:
    verdict, reason = judge(currency="eur")
    assert verdict == "mismatch"
    assert reason is not None and "EUR" in reason and "USD" in reason


def test_an_unpaid_payment_is_unpaid_even_if_the_amount_is_wrong() -> None:
    assert judge(status="requires_payment_method", amount=1)[0] == "unpaid"


@pytest.mark.parametrize(("paid_in", "expected"), [("USD", "usd"), ("usd", "USD"), ("Usd", "uSD")])
def test_currencies_compare_case_insensitively(paid_in: str, expected: str) -> None:
    assert judge(currency=paid_in, expected_currency=expected) == ("paid", None)


# --- request fingerprints --------------------------------------------------------------------


def test_fingerprint_does_not_depend_on_key_order() -> None:
    body = order_body("A-1001")
    reordered = {key: body[key] for key in reversed(list(body))}
    reordered["customer"] = dict(reversed(list(body["customer"].items())))
    reordered["shipping_address"] = dict(reversed(list(body["shipping_address"].items())))
    assert list(reordered) != list(body)
    assert fingerprint(OrderCreate.model_validate(body)) == fingerprint(
        OrderCreate.model_validate(reordered)
    )


def test_fingerprint_changes_with_what_is_ordered() -> None:
    body = order_body("A-1001")
    more = order_body("A-1001", lines=[{"sku": "TEA-001", "quantity": 3}])
    other_address = order_body("A-1001")
    other_address["shipping_address"] = {**body["shipping_address"], "city": "Shanghai"}
    prints = {fingerprint(OrderCreate.model_validate(b)) for b in (body, more, other_address)}
    assert len(prints) == 3


def test_fingerprint_ignores_surrounding_whitespace() -> None:
    body = order_body("A-1001")
    padded = order_body("A-1001", lines=[{"sku": " TEA-001 ", "quantity": 2}])
    assert fingerprint(OrderCreate.model_validate(body)) == fingerprint(
        OrderCreate.model_validate(padded)
    )
