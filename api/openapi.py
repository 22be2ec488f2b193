"""The OpenAPI document says who may call each operation and how it answers a caller who
may not: built from the same table ``authorize`` enforces."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from api.access import ACCESS, Public, route_key

SCHEME = "bearerAuth"
ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
        }
    },
}


def error_response(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def document_access(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        spec = get_openapi(
            title=app.title,
            version=app.version,
            summary=app.summary,
            routes=app.routes,
        )
        components = spec.setdefault("components", {})
        components.setdefault("schemas", {})["Error"] = ERROR_SCHEMA
        components["securitySchemes"] = {
            SCHEME: {
                "type": "http",
                "scheme": "bearer",
                "bearerFormat": "JWT",
                "description": "`orderflow token create`, or `POST /oauth/token` for API clients",
            }
        }
        for path, operations in spec.get("paths", {}).items():
            for method, operation in operations.items():
                access = ACCESS[route_key(method.upper(), path)]
                if isinstance(access, Public):
                    operation["description"] = _with(operation, f"No token: {access.because}.")
                    continue
                allowed = ", ".join(sorted(role.value for role in access))
                operation["security"] = [{SCHEME: []}]
                operation["description"] = _with(operation, f"Roles: {allowed}.")
                responses = operation.setdefault("responses", {})
                responses["401"] = error_response("No bearer token, or not a valid one")
                responses["403"] = error_response("The token's role may not do this")
        app.openapi_schema = spec
        return spec

    app.openapi = openapi  # type: ignore[method-assign]


def _with(operation: dict[str, Any], line: str) -> str:
    description = operation.get("description", "")
    return f"{description}\n\n{line}" if description else line
