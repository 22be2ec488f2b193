"""Workflow definitions only: deterministic code, no I/O (the sandbox re-imports these modules)."""
