"""Stripe's SDK over orderflow's own transport: the SDK's answers, errors and retries are
what they are over its default one."""

from __future__ import annotations

import pytest
import stripe

from integrations.payments.stripe import StripePayments
from integrations.payments.stripe_transport import Urllib3Transport, _proxy_for


def test_a_provider_error_reaches_the_caller_as_the_sdk_s_error(
    payments: StripePayments,
) -> None:
    with pytest.raises(stripe.InvalidRequestError) as refused:
        payments.retrieve_payment("pi_does_not_exist")
    assert refused.value.http_status == 404


def test_the_sdk_retries_a_refused_connection_and_then_says_so() -> None:
    # Nothing listens on the discard port: every attempt is refused at once.
    transport = Urllib3Transport("http://127.0.0.1:9")
    with pytest.raises(stripe.APIConnectionError) as failed:
        transport.request("GET", "http://127.0.0.1:9/v1/payment_intents/pi_1", {})
    assert failed.value.should_retry is True


def test_an_address_reaches_stripe_through_the_proxy_the_environment_names(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.internal:3128")
    monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.1")
    assert _proxy_for("https://api.stripe.com") == "http://proxy.internal:3128"
    assert _proxy_for("http://127.0.0.1:8420") is None
