"""``orderflow schedules list|trigger NAME``: the worker's Temporal Schedules from the
command line, as operators see them in the Temporal UI."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from rich.table import Table
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from config.settings import get_settings
from workers.schedules import EVERY_SCHEDULE

T = TypeVar("T")

schedules = typer.Typer(
    help="The worker's schedules (docs/operations.md#schedules).", no_args_is_help=True
)


@dataclass(frozen=True)
class ScheduleRow:
    name: str
    workflow: str
    paused: bool
    note: str
    next_run: datetime | None
    last_run: datetime | None
    runs: int


async def described(client: Client) -> list[ScheduleRow]:
    """Every schedule the worker keeps, in the order it keeps them; one not in place (the
    worker never started, or a setting turned it off) is left out."""
    rows = []
    for name in EVERY_SCHEDULE:
        try:
            found = await client.get_schedule_handle(name).describe()
        except RPCError as error:
            if error.status == RPCStatusCode.NOT_FOUND:
                continue
            raise
        info, state = found.info, found.schedule.state
        action = found.schedule.action
        rows.append(
            ScheduleRow(
                name=name,
                workflow=str(getattr(action, "workflow", "")),
                paused=state.paused,
                note=state.note or "",
                next_run=min(info.next_action_times, default=None),
                last_run=max((a.started_at for a in info.recent_actions), default=None),
                runs=info.num_actions,
            )
        )
    return rows


async def trigger(client: Client, name: str) -> None:
    """Run it now, besides its timetable (a paused schedule runs too, as in the UI)."""
    await client.get_schedule_handle(name).trigger()


@schedules.command("list")
def list_schedules() -> None:
    """Each schedule: its workflow, whether paused (and why), its next and last run."""
    rows = asyncio.run(_with_client(described))
    table = Table("name", "workflow", "state", "next run (UTC)", "last run (UTC)", "runs")
    for row in rows:
        state = f"paused: {row.note}" if row.paused else "active"
        table.add_row(
            row.name, row.workflow, state, _when(row.next_run), _when(row.last_run), str(row.runs)
        )
    Console().print(table)


@schedules.command("trigger")
def trigger_schedule(
    name: Annotated[str, typer.Argument(help=f"One of: {', '.join(EVERY_SCHEDULE)}.")],
) -> None:
    """Run a schedule's workflow now, as the UI's Trigger button does."""
    if name not in EVERY_SCHEDULE:
        known = ", ".join(EVERY_SCHEDULE)
        raise typer.BadParameter(f"no schedule {name!r}; known: {known}", param_hint="NAME")

    async def run(client: Client) -> None:
        try:
            await trigger(client, name)
        except RPCError as error:
            if error.status != RPCStatusCode.NOT_FOUND:
                raise
            typer.echo(f"{name} is not in place: has the worker started with it on?", err=True)
            raise typer.Exit(1) from None

    asyncio.run(_with_client(run))
    typer.echo(f"triggered {name}")


async def _with_client(use: Callable[[Client], Awaitable[T]]) -> T:
    from integrations.temporal import connect

    return await use(await connect(get_settings()))


def _when(at: datetime | None) -> str:
    return at.strftime("%Y-%m-%d %H:%M") if at else "—"
