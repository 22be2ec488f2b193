"""Pulling the payment provider's statement into staging tables, page by page."""

from __future__ import annotations

from temporalio import activity

from domain.statements import StatementPulled, StatementPullRequest
from integrations.payments import PaymentProvider
from store.db import SessionFactory, transaction
from store.statements import StatementRepository


class StatementActivities:
    def __init__(self, sessions: SessionFactory, provider: PaymentProvider) -> None:
        self.sessions = sessions
        self.provider = provider

    @activity.defn
    def pull_statement(self, request: StatementPullRequest) -> StatementPulled:
        """Newest first, down to a little before what the last finished pull saw. Each page
        commits with the pull's cursor: a pull cut short (a crash, a timeout) goes on after
        its last stored page, and a line stored before is not stored again."""
        provider = request.provider
        with transaction(self.sessions) as session:
            pull = StatementRepository(session).current_pull(provider)
            pull_id, cursor, stop_before = pull.id, pull.cursor, pull.stop_before
        pages = 0
        while True:
            page = self.provider.statement_page(starting_after=cursor, limit=request.page_size)
            lines = [
                line for line in page.lines if stop_before is None or line.created >= stop_before
            ]
            last_page = len(lines) < len(page.lines) or not page.has_more or not page.lines
            with transaction(self.sessions) as session:
                statements = StatementRepository(session)
                statements.store(pull_id, provider, lines)
                if page.lines:
                    cursor = page.lines[-1].id
                    statements.move_cursor(pull_id, cursor)
            pages += 1
            activity.heartbeat(pages)
            if last_page:
                break
        with transaction(self.sessions) as session:
            done = StatementRepository(session).finish(pull_id)
            return StatementPulled(pull_id=pull_id, lines=done.lines, pages=pages)
