"""What the crash tests are made of.

- ``ChaosStack``: the real stack (``LocalStack``: Temporal dev server, localstripe in memory, the
  order worker, the API) as child processes on free ports in a scratch folder, with a short
  confirmation window, so that parts of it can be SIGKILLed and launched again.
- ``OrderDriver``: a client placing orders the way a shop would: ``POST /orders`` with an
  ``Idempotency-Key`` (retried with the same key while a dependency is down), paying with the
  ``stripe`` SDK, reporting the carrier's ``shipped`` and ``delivered``.
- ``TcpProxy``: the database's address as the stack sees it; ``unplug()`` refuses new
  connections and cuts the open ones, ``plug()`` lets them through again.
- ``outcome_problems``: after the storm, everything that is not exactly as it should be:
  status, timeline, payments here and at the provider, stock ledger, workflows.

Size: ``ORDERFLOW_CHAOS_ORDERS`` (orders per scenario), ``ORDERFLOW_CHAOS_OUTAGE_SECONDS``
(how long the database stays unreachable); ``ORDERFLOW_CHAOS_SEED`` repeats a run's random
choices (the seed is in every failure message).
"""

from __future__ import annotations

import asyncio
import os
import random
import socket
import threading
import time
from collections import Counter
from collections.abc import Coroutine, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import httpx
import stripe
from sqlalchemy import select
from sqlalchemy.engine import make_url
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowExecutionStatus

from config.settings import Settings
from domain.contract import order_workflow_id
from integrations.temporal import connect
from orderflow.credentials import tool_headers
from orderflow.customer import pay_with_card
from orderflow.stack import CARRIER_STANDS_STILL, LocalStack, ephemeral_settings, free_port
from store.db import SessionFactory, transaction
from store.ledger import FinanceLedger
from store.models import (
    FinanceEntry,
    Order,
    OrderEvent,
    Payment,
    Refund,
    StockLevel,
    StockMovement,
    ledger_balance,
)
from store.repositories import StockRepository
from store.seed import STOCK
from tests.helpers import order_body

CHAOS_ORDERS = int(os.environ.get("ORDERFLOW_CHAOS_ORDERS") or 20)
OUTAGE_SECONDS = float(os.environ.get("ORDERFLOW_CHAOS_OUTAGE_SECONDS") or 5)
CHAOS_SEED = int(os.environ.get("ORDERFLOW_CHAOS_SEED") or random.SystemRandom().randrange(10**6))

WORKER = "orders worker"
TEMPORAL = "Temporal dev server"
API = "API"


class Ending(StrEnum):
    """How the driver ends each order: delivered (then completed), or cancelled once
    allocated (the saga's compensation: the money back, the stock released)."""

    COMPLETED = "completed"
    CANCELLED = "cancelled"


LIVES = {
    Ending.COMPLETED: [
        "pending_payment",
        "paid",
        "allocated",
        "fulfilling",
        "delivered",
        "completed",
    ],
    Ending.CANCELLED: ["pending_payment", "paid", "allocated", "cancelled"],
}
# The stock movements each ending leaves, per order: every one equal to the units ordered.
MOVES = {
    Ending.COMPLETED: ("reserve", "ship"),
    Ending.CANCELLED: ("reserve", "release"),
}
# A dependency is down: the API says so with 503 and the client tries again later.
RETRY_STATUSES = {503}
# Units of each SKU never ordered, so that no line meets a stock split between warehouses.
MARGIN = 4


def chaos_random(scenario: str) -> random.Random:
    return random.Random(f"{CHAOS_SEED}-{scenario}")


def run_label() -> str:
    return f"seed {CHAOS_SEED}, {CHAOS_ORDERS} orders (ORDERFLOW_CHAOS_SEED repeats the choices)"


# --- the stack -------------------------------------------------------------------------------


class ChaosStack:
    """A ``LocalStack`` in ``folder`` on ``database_url``; ``async with`` starts and stops it."""

    def __init__(self, folder: Path, database_url: str) -> None:
        self.settings = ephemeral_settings(
            Settings(environment="test"),
            database_url=database_url,
            confirmation_window_seconds=1,
            carrier_advance_seconds=CARRIER_STANDS_STILL,  # the harness plays the carrier
            # localstripe sends each webhook once and never again; a webhook lost while
            # Temporal or the API is down is made up for by the workflow's own check, which
            # comes after this many seconds instead of 15 minutes.
            payment_poll_after_seconds=10,
            # A few customers place all the orders, faster than anyone pays: no limits here.
            intake_rate_per_second=10_000,
            intake_burst=10_000,
            unpaid_units_per_customer=100_000,
        )
        self.folder = folder
        self.log_path = folder / "stack.log"
        self._log = self.log_path.open("wb")
        self.stack = LocalStack(
            self.settings, data_dir=folder, persistent_localstripe=False, log=self._log
        )
        self.events: list[str] = []
        self._started = time.monotonic()

    async def __aenter__(self) -> ChaosStack:
        try:
            await asyncio.to_thread(self.stack.start)
        except BaseException:
            self._log.close()
            raise
        self._started = time.monotonic()
        return self

    async def __aexit__(self, *_: object) -> None:
        await asyncio.to_thread(self.stack.stop)
        self._log.close()

    def note(self, event: str) -> None:
        self.events.append(f"{time.monotonic() - self._started:6.1f}s {event}")

    async def kill(self, name: str) -> None:
        await asyncio.to_thread(self.stack.kill, name)
        self.note(f"SIGKILL {name}")

    async def launch(self, name: str) -> None:
        await asyncio.to_thread(self.stack.launch, name)
        self.note(f"launched {name}")

    def dead(self) -> list[str]:
        """Children that should run and don't (the UI has no process of its own)."""
        return [
            f"{c.name} (exit code {c.process.returncode})"
            for c in self.stack.children
            if c.process is not None and c.process.poll() is not None
        ]

    def describe(self) -> str:
        events = "\n  ".join(self.events) or "none"
        return f"{run_label()}\nchaos:\n  {events}\nstack log: {self.log_path}"


async def together(*work: Coroutine[Any, Any, object]) -> None:
    """Run side by side; the first failure cancels the rest and is raised."""
    try:
        async with asyncio.TaskGroup() as group:
            for coroutine in work:
                group.create_task(coroutine)
    except ExceptionGroup as failures:
        if len(failures.exceptions) == 1:
            raise failures.exceptions[0] from None
        raise


# --- the client ------------------------------------------------------------------------------


@dataclass
class PlacedOrder:
    order_id: str
    payment_intent_id: str
    total: int
    quantities: dict[str, int]


@dataclass
class OrderDriver:
    """Places ``count`` orders, at most ``concurrency`` at a time, each to the end of its story."""

    settings: Settings
    count: int
    rng: random.Random
    # Orders arrive at this pace (over 10 s at least), so that the chaos meets them at every
    # stage of their life.
    per_second: float = 4.0
    concurrency: int = 16
    # How long one request may keep failing before the client gives up.
    patience: float = 300.0
    ending: Ending = Ending.COMPLETED
    placed: dict[str, PlacedOrder] = field(default_factory=dict)
    retries: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self.run = f"{self.rng.randrange(16**6):06x}"
        self.bodies = order_bodies(self.count, self.rng, self.run)
        self.per_second = min(self.per_second, self.count / 10)
        self._payers = ThreadPoolExecutor(max_workers=self.concurrency)

    async def place_all(self) -> None:
        gate = asyncio.Semaphore(self.concurrency)
        limits = httpx.Limits(max_connections=self.concurrency * 3)
        # Long reads: the API answers POST /orders once the workflow created the payment,
        # which waits for a worker while there is none.
        timeout = httpx.Timeout(60.0, connect=5.0)
        async with httpx.AsyncClient(
            base_url=self.settings.public_api_url,
            timeout=timeout,
            limits=limits,
            headers=tool_headers(self.settings, "chaos-driver"),
        ) as api:
            started = time.monotonic()

            async def one(number: int, body: dict[str, Any]) -> None:
                await asyncio.sleep(started + number / self.per_second - time.monotonic())
                async with gate:
                    await self._order(api, number, body)

            try:
                await together(*(one(n, body) for n, body in enumerate(self.bodies)))
            finally:
                self._payers.shutdown(wait=False, cancel_futures=True)

    async def placed_at_least(self, count: int) -> None:
        while len(self.placed) < min(count, self.count):
            await asyncio.sleep(0.05)

    async def _order(self, api: httpx.AsyncClient, number: int, body: dict[str, Any]) -> None:
        key = f"chaos-{self.run}-{number}"
        response = await self._call(
            api, "POST", "/orders", ok={200, 201}, json=body, headers={"Idempotency-Key": key}
        )
        order = response.json()
        placed = PlacedOrder(
            order_id=order["id"],
            payment_intent_id=order["payment"]["payment_intent_id"],
            total=order["total"],
            quantities={line["sku"]: line["quantity"] for line in body["lines"]},
        )
        self.placed[placed.order_id] = placed
        status = await asyncio.get_running_loop().run_in_executor(
            self._payers,
            lambda: pay_with_card(
                api_key=self.settings.stripe_api_key,
                api_base=self.settings.stripe_api_base,
                payment_intent_id=placed.payment_intent_id,
            ),
        )
        assert status == "succeeded", f"{placed.order_id}: paying gave {status}"
        if self.ending == Ending.CANCELLED:
            return await self._cancel(api, placed.order_id)
        # The workflow keeps the carrier's events until the order reaches that stage.
        for kind in ("shipped", "delivered"):
            answer = await self._call(
                api,
                "POST",
                f"/orders/{placed.order_id}/carrier-events",
                ok={202},
                json={"kind": kind, "tracking_number": f"CH{number:05d}", "carrier": "chaos"},
            )
            assert answer.json()["accepted"], f"{placed.order_id}: {kind} refused: {answer.text}"

    async def _cancel(self, api: httpx.AsyncClient, order_id: str) -> None:
        """Once allocated, support cancels: the refund, the release and the end, while the
        chaos goes on. A retry after a cancellation that did happen is answered 409."""
        while (await self._call(api, "GET", f"/orders/{order_id}", ok={200})).json()[
            "status"
        ] != "allocated":
            await asyncio.sleep(0.2)
        await self._call(
            api, "POST", f"/orders/{order_id}/cancel", ok={200, 409}, json={"reason": "chaos"}
        )

    async def _call(
        self, api: httpx.AsyncClient, method: str, path: str, *, ok: set[int], **kwargs: Any
    ) -> httpx.Response:
        """The request until it succeeds; retried (same body, same key) while the stack is down."""
        deadline = time.monotonic() + self.patience
        while True:
            try:
                response = await api.request(method, path, **kwargs)
            except httpx.TransportError as error:
                last = f"{type(error).__name__}: {error}"
                self.retries[type(error).__name__] += 1
            else:
                if response.status_code in ok:
                    return response
                last = f"{response.status_code} {response.text[:300]}"
                if response.status_code not in RETRY_STATUSES:
                    raise AssertionError(f"{method} {path} answered {last}")
                self.retries[str(response.status_code)] += 1
            if time.monotonic() > deadline:
                raise AssertionError(f"{method} {path} failing for {self.patience}s: {last}")
            await asyncio.sleep(0.5)

    async def wait_until_completed(
        self, sessions: SessionFactory, stack: ChaosStack, timeout: float
    ) -> None:
        deadline = time.monotonic() + timeout
        while True:
            statuses = await asyncio.to_thread(read_statuses, sessions, list(self.placed))
            waiting = {o: s for o, s in statuses.items() if s != self.ending}
            if not waiting:
                return
            dead = stack.dead()
            if dead or time.monotonic() > deadline:
                notes = await asyncio.to_thread(last_notes, sessions, list(waiting))
                stuck = "\n  ".join(
                    f"{order_id}: {status} ({notes.get(order_id, 'no timeline')})"
                    for order_id, status in sorted(waiting.items())
                )
                reason = f"died: {', '.join(dead)}" if dead else f"not completed after {timeout}s"
                raise AssertionError(
                    f"{len(waiting)} of {len(self.placed)} orders {reason}:\n  {stuck}\n"
                    f"{stack.describe()}"
                )
            await asyncio.sleep(0.5)


def order_bodies(count: int, rng: random.Random, run: str) -> list[dict[str, Any]]:
    """``count`` orders of one to four lines that the seeded stock can always serve."""
    left = Counter[str]()
    for (sku, _), quantity in STOCK.items():
        left[sku] += quantity
    bodies = []
    for number in range(count):
        wanted = {"TEA-001": rng.randint(1, 2)}
        for sku, chance in (("CUP-002", 0.3), ("MOON-003", 0.2), ("POT-004", 0.02)):
            if rng.random() < chance:
                wanted[sku] = 1
        lines = []
        for sku, quantity in wanted.items():
            # A line ships from one warehouse: a margin keeps scattered leftovers out of play.
            if left[sku] - quantity >= MARGIN:
                left[sku] -= quantity
                lines.append({"sku": sku, "quantity": quantity})
        if not lines:
            raise ValueError(f"the demo stock cannot serve {count} orders; ask for fewer")
        customer = f"c-chaos-{rng.randrange(10)}"
        bodies.append(
            order_body(
                f"CHAOS-{run}-{number:04d}",
                customer={"id": customer, "email": f"{customer}@example.com", "name": "Chaos"},
                lines=lines,
            )
        )
    return bodies


def read_statuses(sessions: SessionFactory, order_ids: list[str]) -> dict[str, str]:
    with transaction(sessions) as session:
        rows = session.execute(select(Order.id, Order.status).where(Order.id.in_(order_ids)))
        found = dict(rows.all())
    return {order_id: found.get(order_id, "missing") for order_id in order_ids}


def last_notes(sessions: SessionFactory, order_ids: list[str]) -> dict[str, str]:
    with transaction(sessions) as session:
        rows = session.execute(
            select(OrderEvent.order_id, OrderEvent.note)
            .where(OrderEvent.order_id.in_(order_ids))
            .order_by(OrderEvent.order_id, OrderEvent.seq)
        )
        return {order_id: note or "" for order_id, note in rows}


# --- the database, unplugged -----------------------------------------------------------------


class TcpProxy:
    """A TCP relay to ``target`` on a port of its own, in threads of this process.

    ``unplug()`` closes the listening socket (new connections are refused) and cuts every
    relayed connection both ways, as a database restart or a network failure would.
    """

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self.connections = 0
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._stop: threading.Event | None = None
        self._acceptor: threading.Thread | None = None

    @classmethod
    def to_database(cls, database_url: str) -> TcpProxy:
        url = make_url(database_url)
        return cls(url.host or "127.0.0.1", url.port or 5432)

    def address_of(self, database_url: str) -> str:
        """The same database, reached through this proxy."""
        url = make_url(database_url).set(host="127.0.0.1", port=self.port)
        return url.render_as_string(hide_password=False)

    def plug(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(128)
        listener.settimeout(0.05)
        self._stop = threading.Event()
        self._acceptor = threading.Thread(
            target=self._accept, args=(listener, self._stop), name="proxy-accept", daemon=True
        )
        self._acceptor.start()

    def unplug(self) -> None:
        if self._stop is None or self._acceptor is None:
            return
        self._stop.set()
        self._acceptor.join()
        self._stop = self._acceptor = None
        with self._lock:
            cut, self._open = self._open, set()
        _close(cut)

    def _accept(self, listener: socket.socket, stop: threading.Event) -> None:
        with listener:
            while not stop.is_set():
                try:
                    client, _ = listener.accept()
                except TimeoutError:
                    continue
                try:
                    upstream = socket.create_connection(self.target, timeout=5)
                except OSError:
                    _close([client])
                    continue
                client.settimeout(None)
                upstream.settimeout(None)
                with self._lock:
                    self._open |= {client, upstream}
                    self.connections += 1
                for source, sink in ((client, upstream), (upstream, client)):
                    threading.Thread(
                        target=self._relay, args=(source, sink), name="proxy-relay", daemon=True
                    ).start()

    def _relay(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        with self._lock:
            self._open -= {source, sink}
        _close([source, sink])


def _close(sockets: Iterable[socket.socket]) -> None:
    for sock in sockets:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        sock.close()


# --- the checks ------------------------------------------------------------------------------


async def outcome_problems(
    sessions: SessionFactory,
    settings: Settings,
    placed: dict[str, PlacedOrder],
    ending: Ending = Ending.COMPLETED,
) -> list[str]:
    """Everything about these orders that is not exactly right; empty when all is well."""
    problems = await asyncio.to_thread(_database_problems, sessions, placed, ending)
    problems += await asyncio.to_thread(_provider_problems, sessions, settings, placed, ending)
    problems += await _workflow_problems(settings, placed)
    return problems


def _database_problems(
    sessions: SessionFactory, placed: dict[str, PlacedOrder], ending: Ending
) -> list[str]:
    problems: list[str] = []
    life, moves = LIVES[ending], MOVES[ending]
    ids = list(placed)
    with transaction(sessions) as session:
        orders = {o.id: o for o in session.scalars(select(Order).where(Order.id.in_(ids)))}
        timelines: dict[str, list[tuple[int, str]]] = {}
        for order_id, seq, status in session.execute(
            select(OrderEvent.order_id, OrderEvent.seq, OrderEvent.status)
            .where(OrderEvent.order_id.in_(ids))
            .order_by(OrderEvent.order_id, OrderEvent.seq)
        ):
            timelines.setdefault(order_id, []).append((seq, status))
        payments: dict[str, list[Payment]] = {}
        for payment in session.scalars(select(Payment).where(Payment.order_id.in_(ids))):
            payments.setdefault(payment.order_id, []).append(payment)
        booked: dict[str, Counter[tuple[str, str]]] = {}
        for entry in session.scalars(select(FinanceEntry).where(FinanceEntry.order_id.in_(ids))):
            booked.setdefault(entry.order_id, Counter())[(entry.kind, entry.account)] += (
                entry.debit - entry.credit
            )
        unbalanced = FinanceLedger(session).unbalanced_traces()
        refunds: dict[str, list[tuple[str | None, int, str]]] = {}
        for refund in session.scalars(select(Refund).where(Refund.order_id.in_(ids))):
            refunds.setdefault(refund.order_id, []).append(
                (refund.purpose, refund.amount, refund.status)
            )
        moved: dict[tuple[str, str], Counter[str]] = {}
        for movement in session.scalars(select(StockMovement)):
            if movement.order_id is None:
                continue  # a receipt
            moved.setdefault((movement.order_id, movement.kind), Counter())[movement.sku] += (
                movement.quantity
            )
        totals = StockRepository(session).ledger_totals()
        levels = {(s.sku, s.warehouse): s for s in session.scalars(select(StockLevel))}

    for order_id, order in sorted(placed.items()):
        row = orders.get(order_id)
        if row is None:
            problems.append(f"{order_id}: no row in orders")
            continue
        if row.status != ending:
            problems.append(f"{order_id}: status {row.status}")
        timeline = timelines.get(order_id, [])
        if [status for _, status in timeline] != life or [seq for seq, _ in timeline] != list(
            range(1, len(life) + 1)
        ):
            problems.append(f"{order_id}: timeline {timeline}, expected one entry each of {life}")
        owed = [("cancel", order.total, "refunded")] if ending == Ending.CANCELLED else []
        if refunds.get(order_id, []) != owed:
            problems.append(f"{order_id}: refunds {refunds.get(order_id, [])}, expected {owed}")
        # The finance ledger: the capture booked once, and the refund once if there was one.
        expected = {("charge", "receivable"): order.total, ("charge", "sales"): -order.total}
        if ending == Ending.CANCELLED:
            expected[("refund", "refunds")] = order.total
            expected[("refund", "receivable")] = -order.total
        if dict(booked.get(order_id, {})) != expected:
            problems.append(
                f"{order_id}: ledger {dict(booked.get(order_id, {}))}, expected {expected}"
            )
        rows = payments.get(order_id, [])
        if [(p.provider_payment_id, p.status, p.amount) for p in rows] != [
            (order.payment_intent_id, "succeeded", order.total)
        ]:
            seen = [(p.provider_payment_id, p.status, p.amount) for p in rows]
            problems.append(
                f"{order_id}: payments rows {seen}, expected one for "
                f"{order.payment_intent_id} succeeded {order.total}"
            )
        for kind in moves:
            if moved.get((order_id, kind), Counter()) != Counter(order.quantities):
                problems.append(
                    f"{order_id}: {kind} movements {dict(moved.get((order_id, kind), {}))}, "
                    f"ordered {order.quantities}"
                )
        for kind in {"ship", "release", "restock"} - set(moves):
            if (order_id, kind) in moved:
                problems.append(f"{order_id}: stock {kind} {dict(moved[(order_id, kind)])}")

    if unbalanced:
        problems.append(f"finance ledger unbalanced for traces {unbalanced}")
    if set(totals) != set(levels):
        problems.append(f"ledger has {sorted(totals)}, stock levels {sorted(levels)}")
    for key, level in sorted(levels.items()):
        kinds = totals.get(key, {})
        on_hand, reserved = ledger_balance(kinds)
        if (level.on_hand, level.reserved) != (on_hand, reserved):
            problems.append(
                f"stock {key}: on hand {level.on_hand}, reserved {level.reserved}; "
                f"the ledger says {on_hand} and {reserved} ({kinds})"
            )
        if level.reserved != 0:
            problems.append(f"stock {key}: {level.reserved} still reserved after every order ended")
    return problems


def _provider_problems(
    sessions: SessionFactory, settings: Settings, placed: dict[str, PlacedOrder], ending: Ending
) -> list[str]:
    """At the provider: exactly one PaymentIntent per order, charged once, the right amount;
    refunded once, in full, when the order was cancelled."""
    recorded: dict[str, list[str]] = {}
    with transaction(sessions) as session:
        for order_id, intent_id in session.execute(
            select(Payment.order_id, Payment.provider_payment_id).order_by(Payment.id)
        ):
            recorded.setdefault(order_id, []).append(intent_id)
    client = stripe.StripeClient(
        settings.stripe_api_key, base_addresses={"api": settings.stripe_api_base}
    )
    intents: dict[str, list[stripe.PaymentIntent]] = {}
    for intent in client.v1.payment_intents.list({"limit": 100}).auto_paging_iter():
        order_id = intent.metadata.to_dict().get("order_id") if intent.metadata else None
        if order_id:
            intents.setdefault(order_id, []).append(intent)
    problems = []
    for order_id, order in sorted(placed.items()):
        found = [(i.id, i.status, i.amount) for i in intents.get(order_id, [])]
        charged = [f for f in found if f[1] == "succeeded"]
        if charged != [(order.payment_intent_id, "succeeded", order.total)]:
            problems.append(
                f"{order_id}: charged at the provider {charged}, expected "
                f"{order.payment_intent_id} once for {order.total}"
            )
        given_back = sorted(
            refund.amount
            for refund in client.v1.refunds.list(
                {"payment_intent": order.payment_intent_id, "limit": 100}
            ).auto_paging_iter()
            if refund.payment_intent == order.payment_intent_id
        )
        owed = [order.total] if ending == Ending.CANCELLED else []
        if given_back != owed:
            problems.append(f"{order_id}: refunded at the provider {given_back}, expected {owed}")
        if len(found) != 1:
            # Typically an attempt of create_payment stopped between the provider's answer and
            # the payments row, and the next attempt, finding no row, created another.
            problems.append(
                f"{order_id}: {len(found)} PaymentIntents at the provider: {found}; "
                f"the payments table knows {recorded.get(order_id, [])}"
            )
    return problems


async def _workflow_problems(
    settings: Settings, placed: dict[str, PlacedOrder], timeout: float = 30.0
) -> list[str]:
    """Every order's workflow closed as completed (it closes just after its last stamp)."""
    client = await connect(settings)
    deadline = time.monotonic() + timeout
    while True:
        statuses: dict[str, WorkflowExecutionStatus | None] = {}
        async for execution in client.list_workflows("WorkflowType = 'OrderWorkflow'"):
            statuses.setdefault(execution.id, execution.status)
        problems = []
        for order_id in sorted(placed):
            status = statuses.get(order_workflow_id(order_id))
            if status != WorkflowExecutionStatus.COMPLETED:
                problems.append(f"{order_id}: workflow {status.name if status else 'not found'}")
        if not problems or time.monotonic() > deadline:
            return problems
        await asyncio.sleep(0.5)


RECOVERIES = {
    EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT: "activity timed out",
    EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED: "activity failed",
    EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT: "workflow task timed out",
    EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED: "workflow task failed",
}


async def recoveries(stack: ChaosStack, order_ids: Iterable[str]) -> Counter[str]:
    """What the chaos cost: timeouts and failures in the orders' histories, and the activity
    attempts that failed and were retried (local activities leave those only in the log)."""
    client = await connect(stack.settings)
    gate = asyncio.Semaphore(16)
    seen: Counter[str] = Counter()

    async def one(order_id: str) -> None:
        async with gate:
            history = await client.get_workflow_handle(order_workflow_id(order_id)).fetch_history()
        seen.update(RECOVERIES[e.event_type] for e in history.events if e.event_type in RECOVERIES)

    await together(*(one(order_id) for order_id in order_ids))
    with stack.log_path.open("rb") as log:
        seen["failed activity attempt"] += sum(
            b"Completing activity as failed" in line for line in log
        )
    return +seen


def report(problems: list[str], stack: ChaosStack, limit: int = 40) -> str:
    shown = "\n  ".join(problems[:limit])
    more = f"\n  ... and {len(problems) - limit} more" if len(problems) > limit else ""
    return f"{len(problems)} problems:\n  {shown}{more}\n{stack.describe()}"
