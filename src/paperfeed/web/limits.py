"""A cap on every request body, applied before a byte of it is read.

Routes read their bodies whole (a JSON object, a form, an uploaded file), so without a cap a
client decides how much memory the server spends: a 500 MB POST took the server from 457 MB
to nearly 2 GB. `BodyLimit` (ASGI middleware, once for the whole app) allows every request
`MAX_BODY_BYTES` (the largest body paperfeed takes is a digest's preferences form, a few KB)
unless its path was given a larger cap (the library import takes a 2 MB file). A request
whose Content-Length is over the cap is answered 413 at once, its body left unread; a body
without a length (chunked) is counted as the app reads it, and reading it fails with a 413
the moment it passes the cap. Form fields are capped by the same bound (handlers.read_form).

What it must not do: buffer a body itself, or know what a route does with one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_BODY_BYTES = 64 * 1024

ErrorPage = Callable[[Request, Exception], Awaitable[Response]]


def too_large(max_bytes: int) -> HTTPException:
    return HTTPException(413, f"The request is larger than {_size(max_bytes)}, the most this "
                              "address accepts; send less.")  # fmt: skip


def _size(n: int) -> str:
    return f"{n / 1_000_000:g} MB" if n >= 1_000_000 else f"{n // 1024} KB"


class BodyLimit:
    """`larger` maps a path to its own cap; `error_page` answers a refused request in the app's
    error shape (JSON or a page), as every other error is answered."""

    def __init__(self, app: ASGIApp, *, error_page: ErrorPage,
                 max_bytes: int = MAX_BODY_BYTES, larger: Mapping[str, int] | None = None,
                 ) -> None:  # fmt: skip
        self.app = app
        self.error_page = error_page
        self.max_bytes = max_bytes
        self.larger = dict(larger or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cap = self.larger.get(scope["path"], self.max_bytes)
        if _declared_length(scope) > cap:
            response = await self.error_page(Request(scope), too_large(cap))
            await response(scope, receive, send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > cap:
                    raise too_large(cap)  # to the route, whose error handler answers it
            return message

        await self.app(scope, counted, send)


def _declared_length(scope: Scope) -> int:
    """The Content-Length the client sent; 0 when none (the server rejects a malformed one)."""
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return 0
    return 0
