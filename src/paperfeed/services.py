"""The composition root: the store, the search engine, the mailer, the source fetchers, the
digest sender and the server's pipeline, each built from `Settings` in one place. `cli` and
`web.app` build through here and nowhere else, so a command and the server can never be wired
differently (one database URL, one index folder, one outbox, one signing key).

Imports point one way: this module uses store, search, digest, ingest and pipeline; only `cli`
and `web` import it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

from paperfeed.config import Settings
from paperfeed.digest.channels import webhook_channels
from paperfeed.digest.mailer import Mailer, mailer_from_settings
from paperfeed.digest.outbound import Outbound
from paperfeed.digest.sender import DigestSender
from paperfeed.ingest.harvest import Fetchers, endpoints_from
from paperfeed.ingest.http import OnRetry
from paperfeed.owners import Lease, default_owner
from paperfeed.pipeline import EMBED_LEASE, EMBED_LEASE_S, Pipeline, process_embedder
from paperfeed.search.cache import SearchCache
from paperfeed.search.embed import Embedder
from paperfeed.search.engine import Ranking, SearchEngine
from paperfeed.store import Store, open_store


def open_db(settings: Settings, *, readonly: bool = False) -> Store:
    """The store at `settings.db`, created and migrated unless readonly."""
    return open_store(settings.db, readonly=readonly)


def load_model(settings: Settings, device: str | None = None, *,
               threads: int | None = None) -> Embedder:  # fmt: skip
    """The embedding model the settings name (loads onnxruntime: call it only when needed)."""
    from paperfeed.search.models import load_embedder

    return load_embedder(settings.model or None, device=device or settings.embed_device,
                         threads=threads)  # fmt: skip


def search_engine(settings: Settings, store: Store, embedder: Embedder | None = None
                  ) -> SearchEngine:  # fmt: skip
    """The engine over `store` with this node's indexes (`settings.index_dir`); keyword search
    only without an embedder."""
    cache = SearchCache[Ranking](settings.search_cache) if settings.search_cache else None
    return SearchEngine(store, settings.index_dir, embedder, cache=cache)


def owner(settings: Settings) -> str:
    """This process's name in the leases it takes (`node:pid`): `paperfeed status` shows it,
    and a process of the same node takes over at once when this one dies."""
    return default_owner(settings.node)


def embed_lease(settings: Settings) -> Lease:
    """The embedder lease as `paperfeed embed` and `harvest` take it (the server's own too)."""
    return Lease(EMBED_LEASE, settings.lease_s or EMBED_LEASE_S, owner(settings))


def mailer(settings: Settings) -> Mailer:
    return mailer_from_settings(settings.mail)


def outbound(settings: Settings) -> Outbound:
    """Where webhook channels may post: public addresses, and the ranges the operator allows."""
    return Outbound.from_settings(settings.outbound_allow)


def fetchers(settings: Settings, on_retry: OnRetry | None = None) -> Fetchers:
    """HTTP clients for the sources, spaced as the settings say; close them when done.
    `on_retry` hears of each failed request before it is tried again (progress)."""
    return Fetchers(endpoints_from(settings), on_retry=on_retry)


def digest_sender(settings: Settings, store: Store, mailer: Mailer, *,
                  load_embedder: Callable[[], Embedder | None],
                  lazy_model: bool = True) -> DigestSender:  # fmt: skip
    """The sender `paperfeed serve` and `paperfeed digest` use: links signed with the same key
    as the web app's (PAPERFEED_SECRET_KEY, else the key kept in the database); saved searches
    matched by meaning too. `lazy_model`: only when the store has vectors is the model loaded
    (the cron path); the server passes its own model, which its embedder is filling vectors
    for, and its digests wait for them."""
    secret = settings.secret_key.encode() if settings.secret_key else store.get_secret("web")

    def open_engine(store: Store) -> SearchEngine:
        wanted = not lazy_model or store.list_embedding_models()
        return search_engine(settings, store, load_embedder() if wanted else None)

    return DigestSender(store, mailer, secret=secret, base_url=settings.public_url,
                        open_engine=open_engine, rate_per_s=settings.mail_rate,
                        bounce_limit=settings.bounce_limit, owner=owner(settings),
                        lease_s=settings.lease_s,
                        trending_max_age_s=settings.trending_every_s,
                        channels=webhook_channels(outbound(settings)))  # fmt: skip


def pipeline(settings: Settings, mailer: Mailer, embedder: Callable[[], Embedder | None], *,
             on_change: Callable[[], object] = lambda: None) -> Pipeline:  # fmt: skip
    """The server's background pipeline, its stages on store connections of their own."""

    def make_sender(store: Store) -> DigestSender:  # the server's model: digests wait for it
        return digest_sender(settings, store, mailer, load_embedder=embedder, lazy_model=False)

    return Pipeline(functools.partial(open_db, settings), endpoints_from(settings), embedder,
                    make_sender, trending_every_s=settings.trending_every_s,
                    digest_every_s=settings.digest_every_s, owner=owner(settings),
                    lease_s=settings.lease_s, on_change=on_change)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Server:
    """What one server process runs on: its engine (opened once, at startup, on a store
    connection of its own), the mailer, and the pipeline unless the scheduler is off."""

    open_engine: Callable[[], SearchEngine]
    mailer: Mailer
    pipeline: Pipeline | None


def server(settings: Settings) -> Server:
    """One worker process's parts: one model, loaded on first use and shared by searches and
    the pipeline (one ONNX thread per query: the server's parallelism is concurrent requests);
    one engine, which the pipeline catches up as papers and vectors come."""
    embedder = process_embedder(lambda: load_model(settings, threads=1))

    @functools.cache
    def open_engine() -> SearchEngine:
        return search_engine(settings, open_db(settings), embedder())

    mail = mailer(settings)
    if not settings.scheduler:
        return Server(open_engine, mail, None)
    return Server(
        open_engine,
        mail,
        pipeline(settings, mail, embedder, on_change=lambda: open_engine().sync()),
    )
