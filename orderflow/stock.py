"""``orderflow stock receive``: goods booked into a warehouse from the command line."""

from __future__ import annotations

from typing import Annotated

import typer

from config.settings import get_settings, keyring_from

stock = typer.Typer(help="Stock at the warehouses.", no_args_is_help=True)


@stock.command("receive")
def receive(
    sku: Annotated[str, typer.Option(help="What arrived.")],
    warehouse: Annotated[str, typer.Option(help="Where it arrived (a warehouse code).")],
    quantity: Annotated[int, typer.Option(min=1, max=1_000_000, help="How many units.")],
    reference: Annotated[str, typer.Option(help="The delivery note: booked once.")],
) -> None:
    """Book goods received, as `POST /warehouse/receipts` does: once per delivery note; a
    low-stock alert the goods end is closed."""
    from config.rules import load_rules
    from domain.errors import OrderflowError
    from store.db import make_engine, make_session_factory, transaction
    from store.receipts import receive_goods

    settings = get_settings()
    engine = make_engine(settings.database_url, keyring=keyring_from(settings))
    try:
        with transaction(make_session_factory(engine)) as session:
            received = receive_goods(
                session,
                reference=reference,
                sku=sku,
                warehouse=warehouse,
                quantity=quantity,
                low_stock_threshold=load_rules(settings.rules_file).low_stock_threshold,
            )
    except OrderflowError as error:
        typer.echo(error.message, err=True)
        raise typer.Exit(1) from None
    finally:
        engine.dispose()
    done = "booked before; nothing changed" if received.replayed else f"booked {quantity}"
    typer.echo(
        f"{reference}: {done} of {sku} at {warehouse}"
        if not received.replayed
        else f"{reference}: {done}"
    )
    typer.echo(f"{sku} at {warehouse}: {received.on_hand} on hand, {received.available} available")
