"""The ASGI app: routes, one error shape, HTML and JSON from the same view functions.

`create_app` is the web's composition root: it opens the store and the search engine once per
process and, unless told not to, starts the source scheduler beside them. Handlers are thin:
parameters in, a view function called, the dict rendered as a template or returned as JSON.
Templates autoescape everything; paper text is never marked safe.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import orjson
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
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
from paperfeed.web import views

log = logging.getLogger(__name__)
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
    env.filters["highlight"] = views.highlight_spans
    return env


def app_from_env() -> Starlette:
    """The app `paperfeed serve` runs (uvicorn factory, one per worker process): settings from
    the PAPERFEED_* environment, the bundled model, and the source scheduler unless
    PAPERFEED_SCHEDULER=0."""
    from paperfeed.search.models import load_embedder  # onnxruntime: only where it is used

    settings = load_settings()

    def open_engine() -> SearchEngine:
        embedder = load_embedder(settings.model or None, device=settings.embed_device)
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
) -> Starlette:
    """The app around a search engine made by `open_engine` (called once, at startup)."""
    env = _templates()
    state: dict[str, SearchEngine] = {}

    def engine() -> SearchEngine:
        if "engine" not in state:
            state["engine"] = open_engine()
        return state["engine"]

    def page(request: Request, template: str, view: dict[str, Any], status: int = 200) -> Response:
        html = env.get_template(template).render(view=view, request=request)
        return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)

    def twin(
        html_path: str, json_path: str, template: str, build: Callable[[Request], dict[str, Any]]
    ) -> list[Route]:
        """A page and its JSON twin, both from `build`; the JSON route first, so that a path
        parameter of the page never swallows the `.json` suffix."""

        async def as_html(request: Request) -> Response:
            return page(request, template, build(request))

        async def as_json(request: Request) -> Response:
            return JSONResponse(build(request), headers=SECURITY_HEADERS)

        return [Route(json_path, as_json), Route(html_path, as_html)]

    def home(request: Request) -> dict[str, Any]:
        return views.home_view(engine(), request.query_params)

    def search(request: Request) -> dict[str, Any]:
        return views.search_view(engine(), request.query_params)

    def paper(request: Request) -> dict[str, Any]:
        return views.paper_view(engine(), request.path_params["ref"])

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok", "papers": engine().store.count_papers()})

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
        if wants_json(request):
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
        *twin("/", "/index.json", "home.html", home),
        *twin("/search", "/search.json", "search.html", search),
        *twin("/paper/{ref:path}", "/paper/{ref:path}.json", "paper.html", paper),
        Route("/healthz", health),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    return Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={PaperfeedError: on_error, HTTPException: on_error, Exception: on_error},
    )
