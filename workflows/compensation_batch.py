"""CompensationWorkflow: a batch compensation, order by order, its progress queryable.

A closed order is refunded by ``compensate_order``; a running one is told (``compensate``)
and refunds itself, under its own lock, so that its count of what is left stays true. Both
refund under the batch's purpose: the ledger's unique key and Stripe's idempotency key make
it once per order, whatever the retries, restarts and second starts. Long batches continue
as new with their progress.
"""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import FailureError

from domain import steps
from domain.compensations import (
    CompensateOrder,
    CompensationBatch,
    CompensationPage,
    CompensationProgress,
    CompensationRun,
    OrderCompensated,
)
from domain.contract import CompensationQuery, OrderSignal, WorkflowName, order_workflow_id
from workflows.steps import step


@workflow.defn(name=WorkflowName.COMPENSATION)
class CompensationWorkflow:
    @workflow.init
    def __init__(self, run: CompensationRun) -> None:
        self.progress = run.progress or CompensationProgress(batch_id=run.batch.batch_id)

    @workflow.run
    async def run(self, run: CompensationRun) -> CompensationProgress:
        batch, done = run.batch, self.progress
        while True:
            page = await step(
                steps.ORDERS_TO_COMPENSATE, CompensationPage(batch=batch, after=done.cursor)
            )
            if not page.order_ids:
                done.done = True
                return done
            for order_id in page.order_ids:
                _count(done, await _compensate(batch, order_id))
                done.cursor = order_id
            if workflow.info().is_continue_as_new_suggested():
                workflow.continue_as_new(CompensationRun(batch=batch, progress=done))

    @workflow.query(name=CompensationQuery.PROGRESS)
    def current(self) -> CompensationProgress:
        return self.progress


async def _compensate(batch: CompensationBatch, order_id: str) -> OrderCompensated:
    ask = CompensateOrder(batch=batch, order_id=order_id)
    result = await step(steps.COMPENSATE_ORDER, ask)
    if not result.running:
        return result
    # The running order books its share; the money is made sure of here too (an order
    # ending as the signal reaches it may never run the handler), under the same purpose
    # and idempotency key: one refund, whoever is first.
    order = workflow.get_external_workflow_handle(order_workflow_id(order_id))
    told = True
    try:
        await order.signal(OrderSignal.COMPENSATE, batch.for_order())
    except FailureError:  # it ended meanwhile
        told = False
    direct = await step(steps.COMPENSATE_ORDER, ask.model_copy(update={"directly": True}))
    return direct.model_copy(update={"running": told})


def _count(progress: CompensationProgress, result: OrderCompensated) -> None:
    progress.orders += 1
    if result.running:
        progress.told += 1
    elif result.amount:
        progress.refunded += 1
        progress.amount += result.amount
    else:
        progress.skipped += 1
