"""localstripe as orderflow runs it in development and tests: closer to Stripe in two ways.

- It honours ``Idempotency-Key`` as Stripe does: a POST repeated with the same key gets the
  first answer back instead of creating a second object. Stripe's key is what closes the gap
  between "the provider created the payment" and "we recorded it" when a worker dies in
  between; without it, a crash test would see a second, never-charged PaymentIntent.
- ``--in-memory`` skips localstripe's snapshot to disk, which pickles the whole store after
  every write (each request then costs in proportion to everything created before it).
  Benchmarks and crash tests create thousands of payments and must measure orderflow.
"""

from __future__ import annotations

import asyncio
import sys

from aiohttp import web
from localstripe import resources, server

_answers: dict[tuple[str, str, str], tuple[int, bytes, str]] = {}
_locks: dict[tuple[str, str, str], asyncio.Lock] = {}


@web.middleware
async def idempotency(request: web.Request, handler):  # type: ignore[no-untyped-def]
    key = request.headers.get("Idempotency-Key")
    if request.method != "POST" or not key:
        return await handler(request)
    slot = (request.headers.get("Authorization", ""), request.path, key)
    async with _locks.setdefault(slot, asyncio.Lock()):
        if slot not in _answers:
            response = await handler(request)
            if response.status >= 500 or not isinstance(response, web.Response):
                return response  # Stripe does not keep answers to failed requests either
            _answers[slot] = (response.status, response.body or b"", response.content_type)
        status, body, content_type = _answers[slot]
    return web.Response(status=status, body=body, content_type=content_type)


def main() -> None:
    if "--in-memory" in sys.argv:
        sys.argv.remove("--in-memory")
        resources.Store.dump_to_disk = lambda self: None  # type: ignore[method-assign]
    server.app.middlewares.append(idempotency)
    server.start()


if __name__ == "__main__":
    main()
