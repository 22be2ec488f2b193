"""The development payment provider keeps Stripe's promise about idempotency keys, and each
stack's payments to itself."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from integrations.payments.stripe import StripePayments
from orderflow.stack import free_port
from tests.conftest import STRIPE_KEY


def test_a_repeated_create_with_the_same_key_returns_the_first_payment(
    payments: StripePayments,
) -> None:
    first = payments.create_payment(
        order_id="web-IDEM-1", customer_id="c", amount=500, currency="usd"
    )
    again = payments.create_payment(
        order_id="web-IDEM-1", customer_id="c", amount=500, currency="usd"
    )
    other = payments.create_payment(
        order_id="web-IDEM-2", customer_id="c", amount=500, currency="usd"
    )
    assert again.id == first.id
    assert other.id != first.id


@contextmanager
def _localstripe(data_dir: Path, log: Path) -> Iterator[StripePayments]:
    """A localstripe keeping its state under ``data_dir``, as ``orderflow dev`` runs it."""
    port = free_port()
    argv = [sys.executable, "-m", "integrations.payments.localstripe_server"]
    with open(log, "wb") as output:
        process = subprocess.Popen(
            [*argv, "--data-dir", str(data_dir), "--port", str(port)],
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        try:
            _wait_until_listening(process, port, log)
            yield StripePayments(api_key=STRIPE_KEY, api_base=f"http://127.0.0.1:{port}")
        finally:
            process.terminate()
            process.wait(timeout=10)


def _wait_until_listening(process: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"localstripe exited at start:\n{log.read_text()}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"localstripe did not listen on {port}")


def _intents(payments: StripePayments) -> list[str]:
    return [intent.id for intent in payments.client.v1.payment_intents.list()]


def test_two_stacks_do_not_see_each_others_payments(tmp_path: Path) -> None:
    with _localstripe(tmp_path / "one", tmp_path / "one.log") as one:
        paid_at_one = one.create_payment(
            order_id="web-ONE-1", customer_id="c", amount=500, currency="usd"
        )
        # Started while the first still runs and after it wrote: the old shared file leaked here.
        with _localstripe(tmp_path / "two", tmp_path / "two.log") as two:
            assert _intents(two) == []
            paid_at_two = two.create_payment(
                order_id="web-TWO-1", customer_id="c", amount=700, currency="usd"
            )
        assert _intents(one) == [paid_at_one.id]
    # Each keeps its own across a restart.
    with _localstripe(tmp_path / "two", tmp_path / "two-again.log") as two:
        assert _intents(two) == [paid_at_two.id]


@pytest.mark.parametrize("garbage", [b"", b"\x80\x05\x95 half a pickle"])
def test_a_corrupt_state_file_is_set_aside_in_one_line(tmp_path: Path, garbage: bytes) -> None:
    state = tmp_path / "data" / "localstripe.pickle"
    state.parent.mkdir()
    state.write_bytes(garbage)
    log = tmp_path / "localstripe.log"
    with _localstripe(state.parent, log) as payments:
        assert _intents(payments) == []
    output = log.read_text()
    assert "Traceback" not in output
    assert [line for line in output.splitlines() if "localstripe.pickle" in line] == [
        f"localstripe: {state} is unreadable, set aside as {state}.corrupt; starting empty"
    ]
    assert (tmp_path / "data" / "localstripe.pickle.corrupt").read_bytes() == garbage
