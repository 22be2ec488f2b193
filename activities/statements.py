"""Pulling a payment provider's statement into staging tables, page by page."""

from __future__ import annotations

from collections.abc import Callable

from temporalio import activity
from temporalio.exceptions import ApplicationError

from domain.statements import StatementPulled, StatementPullRequest
from integrations.payments import PaymentProvider, StatementSource
from store.db import SessionFactory, transaction
from store.statements import StatementRepository


class StatementActivities:
    def __init__(self, sessions: SessionFactory, provider: PaymentProvider) -> None:
        self.sessions = sessions
        self.provider = provider

    @activity.defn
    def pull_statement(self, request: StatementPullRequest) -> StatementPulled:
        """Newest first, down to a little before what the last finished pull saw."""
        if request.provider != self.provider.name:
            raise ApplicationError(
                f"the worker pulls {self.provider.name}'s statement, not {request.provider}'s: "
                "load that one from its export (orderflow reconcile --file)",
                non_retryable=True,
            )
        return pull_pages(
            self.sessions,
            self.provider,
            request.provider,
            request.page_size,
            on_page=lambda pages, _: activity.heartbeat(pages),
        )


def pull_pages(
    sessions: SessionFactory,
    source: StatementSource,
    provider: str,
    page_size: int,
    *,
    since_last: bool = True,
    on_page: Callable[[int, int], None] = lambda pages, lines: None,
) -> StatementPulled:
    """Each page commits with the pull's cursor: a pull cut short (a crash, a timeout) goes
    on after its last stored page, and a line stored before is not stored again.
    ``since_last``: an API's statement, newest first, read down to where the last pull
    began; else (a file) every line. ``on_page`` hears the pages and lines read so far."""
    # A file's load keeps a pull row of its own: it never goes on from an API pull's cursor.
    key = provider if since_last else f"{provider}:file"
    with transaction(sessions) as session:
        pull = StatementRepository(session).current_pull(key, since_last=since_last)
        pull_id, cursor, stop_before = pull.id, pull.cursor, pull.stop_before
    pages = read = 0
    while True:
        page = source.statement_page(starting_after=cursor, limit=page_size)
        lines = [line for line in page.lines if stop_before is None or line.created >= stop_before]
        last_page = len(lines) < len(page.lines) or not page.has_more or not page.lines
        with transaction(sessions) as session:
            statements = StatementRepository(session)
            statements.store(pull_id, provider, lines)
            if page.lines:
                cursor = page.lines[-1].id
                statements.move_cursor(pull_id, cursor)
        pages, read = pages + 1, read + len(page.lines)
        on_page(pages, read)
        if last_page:
            break
    with transaction(sessions) as session:
        done = StatementRepository(session).finish(pull_id)
        return StatementPulled(pull_id=pull_id, lines=done.lines, pages=pages)
