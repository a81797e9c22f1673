"""The shapes every route takes, so that every page, twin and state change checks and answers
alike. The table in routes.py pairs each path with one of them and a view function:

- `twin(path, template, build)`: a page, its JSON twin and, for lists of papers, its Atom and
  RSS feeds, all from one `build(site, request, visitor) -> dict`.
- `page(template, build)`: a page only (a form, a confirmation).
- `form_post(act)`: a state change: a POST that reads its form (or JSON body, never more than
  the route's cap: see limits.py), passes `Guard.check` (same site, form token) and a
  per-client rate limit, then calls `act(site, request, form, visitor)` in the thread pool.
- `api(answer)`: a JSON answer from `answer(site, request)`.

View functions are plain functions of the Site (site.py), which each endpoint takes from the
app (`site_of`); nothing here knows what a route does; the only store call is the rate limit.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from email.utils import format_datetime
from typing import Any
from urllib.parse import quote

import orjson
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from paperfeed.errors import Forbidden, InputError, NotSignedIn, RateLimited
from paperfeed.store import User
from paperfeed.web import feeds
from paperfeed.web.clean import dump_json
from paperfeed.web.guard import CSRF_FIELD, SECURITY_HEADERS, Visitor
from paperfeed.web.limits import MAX_BODY_BYTES
from paperfeed.web.site import Site, site_of

POSTS_PER_MINUTE = 60
MAX_UPLOAD_BYTES = 2_000_000

Endpoint = Callable[[Request], Awaitable[Response]]
Build = Callable[[Site, Request, Visitor], dict[str, Any]]
Act = Callable[[Site, Request, dict[str, Any], Visitor], Response]
After = Callable[[Site, Request, dict[str, Any], Visitor], None]


class JSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return dump_json(content)


def json_answer(value: Any, status: int = 200, headers: dict[str, str] | None = None
                ) -> Response:  # fmt: skip
    return JSONResponse(value, status, headers={**SECURITY_HEADERS, **(headers or {})})


def error_json(status: int, message: str) -> dict[str, Any]:
    """The one error shape of every JSON answer."""
    return {"error": {"status": status, "message": message}}


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


YOUR_PAGE = "Sign in first: this page belongs to your account."


def require_user(visitor: Visitor, message: str = YOUR_PAGE) -> User:
    """The signed-in reader, or NotSignedIn (401) with `message`."""
    if visitor.user is None:
        raise NotSignedIn(message)
    return visitor.user


def to_signin(request: Request) -> Response:
    query = "?" + request.url.query if request.url.query else ""
    return RedirectResponse("/signin?next=" + quote(request.url.path + query), 303)


def page(template: str, build: Build, *, needs_user: bool = False, after: After | None = None
         ) -> Endpoint:  # fmt: skip
    """A page built in the thread pool, marked with what the reader did to its papers
    (`Site.mine`); one that `needs_user` sends strangers to sign in. `after` runs once the page
    was built (counting a view)."""

    async def endpoint(request: Request) -> Response:
        site = site_of(request)

        def render() -> Response:
            visitor = site.visitor(request)
            if needs_user and visitor.user is None:
                return to_signin(request)
            view = site.mine(build(site, request, visitor), visitor.user)
            response = site.page(request, template, view, visitor)
            if modified := _modified(view):
                response.headers["Last-Modified"] = format_datetime(modified, usegmt=True)
            if after is not None:
                after(site, request, view, visitor)
            return response

        return await site.run(render)

    return endpoint


def twin(path: str, template: str, build: Build, *,
         feed: Callable[[dict[str, Any]], str] | None = None, after: After | None = None,
         needs_user: bool = False) -> list[Route]:  # fmt: skip
    """A page and its JSON twin, both from `build`, and its Atom and RSS feeds when `feed`
    titles them. Suffixed routes first, so that a path parameter of the page never swallows
    the suffix. The home page's twin is /index.json. `after` runs once a page (not its twins)
    was built: counting a view. A page that `needs_user` sends strangers to sign in; its twin
    answers them 401."""
    stem = path if path != "/" else "/index"

    async def as_json(request: Request) -> Response:
        site = site_of(request)

        def answer() -> dict[str, Any]:
            visitor = site.visitor(request)
            return site.mine(site.counted(build(site, request, visitor)), visitor.user)

        return json_answer(await site.run(answer), headers={"Vary": "Cookie"})

    routes = [Route(stem + ".json", as_json)]
    for kind, render in feeds.RENDER.items() if feed is not None else ():

        async def as_feed(request: Request, render: Any = render, kind: str = kind) -> Response:
            assert feed is not None
            site = site_of(request)

            def answer() -> dict[str, Any]:  # (a feed is the same for everybody)
                return build(site, request, site.guard.visitor(request, None))

            view = await site.run(answer)
            query = "?" + request.url.query if request.url.query else ""
            here = quote(request.url.path)  # (decoded: /author/Ann Lee)
            page_path = here.removesuffix("." + kind)  # (not the route's path)
            made = feeds.Feed(feed(view), site.base_url + here + query,
                              site.base_url + page_path + query, site.base_url,
                              view["papers"], site.started)  # fmt: skip
            modified = format_datetime(feeds.feed_updated(made), usegmt=True)
            headers = {**SECURITY_HEADERS, "Last-Modified": modified}
            return Response(render(made), media_type=feeds.FORMATS[kind], headers=headers)

        routes.append(Route(f"{stem}.{kind}", as_feed))
    return [*routes, Route(path, page(template, build, needs_user=needs_user, after=after))]


def api(answer: Callable[[Site, Request], Any]) -> Endpoint:
    """A JSON answer built in the thread pool."""

    async def endpoint(request: Request) -> Response:
        site = site_of(request)
        return json_answer(await site.run(answer, site, request))

    return endpoint


def form_post(act: Act, *, needs_token: bool = True) -> Endpoint:
    """A state change: read the form, check it (`checked_form`), then act in the thread
    pool."""

    async def endpoint(request: Request) -> Response:
        site = site_of(request)
        form, visitor = await checked_form(site, request, needs_token=needs_token)
        return await site.run(act, site, request, form, visitor)

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


def _modified(view: dict[str, Any]) -> datetime | None:
    """A page's Last-Modified where it has one: a paper page, from the paper's dates."""
    paper = view.get("paper")
    stamp = paper and (paper.get("updated") or paper.get("published"))
    return datetime.fromisoformat(stamp) if stamp else None
