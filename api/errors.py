"""Every error leaves as ``{"error": {"code", "message"}}``: 4xx for the caller, 5xx is our bug."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException

from domain.errors import (
    ActionRefused,
    AlertNotFound,
    CompensationNotFound,
    CustomerNotFound,
    ExportNotFound,
    Forbidden,
    IdempotencyConflict,
    InvalidOrder,
    InvalidRequest,
    InvalidTransition,
    OrderflowError,
    OrderNotFound,
    OutOfStock,
    ReconciliationRunNotFound,
    ReturnNotFound,
    ScanRefused,
    TooManyRequests,
    Unauthenticated,
    UnknownCarrier,
    UnpaidLimit,
)
from store.db import database_unavailable

log = logging.getLogger(__name__)

STATUS_OF: dict[type[OrderflowError], int] = {
    InvalidRequest: 400,
    Unauthenticated: 401,
    Forbidden: 403,
    InvalidOrder: 422,
    OrderNotFound: 404,
    AlertNotFound: 404,
    CustomerNotFound: 404,
    ExportNotFound: 404,
    CompensationNotFound: 404,
    ReconciliationRunNotFound: 404,
    ReturnNotFound: 404,
    UnknownCarrier: 404,
    OutOfStock: 409,
    IdempotencyConflict: 409,
    ActionRefused: 409,
    InvalidTransition: 409,
    ScanRefused: 409,
    UnpaidLimit: 409,
    TooManyRequests: 429,
}

# Codes for the HTTP errors raised outside our routes: by Starlette's routing, or by
# ``api.limits`` for a body too large.
HTTP_ERROR_CODES = {404: "not_found", 405: "method_not_allowed", 413: "body_too_large"}


class ServiceUnavailable(Exception):
    """A dependency (Temporal, the database) is down: the caller should retry later."""


def error_body(code: str, message: str, **extra: object) -> dict[str, object]:
    return {"error": {"code": code, "message": message, **extra}}


def http_status(error: OrderflowError) -> int:
    for kind in type(error).__mro__:
        if kind in STATUS_OF:
            return STATUS_OF[kind]
    return 400


def _headers_for(error: OrderflowError) -> dict[str, str] | None:
    if isinstance(error, Unauthenticated):
        return {"WWW-Authenticate": 'Bearer realm="orderflow"'}
    if isinstance(error, TooManyRequests):
        return {"Retry-After": str(error.retry_after_seconds)}
    return None


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(OrderflowError)
    async def _business(_: Request, error: OrderflowError) -> JSONResponse:
        return JSONResponse(
            error_body(error.code, error.message),
            status_code=http_status(error),
            headers=_headers_for(error),
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, error: RequestValidationError) -> JSONResponse:
        details = [
            {"field": ".".join(str(p) for p in e["loc"][1:]) or e["loc"][0], "problem": e["msg"]}
            for e in error.errors()
        ]
        message = "; ".join(f"{d['field']}: {d['problem']}" for d in details)
        return JSONResponse(
            error_body("validation_error", message, details=details), status_code=422
        )

    @app.exception_handler(HTTPException)
    async def _http(_: Request, error: HTTPException) -> JSONResponse:
        code = HTTP_ERROR_CODES.get(error.status_code, "http_error")
        return JSONResponse(error_body(code, str(error.detail)), status_code=error.status_code)

    @app.exception_handler(ServiceUnavailable)
    async def _unavailable(_: Request, error: ServiceUnavailable) -> JSONResponse:
        return JSONResponse(
            error_body("service_unavailable", str(error)),
            status_code=503,
            headers={"Retry-After": "5"},
        )

    @app.exception_handler(DBAPIError)
    @app.exception_handler(PoolTimeout)
    async def _database(request: Request, error: DBAPIError | PoolTimeout) -> JSONResponse:
        if not database_unavailable(error):
            raise error  # anything else is a bug: the 500 below
        log.warning("database unavailable: %s", error)
        return await _unavailable(request, ServiceUnavailable("database unavailable"))

    @app.exception_handler(Exception)
    async def _bug(_: Request, error: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return JSONResponse(
            error_body("internal_error", "unexpected server error"), status_code=500
        )
