"""Reading the audit log the way an admin does: through ``GET /audit``."""

from __future__ import annotations

from typing import Any

from tests.conftest import Stack


async def audit_rows(stack: Stack, **filters: Any) -> list[dict[str, Any]]:
    """Every row the filters match, newest first, following the cursor to the end."""
    rows: list[dict[str, Any]] = []
    params: dict[str, Any] = {**filters, "limit": 500}
    while True:
        response = await stack.api.get("/audit", params=params)
        assert response.status_code == 200, response.text
        page = response.json()
        rows += page["items"]
        if page["next_cursor"] is None:
            return rows
        params["cursor"] = page["next_cursor"]
