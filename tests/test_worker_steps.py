"""The workflows call activities by name (``domain.steps``): the worker must register every
one of those names, taking and giving the types the workflows expect."""

from __future__ import annotations

import typing

from temporalio import activity

from domain.rules import FulfilmentRules
from domain.steps import EVERY_STEP, NOOP
from integrations.payments.stripe import StripePayments
from store.db import make_engine, make_session_factory
from workers.main import activities


def test_every_step_a_workflow_takes_is_registered_with_its_types() -> None:
    registered = {}
    for function in activities(
        sessions=make_session_factory(make_engine("sqlite://")),
        payments=StripePayments(api_key="sk_test", api_base="http://127.0.0.1:9"),
        rules=FulfilmentRules(),
        notifier=None,
        carriers={},
    ):
        definition = activity._Definition.must_from_callable(function)
        hints = typing.get_type_hints(function)
        registered[definition.name] = (definition.arg_types, hints.get("return"))

    for step in EVERY_STEP:
        assert step.name in registered, f"no activity named {step.name} on the worker"
        takes, gives = registered[step.name]
        assert takes == [step.takes], step.name
        assert gives == (step.gives if step.gives is not None else type(None)), step.name
    assert NOOP not in registered  # the yardstick's activity runs on its own queue
