"""The Stripe SDK's HTTP, on one urllib3 pool.

The SDK's default transport is ``requests``, which for every call merges the environment's
proxy and certificate settings, a cookie jar and redirect handling into a session request:
about 0.35 ms of CPU a call, a third of what a PaymentIntent's creation costs the worker
(docs/benchmarks.md, change 12). Stripe needs none of it. The SDK keeps what matters: its
retries (on what this transport marks retryable), idempotency keys and error mapping.
"""

from __future__ import annotations

import textwrap
import urllib.request
from collections.abc import Mapping
from typing import Any, NoReturn
from urllib.parse import urlsplit

import stripe
import urllib3
from stripe import APIConnectionError

# Stripe's own clients wait this long for an answer.
READ_TIMEOUT_SECONDS = 80.0
CONNECT_TIMEOUT_SECONDS = 30.0
# Kept-alive connections; more are opened when every one is busy, and closed after use.
POOL_SIZE = 16


class Urllib3Transport(stripe.HTTPClient):
    name = "urllib3"

    def __init__(self, api_base: str) -> None:
        super().__init__()
        timeout = urllib3.Timeout(connect=CONNECT_TIMEOUT_SECONDS, read=READ_TIMEOUT_SECONDS)
        options: dict[str, Any] = {
            "maxsize": POOL_SIZE,
            "timeout": timeout,
            "retries": False,  # the SDK retries, with its own backoff and idempotency keys
            "ca_certs": stripe.ca_bundle_path,
        }
        proxy = _proxy_for(api_base)
        self._pool: urllib3.PoolManager = (
            urllib3.ProxyManager(proxy, **options) if proxy else urllib3.PoolManager(**options)
        )

    def request(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | None,
        post_data: Any = None,
        *,
        _usage: list[str] | None = None,
    ) -> tuple[str, int, Mapping[str, str]]:
        try:
            answer = self._pool.request(
                method, url, body=post_data, headers=dict(headers or {}), redirect=False
            )
        except urllib3.exceptions.HTTPError as error:
            _raise_connection_error(error)
        return answer.data.decode("utf-8"), answer.status, answer.headers

    def close(self) -> None:
        self._pool.clear()


def _proxy_for(api_base: str) -> str | None:
    """The proxy the environment names for Stripe's address, as ``requests`` would use."""
    parts = urlsplit(api_base)
    if urllib.request.proxy_bypass(parts.hostname or ""):
        return None
    return urllib.request.getproxies().get(parts.scheme)


def _raise_connection_error(error: urllib3.exceptions.HTTPError) -> NoReturn:
    """As the SDK's own transports do: a certificate that fails is not retried; a connection
    refused, reset or timed out is (a POST carries an idempotency key)."""
    retry = not isinstance(error, urllib3.exceptions.SSLError)
    message = textwrap.fill("Unexpected error communicating with Stripe.")
    raise APIConnectionError(  # type: ignore[no-untyped-call]
        f"{message}\n\n(Network error: {type(error).__name__}: {error})", should_retry=retry
    ) from error
