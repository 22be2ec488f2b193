"""Request bodies larger than ``max_body_bytes`` are refused with 413 before they are read.

A body announced too large (``Content-Length``) is refused before the route runs; one sent in
chunks without a length, as soon as the chunks pass the limit. Starlette's own limit answers
in plain text, and an announced length only once the route reads its body or answers: a route
that never reads it (``POST /alerts/{id}/resolve``) would have acted first.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import HTTP_ERROR_CODES, error_body


class BodyTooLarge(HTTPException):
    """Raised from ``receive``: FastAPI passes an HTTPException from reading a body on to the
    error handlers, where any other exception would become its own 400."""

    def __init__(self, limit: int) -> None:
        super().__init__(status_code=413, detail=f"the request body is over {limit} bytes")


class BodySizeLimit:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if _announced_length(scope) > self.max_bytes:
            await _refuse(BodyTooLarge(self.max_bytes), scope, receive, send)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        answered = False

        async def watched(message: Message) -> None:
            nonlocal answered
            answered = answered or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except BodyTooLarge as error:
            # The error handlers answer it; this is for a read they don't surround.
            if answered:
                raise
            await _refuse(error, scope, receive, send)


def _announced_length(scope: Scope) -> int:
    """The largest ``Content-Length`` the request announces; -1 for none. A value that isn't
    a number is left to the server, and the chunks are counted instead."""
    lengths = [
        value.strip()
        for name, value in scope["headers"]
        if name.lower() == b"content-length" and value.strip().isdigit()
    ]
    # Twenty digits are more bytes than anyone sends; int() need not read a thousand.
    return max((int(value) if len(value) < 20 else 10**20 for value in lengths), default=-1)


async def _refuse(error: BodyTooLarge, scope: Scope, receive: Receive, send: Send) -> None:
    # Closed after the answer: the body the client still sends is not read.
    response = JSONResponse(
        error_body(HTTP_ERROR_CODES[413], error.detail),
        status_code=413,
        headers={"Connection": "close"},
    )
    await response(scope, receive, send)
