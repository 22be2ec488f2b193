"""Find the executables that come with our Python packages (temporal, localstripe, ...)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path


class MissingBinary(RuntimeError):
    pass


def binary(name: str) -> str:
    """The venv's own copy first (it may not be on PATH), then PATH."""
    beside_python = Path(sys.executable).parent / name
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which(name)
    if found is None:
        raise MissingBinary(f"'{name}' is not installed; run 'make install' first")
    return found
