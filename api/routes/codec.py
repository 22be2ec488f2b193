"""The codec server: the Temporal UI and CLI send sealed workflow payloads here to read them
(and plain ones to seal, when a person starts or signals a workflow by hand).

Temporal's remote codec protocol: ``POST /codec/decode`` and ``POST /codec/encode`` take and
answer ``{"payloads": [...]}`` (payloads as proto3 JSON: metadata values and data base64),
with the namespace in ``X-Namespace``. The UI calls from the browser, so its origin
(``settings.temporal_ui_url``) gets CORS answers, preflight included. Point a UI or CLI at
``<api>/codec`` (docs/operations.md#the-codec-server).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Header, Response
from fastapi.responses import JSONResponse
from google.protobuf import json_format
from pydantic import BaseModel, ConfigDict, Field
from temporalio.api.common.v1 import Payload, Payloads

from api.deps import SettingsDep
from api.errors import error_body
from config.keyring import KeyringError
from config.settings import Settings, keyring_from
from domain.errors import InvalidRequest
from integrations.temporal_codec import EncryptionCodec

router = APIRouter(prefix="/codec", tags=["operations"])

Transform = Callable[[Sequence[Payload]], Awaitable[list[Payload]]]
ALLOWED_HEADERS = "Content-Type, X-Namespace, Authorization"


class CodecPayload(BaseModel):
    """A payload in proto3 JSON: each metadata value and the data are base64."""

    model_config = ConfigDict(extra="allow")  # fields newer servers add pass through

    metadata: dict[str, str] = {}
    data: str | None = None


class CodecPayloads(BaseModel):
    payloads: list[CodecPayload] = Field(default_factory=list)


Namespace = Annotated[str | None, Header(alias="X-Namespace")]
Origin = Annotated[str | None, Header(alias="Origin")]


# access: admin, support
@router.post("/decode", response_model=CodecPayloads)
async def decode(
    body: CodecPayloads,
    *,
    settings: SettingsDep,
    namespace: Namespace = None,
    origin: Origin = None,
) -> JSONResponse:
    """Open sealed payloads; others come back as they were sent."""
    return await _apply(body, settings, namespace, origin, lambda codec: codec.decode)


# access: admin, support
@router.post("/encode", response_model=CodecPayloads)
async def encode(
    body: CodecPayloads,
    *,
    settings: SettingsDep,
    namespace: Namespace = None,
    origin: Origin = None,
) -> JSONResponse:
    """Seal payloads with the current key, as a worker would."""
    return await _apply(body, settings, namespace, origin, lambda codec: codec.encode)


@router.options("/decode", include_in_schema=False)
@router.options("/encode", include_in_schema=False)
async def preflight(*, settings: SettingsDep, origin: Origin = None) -> Response:
    """The browser asks before the UI's first call: only the Temporal UI's origin may."""
    if not _allowed(origin, settings):
        message = f"origin {origin} may not call the codec server"
        return JSONResponse(error_body("origin_not_allowed", message), status_code=403)
    return Response(
        status_code=204,
        headers={
            **_cors(origin, settings),
            "Access-Control-Allow-Methods": "POST, OPTIONS",
            "Access-Control-Allow-Headers": ALLOWED_HEADERS,
            "Access-Control-Max-Age": "600",
        },
    )


async def _apply(
    body: CodecPayloads,
    settings: Settings,
    namespace: str | None,
    origin: str | None,
    pick: Callable[[EncryptionCodec], Transform],
) -> JSONResponse:
    if namespace is not None and namespace != settings.temporal_namespace:
        raise InvalidRequest(
            f"this codec serves namespace {settings.temporal_namespace}, not {namespace}"
        )
    try:
        payloads = json_format.ParseDict(body.model_dump(exclude_none=True), Payloads())
        changed = await pick(EncryptionCodec(keyring_from(settings)))(payloads.payloads)
    except json_format.ParseError as error:
        raise InvalidRequest(f"not Temporal payloads in proto3 JSON: {error}") from error
    except KeyringError as error:
        raise InvalidRequest(f"a payload can't be opened: {error}") from error
    answer = {"payloads": [json_format.MessageToDict(p) for p in changed]}
    return JSONResponse(answer, headers=_cors(origin, settings))


def _allowed(origin: str | None, settings: Settings) -> bool:
    ui = urlsplit(settings.temporal_ui_url)
    return origin is not None and origin.rstrip("/") == f"{ui.scheme}://{ui.netloc}"


def _cors(origin: str | None, settings: Settings) -> dict[str, str]:
    if origin is None or not _allowed(origin, settings):
        return {"Vary": "Origin"}
    return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}
