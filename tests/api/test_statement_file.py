"""A provider's statement from its CSV export (``orderflow reconcile --file``), through the
same seam as Stripe's API: every line staged once however often the file is loaded, then
matched three ways by the worker; a bad file is refused with its line, and stores nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from config.settings import Settings
from domain.reconciliation import DifferenceClass
from integrations.payments.csv_statement import CsvStatement, StatementFileError
from orderflow.cli import app
from orderflow.reconcile import load_file, match_file
from store.db import SessionFactory, transaction
from store.models import Payment
from store.reconciliation import ReconciliationRepository
from store.statements import StatementRepository
from tests.api.test_refunds import delivered_order
from tests.conftest import Stack, stack_settings
from tests.workflows.shipping_support import wait_for

HEADER = "id,type,source,payment,amount,fee,currency,created\n"


@pytest.fixture
def settings(database_url: str, localstripe_url: str, sandbox_carrier_url: str) -> Settings:
    # Every movement is judged at once: localstripe and the worker agree within seconds.
    return stack_settings(
        database_url, localstripe_url, sandbox_carrier_url, reconciliation_grace_minutes=0
    )


def export(tmp_path: Path, *rows: str) -> Path:
    path = tmp_path / "statement.csv"
    path.write_text(HEADER + "".join(f"{row}\n" for row in rows))
    return path


def staged(sessions: SessionFactory) -> list[str]:
    with transaction(sessions) as session:
        return [row.line_id for row in StatementRepository(session).lines("stripe")]


async def test_an_exported_statement_is_loaded_once_and_matched_three_ways(
    stack: Stack, localstripe_url: str, sessions: SessionFactory, tmp_path: Path
) -> None:
    order_id = (await delivered_order(stack, localstripe_url))["id"]
    with transaction(sessions) as session:
        payment = session.query(Payment).filter_by(order_id=order_id).one()
        intent, paid_at = payment.provider_payment_id, payment.updated_at.isoformat()
    file = export(
        tmp_path,
        f"txn_1,charge,ch_1,{intent},3600,134,usd,{paid_at}",
        f"txn_2,refund,re_dashboard_1,{intent},-800,0,USD,{paid_at}",
        f"txn_3,charge,ch_9,pi_nobody_knows,1200,40,usd,{paid_at}",
        f"txn_4,payout,po_1,,-5000,0,usd,{paid_at}",
    )

    loaded = load_file(sessions, CsvStatement(file), "stripe")
    again = load_file(sessions, CsvStatement(file), "stripe")
    run = await match_file(
        stack.client, sessions, stack.settings, "stripe", "finance:fei", stack.worker.task_queue
    )

    assert (loaded, again) == (4, 0) and sorted(staged(sessions)) == [
        f"txn_{n}" for n in (1, 2, 3, 4)
    ]
    with transaction(sessions) as session:
        found = {
            row.subject: (row.kind, row.repaired)
            for row in ReconciliationRepository(session).differences(
                run.run_id, after=None, limit=50
            )
        }
    assert found == {
        "re_dashboard_1": (DifferenceClass.REFUND_NOT_SYNCED, True),
        "pi_nobody_knows": (DifferenceClass.MISSING_IN_ORDERS, False),
    }
    await wait_for(stack, order_id, "partially_refunded", "re_dashboard_1")


def test_a_bad_line_refuses_the_whole_file_and_says_where(
    sessions: SessionFactory, tmp_path: Path
) -> None:
    file = export(
        tmp_path,
        "txn_1,charge,ch_1,pi_1,3600,0,usd,2026-11-30T10:00:00Z",
        "txn_2,charge,ch_2,pi_2,36.00,0,usd,2026-11-30T10:00:00Z",
    )

    with pytest.raises(StatementFileError, match="line 3: amount '36.00'"):
        CsvStatement(file).check()
    with pytest.raises(StatementFileError, match="line 3"):
        load_file(sessions, CsvStatement(file), "stripe")

    answer = CliRunner().invoke(app, ["reconcile", "--file", str(file), "--provider", "stripe"])
    assert answer.exit_code == 2
    assert "nothing loaded" in answer.output and "line 3" in answer.output
    missing = tmp_path / "no-columns.csv"
    missing.write_text("id,type,amount\ntxn_1,charge,5\n")
    with pytest.raises(StatementFileError, match="no column source, payment, fee, currency"):
        CsvStatement(missing).check()


def test_a_file_is_read_a_page_after_another_and_refuses_what_it_cannot_match(
    tmp_path: Path,
) -> None:
    at = "2026-11-30T10:00:00Z"
    rows = [f"txn_{n},charge,ch_{n},pi_{n},100,3,usd,{at}" for n in range(5)]
    statement = CsvStatement(export(tmp_path, *rows))

    pages, after = [], None
    while True:
        page = statement.statement_page(starting_after=after, limit=2)
        pages.append(([line.id for line in page.lines], page.has_more))
        if not page.has_more:
            break
        after = page.lines[-1].id

    assert pages == [(["txn_0", "txn_1"], True), (["txn_2", "txn_3"], True), (["txn_4"], False)]
    # A fresh reader (another process) goes on after a cursor too, or says it has none.
    again = CsvStatement(statement.path).statement_page(starting_after="txn_3", limit=2)
    assert [line.id for line in again.lines] == ["txn_4"]
    with pytest.raises(StatementFileError, match="no line txn_9"):
        CsvStatement(statement.path).statement_page(starting_after="txn_9", limit=2)
    twice = export(tmp_path, rows[0], rows[1], rows[0])
    with pytest.raises(StatementFileError, match="txn_0 is there twice"):
        CsvStatement(twice).check()
    nameless = export(tmp_path, f"txn_1,refund,re_1,,-100,0,usd,{at}")
    with pytest.raises(StatementFileError, match="line 2: a refund names no payment"):
        CsvStatement(nameless).check()
