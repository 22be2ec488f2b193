"""`make install`: what it runs, and two of it at once in one checkout."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Compiled once installed (the project's own modules, which an editable install leaves as source).
PACKAGES = "activities api config domain integrations orderflow store workers workflows"

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs make")

# Stands in for python: `-m venv DIR` makes DIR/bin/python (this script), anything else takes
# a moment; each run is logged, so overlapping or repeated work shows.
FAKE_PYTHON = """#!/bin/sh
echo "start $*" >> "$INSTALL_LOG"
sleep 0.5
if [ "$1 $2" = "-m venv" ]; then mkdir -p "$3/bin" && cp "$0" "$3/bin/python"; fi
echo "end $*" >> "$INSTALL_LOG"
"""


def environment(**extra: str) -> dict[str, str]:
    """Ours, less what an enclosing `make test` passes down to its children."""
    inherited = {
        k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")
    }
    return inherited | extra


def make_install(tmp_path: Path) -> subprocess.Popen[str]:
    python = tmp_path / "python"
    if not python.exists():
        python.write_text(FAKE_PYTHON)
        python.chmod(0o755)
    return subprocess.Popen(
        ["make", "--no-print-directory", "-C", str(ROOT), "install",
         f"VENV={tmp_path / 'venv'}", f"PYTHON={python}"],
        env=environment(INSTALL_LOG=str(tmp_path / "install.log")),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )  # fmt: skip


def test_install_leaves_pip_as_the_venv_made_it(tmp_path: Path) -> None:
    # Upgrading pip on every fresh install made pip replace itself under a running pip.
    install = make_install(tmp_path)
    output, _ = install.communicate(timeout=60)
    assert install.returncode == 0, output
    runs = (tmp_path / "install.log").read_text().splitlines()
    assert [run for run in runs if run.startswith("start")] == [
        f"start -m venv {tmp_path / 'venv'}",
        "start -m pip install --quiet -e .[dev]",
        f"start -m compileall -q {PACKAGES}",
    ]


@pytest.mark.skipif(shutil.which("flock") is None, reason="installs take turns through flock")
def test_two_installs_at_once_take_turns_and_the_second_finds_it_done(tmp_path: Path) -> None:
    installs = [make_install(tmp_path), make_install(tmp_path)]
    for install in installs:
        output, _ = install.communicate(timeout=60)
        assert install.returncode == 0, output
    runs = (tmp_path / "install.log").read_text().splitlines()
    assert runs == [
        f"start -m venv {tmp_path / 'venv'}",
        f"end -m venv {tmp_path / 'venv'}",
        "start -m pip install --quiet -e .[dev]",
        "end -m pip install --quiet -e .[dev]",
        f"start -m compileall -q {PACKAGES}",
        f"end -m compileall -q {PACKAGES}",
    ]


def pytest_command(*args: str, **env: str) -> str:
    """The pytest line `make test` would run (a dry run: nothing installs or runs)."""
    without_database = {
        k: v for k, v in environment().items() if k != "ORDERFLOW_TEST_DATABASE_URL"
    }
    dry = subprocess.run(
        ["make", "--no-print-directory", "-C", str(ROOT), "-n", "test", "VENV=.venv", *args],
        env=without_database | env,
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    return next(line for line in dry.stdout.splitlines() if line.startswith(".venv/bin/pytest"))


def test_the_suite_runs_on_both_cores_a_test_file_to_a_worker() -> None:
    # A file's module-scoped servers and fixtures stay in one worker, and the files go out in
    # the order the suite sorts them (the slow ones first), not by how many tests they hold.
    parallel = [".venv/bin/pytest", "-n", "2", "--dist", "loadfile", "--no-loadscope-reorder"]
    assert pytest_command().split() == parallel
    url = "postgresql+psycopg2://postgres@127.0.0.1:5432/test"
    assert pytest_command(ORDERFLOW_TEST_DATABASE_URL=url).split() == parallel
    assert pytest_command("TEST_WORKERS=1").split() == [".venv/bin/pytest"]
