"""``orderflow dev``: the whole stack as child processes of one command, stopped with Ctrl-C."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field

from rich.console import Console

from integrations.payments.localstripe import register_webhook
from orderflow.binaries import binary
from orderflow.settings import DATA_DIR, Settings
from store.db import make_engine, make_session_factory
from store.migrate import upgrade
from store.seed import seed_demo_catalog
from workers.client import SEARCH_ATTRIBUTES

console = Console()


@dataclass
class Child:
    name: str
    argv: list[str]
    port: int
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)


class PortTaken(RuntimeError):
    pass


def run_dev(settings: Settings) -> int:
    children = _children(settings)
    try:
        for child in children:
            _check_port_free(child)
    except PortTaken as error:
        console.print(f"[red]{error}[/red]")
        return 1

    DATA_DIR.mkdir(exist_ok=True)
    upgrade(settings.database_url)
    engine = make_engine(settings.database_url)
    seed_demo_catalog(make_session_factory(engine))
    engine.dispose()

    env = {**os.environ, **_child_environment(settings)}
    try:
        for child in children:
            if child.argv:
                child.process = subprocess.Popen(child.argv, env=env)
            _wait_for_port(child)
            if child.name == "localstripe":
                register_webhook(
                    api_base=settings.stripe_api_base,
                    name="orderflow",
                    url=f"{settings.public_api_url}/webhooks/payments/stripe",
                    secret=settings.stripe_webhook_secret,
                )
        _print_urls(settings)
        return _watch(children)
    except KeyboardInterrupt:
        return 0
    except (TimeoutError, ChildDied) as error:
        console.print(f"[red]{error}[/red]")
        return 1
    finally:
        _stop(children)


def _children(settings: Settings) -> list[Child]:
    temporal = [
        binary("temporal"), "server", "start-dev",
        "--db-filename", str(DATA_DIR / "temporal.db"),
        "--ip", "127.0.0.1",
        "--port", str(settings.temporal_port),
        "--ui-port", str(settings.temporal_ui_port),
        "--log-level", "warn",
    ]  # fmt: skip
    for key in SEARCH_ATTRIBUTES:
        temporal += ["--search-attribute", f"{key.name}=Keyword"]
    me = [sys.executable, "-m", "orderflow"]
    return [
        Child("Temporal dev server", temporal, settings.temporal_port),
        Child("Temporal UI", [], settings.temporal_ui_port),  # served by the dev server
        Child("localstripe", [binary("localstripe"), "--port", str(settings.localstripe_port)],
              settings.localstripe_port),
        Child("worker", [*me, "worker"], 0),
        Child("API", [*me, "api", "--log-level", "warning"], settings.api_port),
    ]  # fmt: skip


def _child_environment(settings: Settings) -> dict[str, str]:
    return {
        "ORDERFLOW_DATABASE_URL": settings.database_url,
        "ORDERFLOW_TEMPORAL_ADDRESS": settings.temporal_address,
        "ORDERFLOW_STRIPE_API_BASE": settings.stripe_api_base,
        "ORDERFLOW_STRIPE_API_KEY": settings.stripe_api_key,
        "ORDERFLOW_STRIPE_WEBHOOK_SECRET": settings.stripe_webhook_secret,
        "ORDERFLOW_API_HOST": settings.api_host,
        "ORDERFLOW_API_PORT": str(settings.api_port),
        "ORDERFLOW_CONFIRMATION_WINDOW_SECONDS": str(settings.confirmation_window_seconds),
        "ORDERFLOW_PAYMENT_WINDOW_SECONDS": str(settings.payment_window_seconds),
    }


def _check_port_free(child: Child) -> None:
    if not child.port:
        return
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", child.port))
        except OSError:
            raise PortTaken(
                f"port {child.port} ({child.name}) is already in use: stop what runs there, "
                "or choose another port with the ORDERFLOW_*_PORT settings (see README)"
            ) from None


def _wait_for_port(child: Child, timeout: float = 60.0) -> None:
    if not child.port:
        return
    deadline = time.monotonic() + timeout
    with console.status(f"starting {child.name} on :{child.port}"):
        while time.monotonic() < deadline:
            if child.process is not None and child.process.poll() is not None:
                raise ChildDied(f"{child.name} exited with code {child.process.returncode}")
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", child.port)) == 0:
                    return
            time.sleep(0.1)
    raise TimeoutError(f"{child.name} did not open port {child.port} within {timeout:.0f}s")


class ChildDied(RuntimeError):
    pass


def _watch(children: list[Child]) -> int:
    while True:
        for child in children:
            if child.process is not None and child.process.poll() is not None:
                raise ChildDied(f"{child.name} stopped (exit code {child.process.returncode})")
        time.sleep(0.5)


def _stop(children: list[Child]) -> None:
    running = [c for c in reversed(children) if c.process and c.process.poll() is None]
    for child in running:
        assert child.process is not None
        child.process.send_signal(signal.SIGINT)
    deadline = time.monotonic() + 10
    for child in running:
        assert child.process is not None
        try:
            child.process.wait(timeout=max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            child.process.kill()
    if running:
        console.print("stopped: " + ", ".join(c.name for c in running))


def _print_urls(settings: Settings) -> None:
    api = settings.public_api_url
    console.print(
        "\n[bold green]orderflow is running[/bold green]\n"
        f"  API            {api}  (OpenAPI docs: {api}/docs)\n"
        f"  Temporal UI    http://127.0.0.1:{settings.temporal_ui_port}\n"
        f"  Temporal gRPC  127.0.0.1:{settings.temporal_port}\n"
        f"  localstripe    {settings.stripe_api_base}\n"
        f"  database       {settings.database_url}\n"
        f"  confirmation window: {settings.confirmation_window_seconds}s\n\n"
        "Place a demo order from another terminal:  [bold].venv/bin/orderflow demo[/bold]\n"
        "Stop everything with Ctrl-C.\n"
    )
