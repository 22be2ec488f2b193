"""A localstripe of a test module's own, for the modules whose tests pull the whole
statement: with the session's shared one each pull would read every earlier test's balance
transactions, one provider call a line.

Import both fixtures into such a module; they take the place of the session's
``localstripe_url`` and ``payments`` there::

    from tests.own_localstripe import own_localstripe_url, own_payments  # noqa: F401
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from integrations.payments.stripe import StripePayments
from tests.conftest import STRIPE_KEY, serve_localstripe


@pytest.fixture(scope="module", name="localstripe_url")
def own_localstripe_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from serve_localstripe(tmp_path_factory)


@pytest.fixture(scope="module", name="payments")
def own_payments(localstripe_url: str) -> StripePayments:
    return StripePayments(api_key=STRIPE_KEY, api_base=localstripe_url)
