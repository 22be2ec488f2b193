"""``orderflow bench-reconcile``: the three-way match on a million movements, against the
naive row-by-row way, in one run.

A scratch PostgreSQL database (``orderflow_bench_<hex>``, migrated, dropped afterwards) gets
``orders`` paid orders — payments captured, each booked double-entry in the finance ledger —
one refund for every twentieth of them, and the provider's statement of all of it. One
movement in a thousand is made to differ, a class after another, so the match has real
differences to classify. Loaded with COPY, then analysed.

- **the match**: ``store.matching.unmatched_movements`` and ``domain.reconciliation.classify``
  over everything, as the reconciliation activity runs them (without writing the
  differences), in a child process of its own, so that its peak memory is its own.
- **the baseline**: what a first version would do: for each statement line, ask the database
  for the payment or refund it names and for its ledger row, and compare in Python. Run on
  a sample (``--baseline-lines``) and scaled to the statement's length; it only looks from
  the provider's side, so it does less than the match does.
"""

from __future__ import annotations

import io
import json
import multiprocessing
import resource
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy import Engine, text

from config.keyring import Keyring, new_key
from domain.reconciliation import DifferenceClass, Movement, classify, digest
from orderflow.bench_inventory import scratch_database
from store.db import make_engine, make_session_factory, transaction
from store.matching import statement_window, unmatched_movements
from store.models import Order
from store.repositories import CAPTURED, OrderRepository, PaymentRepository

console = Console(stderr=True)

PROVIDER = "stripe"
REFUND_EVERY = 20  # one order in twenty has a refund
DIFFER_EVERY = 1_000  # one movement in a thousand differs
AMOUNT = 3_600
REFUNDED = 500
EPOCH = datetime(2026, 10, 1, tzinfo=UTC)
CHUNK = 100_000
NULL = r"\N"  # in COPY's text format

# What the seeded movement number n % len(SEEDED) is made into.
SEEDED = (
    DifferenceClass.MISSING_AT_PROVIDER,
    DifferenceClass.MISSING_IN_ORDERS,
    DifferenceClass.MISSING_IN_LEDGER,
    DifferenceClass.AMOUNT_MISMATCH,
    DifferenceClass.CURRENCY_MISMATCH,
    DifferenceClass.DUPLICATE_BOOKING,
    DifferenceClass.REFUND_NOT_SYNCED,
)
# These two differ in a refund: the order is refunded (the charge itself agrees).
IN_A_REFUND = (DifferenceClass.DUPLICATE_BOOKING, DifferenceClass.REFUND_NOT_SYNCED)


@dataclass
class MatchResult:
    seconds: float
    peak_rss_mb: float
    movements: int  # rows the match read back: those of unmatched fingerprints
    differences: dict[str, int]


@dataclass
class ReconcileBenchResult:
    orders: int
    statement_lines: int
    ledger_rows: int
    load_seconds: float
    match: MatchResult
    baseline_lines: int
    baseline_seconds: float
    baseline_seconds_scaled: float  # the sample's time per line, times the statement's lines
    speedup: float
    seeded: dict[str, int]
    targets: dict[str, bool]


def run_bench_reconcile(
    database_url: str, *, orders: int, baseline_lines: int, as_json: bool
) -> int:
    with scratch_database(database_url) as (url, _):
        # The generated rows' sealed columns are sealed with a key of the run's own.
        engine = make_engine(url, keyring=Keyring.from_encoded({"bench": new_key()}, "bench"))
        try:
            load_started = time.perf_counter()
            seeded, lines, ledger_rows = load(engine, orders)
            load_seconds = time.perf_counter() - load_started
            match = _in_child(url)
            sample = min(baseline_lines, lines)
            baseline = naive_baseline(engine, sample)
        finally:
            engine.dispose()
    scaled = baseline / sample * lines
    result = ReconcileBenchResult(
        orders=orders,
        statement_lines=lines,
        ledger_rows=ledger_rows,
        load_seconds=round(load_seconds, 1),
        match=match,
        baseline_lines=sample,
        baseline_seconds=round(baseline, 2),
        baseline_seconds_scaled=round(scaled, 1),
        speedup=round(scaled / match.seconds, 1),
        seeded={kind.value: n for kind, n in seeded.items()},
        targets={
            "under 10 s": match.seconds < 10,
            "under 500 MB": match.peak_rss_mb < 500,
            "at least 20x the baseline": scaled / match.seconds >= 20,
            "every seeded difference found": {k.value: n for k, n in seeded.items()}
            == match.differences,
        },
    )
    if as_json:
        print(json.dumps(asdict(result), indent=2))
    else:
        _print(result)
    return 0 if all(result.targets.values()) else 1


# --- the data --------------------------------------------------------------------------------


def load(engine: Engine, orders: int) -> tuple[Counter[DifferenceClass], int, int]:
    """Orders, payments, refunds, ledger and statement, by COPY; returns the differences
    seeded by class, the statement's length and the ledger's."""
    sealed = _sealed_values(engine)
    tables = {
        "orders": "id, channel, request_fingerprint, customer_id, status, currency, total, "
        "shipping_address, created_at, updated_at",
        "payments": "order_id, provider, provider_payment_id, client_secret, amount, currency, "
        "status, trace_id, created_at, updated_at, fingerprint",
        "refunds": "order_id, provider_refund_id, provider_payment_id, amount, currency, reason, "
        "purpose, status, trace_id, created_at, updated_at, fingerprint",
        "finance_entries": "trace_id, order_id, kind, account, debit, credit, currency, source, "
        "booked_at, fingerprint",
        "statement_lines": "provider, line_id, type, amount, fee, currency, source_id, "
        "payment_id, created, pull_id, trace_id, fingerprint",
    }
    seeded: Counter[DifferenceClass] = Counter()
    counts: Counter[str] = Counter()
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute(
            "INSERT INTO statement_pulls (provider, started_at, finished_at, lines) "
            "VALUES (%s, now(), now(), 0) RETURNING id",
            (PROVIDER,),
        )
        (pull_id,) = cursor.fetchone() or (0,)
        with _progress(orders) as advance:
            for start in range(0, orders, CHUNK):
                buffers = {table: io.StringIO() for table in tables}
                for n in range(start, min(start + CHUNK, orders)):
                    _write_order(n, buffers, sealed, pull_id, seeded, counts)
                for table, columns in tables.items():
                    buffers[table].seek(0)
                    cursor.copy_expert(f"COPY {table} ({columns}) FROM STDIN", buffers[table])
                advance(min(CHUNK, orders - start))
        raw.commit()
    finally:
        raw.close()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE"))
    return seeded, counts["statement_lines"], counts["finance_entries"]


def _sealed_values(engine: Engine) -> tuple[str, str]:
    """One customer and one order written the normal way: their sealed address and client
    secret are copied onto every generated row (nothing reads them here)."""
    sessions = make_session_factory(engine)
    with transaction(sessions) as session:
        orders = OrderRepository(session)
        orders.add_customer_once("bench", email="bench@example.com", name="Bench")
        orders.add(
            Order(
                id="bench-template",
                channel="web",
                request_fingerprint="0" * 64,
                customer_id="bench",
                status="completed",
                currency="usd",
                total=AMOUNT,
                shipping_address={"name": "Bench"},
            )
        )
        session.flush()
        PaymentRepository(session).record_intent(
            order_id="bench-template",
            provider="bench-template",
            provider_payment_id="pi_template",
            client_secret="pi_template_secret",
            amount=AMOUNT,
            currency="usd",
            status="requires_payment_method",
        )
    with engine.connect() as connection:
        address = connection.scalar(
            text("SELECT shipping_address FROM orders WHERE id = 'bench-template'")
        )
        secret = connection.scalar(
            text("SELECT client_secret FROM payments WHERE provider_payment_id = 'pi_template'")
        )
    return address, secret


def _write_order(
    n: int,
    out: dict[str, io.StringIO],
    sealed: tuple[str, str],
    pull_id: int,
    seeded: Counter[DifferenceClass],
    counts: Counter[str],
) -> None:
    address, secret = sealed
    order_id, intent, trace = f"bench-{n}", f"pi_{n}", uuid.UUID(int=n).hex
    at = (EPOCH + timedelta(seconds=n)).isoformat()
    later = (EPOCH + timedelta(seconds=n, milliseconds=500)).isoformat()
    differs = SEEDED[(n // DIFFER_EVERY) % len(SEEDED)] if n % DIFFER_EVERY == 7 else None
    out["orders"].write(
        f"{order_id}\tweb\t{'0' * 64}\tbench\tcompleted\tusd\t{AMOUNT}\t{address}\t{at}\t{at}\n"
    )
    if differs is not DifferenceClass.MISSING_IN_ORDERS:
        charge = _bytea(digest(trace, Movement.CHARGE, AMOUNT, "usd"))
        out["payments"].write(
            f"{order_id}\t{PROVIDER}\t{intent}\t{secret}\t{AMOUNT}\tusd\t{CAPTURED}\t{trace}"
            f"\t{at}\t{later}\t{charge}\n"
        )
    if differs not in (DifferenceClass.MISSING_IN_LEDGER, DifferenceClass.MISSING_IN_ORDERS):
        _book(out, trace, order_id, "charge", ("receivable", "sales"), AMOUNT, intent, later)
        counts["finance_entries"] += 2
    if differs is not DifferenceClass.MISSING_AT_PROVIDER:
        amount = AMOUNT - 100 if differs is DifferenceClass.AMOUNT_MISMATCH else AMOUNT
        currency = "eur" if differs is DifferenceClass.CURRENCY_MISMATCH else "usd"
        ours = differs is not DifferenceClass.MISSING_IN_ORDERS  # its trace is known
        line = _bytea(digest(trace if ours else None, Movement.CHARGE, amount, currency))
        out["statement_lines"].write(
            f"{PROVIDER}\ttxn_c{n}\tcharge\t{amount}\t{amount // 30}\t{currency}\tch_{n}"
            f"\t{intent}\t{at}\t{pull_id}\t{trace if ours else NULL}\t{line}\n"
        )
        counts["statement_lines"] += 1
    if differs is not None:
        seeded[differs] += 1
    if (n % REFUND_EVERY == 3 and differs is None) or differs in IN_A_REFUND:
        refund = f"re_{n}"
        refunded = _bytea(digest(trace, Movement.REFUND, REFUNDED, "usd"))
        out["statement_lines"].write(
            f"{PROVIDER}\ttxn_r{n}\trefund\t{-REFUNDED}\t0\tusd\t{refund}\t{intent}\t{at}"
            f"\t{pull_id}\t{trace}\t{refunded}\n"
        )
        counts["statement_lines"] += 1
        if differs is DifferenceClass.REFUND_NOT_SYNCED:
            return  # made at the provider's dashboard: nothing of it here
        out["refunds"].write(
            f"{order_id}\t{refund}\t{intent}\t{REFUNDED}\tusd\tdamaged\trefund-{n}\trefunded"
            f"\t{trace}\t{later}\t{later}\t{refunded}\n"
        )
        _book(out, trace, order_id, "refund", ("refunds", "receivable"), REFUNDED, refund, later)
        counts["finance_entries"] += 2
        if differs is DifferenceClass.DUPLICATE_BOOKING:
            source = f"manual-{n}"
            _book(
                out, trace, order_id, "refund", ("refunds", "receivable"), REFUNDED, source, later
            )
            counts["finance_entries"] += 2


def _book(
    out: dict[str, io.StringIO],
    trace: str,
    order_id: str,
    kind: str,
    accounts: tuple[str, str],
    amount: int,
    source: str,
    at: str,
) -> None:
    debit, credit = accounts
    carried = _bytea(digest(trace, Movement(kind), amount, "usd"))
    entries = out["finance_entries"]
    entries.write(
        f"{trace}\t{order_id}\t{kind}\t{debit}\t{amount}\t0\tusd\t{source}\t{at}\t{carried}\n"
    )
    entries.write(
        f"{trace}\t{order_id}\t{kind}\t{credit}\t0\t{amount}\tusd\t{source}\t{at}\t{NULL}\n"
    )


def _bytea(value: bytes) -> str:
    """A bytea in COPY's text format (its backslash escaped)."""
    return "\\\\x" + value.hex()


# --- the measurements ------------------------------------------------------------------------


def match_everything(url: str) -> MatchResult:
    """The match as the activity runs it, every difference classified and counted."""
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    started = time.perf_counter()
    movements = 0
    found: Counter[str] = Counter()
    with transaction(sessions) as session:
        window = statement_window(session, PROVIDER, grace=timedelta(0), now=datetime.now(UTC))
        assert window is not None
        for views in unmatched_movements(session, PROVIDER):
            movements += len(views)
            if window.holds(views) and (difference := classify(views)) is not None:
                found[difference.difference.kind.value] += 1
    seconds = time.perf_counter() - started
    engine.dispose()
    peak = _peak_rss_mb()
    return MatchResult(
        seconds=round(seconds, 2),
        peak_rss_mb=round(peak, 1),
        movements=movements,
        differences=dict(found),
    )


def _peak_rss_mb() -> float:
    """This process's own high-water mark. Not ``ru_maxrss``: Linux carries the parent's
    into a child across fork and exec, which would count the data generation too."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _in_child(url: str) -> MatchResult:
    """In a fresh process: its peak memory is the match's (and the interpreter's) alone."""
    console.print("matching three ways…")
    context = multiprocessing.get_context("spawn")
    with context.Pool(1) as pool:
        result: MatchResult = pool.apply(match_everything, (url,))
    return result


def naive_baseline(engine: Engine, lines: int) -> float:
    """Seconds for ``lines`` statement lines, one at a time: the payment or refund each
    names, its ledger row, compared here."""
    sessions = make_session_factory(engine)
    payment_of = text(
        "SELECT amount, currency, trace_id FROM payments WHERE provider_payment_id = :id"
    )
    refund_of = text(
        "SELECT amount, currency, trace_id FROM refunds WHERE provider_refund_id = :id"
    )
    booked = text(
        "SELECT debit, currency FROM finance_entries WHERE source = :id AND account = :account"
    )
    started = time.perf_counter()
    differing = 0
    with transaction(sessions) as session:
        statement = session.execute(
            text(
                "SELECT type, amount, currency, source_id, payment_id FROM statement_lines "
                "ORDER BY id LIMIT :n"
            ),
            {"n": lines},
        ).all()
        for kind, amount, currency, source, intent in statement:
            charge = kind == "charge"
            ref = intent if charge else source
            ours = session.execute(payment_of if charge else refund_of, {"id": ref}).first()
            account = "receivable" if charge else "refunds"
            ledger = session.execute(booked, {"id": ref, "account": account}).first()
            if (
                ours is None
                or ledger is None
                or ours.amount != abs(amount)
                or ours.currency != currency
                or ledger.debit != abs(amount)
            ):
                differing += 1
    return time.perf_counter() - started


# --- output ----------------------------------------------------------------------------------


@contextmanager
def _progress(total: int) -> Iterator[Callable[[int], None]]:
    """A progress bar over the orders loaded: yields how to advance it."""
    columns = (
        TextColumn("{task.description:<16}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("loading orders", total=total)
        yield lambda n: progress.advance(task, n)


def _print(result: ReconcileBenchResult) -> None:
    match = result.match
    print(
        f"{result.orders:,} orders, {result.statement_lines:,} statement lines, "
        f"{result.ledger_rows:,} ledger rows (loaded in {result.load_seconds} s)"
    )
    print(
        f"three-way match: {match.seconds} s, peak {match.peak_rss_mb} MB, "
        f"{match.movements:,} rows of unmatched fingerprints read back"
    )
    for kind, n in sorted(match.differences.items()):
        print(f"  {kind:<20} {n:>7,}  (seeded {result.seeded.get(kind, 0):,})")
    print(
        f"naive row by row: {result.baseline_seconds} s for {result.baseline_lines:,} lines, "
        f"{result.baseline_seconds_scaled} s for the statement → {result.speedup}× faster"
    )
    for target, met in result.targets.items():
        print(f"  {'met' if met else 'NOT met'}: {target}")
