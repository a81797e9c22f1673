"""The two shapes every route of ours takes, shared by the reader routes (people.py) and the
digest routes (digests.py) so that they check and answer alike.

A page is built in the thread pool and rendered by `Site.page`. A state change is a POST that
reads its form (or JSON body, never more than the route's cap: see limits.py), passes
`Guard.check` (same site, form token) and a per-client rate limit, then acts in the thread
pool. Nothing here knows what a route does; the only store call is the rate limit.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import orjson
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from paperfeed.errors import Forbidden, InputError, RateLimited
from paperfeed.web.clean import dump_json
from paperfeed.web.guard import CSRF_FIELD, SECURITY_HEADERS, Visitor
from paperfeed.web.limits import MAX_BODY_BYTES

if TYPE_CHECKING:
    from paperfeed.web.app import Site

POSTS_PER_MINUTE = 60
MAX_UPLOAD_BYTES = 2_000_000

Endpoint = Callable[[Request], Awaitable[Response]]
Build = Callable[[Request, Visitor], dict[str, Any]]
Act = Callable[[Request, dict[str, Any], Visitor], Response]


def wants_json(request: Request) -> bool:
    return request.headers.get("content-type", "").startswith("application/json") or (
        "application/json" in request.headers.get("accept", "")
    )


async def read_form(request: Request, max_bytes: int = MAX_BODY_BYTES) -> dict[str, Any]:
    """A JSON object body or form fields; an uploaded file as (name, bytes), read now because
    the form closes its files, and cut at one byte past `MAX_UPLOAD_BYTES`. No field can be
    longer than `max_bytes`, the cap `limits.BodyLimit` puts on the route's whole body."""
    if request.headers.get("content-type", "").startswith("application/json"):
        try:
            body = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            raise InputError("The request body is not valid JSON.") from None
        return body if isinstance(body, dict) else {}
    async with request.form(max_files=1, max_fields=20, max_part_size=max_bytes) as form:
        fields: dict[str, Any] = {}
        for key, value in form.items():
            if isinstance(value, UploadFile):
                fields[key] = (value.filename or "", await value.read(MAX_UPLOAD_BYTES + 1))
            else:
                fields[key] = value
        return fields


def json_answer(value: Any, status: int = 200) -> Response:
    return Response(dump_json(value), status, headers=SECURITY_HEADERS,
                    media_type="application/json")  # fmt: skip


def to_signin(request: Request) -> Response:
    query = "?" + request.url.query if request.url.query else ""
    return RedirectResponse("/signin?next=" + quote(request.url.path + query), 303)


def page(site: Site, template: str, build: Build, needs_user: bool = False) -> Endpoint:
    """A page in the thread pool; one that `needs_user` sends strangers to sign in."""

    async def endpoint(request: Request) -> Response:
        def render() -> Response:
            visitor = site.visitor(request)
            if needs_user and visitor.user is None:
                return to_signin(request)
            return site.page(request, template, build(request, visitor), visitor)

        return await site.run(render)

    return endpoint


def form_post(site: Site, act: Act, *, needs_token: bool = True) -> Endpoint:
    """A state change: read the form, check it (`checked_form`), then act in the thread
    pool."""

    async def endpoint(request: Request) -> Response:
        form, visitor = await checked_form(site, request, needs_token=needs_token)
        return await site.run(act, request, form, visitor)

    return endpoint


async def checked_form(
    site: Site, request: Request, *, needs_token: bool = True, max_bytes: int = MAX_BODY_BYTES
) -> tuple[dict[str, Any], Visitor]:
    """The form of a state change, once it passed the checks: where it came from, its form
    token, and the rate limit. Without `needs_token` only the origin is checked: for JSON-only
    endpoints, whose bodies no other site can make a browser send (see digests.py)."""
    form = await read_form(request, max_bytes)
    visitor = await site.run(site.visitor, request)

    def check() -> None:
        if needs_token:
            token = form.get(CSRF_FIELD)
            site.guard.check(request, visitor, token if isinstance(token, str) else None)
        elif not site.guard.same_site(request):
            raise Forbidden("This request came from another site; it was not carried out.")
        allowed = site.write(lambda s: s.hit_rate("post:" + visitor.who, site.now(), 60,
                                                  POSTS_PER_MINUTE))  # fmt: skip
        if not allowed:
            raise RateLimited("Too many actions in a minute; wait a moment and try again.")

    await site.run(check)
    return form, visitor
