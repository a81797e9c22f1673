"""Email digests at arXiv scale: composing and rendering a personalised digest per subscriber.

Target (digest issue): compose personalised digests for 100,000 subscribers with 3 saved
searches each over 1M papers at >= 1,000 digests/s. One run prints one table:

- reading the subscribers (`store.iter_subscribers`, as the sender's pass does);
- the composer's set-up (`Composer.prepare`): each window's new papers and their vectors, every
  distinct saved search matched within each window (query embedding with the real model, BM25
  in the keyword index restricted to the window, cosine against the window's vectors, fusion),
  category lists and the trending pool, with where its time goes;
- composing (`Composer.compose`) every subscriber's digest with those caches warm: digests/s,
  per-digest p50 / p99, and the same for subscribers with a library;
- rendering each digest (`render_digest`, subject + text + HTML), its papers loaded with
  `store.get_papers_by_seq` and its links signed with `tokens.sign`, as the sender does;
- the combined rate: subscribers / (set-up + compose + render), against the target.
- sending over SMTP to a local aiosmtpd server on 127.0.0.1 (one connection per message, as
  the sender does): 1,000 of the rendered digests through `SMTPMailer` alone, then the whole
  sender (`DigestSender.run_pass`, rate limit off) on a fresh store of the 227 seed papers with
  1,000 confirmed subscribers: plan, claim, render, send and record each delivery.

The store. bench/trending.py's cached store (N papers first published evenly over the 365 days
before 2026-03-31 18:00 UTC, arXiv listing announcements for the last 60 days, engagement events,
Hugging Face and GitHub signals, 50,000 readers with upvotes and saves) is copied once to
a cache folder `paperfeed-bench-digest-*` in the temp folder (`--rebuild` redoes it) and
extended there: its keyword index (minutes at 1M), a fresh trending ranking, vectors,
subscribers.

Subscribers go straight into the migration's `subscribers` table (`store.write_rows`, the
copy-store path), all confirmed: 85 % daily (92 % of them last covered the previous day, 4 %
never had a digest, 4 % are back after three days), 15 % weekly (85 % last covered a week ago,
15 % new); each has 3 distinct saved searches drawn with Zipf popularity (s = 1) from a pool of
~7,000: every pair and triple of one of bench/synth.py's topics' words (the words its papers
share), the corpus' 200 most common bigrams, some rare words and the natural-language questions;
30 % also follow 1-2 arXiv categories (by how often they are announced; a quarter of those a
whole archive such as `cs`); 80 % want trending papers; at most 5, 10 (mostly) or 20 papers.
10 % are readers with saved papers (their address is a reader's), so their digests compare the
new papers with their library when their searches leave room.

Vectors are synthetic, stored under the real model's name: embedding the ~40,000 papers of the
last 14 listing days plus the readers' saves with the CPU model (46 papers/s here) would take
about 20 minutes, and what composing does with vectors (a product with the window's matrix, a
threshold) costs the same whatever their values. They are planted so that matches happen at
plausible rates: 20 % of papers lie at cosine 0.45-0.65 from one pool search's real query
embedding (any search alike; about half pass QUERY_MIN_COSINE), 20 % belong to one of 5,000
themes (two papers of a theme: cosine ~0.69, above LIBRARY_MIN_COSINE), the rest are random.
The synthetic text is
shuffled real phrases, so these are speed figures, not quality. The query embeddings are the
real model's, computed by the composer itself.

    .venv/bin/python bench/digest.py [--papers 1000000 --events 10000000 --subscribers 100000]
        [--quick] [--rebuild] [--repeats 3]

Spread: the composer's set-up runs --repeats times (a fresh Composer each; the breakdown is the
last run's), its median and min-max shown; composing, rendering and the SMTP batch are each one
pass, split into --repeats rounds of subscribers (or messages), each round's rate beside the
whole's: median (min-max over rounds). The machine's load average is printed with the table.

The first run builds the stores (bench/trending.py's, then this one's: ~2.5 min at 1M papers on
2 cores, most of it the keyword index); later runs take ~90 s (--quick: ~20 s).
"""

from __future__ import annotations

import argparse
import itertools
import os
import shutil
import socket
import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from benchlib import (
    INDEX_SOURCES,
    SRC,
    Stats,
    cached_folder,
    load_module,
    machine_line,
    synth,
    timed,
)
from synth import SEED_PAPERS

from paperfeed.digest.compose import Composer, DigestPlan
from paperfeed.digest.render import Links, render_digest
from paperfeed.models import Paper
from paperfeed.rank import trending
from paperfeed.search.embed import Embedder, to_blob
from paperfeed.search.engine import SearchEngine
from paperfeed.store import (
    EmbeddingRow,
    SQLiteStore,
    Store,
    Subscriber,
    SubscriberChange,
    open_store,
)
from paperfeed.tokens import sign

TARGET_PER_S = 1000.0
DAYS = 365
VECTOR_DAYS = 14  # MAX_WINDOW_DAYS: every window a subscriber can have
ZIPF_S = 1.0
TOPICS_EACH = 3
READER_SHARE = 0.10
CATEGORY_SHARE = 0.30
TRENDING_SHARE = 0.80
THEMES = 5000
NEAR_SEARCH, IN_THEME = 0.2, 0.2  # shares of planted vectors
SITE = "https://paperfeed.example"
Row = tuple[str, str, str]


TR = load_module("trending")  # bench/trending.py: its cached store builder and timers
NOW, NOW_TS = TR.NOW, TR.NOW_TS
TODAY: date = NOW.date()


# -- the saved-search pool ----------------------------------------------------------------------


def search_pool() -> list[str]:
    """~7,400 distinct saved searches, in a fixed shuffled order (the order is the popularity
    rank): every pair and triple of one synthetic topic's words (what its papers share), the
    corpus' 200 most common bigrams, its rare words and its natural-language questions."""
    s = synth()
    pool: list[str] = []
    for topic in s.topics(0):
        pool += [" ".join(c) for k in (2, 3) for c in itertools.combinations(topic.words, k)]
    queries = s.sample_queries(0)
    pool += list(s.model().bigrams[:200]) + queries["rare"] + list(s.QUESTIONS)
    pool = list(dict.fromkeys(pool))
    rng = np.random.default_rng(7)
    return [pool[i] for i in rng.permutation(len(pool))]


def zipf(n: int, s: float = ZIPF_S) -> np.ndarray:
    w = 1.0 / np.arange(1, n + 1) ** s
    return np.asarray(w / w.sum())


# -- building -------------------------------------------------------------------------------------


# what the cached store is built from (the trending store's sources included, and the code that
# writes the indexes and the ranking): a change to any of these builds a new one
SOURCES = (Path(__file__), *TR.SOURCES, *INDEX_SOURCES, SRC / "rank" / "trending.py")


def index_dir(db: Path) -> Path:
    """The keyword and vector indexes of the cached store `db` (beside it)."""
    return db.parent / "index"


def copy_store(source: Path, target: Path) -> None:
    """A file copy of the trending store, after a checkpoint (WAL mode)."""
    conn = sqlite3.connect(source)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    shutil.copyfile(source, target)


def planted_vectors(seqs: Sequence[int], queries: np.ndarray, dim: int) -> np.ndarray:
    """Unit vectors for `seqs` (deterministic per seq): near a pool search, in a theme, or
    random (see the module docstring)."""
    rng = np.random.default_rng(11)
    themes = rng.standard_normal((THEMES, dim)).astype(np.float32)
    themes /= np.linalg.norm(themes, axis=1, keepdims=True)
    out = np.empty((len(seqs), dim), dtype=np.float32)
    for i, seq in enumerate(seqs):
        r = np.random.default_rng(1_000_003 * 13 + seq)
        g = r.standard_normal(dim).astype(np.float32)
        g /= np.linalg.norm(g)
        kind = r.random()
        if kind < NEAR_SEARCH:
            q = queries[r.integers(len(queries))]
            g -= (g @ q) * q
            g /= np.linalg.norm(g)
            a = r.uniform(0.45, 0.65)
            out[i] = a * q + np.sqrt(1 - a * a) * g
        elif kind < NEAR_SEARCH + IN_THEME:
            v = 1.5 * themes[r.integers(THEMES)] + g
            out[i] = v / np.linalg.norm(v)
        else:
            out[i] = g
    return out


def add_vectors(store: Store, embedder: Embedder, seqs: list[int], queries: np.ndarray) -> None:
    conn = store.conn  # type: ignore[attr-defined]
    changed: dict[int, int] = {}
    for start in range(0, len(seqs), 500):
        chunk = seqs[start : start + 500]
        marks = ",".join("?" * len(chunk))
        changed.update(conn.execute(f"SELECT seq, changed FROM papers WHERE seq IN ({marks})",
                                    chunk))  # fmt: skip
    vectors = planted_vectors(seqs, queries, embedder.dim)
    rows = [EmbeddingRow(s, changed[s], "synthetic", to_blob(v))
            for s, v in zip(seqs, vectors, strict=True)]  # fmt: skip
    for start in range(0, len(rows), 20_000):
        store.put_embeddings(embedder.name, rows[start : start + 20_000])


def reader_saves(store: Store, users: Sequence[int]) -> list[int]:
    """The 50 most recent saves of each of these readers (what the composer compares with)."""
    conn = store.conn  # type: ignore[attr-defined]
    seqs: set[int] = set()
    for start in range(0, len(users), 500):
        chunk = list(users[start : start + 500])
        marks = ",".join("?" * len(chunk))
        rows = conn.execute(
            f"SELECT user_id, seq FROM reactions WHERE kind = 'save' AND user_id IN ({marks})"
            " ORDER BY user_id, at DESC, seq DESC", chunk)  # fmt: skip
        count: dict[int, int] = {}
        for user, seq in rows:
            count[user] = count.get(user, 0) + 1
            if count[user] <= 50:
                seqs.add(seq)
    return sorted(seqs)


def category_weights(store: Store) -> tuple[list[str], np.ndarray]:
    conn = store.conn  # type: ignore[attr-defined]
    rows = conn.execute(
        "SELECT substr(list, 7), count(*) FROM announcements WHERE list LIKE"
        " 'arxiv:%' AND list != 'arxiv:replaced' GROUP BY list ORDER BY list"
    )
    names, counts = zip(*rows, strict=True)  # fmt: skip
    c = np.array(counts, dtype=float)
    return list(names), c / c.sum()


def last_day(weekly: bool, u: float, until: date) -> date | None:
    """The day a subscriber's last digest covered (None: never had one)."""
    if weekly:
        return until - timedelta(days=7) if u < 0.85 else None
    if u < 0.92:
        return until - timedelta(days=1)
    return None if u < 0.96 else until - timedelta(days=3)


def subscriber_rows(n: int, pool: list[str], readers: list[int], until: date,
                    cats: tuple[list[str], np.ndarray]) -> list[tuple[Any, ...]]:  # fmt: skip
    rng = np.random.default_rng(3)
    weights = zipf(len(pool))
    draws = rng.choice(len(pool), size=(n, 8), p=weights)
    names, cat_w = cats
    reader_iter = iter(readers)
    rows = []
    for i in range(n):
        topics = list(dict.fromkeys(pool[j] for j in draws[i]))[:TOPICS_EACH]
        weekly = rng.random() < 0.15
        last = last_day(weekly, rng.random(), until)
        categories: list[str] = []
        if rng.random() < CATEGORY_SHARE:
            for c in rng.choice(len(names), size=int(rng.integers(1, 3)), p=cat_w):
                name = names[c]
                categories.append(name.split(".")[0] if rng.random() < 0.25 else name)
        reader = next(reader_iter, None) if rng.random() < READER_SHARE else None
        email = f"reader{reader}@example.org" if reader else f"subscriber{i}@example.org"
        rows.append(
            (
                email,
                "confirmed",
                NOW_TS,
                NOW_TS,
                "bench",
                NOW_TS,
                "bench",
                last.isoformat() if last else None,
                "weekly" if weekly else "daily",
                orjson.dumps(topics).decode(),
                orjson.dumps(sorted(set(categories))).decode(),
                int(rng.random() < TRENDING_SHARE),
                int(rng.choice([5, 10, 10, 10, 20])),
            )
        )
    return rows  # fmt: skip


SUBSCRIBER_COLUMNS = ("id", "email", "state", "created_at", "requested_at", "request_source",
                      "consent_at", "consent_source", "last_day", "frequency", "topics",
                      "categories", "include_trending", "max_papers")  # fmt: skip


def add_subscribers(store: Store, rows: list[tuple[Any, ...]]) -> None:
    """Rows as they are (ids 1..n: the table is empty), in one transaction."""
    numbered = [(i, *row) for i, row in enumerate(rows, 1)]
    store.write_rows("subscribers", SUBSCRIBER_COLUMNS, numbered)
    store.finish_rows()


def build(folder: Path, args: argparse.Namespace, embedder: Embedder,
          step: Callable[[str], None]) -> dict[str, Any]:  # fmt: skip
    """The store (folder/store.db, indexes in folder/index), built; returns what load_or_build
    keeps about it."""
    source, _ = TR.load_or_build(args.papers, args.events, DAYS, False)
    stages: dict[str, float] = {}
    started = time.perf_counter()
    work = folder / "store.db"
    step(f"copying {source}")
    stages["copy"], _ = timed(lambda: copy_store(source, work))
    store = open_store(str(work))
    step("keyword index (minutes at 1M papers)")
    stages["keyword index"], _ = timed(lambda: SearchEngine(store, index_dir(work)).sync())
    step("trending ranking")
    stages["trending"], _ = timed(lambda: trending.recompute(store, NOW_TS, TODAY))
    until = store.latest_day(TODAY)
    assert until is not None
    pool = search_pool()
    step(f"{len(pool):,} pool searches embedded with {embedder.name} (for planting)")
    stages["pool embeddings"], queries = timed(
        lambda: np.stack([embedder.embed_query(q) for q in pool])
    )
    users = [
        r[0]
        for r in store.conn.execute(  # type: ignore[attr-defined]
            "SELECT DISTINCT user_id FROM reactions WHERE kind = 'save' ORDER BY user_id"
        )
    ]
    readers = [int(u) for u in np.random.default_rng(5).permutation(users)]
    readers = readers[: int(args.subscribers * READER_SHARE * 1.2)]
    window = sorted(store.list_day_of(until - timedelta(days=VECTOR_DAYS - 1), until))
    seqs = sorted(set(window) | set(reader_saves(store, readers)))
    step(f"vectors: {len(seqs):,} papers ({len(window):,} of the last {VECTOR_DAYS} days)")
    stages["vectors"], _ = timed(lambda: add_vectors(store, embedder, seqs, queries))
    step(f"subscribers: {args.subscribers:,}")
    rows = subscriber_rows(args.subscribers, pool, readers, until, category_weights(store))
    stages["subscribers"], _ = timed(lambda: add_subscribers(store, rows))
    step("vector index")
    stages["vector index"], _ = timed(
        lambda: SearchEngine(store, index_dir(work), embedder).sync())  # fmt: skip
    if isinstance(store, SQLiteStore):
        store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    return {"papers": args.papers, "events": args.events, "subscribers": args.subscribers,
            "pool": len(pool), "vectors": len(seqs), "build_s": time.perf_counter() - started,
            "stages_s": stages}  # fmt: skip


def load_or_build(args: argparse.Namespace, embedder: Embedder) -> tuple[Path, dict[str, Any]]:
    """The cached store's path (built first when missing or on --rebuild) and its meta."""
    params = {"papers": args.papers, "events": args.events, "subscribers": args.subscribers,
              "model": embedder.name}  # fmt: skip
    folder, meta = cached_folder(
        "digest", params, SOURCES,
        lambda tmp: build(tmp, args, embedder, lambda s: print(s, flush=True)), args.rebuild,
    )  # fmt: skip
    return folder / "store.db", meta


# -- measuring ------------------------------------------------------------------------------------


def pct(xs: Sequence[float], q: float) -> float:
    return float(np.percentile(xs, q)) if len(xs) else 0.0


def ms(s: float) -> str:
    return f"{s * 1000:,.2f} ms"


def round_rates(times: Sequence[float], rounds: int) -> str:
    """Items per second over consecutive rounds of the per-item `times`: the rate at the
    median round, then the slowest-fastest round (the rate of the whole is shown beside)."""
    parts = [part for part in np.array_split(np.asarray(times, dtype=float), rounds) if len(part)]
    per_item = Stats([float(part.sum()) / len(part) for part in parts])
    return per_item.rate(1)


@contextmanager
def embed_timer(embedder: Any) -> Iterator[dict[str, float]]:
    """Seconds in, calls of and texts given to `embed_queries` (what Composer.prepare calls)."""
    spent = {"seconds": 0.0, "calls": 0.0, "texts": 0.0}
    real = embedder.embed_queries

    def timed_embed(texts: Sequence[str]) -> Any:
        start = time.perf_counter()
        try:
            return real(texts)
        finally:
            spent["seconds"] += time.perf_counter() - start
            spent["calls"] += 1
            spent["texts"] += len(texts)

    embedder.embed_queries = timed_embed
    try:
        yield spent
    finally:
        del embedder.embed_queries


@contextmanager
def call_counter(store: Store, name: str) -> Iterator[list[float]]:
    """Each call's seconds of one store method (wraps the instance's own, maybe timed, one)."""
    times: list[float] = []
    method = getattr(store, name)

    def timed_call(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return method(*args, **kwargs)
        finally:
            times.append(time.perf_counter() - start)

    setattr(store, name, timed_call)
    try:
        yield times
    finally:
        setattr(store, name, method)


@dataclass
class Run:
    """What one measured pass produced: the table rows and a sample of rendered messages (for
    a send stage to reuse)."""

    rows: list[Row] = field(default_factory=list)
    messages: list[tuple[str, str, str, str]] = field(default_factory=list)  # to, subj, text, html


def measure_setup(composers: Sequence[Composer], store: Store, embedder: Embedder,
                  subs: list[Subscriber]) -> tuple[list[Row], float]:  # fmt: skip
    """Composer.prepare of each fresh composer in turn: the median and min-max of their times,
    and where the last one's time went."""
    names = ("list_day_of", "get_vectors", "get_papers_by_seq", "list_trending",
             "latest_signals_by_seq")  # fmt: skip
    runs = []
    for composer in composers:
        with TR.store_timers(store, names) as spent, embed_timer(embedder) as embedded:
            seconds, _ = timed(lambda: composer.prepare(subs))  # noqa: B023
        runs.append(seconds)
    setup = Stats(runs)
    windows = composer._windows  # the composer's own cache: what prepare worked out
    papers = sum(len(w.seqs) for w in windows.values())
    searches = sum(len({id(m) for m in w.searches.values()}) for w in windows.values())
    topics = len({t for s in subs for t in s.prefs.topics})
    spans = sorted((w.since, w.until, len(w.seqs)) for w in windows.values()
                   if w.since and w.until)  # fmt: skip
    sizes = ", ".join(f"{(until - since).days + 1} d: {n:,}" for since, until, n in spans)
    rest = seconds - sum(spent.values()) - embedded["seconds"]
    texts = sorted(composer._query_vectors)
    one_s, _ = timed(lambda: [embedder.embed_query(t) for t in texts])
    rows: list[Row] = [
        ("composer set-up (Composer.prepare), total (s)",
         f"{setup.median:.2f} ({setup.min:.2f}-{setup.max:.2f}, n={len(runs)})",
         f"breakdown: the last run, {seconds:.2f} s; {len(windows)} windows, {papers:,} new "
         f"papers in all; {topics:,} distinct saved "
         f"searches, {searches:,} (window, search) pairs matched"),
        ("  new papers per window (store.list_day_of) (s)", f"{spent['list_day_of']:.2f}", sizes),
        ("  their vectors (store.get_vectors) (s)", f"{spent['get_vectors']:.2f}",
         "float16 blobs -> float32 matrix per window"),
        ("  query embeddings, real model, in batches (embed_queries) (s)",
         f"{embedded['seconds']:.2f}",
         f"{embedded['texts']:,.0f} searches in {embedded['calls']:,.0f} calls, "
         f"{embedded['seconds'] / max(embedded['texts'], 1) * 1000:.2f} ms each; one at a time "
         f"(embed_query, as before) {one_s:.2f} s"),
        ("  category lists (store.get_papers_by_seq) (s)", f"{spent['get_papers_by_seq']:.2f}",
         "categories of every paper of the windows with category subscribers (and the "
         "trending pool's 50 papers)"),
        ("  trending pool and scores (store.list_trending + signals) (s)",
         f"{spent['list_trending'] + spent['latest_signals_by_seq']:.2f}", ""),
        ("  BM25 within windows, cosine, fusion (Python + tantivy) (s)", f"{rest:.2f}",
         f"{rest / max(searches, 1) * 1000:.2f} ms per (window, search) pair"),
    ]  # fmt: skip
    return rows, setup.median


def measure_compose(composer: Composer, store: Store, subs: list[Subscriber], rounds: int
                    ) -> tuple[list[Row], list[DigestPlan], float]:  # fmt: skip
    readers = {s.id for s in subs if s.email.startswith("reader")}
    times: list[float] = []
    plans: list[DigestPlan] = []
    names = ("get_user_by_email", "sent_seqs", "get_reactions", "list_reactions", "get_vectors")
    with TR.store_timers(store, names) as spent, call_counter(store, "list_reactions") as calls:
        start = time.perf_counter()
        for sub in subs:
            t = time.perf_counter()
            plans.append(composer.compose(sub))
            times.append(time.perf_counter() - t)
        seconds = time.perf_counter() - start
    library = [t for s, t in zip(subs, times, strict=True) if s.id in readers]
    others = [t for s, t in zip(subs, times, strict=True) if s.id not in readers]
    items = [len(p.items) for p in plans]
    sections = {k: sum(1 for p in plans for i in p.items if i.section == k)
                for k in ("topics", "library", "trending")}  # fmt: skip
    share = ", ".join(f"{k} {v:,} ({v / max(sum(items), 1):.1%})" for k, v in sections.items())
    rows: list[Row] = [
        ("compose, warm (digests/s)", f"{len(subs) / seconds:,.0f}",
         f"{len(subs):,} digests in {seconds:.1f} s; by round of subscribers "
         f"{round_rates(times, rounds)}; target >= {TARGET_PER_S:,.0f}/s"),
        ("  per digest p50 / p99", f"{ms(pct(others, 50))} / {ms(pct(others, 99))}",
         f"{len(others):,} subscribers without a library"),
        ("  per digest with a library p50 / p99", f"{ms(pct(library, 50))} / "
         f"{ms(pct(library, 99))}", f"{len(library):,} readers with saves"),
        ("  in store reads (s)", f"{sum(spent.values()):.1f}",
         ", ".join(f"{k} {v:.1f}" for k, v in spent.items())),
        ("  store.list_reactions per library compared (p50)", ms(pct(calls, 50)),
         f"{len(calls):,} calls (readers with room left after their searches)"),
        ("  papers per digest (mean) and where from", f"{np.mean(items):.1f}", share),
        ("  digests with no paper", f"{sum(1 for n in items if n == 0):,}", ""),
    ]  # fmt: skip
    return rows, plans, seconds


def measure_render(store: Store, subs: list[Subscriber], plans: list[DigestPlan], run: Run,
                   rounds: int) -> tuple[list[Row], float]:  # fmt: skip
    secret = store.get_secret("bench")
    at = NOW_TS

    def link(paper: Paper) -> str:
        return f"{SITE}/r/{paper.id}?t={sign(secret, 'click', {'p': paper.id}, at + 86400 * 90)}"

    times, sizes = [], []
    start = time.perf_counter()
    for sub, plan in zip(subs, plans, strict=True):
        t = time.perf_counter()
        papers = store.get_papers_by_seq(plan.seqs)
        links = Links(link, f"{SITE}/preferences?token=p{sub.id}", f"{SITE}/u/u{sub.id}", SITE)
        subject, text, html = render_digest(sub, plan, papers, links, title_day=TODAY)
        times.append(time.perf_counter() - t)
        sizes.append(len(text) + len(html))
        if len(run.messages) < 1000:
            run.messages.append((sub.email, subject, text, html))
    seconds = time.perf_counter() - start
    rows: list[Row] = [
        ("render: papers loaded + subject, text, HTML (digests/s)", f"{len(subs) / seconds:,.0f}",
         f"by round {round_rates(times, rounds)}; p50 {ms(pct(times, 50))}, "
         f"p99 {ms(pct(times, 99))}; "
         f"{np.mean(sizes) / 1000:.1f} kB text + HTML per digest"),
    ]  # fmt: skip
    return rows, seconds


def measure(store: Store, engine: SearchEngine, embedder: Embedder, repeats: int = 3) -> Run:
    run = Run()
    read_s, subs = timed(lambda: list(store.iter_subscribers("confirmed")))
    run.rows.append(("read subscribers (store.iter_subscribers) (s)", f"{read_s:.2f}",
                     f"{len(subs):,} confirmed"))  # fmt: skip
    composers = [Composer(store, engine, TODAY) for _ in range(max(repeats, 1))]
    rows, setup_s = measure_setup(composers, store, embedder, subs)
    run.rows += rows
    rows, plans, compose_s = measure_compose(composers[-1], store, subs, repeats)
    run.rows += rows
    rows, render_s = measure_render(store, subs, plans, run, repeats)
    run.rows += rows
    n = len(subs)
    composed = n / (setup_s + compose_s)
    total = n / (read_s + setup_s + compose_s + render_s)
    run.rows += [
        ("composed incl. set-up (digests/s)", f"{composed:,.0f}",
         f"target >= {TARGET_PER_S:,.0f}/s: {'meets' if composed >= TARGET_PER_S else 'MISSES'}"),
        ("read + set-up + compose + render (digests/s)", f"{total:,.0f}",
         f"{n:,} digests in {read_s + setup_s + compose_s + render_s:.1f} s; target >= "
         f"{TARGET_PER_S:,.0f}/s: {'meets' if total >= TARGET_PER_S else 'MISSES'}"),
    ]  # fmt: skip
    return run


def print_table(rows: Sequence[Row]) -> None:
    print()
    print("| figure | value | target / comparison |")
    print("|---|---|---|")
    for figure, value, comparison in rows:
        print(f"| {figure} | {value} | {comparison} |")


def measure_send(messages: list[tuple[str, str, str, str]], rounds: int = 3) -> list[Row]:
    """SMTP send rates against a local aiosmtpd server that accepts everything."""
    from aiosmtpd.controller import Controller

    from paperfeed.digest import subscriptions
    from paperfeed.digest.mailer import Message, SMTPMailer
    from paperfeed.digest.sender import DigestSender
    from paperfeed.ingest.files import import_file

    class Sink:
        count = 0

        async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
            Sink.count += 1
            return "250 OK"

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(Sink(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        mailer = SMTPMailer("127.0.0.1", port, "none", "", "", "paperfeed <digest@example.org>")
        batch = [Message(to, subject, text, html) for to, subject, text, html in messages]
        times = [timed(lambda: mailer.send(m))[0] for m in batch]  # noqa: B023
        raw = len(batch) / sum(times)
        with tempfile.TemporaryDirectory() as tmp:
            store = open_store(f"{tmp}/send.db")
            import_file(store, SEED_PAPERS)
            secret, now = b"k" * 32, time.time()
            for i in range(1000):
                sub_id = subscriptions.subscribe(
                    store, secret, f"reader{i}@example.org", source="cli", client=None, now=now
                ).subscriber_id
                store.update_subscriber(sub_id, SubscriberChange(state="confirmed", consent_at=now))
            for d in store.list_deliveries(state="planned", limit=5000):
                store.finish_delivery(d.id, "cancelled", now)
            sender = DigestSender(store, mailer, secret=secret, base_url="http://127.0.0.1:8000",
                                  rate_per_s=0)  # fmt: skip
            before = Sink.count
            seconds_all, report = timed(sender.run_pass)
            store.close()
        sent = Sink.count - before
    finally:
        controller.stop()
    return [
        (f"SMTP send, SMTPMailer alone ({len(batch):,} digests, 1 connection each) (msg/s)",
         f"{raw:,.0f}", f"by round {round_rates(times, rounds)}; local aiosmtpd; the default "
         "PAPERFEED_MAIL_RATE caps at 10/s"),
        (f"whole sender pass: plan + send {report.sent:,} digests to 1,000 subscribers (msg/s)",
         f"{sent / seconds_all:,.0f}", f"{seconds_all:.2f} s incl. composing on 227 papers"),
    ]  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--papers", type=int, default=1_000_000)
    ap.add_argument("--events", type=int, default=10_000_000)
    ap.add_argument("--subscribers", type=int, default=100_000)
    ap.add_argument(
        "--quick",
        action="store_true",
        help="a smoke run: 100,000 papers, 1,000,000 events, 10,000 subscribers",
    )
    ap.add_argument("--rebuild", action="store_true", help="rebuild the cached database")
    ap.add_argument(
        "--repeats",
        type=int,
        default=3,
        help="set-up runs, and rounds of compose, render and send (default 3)",
    )
    args = ap.parse_args()  # fmt: skip
    if args.quick:
        args.papers, args.events, args.subscribers = 100_000, 1_000_000, 10_000
    from paperfeed.search.models import load_embedder  # onnxruntime: after argument errors

    embedder = load_embedder()
    db, meta = load_or_build(args, embedder)
    stages = ", ".join(f"{k} {v:.0f} s" for k, v in meta["stages_s"].items())
    state = "cached; --rebuild to redo" if meta["cached"] else "just now"
    print(f"database {db}: built in {meta['build_s']:.0f} s ({stages}; {state})")
    load_before = os.getloadavg()
    print(f"machine: {machine_line()}")
    store = open_store(str(db))
    engine = SearchEngine(store, index_dir(db), embedder)
    print(f"{meta['papers']:,} papers, {meta['subscribers']:,} subscribers, saved-search pool "
          f"{meta['pool']:,} (Zipf s = {ZIPF_S}), {meta['vectors']:,} synthetic vectors; "
          f"today {TODAY}, newest day {store.latest_day(TODAY)}", flush=True)  # fmt: skip
    run = measure(store, engine, embedder, args.repeats)
    store.close()
    run.rows += measure_send(run.messages, args.repeats)
    print_table(run.rows)
    print(f"\nmachine: {machine_line(load_before)}")


if __name__ == "__main__":
    main()
