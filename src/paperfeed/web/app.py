"""The ASGI app: the Site, the table of routes (routes.py), the middleware and one error
shape, HTML or JSON (site.wants_json).

`create_app` makes the app around a search engine; `app_from_settings` gives it the engine,
mailer and background pipeline that paperfeed.services builds (once per worker process).
Handlers are thin: parameters in, a view function called (in the thread pool: search, SQLite,
ONNX and faiss block, and most of them release the GIL, so one process serves requests on
several cores), the dict rendered as a template or returned as JSON.
Templates autoescape everything; paper text is never marked safe.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match, Route

from paperfeed import services
from paperfeed.config import SETTINGS_ENV, Settings, load_settings
from paperfeed.digest.mailer import Mailer, MailError
from paperfeed.digest.outbound import Outbound
from paperfeed.errors import (
    DiskFull,
    Forbidden,
    InputError,
    NotFound,
    NotSignedIn,
    PaperfeedError,
    QueryError,
    RateLimited,
    TokenError,
)
from paperfeed.logs import setup_logging
from paperfeed.search.engine import SearchEngine
from paperfeed.status import gather
from paperfeed.store import Store
from paperfeed.web import people
from paperfeed.web.caching import ConditionalGet
from paperfeed.web.guard import SecurityHeaders, SiteAddress
from paperfeed.web.handlers import error_json, json_answer
from paperfeed.web.limits import BodyLimit
from paperfeed.web.observe import Metrics, Observe
from paperfeed.web.routes import ROUTES
from paperfeed.web.site import Site, wants_json

log = logging.getLogger(__name__)


def app_from_env() -> Starlette:
    """The app `paperfeed serve` runs (uvicorn factory, imported again in each worker process):
    the settings serve decided, one value in PAPERFEED_SETTINGS (config.Settings.to_json); run
    by uvicorn directly, without serve, the PAPERFEED_* environment's."""
    text = os.environ.get(SETTINGS_ENV)
    return app_from_settings(Settings.from_json(text) if text else load_settings())


def app_from_settings(settings: Settings) -> Starlette:
    """The server of `settings` (services.server): the bundled model, one per process, shared
    by searches and the pipeline; mail from PAPERFEED_SMTP_* (or the local outbox); unless the
    scheduler is off, the background pipeline (paperfeed.pipeline): the source scheduler, the
    embedder, trending and the digest sender (every PAPERFEED_DIGEST_EVERY_S, and at once after
    a subscribe request)."""
    setup_logging(settings.log_level, settings.log_format, settings.access_log)
    parts = services.server(settings)
    options: dict[str, Any] = {
        "mailer": parts.mailer,
        "base_url": settings.public_url,
        "secret": settings.secret_key.encode() if settings.secret_key else None,
        "trending_max_age_s": settings.trending_every_s,
        "access_log": settings.access_log,
        "outbound": services.outbound(settings),
        "status": (lambda store: gather(settings, store)) if settings.metrics else None,
    }
    if parts.pipeline is None:
        return create_app(parts.open_engine, **options)
    pipeline = parts.pipeline
    return create_app(parts.open_engine, on_startup=pipeline.start, on_shutdown=pipeline.stop,
                      wake_sender=pipeline.digests.wake, **options)  # fmt: skip


def create_app(
    open_engine: Callable[[], SearchEngine],
    *,
    on_startup: Callable[[], None] | None = None,
    on_shutdown: Callable[[], None] | None = None,
    today: Callable[[], date] = lambda: datetime.now(UTC).date(),
    mailer: Mailer | None = None,
    base_url: str = "http://127.0.0.1:8000",
    secret: bytes | None = None,
    clock: Callable[[], float] = time.time,
    trending_max_age_s: float = 600.0,
    wake_sender: Callable[[], None] | None = None,
    status: Callable[[Store], Mapping[str, Any]] | None = None,
    access_log: bool = False,
    outbound: Outbound | None = None,
) -> Starlette:
    """The app around a search engine made by `open_engine` (called once, at startup).
    `today` is the date listings are anchored to and `clock` the time (tests pass fixed ones);
    `base_url` is where mailed links point; `secret` signs links and form tokens (default: a
    key made once and kept in the database); `wake_sender` is called after a subscribe request
    planned a confirmation mail (it wakes the digest sender of `paperfeed serve`); `status`
    (status.gather) switches `/metrics` on; `access_log` writes a line per request; `outbound`
    says where webhook channels may post (default: public addresses only)."""
    site = Site(open_engine, mailer=mailer, base_url=base_url, secret=secret, clock=clock,
                today=today, trending_max_age_s=trending_max_age_s,
                started=datetime.now(UTC).replace(microsecond=0), wake_sender=wake_sender,
                outbound=outbound)  # fmt: skip
    if status is not None:
        site.metrics = Metrics(lambda: status(site.engine().store))

    async def on_error(request: Request, exc: Exception) -> Response:
        status, message = _status(request, exc)
        said = dict(exc.headers or {}) if isinstance(exc, HTTPException) else {}
        if status == 405:  # (RFC 9110: say which methods are allowed)
            said["Allow"] = _allowed_methods(request)
        if wants_json(request):
            return json_answer(error_json(status, message), status, headers=said)
        visitor = await site.run(site.visitor, request)
        response = site.page(request, "error.html", {"status": status, "message": message},
                             visitor, status)  # fmt: skip
        response.headers.update(said)
        return response

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        site.engine()
        site.guard  # noqa: B018  (makes the signing key before requests come)
        if on_startup is not None:
            on_startup()
        try:
            yield
        finally:
            if on_shutdown is not None:
                on_shutdown()

    app = Starlette(
        routes=ROUTES,
        lifespan=lifespan,
        middleware=[
            Middleware(SiteAddress, base_url=site.base_url),
            Middleware(SecurityHeaders),
            Middleware(Observe, access_log=access_log, metrics=site.metrics),
            Middleware(BodyLimit, error_page=on_error, larger=people.BODY_BYTES),
            # level 1: a 20-paper search answer (26 KB) in 0.5 ms instead of 1.3 ms at level 5,
            # 9 % larger (7.2 KB, not 6.6 KB); bodies under 1,000 bytes go as they are
            Middleware(GZipMiddleware, minimum_size=1000, compresslevel=1),
            Middleware(ConditionalGet),
        ],
        exception_handlers={PaperfeedError: on_error, HTTPException: on_error, Exception: on_error},
    )
    app.state.site = site  # (handlers reach it through site.site_of)
    return app


def _status(request: Request, exc: Exception) -> tuple[int, str]:
    """The HTTP status and sentence for an error raised while answering."""
    if isinstance(exc, MailError):  # its sentence names our mail server: the operator's log
        log.warning("mail not sent path=%s error=%s", request.url.path, exc)
        return 503, exc.public
    known: list[tuple[type[Exception], int]] = [
        (NotFound, 404), (QueryError, 400), (InputError, 400), (TokenError, 400),
        (Forbidden, 403), (NotSignedIn, 401), (RateLimited, 429), (PaperfeedError, 503),
    ]  # fmt: skip
    if isinstance(exc, DiskFull):  # the operator's log names the disk; readers need not
        log.error("%s path=%s", exc, request.url.path)
        return 503, exc.public
    for kind, status in known:
        if isinstance(exc, kind):
            return status, str(exc)
    if isinstance(exc, HTTPException):
        return exc.status_code, str(exc.detail)
    log.exception("unhandled error path=%s", request.url.path, exc_info=exc)
    return 500, "Something went wrong on our side; it has been logged."


def _allowed_methods(request: Request) -> str:
    """Every method a route answers at the request's path: Starlette's 405 names only those of
    the first route that matched, and a page's GET and its form's POST are two routes."""
    methods: set[str] = set()
    for route in request.app.router.routes:
        if isinstance(route, Route) and route.matches(request.scope)[0] is not Match.NONE:
            methods |= route.methods or set()
    return ", ".join(sorted(methods))
