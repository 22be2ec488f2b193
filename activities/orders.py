"""The order's read model: status and timeline in the database."""

from __future__ import annotations

from temporalio import activity

from domain.messages import TransitionRecord
from store.db import SessionFactory, transaction
from store.repositories import OrderRepository


class OrderActivities:
    def __init__(self, sessions: SessionFactory) -> None:
        self.sessions = sessions

    @activity.defn
    def record_transition(self, record: TransitionRecord) -> None:
        with transaction(self.sessions) as session:
            OrderRepository(session).record_transition(
                record.order_id,
                seq=record.seq,
                status=record.status,
                at=record.at,
                note=record.note,
            )
