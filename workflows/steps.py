"""How the workflows take a step: a local activity, typed, retried by one set of rules.

Every step is short and idempotent, so it runs as a local activity: the worker runs it inside
the workflow task and records one marker, instead of a round trip through the server and
three events. Provider and database outages are waited out: retries back off up to a minute,
forever. A business error (no stock, an unknown carrier) is not retried: it comes back here
as the domain error it is, for the workflow to decide.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TypeVar, cast

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

from domain.failures import business_error
from domain.steps import Step

Arg = TypeVar("Arg")
Result = TypeVar("Result")

STEP_TIMEOUT = timedelta(seconds=30)
UNTIL_DONE = RetryPolicy(maximum_interval=timedelta(minutes=1))
# A question that may go unanswered: whoever asks has other clocks that must not wait on it.
A_FEW_TRIES = RetryPolicy(maximum_attempts=3)


async def step(
    activity: Step[Arg, Result],
    arg: Arg,
    *,
    retry: RetryPolicy = UNTIL_DONE,
    through_server: bool = False,
) -> Result:
    """Run one step; ``through_server`` makes it a regular activity, whose scheduling ends
    the current workflow task (see ``OrderState.step``)."""
    execute = workflow.execute_activity if through_server else workflow.execute_local_activity
    try:
        result = await execute(
            activity.name,
            arg,
            result_type=activity.gives,
            start_to_close_timeout=STEP_TIMEOUT,
            retry_policy=retry,
        )
    except (ActivityError, ApplicationError) as failure:
        # A local activity's failure may arrive unwrapped; look for the business error.
        error = business_error(failure)
        if error is None:
            raise
        raise error from failure
    return cast(Result, result)  # the data converter built it as ``activity.gives``
