"""Imports point down only: domain ← config ← store/integrations ← activities ← workflows ←
workers/api ← the CLI. Each package's imports are read from its source, so an arrow that runs
back up fails here, named, before it turns into an import cycle or a process that loads more
than it should."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# What each of the project's packages may import from the others.
MAY_IMPORT: dict[str, set[str]] = {
    "domain": set(),
    "config": {"domain"},
    "store": {"domain", "config"},
    "integrations": {"domain", "config"},
    "activities": {"domain", "config", "store", "integrations"},
    # The sandbox re-imports workflows: only the domain, whose steps name the activities.
    "workflows": {"domain"},
    "workers": {"domain", "config", "store", "integrations", "activities", "workflows"},
    # The API reaches Temporal by the contract's names, never through worker code.
    "api": {"domain", "config", "store", "integrations"},
}
# The CLI, the dev stack and the benchmarks sit on top: they may use every floor.
MAY_IMPORT["orderflow"] = set(MAY_IMPORT)


def imported_packages(path: Path) -> set[str]:
    """The project's packages that this file imports, at the top or inside a function."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found & set(MAY_IMPORT)


@pytest.mark.parametrize("package", sorted(MAY_IMPORT))
def test_package_imports_only_the_layers_below(package: str) -> None:
    allowed = MAY_IMPORT[package] | {package}
    upward = {
        str(path.relative_to(ROOT)): sorted(imported_packages(path) - allowed)
        for path in sorted((ROOT / package).rglob("*.py"))
    }
    assert {file: names for file, names in upward.items() if names} == {}


def test_the_api_process_loads_no_worker_workflow_or_activity_code() -> None:
    # A fresh interpreter: the imports of other tests in this process would hide a leak.
    script = (
        "import sys, api.main\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('workers', 'workflows', 'activities', 'orderflow')))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert loaded.stdout.strip() == "[]"


ORDER_PHASES = ("stock", "payment", "fulfilment", "confirmation", "compensation")


@pytest.mark.parametrize("phase", ORDER_PHASES)
def test_an_order_phase_imports_no_other_phase(phase: str) -> None:
    """Each phase gets the state and returns an outcome; only ``run`` decides what follows."""
    tree = ast.parse((ROOT / "workflows" / "order" / f"{phase}.py").read_text(encoding="utf-8"))
    imported = {
        node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module
    } | {
        f"{node.module}.{alias.name}"
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module
        for alias in node.names
    }
    others = {f"workflows.order.{other}" for other in ORDER_PHASES if other != phase}
    assert imported & others == set()
