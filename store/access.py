"""Issued tokens and API clients: what the API checks a bearer token against."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from store.models import AccessToken, ApiClient


@dataclass(frozen=True)
class Revoked:
    """What no longer opens anything: single tokens, and every token of a revoked client."""

    token_ids: frozenset[str]
    subjects: frozenset[str]


class AccessRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add_token(self, token: AccessToken) -> None:
        self.session.add(token)

    def tokens(self, *, include_expired: bool, now: datetime) -> Sequence[AccessToken]:
        query = select(AccessToken).order_by(AccessToken.issued_at.desc())
        if not include_expired:
            query = query.where(AccessToken.expires_at > now, AccessToken.revoked_at.is_(None))
        return self.session.scalars(query).all()

    def revoke_token(self, token_id: str, *, at: datetime) -> bool:
        """True if the token exists; revoking it twice keeps the first time."""
        token = self.session.get(AccessToken, token_id)
        if token is None:
            return False
        token.revoked_at = token.revoked_at or at
        return True

    def revoke_subject(self, subject: str, *, at: datetime) -> int:
        """Revoke every live token of one subject (a person who left, a leaked account)."""
        result = self.session.execute(
            update(AccessToken)
            .where(AccessToken.subject == subject, AccessToken.revoked_at.is_(None))
            .values(revoked_at=at)
        )
        return int(getattr(result, "rowcount", 0) or 0)

    def revoked(self, *, now: datetime) -> Revoked:
        """Revocations that still matter: an expired token is refused anyway."""
        token_ids = self.session.scalars(
            select(AccessToken.id).where(
                AccessToken.revoked_at.is_not(None), AccessToken.expires_at > now
            )
        ).all()
        clients = self.session.scalars(
            select(ApiClient.id).where(ApiClient.revoked_at.is_not(None))
        ).all()
        return Revoked(frozenset(token_ids), frozenset(clients))

    def add_client(self, client: ApiClient) -> None:
        self.session.add(client)

    def client(self, client_id: str) -> ApiClient | None:
        return self.session.get(ApiClient, client_id)

    def clients(self) -> Sequence[ApiClient]:
        return self.session.scalars(select(ApiClient).order_by(ApiClient.created_at)).all()

    def revoke_client(self, client_id: str, *, at: datetime) -> bool:
        client = self.session.get(ApiClient, client_id)
        if client is None:
            return False
        client.revoked_at = client.revoked_at or at
        return True


def live(token: AccessToken, now: datetime) -> bool:
    return token.revoked_at is None and token.expires_at > now
