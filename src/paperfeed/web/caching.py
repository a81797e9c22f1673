"""Conditional GET for every page, API answer and feed: an ETag from the body, 304 when the
client has it, and Last-Modified / If-Modified-Since where a response knows its date.

The ETag is a hash of what was sent, so it is right whatever changed (papers, signals,
announcements) at the price of building the answer; what a 304 saves is the transfer and the
client's work. It is weak (`W/`) because the gzip layer outside may re-encode the body.
"""

from __future__ import annotations

import hashlib
from email.utils import parsedate_to_datetime

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send


def _not_modified(request: Headers, response: MutableHeaders, etag: str) -> bool:
    if "if-none-match" in request:
        wanted = {tag.strip() for tag in request["if-none-match"].split(",")}
        return "*" in wanted or etag in wanted or etag.removeprefix("W/") in wanted
    since, modified = request.get("if-modified-since"), response.get("last-modified")
    if since and modified:
        try:
            return parsedate_to_datetime(modified) <= parsedate_to_datetime(since)
        except (TypeError, ValueError):
            return False
    return False


class ConditionalGet:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET":
            await self.app(scope, receive, send)
            return
        request = Headers(scope=scope)
        start: Message | None = None
        body: list[bytes] = []

        async def buffered(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                headers = MutableHeaders(raw=message["headers"])
                if message["status"] != 200 or "etag" in headers:  # errors, static files
                    await send(message)
                    return
                start = message
                return
            if start is None:
                await send(message)
                return
            body.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            content = b"".join(body)
            headers = MutableHeaders(raw=start["headers"])
            etag = 'W/"' + hashlib.blake2b(content, digest_size=12).hexdigest() + '"'
            headers["etag"] = etag
            headers.setdefault("cache-control", "no-cache")
            if _not_modified(request, headers, etag):
                for name in ("content-length", "content-type"):
                    if name in headers:
                        del headers[name]
                await send({**start, "status": 304})
                await send({"type": "http.response.body", "body": b""})
                return
            await send(start)
            await send({"type": "http.response.body", "body": content})

        await self.app(scope, receive, buffered)
