"""What a newcomer does: `orderflow dev` in one terminal, `orderflow demo` in another."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from orderflow.stack import free_port

# The dev stack keeps its own SQLite file: the PostgreSQL pass would repeat it.
pytestmark = [pytest.mark.integration, pytest.mark.one_database("sqlite")]

PORT_SETTINGS = (
    "API_PORT", "TEMPORAL_PORT", "TEMPORAL_UI_PORT", "LOCALSTRIPE_PORT",
    "SMTP_PORT", "CARRIER_PORT",
)  # fmt: skip


def orderflow(*args: str) -> list[str]:
    return [sys.executable, "-m", "orderflow", *args]


@pytest.fixture
def dev_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORDERFLOW_")}
    env.update({f"ORDERFLOW_{name}": str(free_port()) for name in PORT_SETTINGS})
    env["ORDERFLOW_DATABASE_URL"] = f"sqlite:///{tmp_path / 'orderflow.db'}"
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    return env


@pytest.fixture
def dev_stack(tmp_path: Path, dev_env: dict[str, str]) -> Iterator[subprocess.Popen[str]]:
    process = subprocess.Popen(
        orderflow("dev", "--confirmation-window", "2", "--carrier-clock", "0.5"),
        cwd=tmp_path,
        env=dev_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    api = f"http://127.0.0.1:{dev_env['ORDERFLOW_API_PORT']}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(f"{api}/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.2)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            process.wait(timeout=30)


def test_demo_order_completes_on_the_dev_stack_and_ctrl_c_stops_everything(
    tmp_path: Path, dev_env: dict[str, str], dev_stack: subprocess.Popen[str]
) -> None:
    assert dev_stack.poll() is None, dev_stack.stdout.read() if dev_stack.stdout else ""
    demo = subprocess.run(
        orderflow("demo", "--timeout", "60"),
        cwd=tmp_path,
        env=dev_env,
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert demo.returncode == 0, demo.stdout + demo.stderr
    for status in ("pending_payment", "paid", "allocated", "fulfilling", "delivered", "completed"):
        assert status in demo.stdout
    # Nobody played the carrier: the sandbox carrier moved both parcels by itself.
    assert "ships in 2 packages" in demo.stdout
    for stage in ("picked_up", "in_transit", "out_for_delivery"):
        assert demo.stdout.count(stage) == 2, demo.stdout
    # The demo's payment is kept with this stack's data, where no other stack reads it.
    assert (tmp_path / ".data" / "localstripe.pickle").stat().st_size > 0

    dev_stack.send_signal(signal.SIGINT)
    assert dev_stack.wait(timeout=30) == 0
    for name in PORT_SETTINGS:
        with socket.socket() as sock:
            assert sock.connect_ex(("127.0.0.1", int(dev_env[f"ORDERFLOW_{name}"]))) != 0, name


def test_a_taken_port_is_reported_plainly(tmp_path: Path, dev_env: dict[str, str]) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", int(dev_env["ORDERFLOW_API_PORT"])))
        squatter.listen()
        result = subprocess.run(
            orderflow("dev"), cwd=tmp_path, env=dev_env, capture_output=True, text=True, timeout=60
        )
    assert result.returncode == 1
    assert f"port {dev_env['ORDERFLOW_API_PORT']} (API) is already in use" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr
