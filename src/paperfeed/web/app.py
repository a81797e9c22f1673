"""The ASGI app: routes, one error shape, HTML and JSON from the same view functions.

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
import re
import secrets
import threading
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import anyio
import orjson
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Match, Mount, Route
from starlette.staticfiles import StaticFiles

from paperfeed import __version__, services
from paperfeed.config import SETTINGS_ENV, Settings, load_settings
from paperfeed.digest.mailer import Mailer, MailError, OutboxMailer
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
    StoreError,
    TokenError,
)
from paperfeed.logs import setup_logging
from paperfeed.rank import trending as ranking
from paperfeed.search.engine import SearchEngine
from paperfeed.status import gather
from paperfeed.store import Store, User
from paperfeed.users import accounts, library
from paperfeed.web import browse, channels, clean, digests, feeds, hf_api, people, views
from paperfeed.web import foryou as for_you
from paperfeed.web.caching import ConditionalGet
from paperfeed.web.guard import (
    SECURITY_HEADERS,
    SESSION_COOKIE,
    Guard,
    SecurityHeaders,
    SiteAddress,
    Visitor,
)
from paperfeed.web.limits import BodyLimit
from paperfeed.web.observe import CONTENT_TYPE, Metrics, Observe
from paperfeed.web.openapi import openapi

log = logging.getLogger(__name__)
T = TypeVar("T")
HERE = Path(__file__).parent


# What a character clean.text drops looks like in orjson's output: C0 controls but tab and
# newline are escaped (\b \f \r \u00XX: an escape when the run of backslashes before the
# letter is odd, so that LaTeX's \\beta, serialised as \\\\beta, is none); DEL and U+FFFE/U+FFFF
# are written as they are.
_CONTROL_CODE = re.compile(rb"00[01][0-9a-fA-F]|007[fF]")
_BACKSLASH, _U = ord("\\"), ord("u")


def needs_cleaning(body: bytes) -> bool:
    """Whether the JSON `body` (orjson's) holds a character clean.text drops. (bytes.find, not
    a regular expression: re scans a 26 KB answer in ~1 ms, find in microseconds.)"""
    if b"\x7f" in body:
        return True
    if b"\xef\xbf" in body and (b"\xef\xbf\xbe" in body or b"\xef\xbf\xbf" in body):
        return True
    start = body.find(b"\\")
    while start != -1:
        end = start
        while body[end] == _BACKSLASH:
            end += 1
        if (end - start) % 2:  # the last backslash escapes body[end]
            if body[end] in b"bfr":
                return True
            if body[end] == _U and _CONTROL_CODE.fullmatch(body, end + 1, end + 5):
                return True  # \u0000-\u001f, \u007f
        start = body.find(b"\\", end)
    return False


def dump_json(content: Any) -> bytes:
    """clean.dump_json(content), fast: a body is serialised once and checked for what cleaning
    would drop (rare); only then is every string of `content` cleaned and serialised again. The
    walk over every string cost ~1.7 ms on a 20-paper search answer, orjson ~0.01 ms."""
    body = orjson.dumps(content)
    return clean.dump_json(content) if needs_cleaning(body) else body


class JSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return dump_json(content)


def error_json(status: int, message: str) -> dict[str, Any]:
    """The one error shape of every JSON answer."""
    return {"error": {"status": status, "message": message}}


def _templates() -> Environment:
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
        finalize=clean.finalize,
    )
    env.globals["version"] = __version__
    env.globals["page_size"] = views.PAGE_SIZE
    env.filters["rich"] = views.rich_text
    env.filters["web_url"] = clean.web_url
    return env


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


class Site:
    """What every handler needs: the engine, the thread pool, the templates, the guard, the
    mailer and the clock. Writes go through `write`, one at a time: the store is one SQLite
    connection shared by the pool's threads. `wake_sender`, when given, tells the digest
    sender that mail was planned (a confirmation), so it goes out now, not at its next pass."""

    def __init__(self, open_engine: Callable[[], SearchEngine], *, mailer: Mailer | None,
                 base_url: str, secret: bytes | None, clock: Callable[[], float],
                 today: Callable[[], date], trending_max_age_s: float,
                 wake_sender: Callable[[], None] | None = None,
                 outbound: Outbound | None = None) -> None:  # fmt: skip
        self.env = _templates()
        self.env.globals["base_url"] = base_url.rstrip("/")
        self.outbound = outbound or Outbound()  # where webhook channels may post
        self.open_engine = open_engine
        self.mailer = mailer
        self.wake_sender = wake_sender
        self.base_url = base_url.rstrip("/")
        self.secret = secret
        self.clock = clock
        self.today = today
        self.trending_max_age_s = trending_max_age_s
        # Blocking work runs in threads, a few at a time and first come first served: more
        # threads than cores would only share the cores out and stretch every request.
        self.limiter = anyio.CapacityLimiter((os.cpu_count() or 1) + 1)
        # Work that may take long (reading a library import) runs one at a time on threads of
        # its own, so that it can never hold the threads pages are served from.
        self.alone = anyio.CapacityLimiter(1)
        self.write_lock = threading.Lock()
        self._engine: SearchEngine | None = None
        self._guard: Guard | None = None
        self.for_you = for_you.ForYou(self)

    @property
    def mail_stays_local(self) -> bool:
        """No SMTP server is set: mail goes to the local outbox (`paperfeed outbox`)."""
        return isinstance(self.mailer, OutboxMailer)

    def engine(self) -> SearchEngine:
        if self._engine is None:
            self._engine = self.open_engine()
        return self._engine

    @property
    def guard(self) -> Guard:
        if self._guard is None:
            self._guard = Guard(self.secret or self._stored_secret(), self.base_url)
        return self._guard

    def _stored_secret(self) -> bytes:
        try:
            with self.write_lock:
                return self.engine().store.get_secret("web")
        except StoreError:  # a read-only database made before accounts existed
            log.warning("no signing key in a read-only database: links last until restart")
            return secrets.token_bytes(32)

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        return await anyio.to_thread.run_sync(fn, *args, limiter=self.limiter)

    async def run_alone(self, fn: Callable[..., T], *args: Any) -> T:
        return await anyio.to_thread.run_sync(fn, *args, limiter=self.alone)

    def write(self, fn: Callable[[Store], T]) -> T:
        if self.engine().store.readonly:
            raise StoreError("This server's database is open read-only; nothing can be saved.")
        with self.write_lock:
            return fn(self.engine().store)

    def write_in_passing(self, fn: Callable[[Store], object]) -> None:
        """A write that a read makes in passing (a view count, a trending refresh): on a full
        disk it is skipped with a warning, and the read is still answered."""
        try:
            self.write(fn)
        except DiskFull as e:
            log.warning("skipped a write while reading: %s", e)

    def now(self) -> float:
        return self.clock()

    def visitor(self, request: Request) -> Visitor:
        token = request.cookies.get(SESSION_COOKIE)
        user = accounts.session_user(self.engine().store, token, self.now()) if token else None
        return self.guard.visitor(request, user)

    def fresh_trending(self) -> None:
        store, today, max_age_s = self.engine().store, self.today(), self.trending_max_age_s
        if store.readonly or not ranking.is_stale(store, self.now(), today, max_age_s):
            return  # (a read-only server shows the ranking last computed, if any)
        # Stale: one writer recomputes; readers of a fresh ranking never wait for the lock.
        self.write_in_passing(lambda s: ranking.refresh_if_stale(s, today, max_age_s, self.now()))

    def page(self, request: Request, template: str, view: dict[str, Any], visitor: Visitor,
             status: int = 200) -> Response:  # fmt: skip
        self.counted(view)
        html = self.env.get_template(template).render(view=view, request=request, me=visitor)
        headers = {**SECURITY_HEADERS, "Vary": "Cookie"}
        response = HTMLResponse(html, status_code=status, headers=headers)
        return self.guard.finish(response, request, visitor)

    def counted(self, view: dict[str, Any]) -> dict[str, Any]:
        """Give every paper of a view its counts: our readers' upvotes and saves, and the
        upvotes and comments Hugging Face reported (one query each a page, not a card)."""
        papers = [p for p in _paper_dicts(view) if "counts" not in p]
        if not papers:
            return view
        store = self.engine().store
        ids = list({p["id"] for p in papers})
        ours = store.count_reactions(ids)
        unsignalled = list({p["id"] for p in papers if p.get("signals") is None})
        signals = store.latest_signals(unsignalled) if unsignalled else {}
        for p in papers:
            theirs = p.get("signals") or signals.get(p["id"], {})
            p["counts"] = {
                "upvotes": ours.get(p["id"], {}).get("upvote", 0),
                "saves": ours.get(p["id"], {}).get("save", 0),
                "hf_upvotes": int(theirs["hf_upvotes"]) if "hf_upvotes" in theirs else None,
                "hf_comments": int(theirs.get("hf_comments", 0)),
            }
        return view

    def mine(self, view: dict[str, Any], user: User | None) -> dict[str, Any]:
        """Mark the papers of a view with what this reader did to them (upvote, save, hide),
        and the papers they saved with their tags."""
        if user is None:
            return view
        papers = list(_paper_dicts(view))
        seqs = {p["id"]: self.engine().store.find_seq(p["id"]) for p in papers}
        store = self.engine().store
        found = store.get_reactions(user.id, [s for s in seqs.values() if s])
        saved = [s for s in seqs.values() if s and "save" in found.get(s, ())]
        tags = store.get_tags(user.id, saved) if saved else {}
        for p in papers:
            p["mine"] = sorted(found.get(seqs[p["id"]] or 0, ()))
            if "save" in p["mine"]:  # the reader's own tags on a paper they saved
                p["tags"] = list(tags.get(seqs[p["id"]] or 0, ()))
        return view


def _paper_dicts(view: Any) -> Any:
    """Every paper dict inside a view (lists of papers, related papers, the paper itself)."""
    if isinstance(view, dict):
        if "id" in view and "title" in view:
            yield view
        for key, value in view.items():
            if key in ("papers", "related", "paper", "trending", "today", "newest", "for_you",
                       "sections", "recommended"):  # fmt: skip
                yield from _paper_dicts(value)
    elif isinstance(view, list):
        for value in view:
            yield from _paper_dicts(value)


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
                wake_sender=wake_sender, outbound=outbound)  # fmt: skip
    started = datetime.now(UTC).replace(microsecond=0)

    def twin(
        path: str,
        template: str,
        build: Callable[[Request], dict[str, Any]],
        feed_title: Callable[[dict[str, Any]], str] | None = None,
        after: Callable[[Request, dict[str, Any], Visitor], None] | None = None,
    ) -> list[Route]:
        """A page and its JSON twin, both from `build`, and its Atom and RSS feeds when it
        lists papers. Suffixed routes first, so that a path parameter of the page never
        swallows the suffix. The home page's twin is /index.json. `after` runs once a page
        (not its twins) was built: counting a view."""
        stem = path if path != "/" else "/index"

        def render_html(request: Request) -> Response:
            visitor = site.visitor(request)
            view = site.mine(build(request), visitor.user)
            response = site.page(request, template, view, visitor)
            if modified := _modified(view):
                response.headers["Last-Modified"] = format_datetime(modified, usegmt=True)
            if after is not None:
                after(request, view, visitor)
            return response

        async def as_html(request: Request) -> Response:
            return await site.run(render_html, request)

        def build_json(request: Request) -> dict[str, Any]:
            return site.mine(site.counted(build(request)), site.visitor(request).user)

        async def as_json(request: Request) -> Response:
            view = await site.run(build_json, request)
            return JSONResponse(view, headers={**SECURITY_HEADERS, "Vary": "Cookie"})

        routes = [Route(stem + ".json", as_json)]
        if feed_title is not None:
            title = feed_title
            for kind, render in feeds.RENDER.items():

                async def as_feed(
                    request: Request, render: Any = render, kind: str = kind
                ) -> Response:
                    view = await site.run(build, request)
                    query = "?" + request.url.query if request.url.query else ""
                    here = quote(request.url.path)  # (decoded: /author/Ann Lee)
                    page = here.removesuffix("." + kind)  # (not the route's path)
                    feed = feeds.Feed(title(view), site.base_url + here + query,
                                      site.base_url + page + query, site.base_url,
                                      view["papers"], started)  # fmt: skip
                    modified = format_datetime(feeds.feed_updated(feed), usegmt=True)
                    headers = {**SECURITY_HEADERS, "Last-Modified": modified}
                    return Response(render(feed), media_type=feeds.FORMATS[kind], headers=headers)

                routes.append(Route(f"{stem}.{kind}", as_feed))
        return [*routes, Route(path, as_html)]

    def home(request: Request) -> dict[str, Any]:
        site.fresh_trending()
        view = views.home_view(site.engine(), request.query_params, site.today())
        user = site.visitor(request).user
        if user is not None:  # (the page and its twin vary by cookie)
            view["for_you"] = site.for_you.home(user)
        return view

    def trending(request: Request) -> dict[str, Any]:
        site.fresh_trending()
        return views.trending_view(site.engine(), request.query_params, site.today())

    def day(request: Request) -> dict[str, Any]:
        return views.day_view(site.engine(), request.query_params, site.today())

    def search(request: Request) -> dict[str, Any]:
        return views.search_view(site.engine(), request.query_params)

    def paper(request: Request) -> dict[str, Any]:
        return views.paper_view(site.engine(), request.path_params["ref"])

    async def paper_bib(request: Request) -> Response:
        """One paper's BibTeX as text (the library's export format: users/bibtex.py)."""
        text = await site.run(views.paper_bibtex, site.engine(), request.path_params["ref"])
        return Response(text, media_type="text/plain; charset=utf-8",
                        headers=SECURITY_HEADERS)  # fmt: skip

    def author(request: Request) -> dict[str, Any]:
        return browse.author_view(site.engine(), request.path_params["name"], request.query_params)

    def category(request: Request) -> dict[str, Any]:
        return browse.category_view(site.engine(), request.path_params["category"],
                                    request.query_params)  # fmt: skip

    def count_view(request: Request, view: dict[str, Any], visitor: Visitor) -> None:
        if people.is_human_view(request) and not site.engine().store.readonly:
            site.write_in_passing(lambda s: library.record_view(
                s, view["paper"]["id"], visitor.who, site.now()))  # fmt: skip

    def api(build: Callable[[Request], Any]) -> Callable[[Request], Any]:
        async def endpoint(request: Request) -> Response:
            answer = await site.run(build, request)
            return JSONResponse(answer, headers=SECURITY_HEADERS)

        return endpoint

    async def search_api(request: Request) -> Response:
        answer, cached = await site.run(
            lambda: hf_api.search_answer(site.engine(), request.query_params)
        )
        headers = {**SECURITY_HEADERS, "X-Search-Cache": "hit" if cached else "miss"}
        return JSONResponse(answer, headers=headers)

    def daily_papers(request: Request) -> Any:
        return hf_api.daily_papers(site.engine(), request.query_params, site.today())

    async def health(request: Request) -> Response:
        papers = await site.run(site.engine().store.count_papers)
        return JSONResponse({"status": "ok", "papers": papers})

    metrics = Metrics(lambda: status(site.engine().store)) if status is not None else None

    async def metrics_page(request: Request) -> Response:
        assert metrics is not None
        body = await site.run(metrics.render)
        return Response(body, media_type=CONTENT_TYPE, headers={"Cache-Control": "no-store"})

    def wants_json(request: Request) -> bool:
        path = request.url.path
        return (
            path.endswith(".json")
            or path.startswith("/api/")
            or ("application/json" in request.headers.get("accept", ""))
            or request.headers.get("content-type", "").startswith("application/json")
        )

    async def on_error(request: Request, exc: Exception) -> Response:
        status, message = _status(request, exc)
        said = dict(exc.headers or {}) if isinstance(exc, HTTPException) else {}
        if status == 405:  # (RFC 9110: say which methods are allowed)
            said["Allow"] = _allowed_methods(request)
        if wants_json(request) or request.url.path.endswith((".atom", ".rss", ".bib", ".csv")):
            return JSONResponse(error_json(status, message), status_code=status,
                                headers={**SECURITY_HEADERS, **said})  # fmt: skip
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

    routes = [
        *people.routes(site),
        *digests.routes(site),
        *channels.routes(site),
        *for_you.routes(site, site.for_you),
        *twin("/", "home.html", home),
        *twin("/trending", "trending.html", trending, views.trending_title),
        *twin("/today", "day.html", day, views.day_title),
        *twin("/search", "search.html", search, views.search_title),
        Route("/paper/{ref:path}.bib", paper_bib),
        *twin("/paper/{ref:path}", "paper.html", paper, after=count_view),
        *twin("/author/{name:path}", "author.html", author, browse.author_title),
        *twin("/category/{category:path}", "category.html", category, browse.category_title),
        Route("/api/papers/search", search_api),
        Route(
            "/api/papers/{ref:path}",
            api(lambda r: hf_api.paper_info(site.engine(), r.path_params["ref"])),
        ),
        Route("/api/daily_papers", api(daily_papers)),
        Route("/openapi.json", api(lambda r: openapi())),
        Route("/healthz", health),
        *([Route("/metrics", metrics_page)] if metrics is not None else []),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    return Starlette(
        routes=routes,
        lifespan=lifespan,
        middleware=[
            Middleware(SiteAddress, base_url=site.base_url),
            Middleware(SecurityHeaders),
            Middleware(Observe, access_log=access_log, metrics=metrics),
            Middleware(BodyLimit, error_page=on_error, larger=people.BODY_BYTES),
            # level 1: a 20-paper search answer (26 KB) in 0.5 ms instead of 1.3 ms at level 5,
            # 9 % larger (7.2 KB, not 6.6 KB); bodies under 1,000 bytes go as they are
            Middleware(GZipMiddleware, minimum_size=1000, compresslevel=1),
            Middleware(ConditionalGet),
        ],
        exception_handlers={PaperfeedError: on_error, HTTPException: on_error, Exception: on_error},
    )


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


def _modified(view: dict[str, Any]) -> datetime | None:
    """A page's Last-Modified where it has one: a paper page, from the paper's dates."""
    paper = view.get("paper")
    stamp = paper and (paper.get("updated") or paper.get("published"))
    return datetime.fromisoformat(stamp) if stamp else None
