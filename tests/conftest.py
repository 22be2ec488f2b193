"""Shared fixtures: a real database, a real localstripe, real Temporal servers.

``ORDERFLOW_TEST_DATABASE_URL`` picks the database (CI runs the suite on SQLite and on
PostgreSQL); without it each run gets a fresh SQLite file.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from temporalio.client import (
    Client,
    Interceptor,
    OutboundInterceptor,
    StartWorkflowInput,
    StartWorkflowUpdateWithStartInput,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowUpdateHandle,
)
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Interceptor as WorkerInterceptor
from temporalio.worker import Worker

from api.main import create_app
from api.tokens import issue
from config.settings import Settings, keyring_from
from domain.access import Role
from domain.contract import (
    SEARCH_ATTRIBUTES,
    compensation_workflow_id,
    order_workflow_id,
    reconciliation_workflow_id,
    return_workflow_id,
    shipment_workflow_id,
)
from domain.rules import ChannelRules, FulfilmentRules, LockStrategy, ShortageAction
from domain.sla import SlaRules, Stage, StageLimit
from integrations.carriers import Carrier
from integrations.carriers.sandbox import SandboxCarrier
from integrations.notifications import Notifier
from integrations.notifications.mail import MailNotifier
from integrations.notifications.mail_sink import Collector
from integrations.notifications.mail_sink import start as start_mail_sink
from integrations.payments.stripe import StripePayments
from integrations.temporal import data_converter, register_search_attributes
from orderflow.binaries import binary
from orderflow.stack import free_port
from store.db import SessionFactory, make_engine, make_session_factory
from store.migrate import upgrade
from store.models import Base
from store.seed import seed_demo_catalog
from workers.main import build_worker

STRIPE_KEY = "sk_test_orderflow"
HISTORIES = Path(__file__).parent / "histories"
SHIPMENT_HISTORIES = HISTORIES / "shipments"
RETURN_HISTORIES = HISTORIES / "returns"
COMPENSATION_HISTORIES = HISTORIES / "compensations"
RECONCILIATION_HISTORIES = HISTORIES / "reconciliation"


def _database_under_test() -> str:
    base = os.environ.get("ORDERFLOW_TEST_DATABASE_URL")
    return make_url(base).get_backend_name() if base else "sqlite"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """CI runs the suite once on each database. The PostgreSQL pass runs only what reaches
    the database (through the ``database_url`` fixture, or marked ``every_database``); a
    slow test whose subject is not the database (a crash, the fuzzer) runs in the one pass
    its ``one_database`` marker names, and its file runs first. ``ORDERFLOW_EVERY_DATABASE=1``
    (``make chaos``, ``make fuzz``) runs everything whatever the database."""
    # The slow files first, so that with a worker per core none is left running alone at the end.
    slow = {item.path for item in items if item.get_closest_marker("one_database")}
    items.sort(key=lambda item: item.path not in slow)  # stable: each file stays together
    if os.environ.get("ORDERFLOW_EVERY_DATABASE"):
        return
    here = _database_under_test()
    for item in items:
        only_on = _the_one_pass(item)
        if only_on is not None and only_on != here:
            item.add_marker(pytest.mark.skip(reason=f"runs in the {only_on} pass of the suite"))


def _the_one_pass(item: pytest.Item) -> str | None:
    """The database whose pass runs this test, or None for both."""
    marker = item.get_closest_marker("one_database")
    if marker is not None:
        if marker.args not in (("sqlite",), ("postgresql",)):
            raise pytest.UsageError(f"{item.nodeid}: one_database takes 'sqlite' or 'postgresql'")
        return str(marker.args[0])
    if "database_url" in getattr(item, "fixturenames", ()):
        return None
    if item.get_closest_marker("every_database") is not None:
        return None
    return "sqlite"  # it never meets the database: once is enough


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--record-histories",
        action="store_true",
        help="write the histories of representative orders to tests/histories/ for replay tests",
    )


WEBHOOK_SECRET = "whsec_test_orderflow"
# The keys every test process seals personal data and workflow payloads with (the settings'
# development ring, unless the environment names another).
KEYRING = keyring_from(Settings(environment="test"))


def wait_for_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on port {port} after {timeout}s")


# --- database --------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A new, migrated database for this run: a SQLite file, or a scratch PostgreSQL database
    created beside the one ``ORDERFLOW_TEST_DATABASE_URL`` names (so parallel runs don't collide).
    """
    base = os.environ.get("ORDERFLOW_TEST_DATABASE_URL")
    if not base:
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'orderflow.db'}"
        upgrade(url)
        yield url
        return
    server = make_url(base)
    scratch = f"{server.database}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{scratch}"'))
    url = server.set(database=scratch).render_as_string(hide_password=False)
    try:
        upgrade(url)
        yield url
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url, keyring=KEYRING)
    yield engine
    engine.dispose()


# The audit log refuses to forget young rows (a trigger), so it is not cleared between tests:
# a test reads only the rows it made (its own actors, orders and request IDs).
KEPT_BETWEEN_TESTS = {"audit_log"}


CLEARED_BETWEEN_TESTS = [t for t in Base.metadata.sorted_tables if t.name not in KEPT_BETWEEN_TESTS]
# IDs start at 1 in every test, as after TRUNCATE … RESTART IDENTITY. On tables this small,
# TRUNCATE took 150–175 ms a test on PostgreSQL and DELETE about 10.
RESTART_IDS = ";".join(
    f"ALTER SEQUENCE {t.name}_{t.autoincrement_column.name}_seq RESTART"
    for t in CLEARED_BETWEEN_TESTS
    if t.autoincrement_column is not None
)


@pytest.fixture
def sessions(engine: Engine) -> SessionFactory:
    """A clean database for every test, seeded with the demo catalog."""
    with engine.begin() as connection:
        for table in reversed(CLEARED_BETWEEN_TESTS):
            connection.execute(table.delete())
        if engine.dialect.name == "postgresql":
            connection.execute(text(RESTART_IDS))
    factory = make_session_factory(engine)
    seed_demo_catalog(factory)
    return factory


# --- payment provider ------------------------------------------------------------------------


@pytest.fixture(scope="session")
def localstripe_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """This run's own localstripe: its state in this run's temporary folder, never shared."""
    yield from serve_localstripe(tmp_path_factory)


def serve_localstripe(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A localstripe of its own (the session's, or a module's: ``tests/own_localstripe.py``)."""
    port = free_port()
    yield from _serve(
        [
            sys.executable,
            "-m",
            "integrations.payments.localstripe_server",
            "--data-dir",
            str(tmp_path_factory.mktemp("localstripe")),
            "--port",
            str(port),
        ],  # fmt: skip
        port,
    )


def _serve(argv: list[str], port: int) -> Iterator[str]:
    """Run a local HTTP service for the session; yields its base URL."""
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture(scope="session")
def payments(localstripe_url: str) -> StripePayments:
    return StripePayments(api_key=STRIPE_KEY, api_base=localstripe_url)


# --- carrier ---------------------------------------------------------------------------------

CARRIER_SECRET = "whsec_test_carrier"


@pytest.fixture(scope="session")
def sandbox_carrier_url() -> Iterator[str]:
    """The sandbox carrier, selling labels; tests play its tracking reports themselves."""
    port = free_port()
    yield from _serve(
        [
            sys.executable,
            "-m",
            "integrations.carriers.sandbox_server",
            "--port",
            str(port),
            "--secret",
            CARRIER_SECRET,
        ],  # fmt: skip
        port,
    )


# --- Temporal --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
async def time_skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    """One time-skipping server per test module: a module that leaves something the server
    waits on in real time cannot stop time from skipping in the next."""
    async with time_skipping_server() as env:
        yield env


@pytest.fixture
async def own_time_skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    """A server for one test, for a module whose tests leave workflows nobody can end (a
    replacement's shipment, abandoned by its return): a later test's sleep would otherwise
    now and then wait on them in real time, and time out."""
    async with time_skipping_server() as env:
        yield env


@contextlib.asynccontextmanager
async def time_skipping_server() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=binary("temporal-test-server"),
        data_converter=data_converter(KEYRING),
    )
    await register_search_attributes(env.client)
    try:
        yield env
    finally:
        await env.shutdown()


@pytest.fixture(scope="session")
async def dev_server_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=binary("temporal"),
        data_converter=data_converter(KEYRING),
        search_attributes=SEARCH_ATTRIBUTES,
    )
    yield env
    await env.shutdown()


@pytest.fixture(scope="session")
def activity_executor() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(max_workers=32) as executor:
        yield executor


@pytest.fixture
def task_queue() -> str:
    return f"orders-{uuid.uuid4().hex[:8]}"


def bearer(
    sessions: SessionFactory,
    settings: Settings,
    role: Role,
    *,
    subject: str | None = None,
    channel: str | None = None,
) -> dict[str, str]:
    """``Authorization`` headers of a fresh token, issued the way ``orderflow token`` does."""
    if role is Role.API_CLIENT:
        channel = channel or "default"
    issued = issue(
        sessions,
        settings,
        role=role,
        subject=subject or f"test-{role.value}",
        channel=channel,
        ttl=timedelta(hours=1),
        issued_by="tests",
    )
    return {"Authorization": f"Bearer {issued.token}"}


def settings_for(database_url: str, localstripe_url: str, **overrides: object) -> Settings:
    return Settings(
        environment="test",
        database_url=database_url,
        stripe_api_key=STRIPE_KEY,
        stripe_api_base=localstripe_url,
        stripe_webhook_secret=WEBHOOK_SECRET,
        carrier_webhook_secret=CARRIER_SECRET,
        # Revocations take effect at once; intake limits stay out of the way of tests that
        # are not about them (tests/api/test_limits.py sets its own).
        **{
            "revocations_refresh_seconds": 0,
            "intake_rate_per_second": 10_000,
            "intake_burst": 10_000,
            "unpaid_units_per_customer": 100_000,
            **overrides,
        },  # type: ignore[arg-type]
    )


@pytest.fixture
def settings(database_url: str, localstripe_url: str, sandbox_carrier_url: str) -> Settings:
    return stack_settings(database_url, localstripe_url, sandbox_carrier_url)


def stack_settings(
    database_url: str, localstripe_url: str, sandbox_carrier_url: str, **overrides: object
) -> Settings:
    """What a test stack runs with; a module overriding ``settings`` changes a few."""
    return settings_for(
        database_url,
        localstripe_url,
        carrier_api_base=sandbox_carrier_url,
        # Workflow time skips ahead of the wall clock: tests report parcels days ahead of it.
        carrier_report_max_ahead_seconds=30 * 24 * 3600,
        **overrides,
    )


# The tests' merchant: one channel per stock-locking strategy and shortage action.
NEVER = timedelta(days=3650)
TEST_RULES = FulfilmentRules(
    channels={
        "default": ChannelRules(lock=LockStrategy.AT_ORDER),
        "tmall": ChannelRules(lock=LockStrategy.AT_PAYMENT, on_shortage=ShortageAction.REFUND),
        "jd": ChannelRules(lock=LockStrategy.AT_PAYMENT, on_shortage=ShortageAction.HOLD),
        "douyin": ChannelRules(
            lock=LockStrategy.AT_PAYMENT,
            on_shortage=ShortageAction.BACKORDER,
            backorder_wait=timedelta(hours=6),
            backorder_recheck=timedelta(hours=1),
        ),
        "express": ChannelRules(lock=LockStrategy.AT_ORDER),
        "flash": ChannelRules(lock=LockStrategy.PRE_RESERVE, reservation_ttl=timedelta(minutes=10)),
    },
    low_stock_threshold=5,
    # Shipments outlive a test (their parent-close policy abandons them), and the time-skipping
    # server stops skipping once a child workflow is cancelled or terminated. So the tests
    # leave shipments running, and only channel "express" has a ship-by deadline near enough
    # to fire: its tests deliver their parcels before they end. Stage limits are as far away;
    # the stage SLA tests set their own.
    sla=SlaRules(
        ship_by={"express": timedelta(hours=2), "default": NEVER},
        stages={stage: StageLimit(yellow=NEVER, red=NEVER) for stage in Stage},
    ),
)


@pytest.fixture
def rules() -> FulfilmentRules:
    return TEST_RULES


@pytest.fixture(scope="session")
def mail_sink() -> Iterator[Collector]:
    """A real SMTP server in the test process; reminders sent by the worker land here."""
    controller, collector = start_mail_sink(free_port())
    yield collector
    controller.stop()


class Stack:
    """A running worker plus an API client bound to it: what a test drives.

    ``api`` carries an admin's token; ``as_role`` gives the headers of any other caller."""

    def __init__(
        self,
        env: WorkflowEnvironment,
        api: httpx.AsyncClient,
        worker: Worker,
        record: bool,
        sessions: SessionFactory,
        settings: Settings,
    ) -> None:
        self.env = env
        self.client: Client = env.client
        self.api = api
        self.worker = worker
        self.record = record
        self.sessions = sessions
        self.settings = settings

    def as_role(
        self, role: Role, subject: str | None = None, channel: str | None = None
    ) -> dict[str, str]:
        """Headers for a caller with this role (a customer's subject is their customer ID)."""
        return bearer(self.sessions, self.settings, role, subject=subject, channel=channel)

    async def keep_history(self, order_id: str, name: str) -> None:
        """With --record-histories, save this order's history for the replay test."""
        await self._keep(order_workflow_id(order_id), HISTORIES / f"{name}.json")

    async def keep_shipment_history(self, order_id: str, package: int, name: str) -> None:
        """The same for one of the order's shipments, under ``histories/shipments``."""
        await self._keep(
            shipment_workflow_id(order_id, package), SHIPMENT_HISTORIES / f"{name}.json"
        )

    async def keep_return_history(self, rma: str, name: str) -> None:
        await self._keep(return_workflow_id(rma), RETURN_HISTORIES / f"{name}.json")

    async def keep_compensation_history(self, batch_id: str, name: str) -> None:
        await self._keep(
            compensation_workflow_id(batch_id), COMPENSATION_HISTORIES / f"{name}.json"
        )

    async def keep_reconciliation_history(self, run_id: int, name: str) -> None:
        await self._keep(
            reconciliation_workflow_id(run_id), RECONCILIATION_HISTORIES / f"{name}.json"
        )

    async def _keep(self, workflow_id: str, path: Path) -> None:
        if not self.record:
            return
        history = await self.client.get_workflow_handle(workflow_id).fetch_history()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(history.to_json())


@pytest.fixture
def carriers(settings: Settings) -> dict[str, Carrier]:
    """The carriers the worker knows; a test module overrides this to know others or none."""
    return {"sandbox": SandboxCarrier(base_url=settings.carrier_api_base)}


@pytest.fixture
async def stack(
    time_skipping_env: WorkflowEnvironment,
    sessions: SessionFactory,
    payments: StripePayments,
    activity_executor: ThreadPoolExecutor,
    task_queue: str,
    settings: Settings,
    rules: FulfilmentRules,
    carriers: dict[str, Carrier],
    mail_sink: Collector,
    request: pytest.FixtureRequest,
) -> AsyncIterator[Stack]:
    """The API and a worker on the time-skipping server, with the real database and localstripe."""
    async for running in _stack(
        time_skipping_env,
        sessions,
        payments,
        activity_executor,
        task_queue,
        settings,
        rules=rules,
        notifier=MailNotifier(
            host="127.0.0.1", port=mail_sink.port, sender="orders@orderflow.example"
        ),
        carriers=carriers,
        record=request.config.getoption("--record-histories"),
    ):
        yield running


@pytest.fixture
async def dev_stack(
    dev_server_env: WorkflowEnvironment,
    sessions: SessionFactory,
    payments: StripePayments,
    activity_executor: ThreadPoolExecutor,
    task_queue: str,
    settings: Settings,
    request: pytest.FixtureRequest,
) -> AsyncIterator[Stack]:
    """The same on the full dev server, in real time: what messages racing each other need
    (only the real server refuses a workflow task's completion when news arrived meanwhile)."""
    async for running in _stack(
        dev_server_env,
        sessions,
        payments,
        activity_executor,
        task_queue,
        settings,
        carriers={"sandbox": SandboxCarrier(base_url=settings.carrier_api_base)},
        record=request.config.getoption("--record-histories"),
    ):
        yield running


async def _stack(
    env: WorkflowEnvironment,
    sessions: SessionFactory,
    payments: StripePayments,
    executor: ThreadPoolExecutor,
    task_queue: str,
    settings: Settings,
    *,
    rules: FulfilmentRules = TEST_RULES,
    notifier: Notifier | None = None,
    carriers: dict[str, Carrier] | None = None,
    record: bool = False,
    interceptors: Sequence[WorkerInterceptor] = (),
) -> AsyncIterator[Stack]:
    started = StartedWorkflows()
    client = Client(**{**env.client.config(), "interceptors": [started]})
    worker = build_worker(
        client,
        sessions=sessions,
        payments=payments,
        executor=executor,
        task_queue=task_queue,
        rules=rules,
        notifier=notifier,
        carriers=carriers,
        interceptors=interceptors,
    )
    app = create_app(settings, client=client, sessions=sessions, task_queue=task_queue, rules=rules)
    async with worker, app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        admin = bearer(sessions, settings, Role.ADMIN, subject="test-admin")
        async with httpx.AsyncClient(
            transport=transport, base_url="http://orderflow", headers=admin
        ) as api:
            yield Stack(env, api, worker, record, sessions, settings)
        await end_started(env.client, started.ids)


async def end_started(client: Client, workflow_ids: set[str]) -> None:
    """End the workflows a test left running, while its worker still runs. On the
    time-skipping server a timer of theirs firing later would leave a task nobody takes, and
    time would stop skipping for every test after. Cancelling lets the worker wind each one
    down; terminating an order with shipments under way would leave the server waiting too.
    """
    handles = [client.get_workflow_handle(workflow_id) for workflow_id in workflow_ids]
    for handle in handles:
        with contextlib.suppress(RPCError):  # already closed
            await handle.cancel()
    deadline = time.monotonic() + 5
    for handle in handles:
        while await _running(handle):
            if time.monotonic() > deadline:
                with contextlib.suppress(RPCError):
                    await handle.terminate("test ended")
                break
            await asyncio.sleep(0.02)


async def _running(handle: WorkflowHandle[Any, Any]) -> bool:
    try:
        return (await handle.describe()).status == WorkflowExecutionStatus.RUNNING
    except RPCError:
        return False


class StartedWorkflows(Interceptor):
    """Remembers the ID of every workflow started through the client it is given to."""

    def __init__(self) -> None:
        self.ids: set[str] = set()

    def intercept_client(self, next: OutboundInterceptor) -> OutboundInterceptor:
        recorder = self

        class Recording(OutboundInterceptor):
            async def start_workflow(self, input: StartWorkflowInput) -> WorkflowHandle[Any, Any]:
                recorder.ids.add(input.id)
                return await super().start_workflow(input)

            async def start_update_with_start_workflow(
                self, input: StartWorkflowUpdateWithStartInput
            ) -> WorkflowUpdateHandle[Any]:
                recorder.ids.add(input.start_workflow_input.id)
                return await super().start_update_with_start_workflow(input)

        return Recording(next)
