"""localstripe as orderflow runs it in development and tests: closer to Stripe in three ways.

- It honours ``Idempotency-Key`` as Stripe does: a POST repeated with the same key gets the
  first answer back instead of creating a second object. Stripe's key is what closes the gap
  between "the provider created the payment" and "we recorded it" when a worker dies in
  between; without it, a crash test would see a second, never-charged PaymentIntent.
- ``--data-dir DIR`` keeps the store in ``DIR/localstripe.pickle``. Plain localstripe keeps it
  in one fixed file in the system temp folder, so every stack on a machine (a dev stack, a test
  run, a second checkout) read the others' payments, and one starting while another wrote
  crashed on the half-written file.
- ``--in-memory`` skips the snapshot to disk, which pickles the whole store after every write
  (each request then costs in proportion to everything created before it). Benchmarks and
  crash tests create thousands of payments and must measure orderflow.
- It listens on ``--host`` (127.0.0.1 unless told otherwise). Plain localstripe listens on
  every interface, which offers anyone on the network a payment provider to call.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import pickle
import sys
from pathlib import Path

from aiohttp import web
from aiohttp.typedefs import Handler
from localstripe import resources, server

STATE_FILE = "localstripe.pickle"

_answers: dict[tuple[str, str, str], tuple[int, bytes, str]] = {}
_locks: dict[tuple[str, str, str], asyncio.Lock] = {}


@web.middleware
async def idempotency(request: web.Request, handler: Handler) -> web.StreamResponse:
    key = request.headers.get("Idempotency-Key")
    if request.method != "POST" or not key:
        return await handler(request)
    slot = (request.headers.get("Authorization", ""), request.path, key)
    async with _locks.setdefault(slot, asyncio.Lock()):
        if slot not in _answers:
            response = await handler(request)
            if response.status >= 500 or not isinstance(response, web.Response):
                return response  # Stripe does not keep answers to failed requests either
            body = response.body or b""
            if not isinstance(body, bytes | bytearray):
                return response  # a streamed payload cannot be sent twice
            _answers[slot] = (response.status, bytes(body), response.content_type)
        status, body, content_type = _answers[slot]
    return web.Response(status=status, body=body, content_type=content_type)


def load_state(path: Path) -> dict[str, object]:
    """The store saved at ``path``; empty if there is none, or if it cannot be read."""
    try:
        with open(path, "rb") as file:
            state = pickle.load(file)
    except FileNotFoundError:
        return {}
    # A damaged pickle raises almost any exception type (EOFError, UnpicklingError, KeyError...).
    except Exception:
        state = None
    if not isinstance(state, dict):
        aside = path.with_name(path.name + ".corrupt")
        os.replace(path, aside)
        message = f"localstripe: {path} is unreadable, set aside as {aside}; starting empty"
        print(message, file=sys.stderr)
        return {}
    return state


def save_state(store: dict[str, object], path: Path) -> None:
    """Write to a side file, then rename: a reader never sees half a store."""
    partial = path.with_name(f"{path.name}.{os.getpid()}.partial")
    with open(partial, "wb") as file:
        pickle.dump(store, file, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(partial, path)


def keep_state(path: Path | None) -> None:
    """Point localstripe's load and save at ``path``, or at nothing (None: memory only)."""

    def load(store: resources.Store) -> None:
        state = load_state(path) if path else {}
        store.clear()
        store.update(state)

    def save(store: resources.Store) -> None:
        if path:
            save_state(store, path)

    resources.Store.try_load_from_disk = load
    resources.Store.dump_to_disk = save


def serve(host: str, port: int) -> None:
    """localstripe's own ``server.start``, on ``host`` instead of every interface."""
    resources.store.try_load_from_disk()
    access = logging.getLogger("aiohttp.access")
    access.setLevel(logging.DEBUG)
    access.addHandler(logging.StreamHandler())
    web.run_app(server.app, host=host, port=port, access_log=access)


def main() -> None:
    parser = argparse.ArgumentParser(description="localstripe, closer to Stripe")
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--data-dir", type=Path)
    where.add_argument("--in-memory", action="store_true")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8420)
    args = parser.parse_args()
    if args.data_dir:
        args.data_dir.mkdir(parents=True, exist_ok=True)
    keep_state(None if args.in_memory else args.data_dir / STATE_FILE)
    server.app.middlewares.append(idempotency)
    serve(args.host, args.port)


if __name__ == "__main__":
    main()
