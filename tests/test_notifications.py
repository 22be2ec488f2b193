"""Customer notifications leave by mail and by a signed webhook; a channel that is down says
why without stopping the others."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from integrations.notifications import DeliveryFailed, Fanout, OutgoingMessage
from integrations.notifications.mail import MailNotifier
from integrations.notifications.mail_sink import Collector
from integrations.notifications.webhook import SIGNATURE_HEADER, WebhookNotifier
from integrations.signing import sign, verify
from orderflow.stack import free_port

SECRET = "whsec_test_notifications"
MESSAGE = OutgoingMessage(
    order_id="web-A-1",
    key="reminder",
    to_email="li.na@example.com",
    subject="Did your order arrive?",
    body="Please confirm receipt.",
)


class Receiver(BaseHTTPRequestHandler):
    received: list[tuple[bytes, str]] = []
    status = 200

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Receiver.received.append((body, self.headers.get(SIGNATURE_HEADER, "")))
        self.send_response(Receiver.status)
        self.end_headers()

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[str]:
    Receiver.received, Receiver.status = [], 200
    server = HTTPServer(("127.0.0.1", free_port()), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hooks/orderflow"
    server.shutdown()


def test_the_webhook_carries_the_message_signed_with_the_merchants_secret(receiver: str) -> None:
    WebhookNotifier(url=receiver, secret=SECRET).send(MESSAGE)
    [(body, signature)] = Receiver.received
    assert verify(body, signature, SECRET)
    assert not verify(body, signature, "whsec_someone_else")
    assert not verify(body + b" ", signature, SECRET)
    payload = json.loads(body)
    assert payload["type"] == "customer_notification"
    assert (payload["order_id"], payload["key"]) == ("web-A-1", "reminder")


def test_a_stale_or_malformed_signature_is_not_accepted() -> None:
    body = b'{"a": 1}'
    assert not verify(body, sign(body, SECRET, at=1_000_000_000), SECRET)
    assert not verify(body, "v1=deadbeef", SECRET)
    assert not verify(body, "t=abc,v1=deadbeef", SECRET)


def test_a_receiver_that_refuses_is_a_delivery_failure(receiver: str) -> None:
    Receiver.status = 500
    with pytest.raises(DeliveryFailed, match="answered 500"):
        WebhookNotifier(url=receiver, secret=SECRET).send(MESSAGE)


def test_mail_reaches_the_smtp_server(mail_sink: Collector) -> None:
    MailNotifier(host="127.0.0.1", port=mail_sink.port, sender="orders@orderflow.example").send(
        MESSAGE
    )
    sent = [m for m in mail_sink.messages if m["X-Orderflow-Order"] == "web-A-1"]
    assert sent[-1]["To"] == "li.na@example.com"
    assert sent[-1]["Subject"] == "Did your order arrive?"
    assert "Please confirm receipt." in sent[-1].get_payload()


def test_one_channel_down_still_lets_the_others_deliver_and_says_which(receiver: str) -> None:
    closed_port = free_port()
    channels = Fanout(
        [
            MailNotifier(host="127.0.0.1", port=closed_port, sender="orders@orderflow.example"),
            WebhookNotifier(url=receiver, secret=SECRET),
        ]
    )
    with pytest.raises(DeliveryFailed, match=f"127.0.0.1:{closed_port}"):
        channels.send(MESSAGE)
    assert len(Receiver.received) == 1


def test_no_channel_configured_is_said_plainly() -> None:
    with pytest.raises(DeliveryFailed, match="no notification channel"):
        Fanout([]).send(MESSAGE)
