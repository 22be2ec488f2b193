"""A local SMTP server that accepts every mail and prints it: where development's reminders
land (``orderflow dev`` starts it). ``python -m integrations.notifications.mail_sink --port N``."""

from __future__ import annotations

import argparse
import signal
import threading
from email import message_from_bytes
from email.message import Message

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session


class Collector:
    """aiosmtpd handler keeping what arrives (tests read ``messages``) and printing it."""

    def __init__(self, *, port: int = 0, echo: bool = False) -> None:
        self.port = port
        self.messages: list[Message] = []
        self.echo = echo
        self.arrived = threading.Condition()

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        message = message_from_bytes(envelope.original_content or b"")
        with self.arrived:
            self.messages.append(message)
            self.arrived.notify_all()
        if self.echo:
            print(f"mail to {message['To']}: {message['Subject']}", flush=True)
        return "250 OK"


def start(
    port: int, *, host: str = "127.0.0.1", echo: bool = False
) -> tuple[Controller, Collector]:
    collector = Collector(port=port, echo=echo)
    controller = Controller(collector, hostname=host, port=port)
    controller.start()
    return controller, collector


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8025)
    args = parser.parse_args()
    controller, _ = start(args.port, host=args.host, echo=True)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    stop.wait()
    controller.stop()


if __name__ == "__main__":
    main()
