"""The sandbox carrier over real HTTP: labels idempotent by key, voids refused after pickup,
tracking events delivered signed to a real receiver, and automatic mode walking a parcel to
delivered the way ``orderflow dev`` relies on."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from integrations.carriers import (
    CarrierError,
    LabelAlreadyUsed,
    Parcel,
    ParcelEvent,
    TrackingStage,
)
from integrations.carriers.sandbox import SandboxCarrier, parse_tracking_event
from integrations.carriers.sandbox_server import SIGNATURE_HEADER, create_app
from integrations.signing import verify
from orderflow.stack import free_port

SECRET = "whsec_test_sandbox_carrier"


class Receiver:
    """A real HTTP server taking the sandbox's webhooks; ``fail_next`` answers 500 that often."""

    def __init__(self) -> None:
        self.received: list[tuple[bytes, str]] = []
        self.attempts = 0
        self.fail_next = 0
        self.arrived = threading.Condition()
        self.server = HTTPServer(("127.0.0.1", free_port()), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_port}/webhooks/carriers/sandbox"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                self.send_response(receiver.take(body, self.headers.get(SIGNATURE_HEADER, "")))
                self.end_headers()

            def log_message(self, *_: object) -> None:
                pass

        return Handler

    def take(self, body: bytes, signature: str) -> int:
        with self.arrived:
            self.attempts += 1
            if self.fail_next:
                self.fail_next -= 1
                return 500
            self.received.append((body, signature))
            self.arrived.notify_all()
            return 200

    def of(self, tracking_number: str) -> list[tuple[bytes, str]]:
        with self.arrived:
            return [
                (body, signature)
                for body, signature in self.received
                if json.loads(body)["tracking_number"] == tracking_number
            ]

    def wait_for(
        self, tracking_number: str, count: int, timeout: float = 5.0
    ) -> list[tuple[bytes, str]]:
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.of(tracking_number)) >= count, timeout)
        return self.of(tracking_number)


@contextmanager
def serving(app: FastAPI) -> Iterator[str]:
    """``app`` under uvicorn in a background thread, on a free port."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the sandbox carrier did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=5)


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    thread = threading.Thread(target=receiver.server.serve_forever, daemon=True)
    thread.start()
    yield receiver
    receiver.server.shutdown()


@pytest.fixture(scope="module")
def sandbox_url(receiver: Receiver) -> Iterator[str]:
    """The sandbox in manual mode: the test plays the carrier."""
    with serving(create_app(webhook_url=receiver.url, secret=SECRET, advance_every=None)) as url:
        yield url


@pytest.fixture(scope="module")
def carrier(sandbox_url: str) -> Iterator[SandboxCarrier]:
    carrier = SandboxCarrier(base_url=sandbox_url)
    yield carrier
    carrier.close()


def parcel(shipment_id: str = "shp-1", **changes: Any) -> Parcel:
    fields: dict[str, Any] = {
        "shipment_id": shipment_id,
        "origin_warehouse": "HZ-1",
        "destination_city": "Hangzhou",
        "weight_grams": 850,
        "insured_value": 0,
    }
    return Parcel(**{**fields, **changes})


def label_body(shipment_id: str = "shp-raw") -> dict[str, Any]:
    return asdict(parcel(shipment_id))


def send(sandbox_url: str, tracking_number: str, **event: Any) -> httpx.Response:
    return httpx.post(f"{sandbox_url}/parcels/{tracking_number}/events", json=event)


# --- labels ----------------------------------------------------------------------------------


def test_the_same_key_buys_one_label_and_a_new_key_another(carrier: SandboxCarrier) -> None:
    first = carrier.buy_label(parcel("shp-idem-1"), key="ship-idem-1")
    again = carrier.buy_label(parcel("shp-idem-1"), key="ship-idem-1")
    other = carrier.buy_label(parcel("shp-idem-2"), key="ship-idem-2")
    assert first.carrier == "sandbox"
    assert first.label_id.startswith("lbl_")
    assert first.tracking_number.startswith("SBX") and len(first.tracking_number) == 13
    assert again == first
    assert other.label_id != first.label_id
    assert other.tracking_number != first.tracking_number


def test_a_repeated_key_answers_200_and_a_new_one_201(sandbox_url: str) -> None:
    headers = {"Idempotency-Key": "raw-201"}
    created = httpx.post(f"{sandbox_url}/labels", json=label_body(), headers=headers)
    repeated = httpx.post(f"{sandbox_url}/labels", json=label_body(), headers=headers)
    assert created.status_code == 201
    assert created.json()["status"] == "created"
    assert (repeated.status_code, repeated.json()) == (200, created.json())


def test_a_key_reused_for_another_parcel_is_refused(sandbox_url: str) -> None:
    headers = {"Idempotency-Key": "raw-reused"}
    httpx.post(f"{sandbox_url}/labels", json=label_body("shp-a"), headers=headers)
    answer = httpx.post(f"{sandbox_url}/labels", json=label_body("shp-b"), headers=headers)
    assert answer.status_code == 409
    assert answer.json()["error"]["code"] == "idempotency_key_reused"


def test_a_label_needs_an_idempotency_key_and_a_valid_body(sandbox_url: str) -> None:
    missing = httpx.post(f"{sandbox_url}/labels", json=label_body())
    assert missing.status_code == 400
    assert missing.json()["error"]["code"] == "idempotency_key_missing"
    invalid = httpx.post(
        f"{sandbox_url}/labels",
        json={**label_body(), "weight_grams": -1},
        headers={"Idempotency-Key": "raw-invalid"},
    )
    assert invalid.status_code == 422
    assert invalid.json()["error"]["code"] == "invalid_request"


# --- voids -----------------------------------------------------------------------------------


def test_a_voided_label_voids_again_and_its_parcel_takes_no_events(
    carrier: SandboxCarrier, sandbox_url: str
) -> None:
    label = carrier.buy_label(parcel("shp-void"), key="ship-void")
    carrier.void_label(label.label_id)
    carrier.void_label(label.label_id)  # idempotent
    answer = httpx.post(f"{sandbox_url}/labels/{label.label_id}/void")
    assert (answer.status_code, answer.json()) == (200, {"status": "voided"})
    refused = send(sandbox_url, label.tracking_number, stage="picked_up")
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "label_voided"


def test_a_label_cannot_be_voided_after_pickup(carrier: SandboxCarrier, sandbox_url: str) -> None:
    label = carrier.buy_label(parcel("shp-used"), key="ship-used")
    assert send(sandbox_url, label.tracking_number, stage="picked_up").status_code == 202
    raw = httpx.post(f"{sandbox_url}/labels/{label.label_id}/void")
    assert raw.status_code == 409
    assert raw.json()["error"]["code"] == "label_used"
    with pytest.raises(LabelAlreadyUsed, match="label_used"):
        carrier.void_label(label.label_id)


def test_the_carrier_tells_what_it_recorded_when_asked(
    carrier: SandboxCarrier, sandbox_url: str
) -> None:
    """A refused void is followed by this question: its webhooks may not have arrived."""
    label = carrier.buy_label(parcel("shp-asked"), key="ship-asked")
    assert carrier.tracking(label.tracking_number) == []
    at = "2026-03-02T09:00:00+00:00"
    sent = send(sandbox_url, label.tracking_number, stage="picked_up", event_id="evt-a", at=at)
    assert sent.status_code == 202
    [event] = carrier.tracking(label.tracking_number)
    assert (event.carrier, event.event_id, event.tracking_number) == (
        "sandbox", "evt-a", label.tracking_number,
    )  # fmt: skip
    assert (event.stage, event.at.isoformat()) == ("picked_up", at)
    with pytest.raises(CarrierError, match="no tracking for SBX-NOPE"):
        carrier.tracking("SBX-NOPE")


def test_voiding_an_unknown_label_is_404_and_counts_as_gone(
    carrier: SandboxCarrier, sandbox_url: str
) -> None:
    assert httpx.post(f"{sandbox_url}/labels/lbl_nope/void").status_code == 404
    carrier.void_label("lbl_nope")


def test_an_unreachable_carrier_is_a_carrier_error() -> None:
    down = SandboxCarrier(base_url=f"http://127.0.0.1:{free_port()}", timeout=1.0)
    with pytest.raises(CarrierError, match="sandbox carrier at"):
        down.buy_label(parcel(), key="ship-down")
    with pytest.raises(CarrierError, match="sandbox carrier at"):
        down.void_label("lbl_down")
    with pytest.raises(CarrierError, match="sandbox carrier at"):
        down.tracking("SBX-DOWN")


# --- tracking events -------------------------------------------------------------------------


def test_events_arrive_signed_with_the_right_json(
    carrier: SandboxCarrier, sandbox_url: str, receiver: Receiver
) -> None:
    label = carrier.buy_label(parcel("shp-signed"), key="ship-signed")
    answer = send(
        sandbox_url,
        label.tracking_number,
        stage="in_transit",
        at="2025-03-01T10:00:00+08:00",
        event_id="evt_signed_1",
    )
    assert answer.status_code == 202
    assert answer.json()["delivered"] is True
    [(body, signature)] = receiver.of(label.tracking_number)
    assert verify(body, signature, SECRET)
    assert not verify(body, signature, "whsec_someone_else")
    assert json.loads(body) == {
        "event_id": "evt_signed_1",
        "tracking_number": label.tracking_number,
        "stage": "in_transit",
        "at": "2025-03-01T02:00:00+00:00",
    }
    assert parse_tracking_event(body) == ParcelEvent(
        carrier="sandbox",
        event_id="evt_signed_1",
        tracking_number=label.tracking_number,
        stage=TrackingStage.IN_TRANSIT,
        at=datetime(2025, 3, 1, 2, tzinfo=UTC),
    )
    seen = httpx.get(f"{sandbox_url}/parcels/{label.tracking_number}").json()
    assert seen["label_id"] == label.label_id
    assert seen["parcel"]["shipment_id"] == "shp-signed"
    assert [(e["event_id"], e["stage"], e["delivered"]) for e in seen["events"]] == [
        ("evt_signed_1", "in_transit", True)
    ]


def test_repeat_and_out_of_order_events_are_sent_as_asked(
    carrier: SandboxCarrier, sandbox_url: str, receiver: Receiver
) -> None:
    label = carrier.buy_label(parcel("shp-repeat"), key="ship-repeat")
    send(sandbox_url, label.tracking_number, stage="delivered", event_id="evt_late")
    answer = send(sandbox_url, label.tracking_number, stage="picked_up", repeat=3)
    assert answer.status_code == 202
    assert (answer.json()["sent"], answer.json()["delivered"]) == (3, True)
    payloads = [json.loads(body) for body, _ in receiver.of(label.tracking_number)]
    assert [p["stage"] for p in payloads] == ["delivered"] + ["picked_up"] * 3
    assert payloads[0]["event_id"] == "evt_late"
    assert len({p["event_id"] for p in payloads[1:]}) == 1
    assert payloads[1]["event_id"] == answer.json()["event_id"]


def test_a_failed_delivery_is_retried(
    carrier: SandboxCarrier, sandbox_url: str, receiver: Receiver
) -> None:
    label = carrier.buy_label(parcel("shp-retry"), key="ship-retry")
    receiver.fail_next = 2
    attempts_before = receiver.attempts
    answer = send(sandbox_url, label.tracking_number, stage="picked_up")
    assert answer.json()["delivered"] is True
    assert receiver.attempts - attempts_before == 3
    assert len(receiver.of(label.tracking_number)) == 1


def test_an_unreachable_webhook_is_reported_not_fatal() -> None:
    nowhere = f"http://127.0.0.1:{free_port()}/hooks"
    with serving(create_app(webhook_url=nowhere, secret=SECRET, advance_every=None)) as url:
        label = SandboxCarrier(base_url=url).buy_label(parcel(), key="ship-nowhere")
        answer = send(url, label.tracking_number, stage="picked_up")
        assert answer.status_code == 202
        assert answer.json()["delivered"] is False
        assert httpx.get(f"{url}/healthz").json() == {"status": "ok"}


def test_events_for_an_unknown_parcel_are_404(sandbox_url: str) -> None:
    assert send(sandbox_url, "SBX0000000000", stage="picked_up").status_code == 404
    assert httpx.get(f"{sandbox_url}/parcels/SBX0000000000").status_code == 404


# --- automatic mode, as `orderflow dev` runs it ------------------------------------------------


@pytest.fixture
def automatic_sandbox(receiver: Receiver) -> Iterator[str]:
    """``python -m integrations.carriers.sandbox_server`` with a parcel moving every 0.2 s."""
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "integrations.carriers.sandbox_server",
            "--port",
            str(port),
            "--webhook-url",
            receiver.url,
            "--secret",
            SECRET,
            "--advance-every",
            "0.2",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                if httpx.get(f"{url}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, "the sandbox carrier exited"
            assert time.monotonic() < deadline, "the sandbox carrier did not start"
            time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_automatic_mode_walks_a_parcel_to_delivered(
    automatic_sandbox: str, receiver: Receiver
) -> None:
    carrier = SandboxCarrier(base_url=automatic_sandbox)
    label = carrier.buy_label(parcel("shp-auto"), key="ship-auto")
    voided = carrier.buy_label(parcel("shp-auto-void"), key="ship-auto-void")
    carrier.void_label(voided.label_id)
    received = receiver.wait_for(label.tracking_number, 4, timeout=5)
    assert all(verify(body, signature, SECRET) for body, signature in received)
    events = [parse_tracking_event(body) for body, _ in received]
    assert [e.stage for e in events] == [
        TrackingStage.PICKED_UP,
        TrackingStage.IN_TRANSIT,
        TrackingStage.OUT_FOR_DELIVERY,
        TrackingStage.DELIVERED,
    ]
    assert len({e.event_id for e in events}) == 4
    assert [e.at for e in events] == sorted(e.at for e in events)
    time.sleep(0.3)  # one more period: a delivered parcel stays delivered
    assert len(receiver.of(label.tracking_number)) == 4
    assert receiver.of(voided.tracking_number) == []
    with pytest.raises(LabelAlreadyUsed):
        carrier.void_label(label.label_id)
    carrier.close()


# --- parsing the webhook ---------------------------------------------------------------------


GOOD = {
    "event_id": "evt_1",
    "tracking_number": "SBX0123456789",
    "stage": "delivered",
    "at": "2025-03-01T02:00:00+00:00",
}


@pytest.mark.parametrize(
    ("body", "complaint"),
    [
        (b"not json", "not JSON"),
        (b"[1, 2]", "JSON object"),
        (json.dumps({**GOOD, "event_id": ""}).encode(), "event_id"),
        (json.dumps({k: v for k, v in GOOD.items() if k != "tracking_number"}).encode(),
         "tracking_number"),
        (json.dumps({**GOOD, "stage": "teleported"}).encode(), "unknown stage"),
        (json.dumps({**GOOD, "at": "yesterday"}).encode(), "ISO datetime"),
        (json.dumps({**GOOD, "at": "2025-03-01T02:00:00"}).encode(), "time zone"),
        (json.dumps({**GOOD, "at": 1740794400}).encode(), "at must be"),
    ],
)  # fmt: skip
def test_parse_tracking_event_rejects_garbage(body: bytes, complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint):
        parse_tracking_event(body)


def test_parse_tracking_event_reads_a_webhook_body() -> None:
    event = parse_tracking_event(json.dumps(GOOD).encode())
    assert event == ParcelEvent(
        carrier="sandbox",
        event_id="evt_1",
        tracking_number="SBX0123456789",
        stage=TrackingStage.DELIVERED,
        at=datetime(2025, 3, 1, 2, tzinfo=UTC),
    )
