"""The local stack as child processes: Temporal dev server, localstripe, a mail sink, workers, API.

``orderflow dev`` runs it for people; ``orderflow bench``, ``orderflow load`` and the crash
tests run it on free ports in a scratch folder, and kill or restart its parts.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from config.settings import Settings, keyring_from
from domain.contract import SEARCH_ATTRIBUTES
from integrations.payments.localstripe import register_webhook
from orderflow.binaries import binary
from store.db import make_engine, make_session_factory
from store.migrate import upgrade
from store.seed import seed_demo_catalog

# For stacks where the caller plays the carrier (bench, load, crash tests): the sandbox carrier
# then never moves a parcel by itself.
CARRIER_STANDS_STILL = 24 * 3600.0


class PortTaken(RuntimeError):
    pass


class ChildDied(RuntimeError):
    pass


@dataclass
class Child:
    name: str
    argv: list[str]
    port: int = 0
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def ephemeral_settings(settings: Settings, **overrides: object) -> Settings:
    """The same settings on free ports, so a bench or test never meets a running dev stack."""
    ports = {
        name: free_port()
        for name in (
            "api_port",
            "temporal_port",
            "temporal_ui_port",
            "localstripe_port",
            "smtp_port",
            "carrier_port",
        )
    }
    addresses = dict.fromkeys(
        ("temporal_address", "temporal_ui_url", "stripe_api_base", "carrier_api_base"), ""
    )
    return Settings(**{**settings.model_dump(), **addresses, **ports, **overrides})


class LocalStack:
    def __init__(
        self,
        settings: Settings,
        *,
        data_dir: Path,
        workers: tuple[str, ...] = ("orders",),
        persistent_localstripe: bool = True,
        log: IO[bytes] | None = None,
    ) -> None:
        """``log`` None lets the children print to this terminal (as in ``orderflow dev``)."""
        self.settings = settings
        self.data_dir = data_dir
        self.log = log
        self.children = self._children(workers, persistent_localstripe)

    def __enter__(self) -> LocalStack:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def start(self) -> None:
        for child in self.children:
            _check_port_free(child)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        upgrade(self.settings.database_url, keyring_from(self.settings))
        engine = make_engine(self.settings.database_url)
        seed_demo_catalog(make_session_factory(engine))
        engine.dispose()
        try:
            for child in self.children:
                self.launch(child.name)
        except BaseException:
            self.stop()
            raise

    def launch(self, name: str) -> None:
        """Start one child (again) and wait until it listens."""
        child = self.child(name)
        if child.argv:
            child.process = subprocess.Popen(
                child.argv,
                env={**os.environ, **self.environment()},
                stdout=self.log,
                stderr=subprocess.STDOUT if self.log else None,
            )
        _wait_for_port(child)
        if name == "localstripe":
            register_webhook(
                api_base=self.settings.stripe_api_base,
                name="orderflow",
                url=f"{self.settings.public_api_url}/webhooks/payments/stripe",
                secret=self.settings.stripe_webhook_secret,
            )

    def kill(self, name: str) -> None:
        """SIGKILL: no goodbye, exactly like a machine dying."""
        child = self.child(name)
        if child.running:
            assert child.process is not None
            child.process.kill()
            child.process.wait()

    def child(self, name: str) -> Child:
        return next(c for c in self.children if c.name == name)

    def check_alive(self) -> None:
        for child in self.children:
            if child.process is not None and child.process.poll() is not None:
                raise ChildDied(f"{child.name} stopped (exit code {child.process.returncode})")

    def stop(self) -> list[str]:
        """Ask every child to stop (SIGINT, as Ctrl-C would), newest first; kill stragglers."""
        running = [c for c in reversed(self.children) if c.running]
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
                child.process.wait()
        return [c.name for c in running]

    def environment(self) -> dict[str, str]:
        s = self.settings
        return {
            "ORDERFLOW_DATABASE_URL": s.database_url,
            "ORDERFLOW_TEMPORAL_ADDRESS": s.temporal_address,
            "ORDERFLOW_STRIPE_API_BASE": s.stripe_api_base,
            "ORDERFLOW_STRIPE_API_KEY": s.stripe_api_key,
            "ORDERFLOW_STRIPE_WEBHOOK_SECRET": s.stripe_webhook_secret,
            "ORDERFLOW_API_HOST": s.api_host,
            "ORDERFLOW_API_PORT": str(s.api_port),
            "ORDERFLOW_PAYMENT_WINDOW_SECONDS": str(s.payment_window_seconds),
            "ORDERFLOW_PAYMENT_POLL_AFTER_SECONDS": str(s.payment_poll_after_seconds),
            "ORDERFLOW_CARRIER_API_BASE": s.carrier_api_base,
            "ORDERFLOW_CARRIER_WEBHOOK_SECRET": s.carrier_webhook_secret,
            "ORDERFLOW_SMTP_HOST": s.smtp_host,
            "ORDERFLOW_SMTP_PORT": str(s.smtp_port),
            "ORDERFLOW_ENCRYPTION_KEYS": json.dumps(s.encryption_keys),
            "ORDERFLOW_ENCRYPTION_KEY_ID": s.encryption_key_id,
        } | {
            f"ORDERFLOW_{name.upper()}": str(value)
            for name, value in (
                ("codec_trusts_local_ui", s.codec_trusts_local_ui or None),
                ("workflow_sandbox", s.workflow_sandbox or None),
                ("intake_rate_per_second", s.intake_rate_per_second),
                ("intake_burst", s.intake_burst),
                ("unpaid_units_per_customer", s.unpaid_units_per_customer),
                ("confirmation_window_seconds", s.confirmation_window_seconds),
                ("rules_file", s.rules_file),
                ("notification_webhook_url", s.notification_webhook_url),
            )
            if value is not None
        }

    def _children(self, workers: tuple[str, ...], persistent_localstripe: bool) -> list[Child]:
        s = self.settings
        temporal = [
            binary("temporal"), "server", "start-dev",
            "--db-filename", str(self.data_dir / "temporal.db"),
            "--ip", "127.0.0.1",
            "--port", str(s.temporal_port),
            "--ui-port", str(s.temporal_ui_port),
            # The UI shows workflow payloads through the API's codec server (api/routes/codec.py).
            "--ui-codec-endpoint", f"{s.public_api_url}/codec",
            "--log-level", "error",
            # WAL without an fsync per commit: survives a killed process (what dev and the
            # crash tests need), not a power cut; the skeleton ran 2.4 → 4.6 a second
            # (docs/benchmarks.md).
            "--sqlite-pragma", "journal_mode=wal",
            "--sqlite-pragma", "synchronous=normal",
        ]  # fmt: skip
        for key in SEARCH_ATTRIBUTES:
            temporal += ["--search-attribute", f"{key.name}=Keyword"]
        localstripe = [sys.executable, "-m", "integrations.payments.localstripe_server"]
        # Its payments live beside this stack's database, never where another stack looks.
        localstripe += (
            ["--data-dir", str(self.data_dir)] if persistent_localstripe else ["--in-memory"]
        )
        me = [sys.executable, "-m", "orderflow"]
        return [
            Child("Temporal dev server", temporal, s.temporal_port),
            Child("Temporal UI", [], s.temporal_ui_port),  # served by the dev server
            Child("localstripe", [*localstripe, "--port", str(s.localstripe_port)],
                  s.localstripe_port),
            Child("mail sink", [sys.executable, "-m", "integrations.notifications.mail_sink",
                                "--port", str(s.smtp_port)], s.smtp_port),
            Child("sandbox carrier", [
                sys.executable, "-m", "integrations.carriers.sandbox_server",
                "--port", str(s.carrier_port),
                "--webhook-url", f"{s.public_api_url}/webhooks/carriers/sandbox",
                "--secret", s.carrier_webhook_secret,
                "--advance-every", str(s.carrier_advance_seconds),
            ], s.carrier_port),
            *(Child(f"{queue} worker", [*me, "worker", "--queue", queue]) for queue in workers),
            Child("API", [*me, "api", "--log-level", "warning"], s.api_port),
        ]  # fmt: skip


@contextmanager
def scratch_stack(
    settings: Settings, *, workers: tuple[str, ...] = ("orders",), **overrides: object
) -> Iterator[LocalStack]:
    """A fresh stack on free ports in a temporary folder, gone afterwards (bench, load)."""
    with tempfile.TemporaryDirectory(prefix="orderflow-") as scratch:
        folder = Path(scratch)
        overrides.setdefault("database_url", f"sqlite:///{folder / 'orderflow.db'}")
        with open(folder / "stack.log", "wb") as log:
            stack = LocalStack(
                ephemeral_settings(settings, **overrides),
                data_dir=folder,
                workers=workers,
                persistent_localstripe=False,
                log=log,
            )
            with stack:
                yield stack


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
    while time.monotonic() < deadline:
        if child.process is not None and child.process.poll() is not None:
            raise ChildDied(f"{child.name} exited with code {child.process.returncode}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", child.port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"{child.name} did not open port {child.port} within {timeout:.0f}s")
