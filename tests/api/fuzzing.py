"""Schemathesis's cases sent through the running app, checked, and counted.

The app runs on the test's event loop beside the worker; schemathesis and Hypothesis run in a
thread and hand each request to that loop. Schemathesis's own ASGI client would run the app on
a loop of its own and start the app's lifespan a second time.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import hypothesis
import requests
from hypothesis import HealthCheck, Phase, Verbosity, given
from hypothesis import strategies as st
from schemathesis import APIOperation, Case, GenerationMode
from schemathesis.checks import CheckFunction, not_a_server_error
from schemathesis.errors import FailureGroup

# Not exported by the package: the coverage phase's cases (each parameter at its bounds, each
# one missing or of the wrong type) as the CLI and the pytest plugin build them.
from schemathesis.generation.drivers import CoverageGenerator
from schemathesis.generation.feedback import FeedbackSources
from schemathesis.generation.overrides import Override
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from integrations.signing import sign

BASE_URL = "http://orderflow"
CHECKS: list[CheckFunction] = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
# Fuzzed requests Hypothesis draws, and the coverage phase's fixed ones.
FUZZING, COVERAGE = "fuzzing", "coverage"


@dataclass
class Finding:
    operation: str
    caller: str
    problem: str
    status: int
    request: str
    response: str
    times: int = 1

    def __str__(self) -> str:
        return (
            f"{self.operation} as {self.caller}: {self.problem} ({self.status}, {self.times}x)\n"
            f"    {self.request}\n    -> {self.response}"
        )


@dataclass
class Run:
    """What was sent, what came back, and each distinct finding once (with its first case)."""

    sent: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    statuses: Counter[tuple[str, int]] = field(default_factory=Counter)
    findings: dict[tuple[str, str, int], Finding] = field(default_factory=dict)

    def check(
        self, case: Case, caller: str, phase: str, response: httpx.Response, headers: dict[str, str]
    ) -> None:
        self.sent[case.operation.label, caller, phase] += 1
        self.statuses[case.operation.label, response.status_code] += 1
        try:
            case.validate_response(response, checks=CHECKS, headers=headers)
        except FailureGroup as group:
            for failure in group.exceptions:
                self._found(case, caller, response, failure.title)
        except AssertionError as failure:  # a single failure is raised as itself
            self._found(case, caller, response, getattr(failure, "title", str(failure)))

    def _found(self, case: Case, caller: str, response: httpx.Response, problem: str) -> None:
        key = (case.operation.label, problem, response.status_code)
        if key in self.findings:
            self.findings[key].times += 1
            return
        self.findings[key] = Finding(
            case.operation.label,
            caller,
            problem,
            response.status_code,
            case.as_curl_command(),
            response.text[:500],
        )


Send = Callable[[Case, dict[str, str]], httpx.Response]
# What `requests.Request` takes of schemathesis's transport arguments.
REQUEST_ARGUMENTS = {"method", "url", "headers", "files", "data", "params", "cookies", "json"}


def client_for(api: httpx.AsyncClient) -> httpx.AsyncClient:
    """A client on the same app as ``api``, without its token, that hands back a 500 as a
    response to check instead of raising the app's exception."""
    transport = api._transport
    assert isinstance(transport, httpx.ASGITransport)
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=transport.app, raise_app_exceptions=False),
        base_url=BASE_URL,
    )


# A signature header holding this is signed over the body as sent, with the header's secret.
SIGNED = "(signed)"


def sender(
    client: httpx.AsyncClient, loop: asyncio.AbstractEventLoop, secrets: dict[str, str]
) -> Send:
    """Sends a case from schemathesis's thread through the app on ``loop``. requests prepares
    it as schemathesis would send it over the network: the same bytes. ``secrets``: the secret
    of each signature header, by name."""

    def send(case: Case, headers: dict[str, str]) -> httpx.Response:
        arguments = case.as_transport_kwargs(base_url=BASE_URL, headers=headers)
        prepared = requests.Request(
            **{name: value for name, value in arguments.items() if name in REQUEST_ARGUMENTS}
        ).prepare()
        body = prepared.body.encode() if isinstance(prepared.body, str) else prepared.body or b""
        for name, value in prepared.headers.items():
            if value == SIGNED:
                prepared.headers[name] = sign(body, secrets[name])
        request = client.request(
            prepared.method or "GET",
            prepared.url or BASE_URL,
            headers=[(name, wire(value)) for name, value in prepared.headers.items()],
            content=body,
        )
        return asyncio.run_coroutine_threadsafe(request, loop).result(timeout=120)

    return send


def wire(value: str | bytes) -> bytes:
    """A header value as http.client puts it on the wire: Latin-1 (UTF-8 past it)."""
    if isinstance(value, bytes):
        return value
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError:
        return value.encode()


def coverage_cases(operation: APIOperation) -> Iterator[Case]:
    """The coverage phase's cases: fixed, whatever the seed."""
    generation = operation.schema.config.generation_for(operation=operation, phase=COVERAGE)
    yield from CoverageGenerator(
        operation=operation,
        generation_modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
        generation_config=generation,
        auth_storage=None,
        override=Override(),
        feedback=FeedbackSources(),
    )


def fuzzing(
    operation: APIOperation,
    *,
    examples: int,
    seed: int,
    known: dict[str, list[Any]],
    each: Callable[[Case], None],
) -> Callable[[], None]:
    """A Hypothesis test calling ``each`` with ``examples`` valid and invalid cases. Half the
    valid ones carry ``known`` values. ``each`` records findings rather than raising them, so
    one run lists them all (and Hypothesis, seeing no failure, never shrinks)."""
    cases = st.one_of(
        operation.as_strategy(GenerationMode.POSITIVE),
        operation.as_strategy(GenerationMode.NEGATIVE),
    )

    @hypothesis.seed(seed)
    @hypothesis.settings(
        max_examples=examples,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
        verbosity=Verbosity.quiet,
    )
    @given(case=cases, data=st.data())
    def test(case: Case, data: st.DataObject) -> None:
        if is_valid(case) and data.draw(st.booleans()):
            use_known(case, known, data)
        each(case)

    return test


def is_valid(case: Case) -> bool:
    return case.meta is not None and case.meta.generation.mode is GenerationMode.POSITIVE


def use_known(case: Case, known: dict[str, list[Any]], data: st.DataObject) -> None:
    """A known value in place of every generated one it fits, by parameter or property name:
    random IDs and SKUs would only ever meet 404 and 422."""

    def fill(values: Any) -> None:
        if isinstance(values, list):
            for item in values:
                fill(item)
        if isinstance(values, dict):
            for name, value in values.items():
                if name in known:
                    values[name] = data.draw(st.sampled_from(known[name]))
                else:
                    fill(value)

    for values in (case.path_parameters, case.query, case.body):
        fill(values)
    # A header is often left out: one with a known value goes in.
    for header in case.operation.headers:
        if header.name in known:
            case.headers = case.headers or {}
            case.headers[header.name] = data.draw(st.sampled_from(known[header.name]))


def has_inputs(operation: APIOperation) -> bool:
    """Whether Hypothesis can draw more than one request for it (a token is an input too)."""
    definition = operation.definition.raw
    return any(definition.get(part) for part in ("parameters", "requestBody", "security"))
