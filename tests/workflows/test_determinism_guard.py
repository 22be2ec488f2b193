"""Workflow code stays deterministic by two guards: every workflow test and replay runs in
Temporal's sandbox (which refuses a clock, I/O or randomness at the call), and here, by
reading the source, for the production worker that runs the same code without it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from temporalio.worker import UnsandboxedWorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from config.settings import Settings
from workers.main import WORKFLOW_RUNNER, workflow_runner

WORKFLOWS = Path(__file__).resolve().parents[2] / "workflows"
# What workflow code may import besides the project's domain and its own modules: nothing
# here reads a clock, the network, files or chance.
ALLOWED = {
    "__future__",
    "asyncio",
    "collections",
    "contextlib",
    "dataclasses",
    "datetime",
    "enum",
    "types",
    "typing",
    "temporalio",
    "domain",
    "workflows",
}
# Calls whose answer changes from one replay to the next; workflow.now() and
# workflow.random() are the deterministic ones.
FORBIDDEN_CALLS = {"now", "utcnow", "today", "time", "monotonic", "urandom", "open", "print"}


def sources() -> list[Path]:
    return sorted(WORKFLOWS.rglob("*.py"))


@pytest.mark.parametrize("path", sources(), ids=lambda p: str(p.relative_to(WORKFLOWS)))
def test_workflow_code_imports_nothing_that_reaches_the_world(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    imported: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            imported.add(node.module.split(".")[0])
    assert imported <= ALLOWED, f"{path.name} imports {sorted(imported - ALLOWED)}"


def unrepeatable_calls(source: str) -> list[str]:
    calls = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        owner = func.value if isinstance(func, ast.Attribute) else None
        if owner is not None and getattr(owner, "id", "") == "workflow":
            continue  # workflow.now(), workflow.random(): replayed, not asked
        if name in FORBIDDEN_CALLS:
            calls.append(f"line {node.lineno}: {ast.unparse(node)}")
    return calls


@pytest.mark.parametrize("path", sources(), ids=lambda p: str(p.relative_to(WORKFLOWS)))
def test_workflow_code_asks_no_clock_and_opens_nothing(path: Path) -> None:
    calls = unrepeatable_calls(path.read_text(encoding="utf-8"))
    assert calls == [], f"{path.name} calls what a replay can't repeat: {calls}"


def state_kept_between_runs(source: str) -> list[str]:
    """Module-level containers and ``global``: what one run could leave to the next in a
    process that no longer re-imports the module for every run."""
    found = []
    tree = ast.parse(source)
    for node in tree.body:
        value = node.value if isinstance(node, ast.Assign | ast.AnnAssign) else None
        if isinstance(value, ast.List | ast.Dict | ast.Set | ast.ListComp | ast.DictComp):
            found.append(f"line {node.lineno}: {ast.unparse(node)}")
        elif isinstance(value, ast.Call) and getattr(value.func, "id", "") in MUTABLE:
            found.append(f"line {node.lineno}: {ast.unparse(node)}")
    found += [f"line {n.lineno}: global" for n in ast.walk(tree) if isinstance(n, ast.Global)]
    return found


MUTABLE = {"list", "dict", "set", "defaultdict", "Counter", "deque"}


@pytest.mark.parametrize("path", sources(), ids=lambda p: str(p.relative_to(WORKFLOWS)))
def test_workflow_modules_keep_no_state_between_runs(path: Path) -> None:
    kept = state_kept_between_runs(path.read_text(encoding="utf-8"))
    assert kept == [], f"{path.name} keeps state at module level: {kept}"


def test_the_guard_sees_state_at_module_level() -> None:
    source = "SEEN = set()\nCACHE: dict[str, int] = {}\nLIMITS = (1, 2)\n"
    assert state_kept_between_runs(source) == [
        "line 1: SEEN = set()",
        "line 2: CACHE: dict[str, int] = {}",
    ]


def test_the_guard_tells_the_wall_clock_from_the_workflows() -> None:
    source = "a = datetime.now(UTC)\nb = workflow.now()\nc = time.monotonic()\n"
    assert unrepeatable_calls(source) == [
        "line 1: datetime.now(UTC)",
        "line 3: time.monotonic()",
    ]


def test_tests_run_workflows_in_the_sandbox_and_production_as_configured() -> None:
    assert isinstance(WORKFLOW_RUNNER, SandboxedWorkflowRunner)
    production = Settings(environment="test", workflow_sandbox=False)
    assert isinstance(workflow_runner(production), UnsandboxedWorkflowRunner)
    sandboxed = workflow_runner(Settings(environment="test", workflow_sandbox=True))
    assert sandboxed is WORKFLOW_RUNNER
