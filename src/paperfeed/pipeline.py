"""The background pipeline of `paperfeed serve`: harvest -> embed -> indexes -> trending ->
digests, each stage a thread with a store connection of its own (periodic.Periodic).

- The source scheduler harvests each due source (ingest.scheduler); a harvest that brought
  papers wakes the embedder and catches the server's indexes up at once.
- The embedder (`EmbedStage`) embeds the papers the model has not seen, newest rows first (what
  was just harvested goes before an old backlog), at most `pass_papers` a pass, and starts the
  next pass at once while papers are left: a pass is bounded, resumable (each batch is its own
  transaction) and can stop between batches. One embedder runs across all worker processes and
  nodes: a lease in the store; every worker of every node picks the new vectors up in its
  index's next catch-up. It
  runs at a lower CPU priority with one ONNX thread, so searches keep a core and come first.
- Trending is recomputed after each scheduler pass when stale.
- The digest sender (digest.sender) waits, bounded, for a day's papers to be embedded before it
  plans digests of that day.

Without the embedding model the pipeline says so once and keyword search goes on serving.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from paperfeed.digest.sender import DigestSender, digest_thread
from paperfeed.ingest.harvest import Endpoints, HarvestReport
from paperfeed.ingest.scheduler import SourceScheduler
from paperfeed.owners import Lease
from paperfeed.periodic import Periodic
from paperfeed.rank import trending as ranking
from paperfeed.search.embed import Embedder, embed_missing
from paperfeed.store import Store

log = logging.getLogger(__name__)

EMBED_LEASE = "embedder"
EMBED_LEASE_S = 300.0  # renewed every batch; a batch takes a few seconds
PASS_PAPERS = 64  # papers a pass at most: ~7 s with one ONNX thread on an idle core
BATCH = 16  # papers per transaction
EMBED_POLL_S = 60.0  # papers imported by other processes (`paperfeed ingest`) are seen by then
NICE = 10  # the embedder's CPU priority below the request threads'


@dataclass(frozen=True, slots=True)
class EmbedPass:
    busy: bool = False  # another process holds the embedder lease: nothing done
    embedded: int = 0
    unchanged: int = 0  # checked: title and abstract as embedded before
    more: bool = False  # papers are left for the next pass
    seconds: float = 0.0


class EmbedStage:
    """Embeds what the model has not seen, in bounded passes; `embedder()` is the process's
    model, or None when there is none (then nothing is done)."""

    def __init__(
        self,
        open_store: Callable[[], Store],
        embedder: Callable[[], Embedder | None],
        *,
        on_vectors: Callable[[EmbedPass], None] | None = None,
        owner: str | None = None,
        lease_s: float | None = None,
        poll_s: float = EMBED_POLL_S,
        pass_papers: int = PASS_PAPERS,
        batch_size: int = BATCH,
    ) -> None:
        self.embedder = embedder
        self.on_vectors = on_vectors
        self.lease = Lease(EMBED_LEASE, lease_s or EMBED_LEASE_S, owner)
        self.pass_papers, self.batch_size = pass_papers, batch_size
        self._thread = Periodic("embedder", open_store, self._work, poll_s)
        self._niced = False
        self._done_at = -1  # the store's last change when a pass found nothing left

    def run_pass(self, store: Store) -> EmbedPass:
        embedder = self.embedder()
        mark = store.last_change()
        if embedder is None or mark == self._done_at:
            return EmbedPass()  # (nothing changed since everything was embedded)
        done = embed_leased(store, embedder, self.lease, batch_size=self.batch_size,
                            max_papers=self.pass_papers,
                            keep_going=lambda: not self._thread.stopping)  # fmt: skip
        if not done.busy and not done.more:
            self._done_at = mark
        return done

    def wake(self) -> None:
        self._thread.wake()

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        self._thread.stop(timeout)

    def _work(self, store: Store) -> None:
        if not self._niced:
            self._niced = True
            lower_priority()
        done = self.run_pass(store)
        if done.embedded or done.unchanged:
            log.info("embedded papers=%d checked=%d seconds=%.1f more=%s", done.embedded,
                     done.unchanged, done.seconds, done.more)  # fmt: skip
            if self.on_vectors is not None:
                self.on_vectors(done)
        if done.more:
            self._thread.wake()  # the next pass at once, after a look at `stopping`


def embed_leased(store: Store, embedder: Embedder, lease: Lease | None = None, *,
                 batch_size: int = BATCH, max_papers: int | None = None,
                 keep_going: Callable[[], bool] = lambda: True,
                 on_progress: Callable[[int], None] | None = None) -> EmbedPass:  # fmt: skip
    """Embed, newest rows first, holding the embedder lease (so the server's embedder and a
    `paperfeed harvest` or `embed` never embed the same papers at once); busy when another
    process holds it."""
    lease = lease or Lease(EMBED_LEASE, EMBED_LEASE_S)
    if not lease.take(store):
        return EmbedPass(busy=True)
    started = time.monotonic()
    try:
        report = embed_missing(
            store, embedder, batch_size=batch_size, max_papers=max_papers,
            keep_going=lambda: keep_going() and lease.renew(store), on_progress=on_progress,
        )  # fmt: skip
    finally:
        lease.drop(store)
    return EmbedPass(False, report.embedded, report.unchanged, report.more,
                     time.monotonic() - started)  # fmt: skip


def lower_priority() -> None:
    """This thread (Linux: threads have their own nice value) below the request threads."""
    with contextlib.suppress(AttributeError, OSError):  # elsewhere: at normal priority
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), NICE)


def process_embedder(load: Callable[[], Embedder]) -> Callable[[], Embedder | None]:
    """One model per process, loaded on first use and shared by searches, the embedder and the
    digest sender (an ONNX session runs calls from several threads at once); None when it
    cannot be loaded, said once: keyword search goes on without it."""
    lock = threading.Lock()
    loaded: list[Embedder | None] = []

    def get() -> Embedder | None:
        with lock:
            if not loaded:
                try:
                    loaded.append(load())
                except Exception as e:  # ModelError, or onnxruntime's own on a broken file
                    log.warning("no embedding model (%s): papers are found by keyword search "
                                "only, and new papers are not embedded", e)  # fmt: skip
                    loaded.append(None)
            return loaded[0]

    return get


class Pipeline:
    """The stages of `paperfeed serve` wired together (see the module docstring), each on a
    store connection of its own from `open_store`; `embedder` is the process's model
    (process_embedder), `make_sender` the digest sender on a stage's connection, `on_change`
    catches the server's search indexes up with the store (new papers, new vectors); `owner`
    names this process in the harvest and embedder leases, which last `lease_s` (None: each
    its own default). paperfeed.services builds it from the settings."""

    def __init__(self, open_store: Callable[[], Store], endpoints: Endpoints,
                 embedder: Callable[[], Embedder | None],
                 make_sender: Callable[[Store], DigestSender], *,
                 trending_every_s: float = 600.0, digest_every_s: float = 60.0,
                 owner: str | None = None, lease_s: float | None = None,
                 on_change: Callable[[], object] = lambda: None) -> None:  # fmt: skip
        def rank(store: Store) -> None:
            ranking.refresh_if_stale(store, datetime.now(UTC).date(), trending_every_s)

        self.on_change = on_change
        self.scheduler = SourceScheduler(open_store, endpoints, owner=owner, lease_s=lease_s,
                                         on_harvest=self._harvested, after_pass=rank)  # fmt: skip
        self.embed = EmbedStage(open_store, embedder, on_vectors=self._embedded, owner=owner,
                                lease_s=lease_s)  # fmt: skip
        self.digests = digest_thread(open_store, make_sender, poll_s=digest_every_s)

    def start(self) -> None:
        self.scheduler.start()
        self.embed.start()
        self.digests.start()

    def stop(self) -> None:
        self.digests.stop()
        self.embed.stop()
        self.scheduler.stop()

    def _harvested(self, report: HarvestReport) -> None:
        if report.added or report.updated:
            self.on_change()  # keyword search finds them now
            self.embed.wake()

    def _embedded(self, done: EmbedPass) -> None:
        self.on_change()  # semantic search finds them now
        if not done.more:
            self.digests.wake()  # digests waiting for these papers go now
