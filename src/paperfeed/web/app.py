"""The ASGI app: routes, one error shape, HTML and JSON from the same view functions.

`create_app` is the web's composition root: it opens the store and the search engine once per
process and, unless told not to, starts the source scheduler beside them. Handlers are thin:
parameters in, a view function called (in the thread pool: search, SQLite, ONNX and faiss
block, and most of them release the GIL, so one process serves requests on several cores), the
dict rendered as a template or returned as JSON.
Templates autoescape everything; paper text is never marked safe.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any, TypeVar

import anyio
import orjson
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from paperfeed import __version__
from paperfeed.config import load_settings
from paperfeed.errors import NotFound, PaperfeedError, QueryError
from paperfeed.ingest.harvest import endpoints_from
from paperfeed.ingest.scheduler import SourceScheduler
from paperfeed.search.engine import SearchEngine
from paperfeed.store import open_store
from paperfeed.web import feeds, hf_api, views
from paperfeed.web.caching import ConditionalGet
from paperfeed.web.openapi import openapi

log = logging.getLogger(__name__)
T = TypeVar("T")
HERE = Path(__file__).parent
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


class JSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def error_json(status: int, message: str) -> dict[str, Any]:
    """The one error shape of every JSON answer."""
    return {"error": {"status": status, "message": message}}


def _templates() -> Environment:
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["version"] = __version__
    env.filters["rich"] = views.rich_text
    env.filters["web_url"] = views.web_url
    return env


def app_from_env() -> Starlette:
    """The app `paperfeed serve` runs (uvicorn factory, one per worker process): settings from
    the PAPERFEED_* environment, the bundled model, and the source scheduler unless
    PAPERFEED_SCHEDULER=0."""
    from paperfeed.search.models import load_embedder  # onnxruntime: only where it is used

    settings = load_settings()

    def open_engine() -> SearchEngine:
        # one thread per query embedding: the server's parallelism is concurrent requests
        embedder = load_embedder(settings.model or None, device=settings.embed_device, threads=1)
        return SearchEngine(open_store(settings.db), settings.resolved_index_dir, embedder)

    if os.environ.get("PAPERFEED_SCHEDULER", "1") == "0":
        return create_app(open_engine)
    scheduler = SourceScheduler(lambda: open_store(settings.db), endpoints_from(settings))
    return create_app(open_engine, on_startup=scheduler.start, on_shutdown=scheduler.stop)


def create_app(
    open_engine: Callable[[], SearchEngine],
    *,
    on_startup: Callable[[], None] | None = None,
    on_shutdown: Callable[[], None] | None = None,
    today: Callable[[], date] = lambda: datetime.now(UTC).date(),
) -> Starlette:
    """The app around a search engine made by `open_engine` (called once, at startup).
    `today` is the date listings are anchored to (tests pass a fixed one)."""
    env = _templates()
    state: dict[str, SearchEngine] = {}
    # Blocking work runs in threads, a few at a time and first come first served: more threads
    # than cores would only share the cores out and stretch every request's latency.
    limiter = anyio.CapacityLimiter((os.cpu_count() or 1) + 1)

    async def run_in_threadpool(fn: Callable[..., T], *args: Any) -> T:
        return await anyio.to_thread.run_sync(fn, *args, limiter=limiter)

    started = datetime.now(UTC).replace(microsecond=0)

    def engine() -> SearchEngine:
        if "engine" not in state:
            state["engine"] = open_engine()
        return state["engine"]

    def page(request: Request, template: str, view: dict[str, Any], status: int = 200) -> Response:
        html = env.get_template(template).render(view=view, request=request)
        return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)

    def twin(
        path: str,
        template: str,
        build: Callable[[Request], dict[str, Any]],
        feed_title: Callable[[dict[str, Any]], str] | None = None,
    ) -> list[Route]:
        """A page and its JSON twin, both from `build`, and its Atom and RSS feeds when it
        lists papers. Suffixed routes first, so that a path parameter of the page never
        swallows the suffix. The home page's twin is /index.json."""
        stem = path if path != "/" else "/index"

        def render_html(request: Request) -> Response:
            view = build(request)
            response = page(request, template, view)
            if modified := _modified(view):
                response.headers["Last-Modified"] = format_datetime(modified, usegmt=True)
            return response

        async def as_html(request: Request) -> Response:
            return await run_in_threadpool(render_html, request)

        async def as_json(request: Request) -> Response:
            view = await run_in_threadpool(build, request)
            return JSONResponse(view, headers=SECURITY_HEADERS)

        routes = [Route(stem + ".json", as_json)]
        if feed_title is not None:
            title = feed_title
            for kind, render in feeds.RENDER.items():

                async def as_feed(
                    request: Request, render: Any = render, kind: str = kind
                ) -> Response:
                    view = await run_in_threadpool(build, request)
                    page_url = str(request.url.replace(path=path))
                    feed = feeds.Feed(title(view), str(request.url), page_url,
                                      str(request.base_url), view["papers"], started)  # fmt: skip
                    modified = format_datetime(feeds.feed_updated(feed), usegmt=True)
                    headers = {**SECURITY_HEADERS, "Last-Modified": modified}
                    return Response(render(feed), media_type=feeds.FORMATS[kind], headers=headers)

                routes.append(Route(f"{stem}.{kind}", as_feed))
        return [*routes, Route(path, as_html)]

    def home(request: Request) -> dict[str, Any]:
        return views.home_view(engine(), request.query_params, today())

    def trending(request: Request) -> dict[str, Any]:
        return views.trending_view(engine(), request.query_params, today())

    def day(request: Request) -> dict[str, Any]:
        return views.day_view(engine(), request.query_params, today())

    def search(request: Request) -> dict[str, Any]:
        return views.search_view(engine(), request.query_params)

    def paper(request: Request) -> dict[str, Any]:
        return views.paper_view(engine(), request.path_params["ref"])

    def api(build: Callable[[Request], Any]) -> Callable[[Request], Any]:
        async def endpoint(request: Request) -> Response:
            answer = await run_in_threadpool(build, request)
            return JSONResponse(answer, headers=SECURITY_HEADERS)

        return endpoint

    async def health(request: Request) -> Response:
        papers = await run_in_threadpool(engine().store.count_papers)
        return JSONResponse({"status": "ok", "papers": papers})

    def wants_json(request: Request) -> bool:
        path = request.url.path
        return (
            path.endswith(".json")
            or path.startswith("/api/")
            or ("application/json" in request.headers.get("accept", ""))
        )

    async def on_error(request: Request, exc: Exception) -> Response:
        if isinstance(exc, NotFound):
            status, message = 404, str(exc)
        elif isinstance(exc, QueryError):
            status, message = 400, str(exc)
        elif isinstance(exc, HTTPException):
            status, message = exc.status_code, str(exc.detail)
        elif isinstance(exc, PaperfeedError):
            status, message = 503, str(exc)
        else:
            log.exception("unhandled error path=%s", request.url.path)
            status, message = 500, "Something went wrong on our side; it has been logged."
        if wants_json(request) or request.url.path.endswith((".atom", ".rss")):
            return JSONResponse(error_json(status, message), status_code=status,
                                headers=SECURITY_HEADERS)  # fmt: skip
        return page(request, "error.html", {"status": status, "message": message}, status)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        engine()
        if on_startup is not None:
            on_startup()
        try:
            yield
        finally:
            if on_shutdown is not None:
                on_shutdown()

    routes = [
        *twin("/", "home.html", home),
        *twin("/trending", "trending.html", trending, views.trending_title),
        *twin("/today", "day.html", day, views.day_title),
        *twin("/search", "search.html", search, views.search_title),
        *twin("/paper/{ref:path}", "paper.html", paper),
        Route("/api/papers/search", api(lambda r: hf_api.search_papers(engine(), r.query_params))),
        Route(
            "/api/papers/{ref:path}",
            api(lambda r: hf_api.paper_info(engine(), r.path_params["ref"])),
        ),
        Route(
            "/api/daily_papers",
            api(lambda r: hf_api.daily_papers(engine(), r.query_params, today())),
        ),
        Route("/openapi.json", api(lambda r: openapi())),
        Route("/healthz", health),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    return Starlette(
        routes=routes,
        lifespan=lifespan,
        middleware=[
            Middleware(GZipMiddleware, minimum_size=1000, compresslevel=5),
            Middleware(ConditionalGet),
        ],
        exception_handlers={PaperfeedError: on_error, HTTPException: on_error, Exception: on_error},
    )


def _modified(view: dict[str, Any]) -> datetime | None:
    """A page's Last-Modified where it has one: a paper page, from the paper's dates."""
    paper = view.get("paper")
    stamp = paper and (paper.get("updated") or paper.get("published"))
    return datetime.fromisoformat(stamp) if stamp else None
