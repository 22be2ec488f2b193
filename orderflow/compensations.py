"""``orderflow compensate``: a batch compensation started from the command line and followed
to its end with a progress bar."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated

import typer

from config.settings import Settings, get_settings
from domain.compensations import CompensationBatch
from domain.contract import ORDERS_TASK_QUEUE

COMPENSATION_HELP = "Money back per unit of a SKU for every order paid in a time range."
POLL_SECONDS = 0.5


def compensate(
    sku: Annotated[str, typer.Option(help="The SKU whose price dropped.")],
    paid_from: Annotated[datetime, typer.Option(help="Orders paid from (UTC)...")],
    paid_until: Annotated[datetime, typer.Option(help="...until, not included (UTC).")],
    per_unit: Annotated[int, typer.Option(min=1, help="Minor units back per unit.")],
    reason: Annotated[str, typer.Option(help="For the ledger and the customers' timelines.")],
    by: Annotated[str, typer.Option(help="Who decided it, as role:name.")] = "finance:cli",
    task_queue: Annotated[str, typer.Option(help="The workers' task queue.")] = ORDERS_TASK_QUEUE,
) -> None:
    """Start a batch compensation, or find the same batch started before, and follow it to
    the end: each order gets its share once, however often the batch is started."""
    try:
        batch = CompensationBatch(
            sku=sku,
            paid_from=_utc(paid_from),
            paid_until=_utc(paid_until),
            per_unit=per_unit,
            reason=reason,
            by=by,
        )
    except ValueError as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(2) from None
    asyncio.run(_follow(get_settings(), batch, task_queue))


async def _follow(settings: Settings, batch: CompensationBatch, task_queue: str) -> None:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from api.temporal import OrderWorkflows
    from integrations.temporal import connect

    total = _orders_covered(settings, batch)
    workflows = OrderWorkflows(await connect(settings), task_queue)
    progress = await workflows.compensate(batch)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns) as bar:
        task = bar.add_task(batch.batch_id, total=total)
        while not progress.done:
            bar.update(task, completed=progress.orders)
            await asyncio.sleep(POLL_SECONDS)
            progress = await workflows.compensation(batch.batch_id)
        bar.update(task, completed=progress.orders, total=progress.orders)
    typer.echo(
        f"{progress.batch_id}: {progress.orders} orders; {progress.refunded} refunded "
        f"({progress.amount} minor units), {progress.told} refunded by their running "
        f"workflows, {progress.skipped} with nothing left to give back"
    )


def _orders_covered(settings: Settings, batch: CompensationBatch) -> int:
    """How many orders the batch covers, for the bar (the batch itself pages through them)."""
    from config.settings import keyring_from
    from store.db import make_engine, make_session_factory, transaction
    from store.repositories import OrderRepository

    engine = make_engine(settings.database_url, keyring=keyring_from(settings))
    try:
        with transaction(make_session_factory(engine)) as session:
            return len(
                OrderRepository(session).paid_with_sku(
                    batch.sku, batch.paid_from, batch.paid_until, after=None, limit=1_000_000
                )
            )
    finally:
        engine.dispose()


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
