"""``orderflow reconcile --file statement.csv --provider NAME``: a provider's statement from
its CSV export, loaded into staging with a progress bar, then matched three ways by the
worker (the same ``ReconciliationWorkflow`` as the daily run, told not to pull)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from temporalio.client import Client

from config.settings import Settings, get_settings, keyring_from
from domain.contract import ORDERS_TASK_QUEUE, reconciliation_workflow_id
from domain.reconciliation import ReconciliationKind, ReconciliationRequest, RunSummary
from domain.statements import PROVIDER_NAME
from integrations.payments.csv_statement import CsvStatement, StatementFileError
from store.db import SessionFactory, make_engine, make_session_factory, transaction
from store.reconciliation import ReconciliationRepository

PAGE = 1_000
console = Console(stderr=True)


def reconcile(
    file: Annotated[
        Path, typer.Option(exists=True, dir_okay=False, help="The provider's CSV export.")
    ],
    provider: Annotated[
        str, typer.Option(help="Whose statement: the provider the payments were made with.")
    ],
    by: Annotated[str, typer.Option(help="Who runs it, as role:name.")] = "finance:cli",
    task_queue: Annotated[str, typer.Option(help="The workers' task queue.")] = ORDERS_TASK_QUEUE,
) -> None:
    """Load a statement file (every line once, however often loaded) and match it against
    the orders and the finance ledger; differences alert finance as the daily run's do."""
    if not re.match(PROVIDER_NAME, provider):
        raise typer.BadParameter("a provider's name: lower case, up to 27", param_hint="--provider")
    statement = CsvStatement(file)
    try:
        total = statement.check()
    except StatementFileError as error:
        typer.echo(f"nothing loaded: {error}", err=True)
        raise typer.Exit(2) from None
    settings = get_settings()
    engine = make_engine(settings.database_url, keyring=keyring_from(settings))
    sessions = make_session_factory(engine)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    try:
        with Progress(*columns, console=console) as bar:
            task = bar.add_task(f"loading {file.name}", total=total)
            loaded = load_file(
                sessions, statement, provider, lambda lines: bar.update(task, completed=lines)
            )
    except StatementFileError as error:  # the file changed, or an earlier load was another
        typer.echo(f"stopped: {error}", err=True)
        raise typer.Exit(2) from None
    console.print(f"{loaded} new lines of {total} stored")

    async def match() -> RunSummary:
        from integrations.temporal import connect

        client = await connect(settings)
        return await match_file(client, sessions, settings, provider, by, task_queue)

    with console.status("matching three ways…"):
        done = asyncio.run(match())
    _print(done, sessions)
    engine.dispose()


def load_file(
    sessions: SessionFactory,
    statement: CsvStatement,
    provider: str,
    on_lines: Callable[[int], None] = lambda lines: None,
) -> int:
    """The file into staging through the same pull as the API's; returns the new lines."""
    from activities.statements import pull_pages

    pulled = pull_pages(
        sessions,
        statement,
        provider,
        PAGE,
        since_last=False,
        on_page=lambda pages, lines: on_lines(lines),
    )
    return pulled.lines


async def match_file(
    client: Client,
    sessions: SessionFactory,
    settings: Settings,
    provider: str,
    by: str,
    task_queue: str,
) -> RunSummary:
    """A payments run over what is staged for ``provider``, followed to its end."""
    from api.temporal import OrderWorkflows

    with transaction(sessions) as session:
        run_id = ReconciliationRepository(session).open_run(
            ReconciliationKind.PAYMENTS, by, provider
        )
    request = ReconciliationRequest(
        kind=ReconciliationKind.PAYMENTS,
        run_id=run_id,
        by=by,
        provider=provider,
        pull=False,
        grace=timedelta(minutes=settings.reconciliation_grace_minutes),
    )
    await OrderWorkflows(client, task_queue).reconcile(request)
    handle = client.get_workflow_handle(reconciliation_workflow_id(run_id), result_type=RunSummary)
    summary: RunSummary = await handle.result()  # raises if the run failed
    return summary


def _print(summary: RunSummary, sessions: SessionFactory) -> None:
    with transaction(sessions) as session:
        rows = ReconciliationRepository(session).differences(summary.run_id, after=None, limit=500)
        kinds = [row.kind for row in rows]
    print(
        f"run {summary.run_id}: {summary.compared} movements compared, "
        f"{summary.differences} differences ({summary.new_differences} new), "
        f"{summary.repaired} repaired"
    )
    for kind in sorted(set(kinds)):
        print(f"  {kind:<20} {kinds.count(kind)}")
    print(f"details: GET /reconciliation/runs/{summary.run_id}")
