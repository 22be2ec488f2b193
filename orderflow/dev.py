"""``orderflow dev``: the whole stack as child processes of one command, stopped with Ctrl-C."""

from __future__ import annotations

import signal
import time

from rich.console import Console

from config.settings import DATA_DIR, Settings
from orderflow.stack import ChildDied, LocalStack, PortTaken

console = Console()


def run_dev(settings: Settings) -> int:
    # Started from a script in the background, a process inherits Ctrl-C ignored. Ctrl-C is
    # how this one stops, so take it back (the children, started after, get it too).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    stack = LocalStack(settings, data_dir=DATA_DIR)
    try:
        with console.status("starting Temporal, localstripe, the worker and the API"):
            stack.start()
        _print_urls(settings)
        while True:
            stack.check_alive()
            time.sleep(0.5)
    except KeyboardInterrupt:
        return 0
    except (PortTaken, TimeoutError, ChildDied) as error:
        console.print(f"[red]{error}[/red]")
        return 1
    finally:
        stopped = stack.stop()
        if stopped:
            console.print("stopped: " + ", ".join(stopped))


def _print_urls(settings: Settings) -> None:
    api = settings.public_api_url
    seconds = settings.confirmation_window_seconds
    window = f"{seconds}s for every order" if seconds else "by region (docs/rules.md)"
    console.print(
        "\n[bold green]orderflow is running[/bold green]\n"
        f"  API            {api}  (OpenAPI docs: {api}/docs)\n"
        f"  Temporal UI    {settings.temporal_ui_url}  (payloads opened by {api}/codec)\n"
        f"  Temporal gRPC  {settings.temporal_address}\n"
        f"  localstripe    {settings.stripe_api_base}\n"
        f"  database       {settings.database_url}\n"
        f"  sandbox carrier {settings.carrier_api_base} (a parcel stage every "
        f"{settings.carrier_advance_seconds:g}s)\n"
        f"  mail sink      {settings.smtp_host}:{settings.smtp_port} (reminders land here)\n"
        f"  confirmation window: {window}\n\n"
        "Place a demo order from another terminal:  [bold].venv/bin/orderflow demo[/bold]\n"
        "A token to call the API yourself (72 h):   "
        "[bold].venv/bin/orderflow token create --role admin --subject you[/bold]\n"
        "Stop everything with Ctrl-C.\n"
    )
