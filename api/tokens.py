"""Bearer tokens: JWTs signed with a key from the settings' ring, named by key ID.

Every token issued is recorded (its ID, never the token), so it can be listed and revoked.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import jwt

from config.settings import Settings
from domain.access import Principal, Role
from domain.errors import InvalidClient, Unauthenticated
from store.access import AccessRepository
from store.db import SessionFactory, transaction
from store.models import AccessToken, ApiClient, utcnow

ISSUER = "orderflow"
ALGORITHM = "HS256"
CLOCK_SKEW_SECONDS = 30


@dataclass(frozen=True)
class IssuedToken:
    token: str
    token_id: str
    expires_at: datetime


def issue(
    sessions: SessionFactory,
    settings: Settings,
    *,
    role: Role,
    subject: str,
    ttl: timedelta,
    channel: str | None = None,
    issued_by: str,
) -> IssuedToken:
    """Sign a token and record it, so it can be listed and revoked."""
    issued = sign(settings, role=role, subject=subject, ttl=ttl, channel=channel)
    with transaction(sessions) as session:
        AccessRepository(session).add_token(
            AccessToken(
                id=issued.token_id,
                subject=subject,
                role=role.value,
                channel=channel,
                issued_by=issued_by,
                issued_at=issued.expires_at - ttl,
                expires_at=issued.expires_at,
            )
        )
    return issued


def sign(
    settings: Settings, *, role: Role, subject: str, ttl: timedelta, channel: str | None = None
) -> IssuedToken:
    """A signed token, not yet recorded. An api_client acts for one channel; nobody else has
    one."""
    if (role is Role.API_CLIENT) != (channel is not None):
        raise ValueError("a channel goes with the api_client role, and only with it")
    now = utcnow()
    token_id = uuid.uuid4().hex
    expires_at = now + ttl
    claims: dict[str, object] = {
        "iss": ISSUER,
        "sub": subject,
        "role": role.value,
        "jti": token_id,
        "iat": now,
        "exp": expires_at,
    }
    if channel is not None:
        claims["channel"] = channel
    token = jwt.encode(
        claims,
        settings.auth_signing_keys[settings.auth_key_id],
        algorithm=ALGORITHM,
        headers={"kid": settings.auth_key_id},
    )
    return IssuedToken(token, token_id, expires_at)


def read(token: str, settings: Settings) -> Principal:
    """The principal a token names, or Unauthenticated saying why not (never a 5xx)."""
    try:
        key_id = jwt.get_unverified_header(token).get("kid")
        key = settings.auth_signing_keys.get(key_id) if isinstance(key_id, str) else None
        if key is None:
            raise Unauthenticated("the token's signing key is unknown")
        claims = jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],
            issuer=ISSUER,
            # A token minted on a machine whose clock runs a little ahead is still good.
            leeway=CLOCK_SKEW_SECONDS,
            options={"require": ["exp", "iat", "sub", "jti", "role"]},
        )
        role = Role(claims["role"])
        subject, token_id = claims["sub"], claims["jti"]
        channel = claims.get("channel")
    except jwt.ExpiredSignatureError as error:
        raise Unauthenticated("the token has expired") from error
    except (jwt.PyJWTError, ValueError, TypeError, KeyError) as error:
        raise Unauthenticated("the token is not valid") from error
    if not (isinstance(subject, str) and isinstance(token_id, str)):
        raise Unauthenticated("the token is not valid")
    if (role is Role.API_CLIENT) != isinstance(channel, str):
        raise Unauthenticated("the token is not valid")
    return Principal(subject=subject, role=role, token_id=token_id, channel=channel)


# --- API clients: OAuth2 client credentials ---------------------------------------------------


@dataclass(frozen=True)
class ClientCredentials:
    client_id: str
    client_secret: str  # shown once, at creation


def _digest(secret: str) -> str:
    # Secrets are 256 random bits: a plain hash resists guessing; no stretching is needed.
    return hashlib.sha256(secret.encode()).hexdigest()


def create_client(sessions: SessionFactory, *, name: str, channel: str) -> ClientCredentials:
    credentials = ClientCredentials(
        client_id=f"cl_{secrets.token_hex(8)}", client_secret=secrets.token_urlsafe(32)
    )
    with transaction(sessions) as session:
        AccessRepository(session).add_client(
            ApiClient(
                id=credentials.client_id,
                name=name,
                channel=channel,
                secret_hash=_digest(credentials.client_secret),
                created_at=utcnow(),
            )
        )
    return credentials


def client_token(
    sessions: SessionFactory, settings: Settings, *, client_id: str, client_secret: str
) -> IssuedToken:
    """A short-lived api_client token for a client that proves its secret."""
    with transaction(sessions) as session:
        client = AccessRepository(session).client(client_id)
        known = client is not None and client.revoked_at is None
        channel = client.channel if client is not None else ""
        expected = client.secret_hash if client is not None else _digest(secrets.token_hex())
    # Compared even for an unknown client, so timing does not tell which client IDs exist.
    if not (hmac.compare_digest(expected, _digest(client_secret)) and known):
        raise InvalidClient("unknown client, wrong secret, or a revoked client")
    return issue(
        sessions,
        settings,
        role=Role.API_CLIENT,
        subject=client_id,
        channel=channel,
        ttl=timedelta(minutes=settings.client_token_ttl_minutes),
        issued_by=f"client_credentials:{client_id}",
    )
