"""The sandbox carrier (``integrations.carriers.sandbox_server``) behind the Carrier interface,
and the parser for the tracking webhooks it sends (the API checks the signature first)."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

import httpx

from domain.safe_text import refuse_unsafe
from integrations.carriers import (
    CarrierError,
    Label,
    LabelAlreadyUsed,
    Parcel,
    ParcelEvent,
    ReturnParcel,
    TooLateToReroute,
    TrackingStage,
)

NAME = "sandbox"
# Far longer than any carrier's event IDs and tracking numbers: a longer one is no report.
MAX_TEXT = 255


class SandboxCarrier:
    name = NAME

    def __init__(self, *, base_url: str, timeout: float = 5.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.client = httpx.Client(base_url=self.base_url, timeout=timeout)

    def buy_label(self, parcel: Parcel, *, key: str) -> Label:
        """The same ``key`` always returns the same label: the sandbox keeps one per key."""
        response = self._post("/labels", json=asdict(parcel), headers={"Idempotency-Key": key})
        if response.status_code not in (200, 201):
            raise CarrierError(f"sandbox carrier refused the label: {_describe(response)}")
        body = response.json()
        return Label(
            carrier=NAME, label_id=body["label_id"], tracking_number=body["tracking_number"]
        )

    def return_label(self, parcel: ReturnParcel, *, key: str) -> Label:
        body = {
            "shipment_id": parcel.rma,
            "origin_warehouse": parcel.to_warehouse,
            "destination_city": parcel.from_city,
            "weight_grams": parcel.weight_grams,
            "insured_value": 0,
            "direction": "return",
        }
        response = self._post("/labels", json=body, headers={"Idempotency-Key": key})
        if response.status_code not in (200, 201):
            raise CarrierError(f"sandbox carrier refused the return label: {_describe(response)}")
        answer = response.json()
        return Label(
            carrier=NAME, label_id=answer["label_id"], tracking_number=answer["tracking_number"]
        )

    def void_label(self, label_id: str) -> None:
        """Idempotent; an unknown label counts as already gone."""
        response = self._post(f"/labels/{label_id}/void")
        if response.status_code in (200, 404):
            return
        if response.status_code == 409:
            raise LabelAlreadyUsed(f"label {label_id}: {_describe(response)}")
        raise CarrierError(f"sandbox carrier could not void {label_id}: {_describe(response)}")

    def intercept(self, tracking_number: str, *, city: str, key: str) -> None:
        response = self._post(
            f"/parcels/{tracking_number}/intercept",
            json={"destination_city": city},
            headers={"Idempotency-Key": key},
        )
        if response.status_code == 409:
            raise TooLateToReroute(_describe(response))
        if response.status_code != 200:
            raise CarrierError(
                f"sandbox carrier could not reroute {tracking_number}: {_describe(response)}"
            )

    def tracking(self, tracking_number: str) -> list[ParcelEvent]:
        try:
            response = self.client.get(f"/parcels/{tracking_number}")
        except httpx.HTTPError as error:
            raise CarrierError(f"sandbox carrier at {self.base_url}: {error}") from error
        if response.status_code != 200:
            raise CarrierError(f"no tracking for {tracking_number}: {_describe(response)}")
        return [tracking_event(event) for event in response.json()["events"]]

    def close(self) -> None:
        self.client.close()

    def _post(self, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self.client.post(path, **kwargs)
        except httpx.HTTPError as error:
            raise CarrierError(f"sandbox carrier at {self.base_url}: {error}") from error
        if response.status_code >= 500:
            raise CarrierError(f"sandbox carrier answered {_describe(response)}")
        return response


def parse_tracking_event(body: bytes) -> ParcelEvent:
    """A webhook body ``{"event_id", "tracking_number", "stage", "at"}`` as a ParcelEvent;
    ValueError saying what is wrong otherwise. Does not check the signature."""
    try:
        payload = json.loads(body)
    except ValueError as error:
        raise ValueError(f"the body is not JSON: {error}") from None
    except RecursionError:
        raise ValueError("the body is not JSON: nested too deep") from None
    if not isinstance(payload, dict):
        raise ValueError("the body must be a JSON object")
    return tracking_event(payload)


def tracking_event(payload: dict[str, Any]) -> ParcelEvent:
    """One event as the sandbox sends and lists it; ValueError saying what is wrong."""
    event_id = _text(payload, "event_id")
    tracking_number = _text(payload, "tracking_number")
    stage_name = _text(payload, "stage")
    try:
        stage = TrackingStage(stage_name)
    except ValueError:
        known = ", ".join(stage.value for stage in TrackingStage)
        raise ValueError(f"unknown stage {stage_name!r}; known: {known}") from None
    at_text = _text(payload, "at")
    try:
        at = datetime.fromisoformat(at_text)
    except ValueError:
        raise ValueError(f"at is not an ISO datetime: {at_text!r}") from None
    if at.tzinfo is None:
        raise ValueError(f"at has no time zone: {at_text!r}")
    try:
        # 9999-12-31T23:59:59-14:00 is a valid ISO datetime with no UTC equivalent.
        at = at.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"at is outside the years 1 to 9999 in UTC: {at_text!r}") from None
    return ParcelEvent(
        carrier=NAME, event_id=event_id, tracking_number=tracking_number, stage=stage, at=at
    )


def _text(payload: dict[str, Any], key: str) -> str:
    value = payload.get(key)
    if not isinstance(value, str) or not value or len(value) > MAX_TEXT:
        got = repr(value)[:80]
        raise ValueError(f"{key} must be a string of 1 to {MAX_TEXT} characters, got {got}")
    try:
        return refuse_unsafe(value)
    except ValueError as error:
        raise ValueError(f"{key} {error}") from None


def _describe(response: httpx.Response) -> str:
    """``409 label_used: ...`` from the sandbox's error body, or the status and raw text."""
    try:
        problem = response.json()["error"]
        return f"{response.status_code} {problem['code']}: {problem['message']}"
    except (ValueError, KeyError, TypeError):
        return f"{response.status_code} {response.text[:200]}"
