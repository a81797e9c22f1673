"""What every handler needs, in one object: the engine, the thread pool, the templates, the
guard, the mailer and the clock (`Site`), and the one rule for when an answer is JSON.

The app keeps its Site in `app.state.site`; handlers reach it through `site_of(request)`.
This module is the bottom of the web package: it imports no route module, and the route
modules (pages, people, digests, channels, foryou), their shapes (handlers) and the table
(routes) import it.
"""

from __future__ import annotations

import logging
import os
import secrets
import threading
from collections.abc import Callable, Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any, TypeVar

import anyio
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from paperfeed import __version__
from paperfeed.digest.mailer import Mailer, OutboxMailer
from paperfeed.digest.outbound import Outbound
from paperfeed.errors import DiskFull, StoreError
from paperfeed.rank import trending as ranking
from paperfeed.search.engine import SearchEngine
from paperfeed.store import Store, User
from paperfeed.users import accounts
from paperfeed.web import clean, views
from paperfeed.web.guard import SECURITY_HEADERS, SESSION_COOKIE, Guard, Visitor
from paperfeed.web.observe import Metrics

log = logging.getLogger(__name__)
T = TypeVar("T")
HERE = Path(__file__).parent

# Paths of the formats machines read: a page's JSON twin, a feed, an export.
MACHINE_SUFFIXES = (".json", ".atom", ".rss", ".bib", ".csv")


def wants_json(request: Request) -> bool:
    """The one rule for answering JSON rather than a page, errors included: a request that
    sends or accepts JSON, a path under /api/, or a path of a machine format (a feed's or an
    export's error is JSON too: a feed reader or a script shows it better than a page)."""
    path = request.url.path
    return (
        path.startswith("/api/")
        or path.endswith(MACHINE_SUFFIXES)
        or "application/json" in request.headers.get("accept", "")
        or request.headers.get("content-type", "").startswith("application/json")
    )


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


class Site:
    """What every handler needs: the engine, the thread pool, the templates, the guard, the
    mailer and the clock. Writes go through `write`, one at a time: the store is one SQLite
    connection shared by the pool's threads. `wake_sender`, when given, tells the digest
    sender that mail was planned (a confirmation), so it goes out now, not at its next pass."""

    def __init__(self, open_engine: Callable[[], SearchEngine], *, mailer: Mailer | None,
                 base_url: str, secret: bytes | None, clock: Callable[[], float],
                 today: Callable[[], date], trending_max_age_s: float, started: datetime,
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
        self.started = started  # a feed's date when its papers have none
        self.trending_max_age_s = trending_max_age_s
        self.metrics: Metrics | None = None  # /metrics, when the operator switched it on
        # Blocking work runs in threads, a few at a time and first come first served: more
        # threads than cores would only share the cores out and stretch every request.
        self.limiter = anyio.CapacityLimiter((os.cpu_count() or 1) + 1)
        # Work that may take long (reading a library import) runs one at a time on threads of
        # its own, so that it can never hold the threads pages are served from.
        self.alone = anyio.CapacityLimiter(1)
        self.write_lock = threading.Lock()
        self._engine: SearchEngine | None = None
        self._guard: Guard | None = None
        self._kept: dict[str, tuple[object, Any]] = {}

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

    def kept(self, name: str, version: object, make: Callable[[], T]) -> T:
        """The value `make` made for `name`, made again when `version` changes (the
        recommender's background, remade when the stored vectors change)."""
        found = self._kept.get(name)
        if found is None or found[0] != version:
            found = (version, make())
            self._kept[name] = found
        value: T = found[1]
        return value

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
        if not papers:
            return view
        store = self.engine().store
        seqs = store.find_seqs(p["id"] for p in papers)
        found = store.get_reactions(user.id, list(set(seqs.values())))
        saved = [s for s in set(seqs.values()) if "save" in found.get(s, ())]
        tags = store.get_tags(user.id, saved) if saved else {}
        for p in papers:
            p["mine"] = sorted(found.get(seqs.get(p["id"], 0), ()))
            if "save" in p["mine"]:  # the reader's own tags on a paper they saved
                p["tags"] = list(tags.get(seqs[p["id"]], ()))
        return view


def site_of(request: Request) -> Site:
    """The Site of the app answering `request` (create_app keeps it in app.state)."""
    site: Site = request.app.state.site
    return site


def _paper_dicts(view: Any) -> Iterator[dict[str, Any]]:
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
