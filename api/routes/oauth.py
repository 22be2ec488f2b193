"""OAuth2 client credentials: a storefront trades its client ID and secret for a bearer token."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Form
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from api.deps import SessionsDep, SettingsDep
from api.tokens import client_token
from domain.safe_text import SafeText

router = APIRouter(prefix="/oauth", tags=["access"])


class TokenRequest(BaseModel):
    grant_type: Literal["client_credentials"]
    # No client ID holds a control character, and PostgreSQL can't even be asked about a NUL.
    client_id: SafeText = Field(min_length=1, max_length=64)
    client_secret: str = Field(min_length=1, max_length=200)


class TokenResponse(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="Seconds until the token expires")


@router.post("/token", response_model=TokenResponse)
async def token(
    form: Annotated[TokenRequest, Form()], *, sessions: SessionsDep, settings: SettingsDep
) -> TokenResponse:
    """A bearer token for an API client (`grant_type=client_credentials`, form-encoded, as
    RFC 6749 §4.4 says). Clients are created with `orderflow clients create`; a wrong or
    revoked client answers 401 `invalid_client`."""
    issued = await run_in_threadpool(
        client_token,
        sessions,
        settings,
        client_id=form.client_id,
        client_secret=form.client_secret,
    )
    return TokenResponse(
        access_token=issued.token,
        expires_in=settings.client_token_ttl_minutes * 60,
    )
