"""The ``orderflow`` command: dev, worker, api, migrate, demo, token, clients, keys,
webhooks, compensate, benchmarks."""

from __future__ import annotations

import asyncio
import logging
from enum import StrEnum
from typing import Annotated

import typer

from config.settings import get_settings
from orderflow.access import clients, tokens
from orderflow.compensations import COMPENSATION_HELP, compensate
from orderflow.reconcile import reconcile
from orderflow.schedules import schedules
from orderflow.stock import stock
from orderflow.webhooks import webhooks

app = typer.Typer(
    help="orderflow: order management where every order is a durable Temporal workflow.",
    no_args_is_help=True,
    add_completion=False,
)
app.add_typer(tokens, name="token")
app.add_typer(clients, name="clients")
app.add_typer(stock, name="stock")
app.add_typer(webhooks, name="webhooks")
app.command("compensate", help=COMPENSATION_HELP)(compensate)


@app.command()
def dev(
    confirmation_window: Annotated[
        int | None,
        typer.Option(help="Seconds a customer has to confirm receipt (shorten it for demos)."),
    ] = None,
    carrier_clock: Annotated[
        float | None,
        typer.Option(min=0.1, help="Seconds the sandbox carrier takes per parcel stage."),
    ] = None,
) -> None:
    """Start everything: Temporal dev server and UI, localstripe, the sandbox carrier, a mail
    sink, worker, API. Ctrl-C stops it."""
    from orderflow.dev import run_dev

    settings = get_settings()
    if confirmation_window is not None:
        settings = settings.model_copy(update={"confirmation_window_seconds": confirmation_window})
    if carrier_clock is not None:
        settings = settings.model_copy(update={"carrier_advance_seconds": carrier_clock})
    # The dev UI reads payloads through the codec server without a token (docs/operations.md).
    settings = settings.model_copy(update={"codec_trusts_local_ui": not settings.in_production})
    raise typer.Exit(run_dev(settings))


class Queue(StrEnum):
    orders = "orders"
    skeleton = "skeleton"


@app.command()
def worker(
    queue: Annotated[
        Queue, typer.Option(help="orders, or the benchmark's skeleton baseline")
    ] = Queue.orders,
) -> None:
    """Run a worker: the order worker (task queue ``orders``) unless told otherwise."""
    from workers.main import run_skeleton_worker, run_worker

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("stripe").setLevel(logging.WARNING)  # one line per request is noise
    try:
        run = run_worker if queue == Queue.orders else run_skeleton_worker
        asyncio.run(run(get_settings()))
    except KeyboardInterrupt:
        typer.echo("worker stopped")


@app.command()
def api(
    log_level: Annotated[str, typer.Option(help="uvicorn log level")] = "info",
) -> None:
    """Serve the HTTP API."""
    import uvicorn

    settings = get_settings()
    uvicorn.run(
        "api.main:create_app",
        factory=True,
        host=settings.api_host,
        port=settings.api_port,
        log_level=log_level,
    )


@app.command()
def migrate(
    seed: Annotated[bool, typer.Option(help="Also load the demo catalog and stock.")] = False,
) -> None:
    """Bring the database to the newest schema."""
    from store.db import make_engine, make_session_factory
    from store.migrate import upgrade
    from store.seed import seed_demo_catalog

    settings = get_settings()
    upgrade(settings.database_url)
    if seed:
        engine = make_engine(settings.database_url)
        seed_demo_catalog(make_session_factory(engine))
        engine.dispose()
    typer.echo(f"database ready: {settings.database_url.split('@')[-1]}")


@app.command()
def demo(
    timeout: Annotated[float, typer.Option(help="Give up after this many seconds.")] = 120.0,
) -> None:
    """Place an order as a client would, pay it with a test card, follow it to completion."""
    from orderflow.demo import run_demo

    raise typer.Exit(run_demo(get_settings(), timeout=timeout))


@app.command()
def bench(
    workflows: Annotated[
        int, typer.Option(help="How many skeletons, and how many orders.", min=1)
    ] = 200,
    concurrency: Annotated[int, typer.Option(help="How many in flight at once.", min=1)] = 8,
    sandbox: Annotated[
        bool, typer.Option(help="Run the workflows in Temporal's sandbox, as the tests do.")
    ] = False,
    rounds: Annotated[
        int,
        typer.Option(
            help="Run the skeletons and the orders in this many alternating rounds.", min=1
        ),
    ] = 4,
    json_output: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """CPU per order by process against a skeleton workflow, on a fresh embedded dev server."""
    from orderflow.bench import run_bench

    raise typer.Exit(
        run_bench(
            get_settings(),
            count=workflows,
            concurrency=concurrency,
            sandbox=sandbox,
            as_json=json_output,
            rounds=rounds,
        )
    )


@app.command()
def load(
    rate: Annotated[float, typer.Option(help="Orders per second, sent open loop.")] = 20.0,
    duration: Annotated[float, typer.Option(help="Seconds of load.")] = 30.0,
    json_output: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Intake latency at a fixed rate on a fresh embedded stack; then every order must complete."""
    from orderflow.load import run_load

    raise typer.Exit(run_load(get_settings(), rate=rate, duration=duration, as_json=json_output))


@app.command("bench-inventory")
def bench_inventory(
    database_url: Annotated[
        str | None,
        typer.Option(
            help="A PostgreSQL server URL: the race runs in a scratch database created on it "
            "and dropped afterwards. SQLite: a temporary file. Default: the configured URL."
        ),
    ] = None,
    attempts: Annotated[int, typer.Option(min=1, help="One-unit reservations fired.")] = 10_000,
    units: Annotated[int, typer.Option(min=1, help="Units of the raced SKU in stock.")] = 100,
    threads: Annotated[int, typer.Option(min=1, help="Reservations at once (and pool size).")] = 32,
    json_output: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Split planner speed, then many reservations racing for a few units: none oversold."""
    from orderflow.bench_inventory import run_bench_inventory, unusable_database_url

    url = database_url or get_settings().database_url
    problem = unusable_database_url(url)
    if problem:
        raise typer.BadParameter(problem, param_hint="--database-url")
    raise typer.Exit(
        run_bench_inventory(
            url, attempts=attempts, units=units, threads=threads, as_json=json_output
        )
    )


@app.command("bench-reconcile")
def bench_reconcile(
    database_url: Annotated[
        str | None,
        typer.Option(
            help="A PostgreSQL server URL: the data goes into a scratch database created on it "
            "and dropped afterwards. Default: the configured URL."
        ),
    ] = None,
    orders: Annotated[int, typer.Option(min=1_000, help="Paid orders generated.")] = 1_000_000,
    baseline_lines: Annotated[
        int, typer.Option(min=100, help="Statement lines the row-by-row baseline checks.")
    ] = 20_000,
    json_output: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """The three-way match on a million movements, against the naive row-by-row way."""
    from sqlalchemy.engine import make_url

    from orderflow.bench_reconcile import run_bench_reconcile

    url = database_url or get_settings().database_url
    if make_url(url).get_backend_name() != "postgresql":
        raise typer.BadParameter("bench-reconcile runs on PostgreSQL", param_hint="--database-url")
    raise typer.Exit(
        run_bench_reconcile(url, orders=orders, baseline_lines=baseline_lines, as_json=json_output)
    )


app.add_typer(schedules, name="schedules")
app.command("reconcile")(reconcile)

keys = typer.Typer(
    help="The keys personal data is sealed with (docs/operations.md#encryption-keys).",
    no_args_is_help=True,
)
app.add_typer(keys, name="keys")


@keys.command("generate")
def generate_key(
    key_id: Annotated[str, typer.Argument(help="Its ID, e.g. the month it starts: 2025-07.")],
) -> None:
    """Print a new random key, as an entry for ORDERFLOW_ENCRYPTION_KEYS."""
    from config.keyring import KeyringError, check_key_id
    from orderflow.keys import print_new_key

    try:
        check_key_id(key_id)
    except KeyringError as error:
        raise typer.BadParameter(str(error), param_hint="KEY_ID") from None
    print_new_key(key_id)


@keys.command("rotate")
def rotate_keys(
    batch: Annotated[int, typer.Option(min=1, help="Rows per transaction.")] = 500,
) -> None:
    """Reseal every stored value with the current key (ORDERFLOW_ENCRYPTION_KEY_ID), while
    the API and workers run. Stopped, it carries on where it was when run again."""
    from orderflow.keys import run_rotation

    raise typer.Exit(run_rotation(get_settings(), batch=batch))
