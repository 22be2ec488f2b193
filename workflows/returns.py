"""ReturnWorkflow: one RMA, from the label to the refund or the quarantine.

Wait for the parcel (every unit scanned at the warehouse) until the RMA expires; then for
the inspection: what passes is restocked and refunded, what fails is quarantined and support
told. Each step is stamped on the RMA's row; scans and the inspection are updates, checked
before they change anything.

An exchange sends a replacement instead of the refund, its stock reserved since the exchange
was accepted: a dearer one once its difference is paid (else the exchange falls back to a
refund), a cheaper one with the difference refunded. It ships as a package of the order, in
a ShipmentWorkflow of its own.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import FailureError
from temporalio.workflow import ParentClosePolicy

from domain import steps
from domain.contract import (
    OrderSignal,
    ReturnUpdate,
    ShipmentOutcome,
    WorkflowName,
    order_workflow_id,
    shipment_workflow_id,
)
from domain.errors import ActionRefused, ScanRefused
from domain.failures import as_failure
from domain.messages import OrderPackages, PaymentView
from domain.money import format_amount
from domain.refunds import RefundLine
from domain.returns import (
    FINAL_RETURN_STATUSES,
    ExchangePayment,
    Inspection,
    Replacement,
    ReturnInput,
    ReturnLabel,
    ReturnNotice,
    ReturnRefund,
    ReturnScan,
    ReturnStamp,
    ReturnStatus,
    ReturnStock,
    ReturnView,
    Verdict,
)
from domain.shipping import ShipmentInput, ShipmentResult
from domain.sla import ship_by_marks
from domain.splitting import PackageLine
from workflows.steps import step
from workflows.waiting import wait_until

# How long a customer has to pay for a dearer replacement once the return passed, and how
# often the provider is asked meanwhile.
PAY_WITHIN = timedelta(days=3)
PAID_YET_EVERY = timedelta(minutes=15)


@workflow.defn(name=WorkflowName.RETURN)
class ReturnWorkflow:
    @workflow.init
    def __init__(self, rma: ReturnInput) -> None:
        self.rma = rma
        self.status = ReturnStatus.OPEN
        self.label: ReturnLabel | None = None
        self.scanned: Counter[str] = Counter()
        self.inspection: Inspection | None = None
        self.note: str | None = None
        self.payment: PaymentView | None = None

    @workflow.run
    async def run(self, rma: ReturnInput) -> ReturnView:
        self.label = await step(steps.BUY_RETURN_LABEL, rma)
        if rma.replacement is not None and rma.difference > 0:
            self.payment = await step(
                steps.CREATE_EXCHANGE_PAYMENT,
                ExchangePayment(
                    rma=rma.rma,
                    order_id=rma.order_id,
                    customer_id=rma.customer_id,
                    amount=rma.difference,
                    currency=rma.currency,
                ),
            )
        stock = ReturnStock(
            rma=rma.rma, order_id=rma.order_id, warehouse=rma.warehouse, lines=rma.lines
        )
        if not await wait_until(self._all_scanned, rma.expires_at):
            await self._drop_exchange(stock)
            await self._stamp(ReturnStatus.EXPIRED, "no parcel came back in time")
            await self._tell("expired", f"Return {rma.rma} expired: no parcel reached us.")
            return self.view()
        await self._stamp(ReturnStatus.RECEIVED, "every unit scanned at the warehouse")
        await workflow.wait_condition(lambda: self.inspection is not None)
        assert self.inspection is not None
        if self.inspection.verdict == Verdict.PASS:
            await step(steps.RESTOCK_RETURN, stock)
            if rma.replacement is None:
                note = await self._refund(rma.amount, rma.lines)
            else:
                # Passed now (the inspection's answer); the replacement may wait for its
                # payment and takes days to arrive: the note follows it.
                await self._stamp(ReturnStatus.PASSED, "passed inspection: exchanging")
                note = await self._exchange(stock)
            await self._stamp(ReturnStatus.PASSED, f"passed inspection: {note}")
            await self._tell("passed", f"Return {rma.rma} passed inspection: {note}.")
        else:
            await step(steps.QUARANTINE_RETURN, stock)
            await self._drop_exchange(stock)
            why = self.inspection.note or "no reason given"
            await self._stamp(ReturnStatus.FAILED, f"failed inspection ({why}): quarantined")
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self.view()

    # --- updates -------------------------------------------------------------------------------

    @workflow.update(name=ReturnUpdate.DETAILS)
    async def details(self) -> ReturnView:
        """The RMA with its label (and a dearer exchange's payment), once there: the answer
        to the customer's request."""
        rma = self.rma
        pays = rma.replacement is not None and rma.difference > 0
        await workflow.wait_condition(
            lambda: self.label is not None and (self.payment is not None or not pays)
        )
        return self.view()

    @workflow.update(name=ReturnUpdate.SCAN)
    def scan(self, scan: ReturnScan) -> ReturnView:
        self.scanned[scan.sku] += scan.quantity
        return self.view()

    @scan.validator
    def _validate_scan(self, scan: ReturnScan) -> None:
        if self.status != ReturnStatus.OPEN:
            raise as_failure(ActionRefused(f"{self.rma.rma} is {self.status}: nothing to scan"))
        expected = self._expected()
        if scan.sku not in expected:
            wanted = ", ".join(f"{n} × {sku}" for sku, n in sorted(expected.items()))
            raise as_failure(ScanRefused(f"{scan.sku} is not in {self.rma.rma} ({wanted})"))
        if self.scanned[scan.sku] + scan.quantity > expected[scan.sku]:
            raise as_failure(
                ScanRefused(
                    f"{self.rma.rma} holds {expected[scan.sku]} × {scan.sku}; "
                    f"{self.scanned[scan.sku]} scanned already"
                )
            )

    @workflow.update(name=ReturnUpdate.INSPECT)
    async def inspect(self, inspection: Inspection) -> ReturnView:
        self.inspection = inspection
        await workflow.wait_condition(lambda: self.status in FINAL_RETURN_STATUSES)
        return self.view()

    @inspect.validator
    def _validate_inspect(self, inspection: Inspection) -> None:
        if self.status != ReturnStatus.RECEIVED or self.inspection is not None:
            raise as_failure(
                ActionRefused(
                    f"{self.rma.rma} is {self.status}: inspected once, after every unit is scanned"
                )
            )

    # --- the steps -----------------------------------------------------------------------------

    def view(self) -> ReturnView:
        return ReturnView(
            rma=self.rma.rma,
            order_id=self.rma.order_id,
            status=self.status,
            lines=self.rma.lines,
            scanned=dict(self.scanned),
            label=self.label,
            expires_at=self.rma.expires_at,
            note=self.note,
            replacement=self.rma.replacement,
            difference=self.rma.difference,
            payment=self.payment,
        )

    def _expected(self) -> Counter[str]:
        return Counter({line.sku: line.quantity for line in self.rma.lines})

    def _all_scanned(self) -> bool:
        return self.scanned == self._expected()

    async def _stamp(self, status: ReturnStatus, note: str) -> None:
        self.status, self.note = status, note
        await step(
            steps.STAMP_RETURN,
            ReturnStamp(rma=self.rma.rma, status=status, at=workflow.now(), note=note),
        )

    async def _exchange(self, stock: ReturnStock) -> str:
        """The replacement goes out (once its difference is paid); a cheaper one refunds
        the difference. Unpaid in time: the exchange becomes a refund."""
        rma, replacement = self.rma, self.rma.replacement
        assert replacement is not None
        if rma.difference > 0 and not await self._paid():
            await step(steps.CANCEL_EXCHANGE, stock)
            refunded = await self._refund(rma.amount, rma.lines)
            return f"the exchange was not paid for in time, so {refunded}"
        said = ""
        if rma.difference < 0:
            said = f"; {await self._refund(-rma.difference, [])}"
        result = await self._ship(replacement)
        if result.outcome == ShipmentOutcome.DELIVERED:
            return f"replacement delivered{said}"
        # It never reached the customer: what they sent back is refunded after all, a
        # replacement the carrier brought back goes on the shelf, a paid difference back.
        if result.outcome == ShipmentOutcome.RETURNED:
            await step(
                steps.RESTOCK_RETURNED,
                OrderPackages(order_id=rma.order_id, packages=[replacement.package]),
            )
        await step(steps.CANCEL_EXCHANGE, stock)
        refunded = await self._refund(rma.amount + min(rma.difference, 0), rma.lines)
        return f"replacement {result.outcome} ({result.reason}), so {refunded}{said}"

    async def _paid(self) -> bool:
        assert self.payment is not None
        pay_by = workflow.now() + PAY_WITHIN
        while not await step(steps.EXCHANGE_PAID, self.payment):
            if workflow.now() >= pay_by:
                return False
            await workflow.sleep(PAID_YET_EVERY)
        return True

    async def _ship(self, replacement: Replacement) -> ShipmentResult:
        rma, now = self.rma, workflow.now()
        shipment: ShipmentResult = await workflow.execute_child_workflow(
            WorkflowName.SHIPMENT,
            ShipmentInput(
                order_id=rma.order_id,
                customer_id=rma.customer_id,
                package=replacement.package,
                warehouse=replacement.warehouse,
                lines=[
                    PackageLine(sku=line.sku, quantity=line.quantity) for line in replacement.lines
                ],
                weight_grams=replacement.weight_grams,
                transaction_id=f"{rma.order_id}/{replacement.transaction_id}",
                sla_marks=ship_by_marks(now, rma.channel, rma.sla),
                ready_at=now,
                sla=rma.sla,
            ),
            id=shipment_workflow_id(rma.order_id, replacement.package),
            task_queue=workflow.info().task_queue,
            parent_close_policy=ParentClosePolicy.ABANDON,
            result_type=ShipmentResult,
        )
        return shipment

    async def _drop_exchange(self, stock: ReturnStock) -> None:
        """No exchange after all: the replacement's stock back on sale, its payment off."""
        if self.rma.replacement is not None:
            await step(steps.CANCEL_EXCHANGE, stock)

    async def _refund(self, amount: int, lines: list[RefundLine]) -> str:
        """Money back: the running order refunds it itself, a closed one is refunded here;
        either way once, under the RMA's purpose."""
        rma = self.rma
        refund = ReturnRefund(
            rma=rma.rma,
            order_id=rma.order_id,
            amount=amount,
            lines=lines,
            reason=f"return {rma.rma}: {rma.reason}",
            by=self.inspection.by if self.inspection else None,
        )
        result = await step(steps.REFUND_RETURN, refund)
        if result.running:
            # The running order books it (its count, its status, its timeline). The money is
            # made sure of here too: an order that ends in the instant the signal reaches it
            # may never run the handler. Both ask under the same purpose and idempotency key:
            # one refund, whoever is first.
            order = workflow.get_external_workflow_handle(order_workflow_id(rma.order_id))
            with contextlib.suppress(FailureError):  # it closed meanwhile
                await order.signal(OrderSignal.RETURN_PASSED, refund)
            result = await step(steps.REFUND_RETURN, refund.model_copy(update={"directly": True}))
        return f"refunded {format_amount(result.amount, rma.currency)}"

    async def _tell(self, key: str, message: str) -> None:
        rma = self.rma
        await step(
            steps.TELL_RETURN_CUSTOMER,
            ReturnNotice(
                rma=rma.rma,
                order_id=rma.order_id,
                customer_id=rma.customer_id,
                key=key,
                message=message,
            ),
        )
