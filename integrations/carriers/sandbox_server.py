"""The sandbox carrier: orderflow's own stand-in for a parcel carrier, for development and tests.

It sells labels (idempotent by ``Idempotency-Key``), voids them until the parcel is picked up,
and reports tracking stages to one webhook URL, signed like Stripe's webhooks (header
``Carrier-Signature``, see ``integrations.signing``). Tests play the carrier by posting events
to ``/parcels/{tracking_number}/events`` (in any order, repeated if they like); with
``--advance-every`` it walks every parcel to ``delivered`` on its own, as ``orderflow dev`` needs.
State lives in memory. ``python -m integrations.carriers.sandbox_server --port N ...``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import secrets
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import httpx
import uvicorn
from fastapi import FastAPI, Header, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from integrations.carriers import TrackingStage
from integrations.signing import sign

SIGNATURE_HEADER = "Carrier-Signature"
WEBHOOK_TIMEOUT_SECONDS = 5.0
WEBHOOK_RETRIES = 3  # after the first attempt
WEBHOOK_BACKOFF_SECONDS = 0.1  # doubled before each retry: 0.1, 0.2, 0.4
NORMAL_ROUTE = (
    TrackingStage.PICKED_UP,
    TrackingStage.IN_TRANSIT,
    TrackingStage.OUT_FOR_DELIVERY,
    TrackingStage.DELIVERED,
)

# Where a parcel can still be rerouted: with the carrier, not yet out for delivery.
INTERCEPTABLE = (TrackingStage.PICKED_UP.value, TrackingStage.IN_TRANSIT.value)

log = logging.getLogger("sandbox_carrier")


class LabelRequest(BaseModel):
    shipment_id: str = Field(min_length=1)
    origin_warehouse: str = Field(min_length=1)
    destination_city: str = Field(min_length=1)
    weight_grams: int = Field(gt=0)
    insured_value: int = Field(ge=0)
    # A return label: the parcel travels from the customer's city to the warehouse.
    direction: Literal["outbound", "return"] = "outbound"


class InterceptRequest(BaseModel):
    destination_city: str = Field(min_length=1)


class EventRequest(BaseModel):
    stage: TrackingStage
    at: datetime | None = None  # naive means UTC; default now
    event_id: str | None = Field(None, min_length=1)
    repeat: int = Field(1, ge=1, le=100)  # send the same event (same event_id) this many times


class Refused(Exception):
    """A request the sandbox answers with ``{"error": {"code", "message"}}``."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass
class SandboxParcel:
    label_id: str
    tracking_number: str
    request: dict[str, Any]
    key: str
    status: str = "created"  # or "voided"
    events: list[dict[str, Any]] = field(default_factory=list)
    due: float | None = None  # monotonic time of the next automatic stage
    intercepts: list[str] = field(default_factory=list)  # the keys of reroutes accepted

    def label(self) -> dict[str, Any]:
        return {
            "label_id": self.label_id,
            "tracking_number": self.tracking_number,
            "status": self.status,
        }


class Sandbox:
    """The carrier's books. Every method takes the lock and never waits on I/O while holding it."""

    def __init__(self, advance_every: float | None) -> None:
        self.advance_every = advance_every
        self.lock = threading.Lock()
        self.by_key: dict[str, SandboxParcel] = {}
        self.by_label: dict[str, SandboxParcel] = {}
        self.by_tracking: dict[str, SandboxParcel] = {}

    def buy(self, key: str, request: dict[str, Any]) -> tuple[SandboxParcel, bool]:
        """The label for ``key``, and whether it was bought just now."""
        with self.lock:
            if key in self.by_key:
                parcel = self.by_key[key]
                if parcel.request != request:
                    raise Refused(
                        409,
                        "idempotency_key_reused",
                        f"Idempotency-Key {key} was used for a different parcel",
                    )
                return parcel, False
            parcel = SandboxParcel(
                label_id=f"lbl_{secrets.token_hex(8)}",
                tracking_number=self._new_tracking_number(),
                request=request,
                key=key,
                due=self._next_due(),
            )
            self.by_key[key] = parcel
            self.by_label[parcel.label_id] = parcel
            self.by_tracking[parcel.tracking_number] = parcel
            return parcel, True

    def void(self, label_id: str) -> SandboxParcel:
        with self.lock:
            parcel = self.by_label.get(label_id)
            if parcel is None:
                raise Refused(404, "unknown_label", f"no label {label_id}")
            if parcel.events:
                raise Refused(409, "label_used", f"{parcel.tracking_number} was picked up")
            parcel.status = "voided"
            return parcel

    def intercept(self, tracking_number: str, key: str, city: str) -> SandboxParcel:
        """Send a parcel on its way to another city: possible while it is picked up or in
        transit, not once it is out for delivery (or arrived, or in trouble). Once per key."""
        with self.lock:
            parcel = self._parcel(tracking_number)
            if key in parcel.intercepts:
                return parcel
            last = parcel.events[-1]["stage"] if parcel.events else None
            if last not in INTERCEPTABLE:
                where = last or "not picked up yet"
                raise Refused(
                    409, "too_late", f"{tracking_number} is {where}: it can't be rerouted"
                )
            parcel.intercepts.append(key)
            parcel.request = {**parcel.request, "destination_city": city}
            return parcel

    def record(
        self, tracking_number: str, stage: TrackingStage, at: datetime, event_id: str | None
    ) -> dict[str, Any]:
        with self.lock:
            parcel = self._parcel(tracking_number)
            if parcel.status == "voided":
                raise Refused(409, "label_voided", f"the label of {tracking_number} was voided")
            return self._record(parcel, stage, at, event_id)

    def advance_due(self, now: float) -> list[dict[str, Any]]:
        """Automatic mode: move each parcel whose time has come one stage along its route."""
        with self.lock:
            events = []
            for parcel in self.by_tracking.values():
                if parcel.status == "voided" or parcel.due is None or parcel.due > now:
                    continue
                stage = next_stage(parcel.events[-1]["stage"] if parcel.events else None)
                if stage is None:
                    parcel.due = None
                    continue
                events.append(self._record(parcel, stage, datetime.now(UTC), None))
            return events

    def mark_delivered(self, event: dict[str, Any], delivered: bool) -> None:
        with self.lock:
            event["delivered"] = delivered

    def view(self, tracking_number: str) -> dict[str, Any]:
        with self.lock:
            parcel = self._parcel(tracking_number)
            events = [dict(event) for event in parcel.events]
            return {**parcel.label(), "parcel": dict(parcel.request), "events": events}

    def _record(
        self, parcel: SandboxParcel, stage: TrackingStage, at: datetime, event_id: str | None
    ) -> dict[str, Any]:
        event = {
            "event_id": event_id or f"evt_{secrets.token_hex(8)}",
            "tracking_number": parcel.tracking_number,
            "stage": stage.value,
            "at": at.isoformat(),
            "delivered": False,
        }
        parcel.events.append(event)
        parcel.due = self._next_due()
        return event

    def _parcel(self, tracking_number: str) -> SandboxParcel:
        parcel = self.by_tracking.get(tracking_number)
        if parcel is None:
            raise Refused(404, "unknown_parcel", f"no parcel {tracking_number}")
        return parcel

    def _new_tracking_number(self) -> str:
        while True:
            number = f"SBX{secrets.randbelow(10**10):010d}"
            if number not in self.by_tracking:
                return number

    def _next_due(self) -> float | None:
        return None if self.advance_every is None else time.monotonic() + self.advance_every


def next_stage(last: str | None) -> TrackingStage | None:
    """The stage after ``last`` on the normal route; None once delivered or off the route."""
    if last is None:
        return NORMAL_ROUTE[0]
    stages = [stage.value for stage in NORMAL_ROUTE]
    if last not in stages or last == stages[-1]:
        return None  # delivered, or an exception/return a person must look at
    return NORMAL_ROUTE[stages.index(last) + 1]


def as_utc(at: datetime | None) -> datetime:
    if at is None:
        return datetime.now(UTC)
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


class Webhook:
    """Delivers tracking events to one URL, signed; a failure is logged, never raised."""

    def __init__(self, url: str | None, secret: str) -> None:
        self.url, self.secret = url, secret

    async def deliver(self, event: dict[str, Any]) -> bool:
        if not self.url:
            return False
        keys = ("event_id", "tracking_number", "stage", "at")
        body = json.dumps({key: event[key] for key in keys}).encode()
        async with httpx.AsyncClient(timeout=WEBHOOK_TIMEOUT_SECONDS) as client:
            for attempt in range(1 + WEBHOOK_RETRIES):
                if attempt:
                    await asyncio.sleep(WEBHOOK_BACKOFF_SECONDS * 2 ** (attempt - 1))
                if await self._post(client, body):
                    log.info("%s %s sent", event["tracking_number"], event["stage"])
                    return True
        log.warning("%s %s not delivered to %s", event["tracking_number"], event["stage"], self.url)
        return False

    async def _post(self, client: httpx.AsyncClient, body: bytes) -> bool:
        assert self.url
        headers = {"Content-Type": "application/json", SIGNATURE_HEADER: sign(body, self.secret)}
        try:
            response = await client.post(self.url, content=body, headers=headers)
        except httpx.HTTPError as error:
            log.info("webhook %s: %s", self.url, error)
            return False
        return response.is_success


async def advance_forever(sandbox: Sandbox, webhook: Webhook, every: float) -> None:
    """Automatic mode's clock: checks often enough for ``every``, at most 4 times a second."""
    tick = max(0.01, min(every / 4, 0.25))
    while True:
        await asyncio.sleep(tick)
        try:
            for event in sandbox.advance_due(time.monotonic()):
                sandbox.mark_delivered(event, await webhook.deliver(event))
        except Exception:  # keep the clock running whatever one round did
            log.exception("automatic advance failed")


def error(status: int, code: str, message: str, **more: Any) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message, **more}}, status_code=status)


def create_app(*, webhook_url: str | None, secret: str, advance_every: float | None) -> FastAPI:
    """The sandbox carrier's HTTP API; ``advance_every`` (seconds) turns on automatic mode."""
    sandbox = Sandbox(advance_every)
    webhook = Webhook(webhook_url, secret)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if advance_every is None:
            yield
            return
        clock = asyncio.create_task(advance_forever(sandbox, webhook, advance_every))
        yield
        clock.cancel()
        with suppress(asyncio.CancelledError):
            await clock

    app = FastAPI(title="orderflow sandbox carrier", lifespan=lifespan)
    app.state.sandbox = sandbox

    @app.exception_handler(Refused)
    async def refused(_: Request, exc: Refused) -> JSONResponse:
        return error(exc.status, exc.code, exc.message)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        details = jsonable_encoder(exc.errors())
        return error(422, "invalid_request", "the request is not valid", details=details)

    @app.post("/labels")
    async def buy_label(
        body: LabelRequest,
        key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
    ) -> JSONResponse:
        if not key:
            return error(400, "idempotency_key_missing", "the Idempotency-Key header is required")
        parcel, bought = sandbox.buy(key, body.model_dump())
        return JSONResponse(parcel.label(), status_code=201 if bought else 200)

    @app.post("/labels/{label_id}/void")
    async def void_label(label_id: str) -> dict[str, str]:
        return {"status": sandbox.void(label_id).status}

    @app.post("/parcels/{tracking_number}/intercept")
    async def intercept(
        tracking_number: str,
        body: InterceptRequest,
        key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
    ) -> JSONResponse:
        if not key:
            return error(400, "idempotency_key_missing", "the Idempotency-Key header is required")
        parcel = sandbox.intercept(tracking_number, key, body.destination_city)
        return JSONResponse({**parcel.label(), "destination_city": body.destination_city})

    @app.post("/parcels/{tracking_number}/events", status_code=202)
    async def send_event(tracking_number: str, body: EventRequest) -> dict[str, Any]:
        event = sandbox.record(tracking_number, body.stage, as_utc(body.at), body.event_id)
        results = [await webhook.deliver(event) for _ in range(body.repeat)]
        sandbox.mark_delivered(event, all(results))
        return {**event, "delivered": all(results), "sent": len(results)}

    @app.get("/parcels/{tracking_number}")
    async def parcel(tracking_number: str) -> dict[str, Any]:
        return sandbox.view(tracking_number)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8430)
    parser.add_argument("--webhook-url", default=None, help="where tracking events are POSTed")
    parser.add_argument("--secret", required=True, help="signs the webhooks")
    parser.add_argument(
        "--advance-every",
        type=float,
        default=None,
        metavar="SECONDS",
        help="move every parcel one stage this often (automatic mode)",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s sandbox carrier: %(message)s")
    app = create_app(
        webhook_url=args.webhook_url, secret=args.secret, advance_every=args.advance_every
    )
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
