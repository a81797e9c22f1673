"""Trending at arXiv scale: the full recompute, incremental updates between recomputes, page reads.

Target (trending issue): recompute trending for 1M papers and 10M events in <= 10 s on this
machine, and keep the ranking current between full recomputes with incremental updates. One run
builds (once; cached in the temp folder, `--rebuild` to redo) a store of N papers and E events
through the real migrations, then measures side by side and prints one table:

- `trending.recompute(store, now, today)`, run --repeats times (median and min-max), with where
  its time goes: each store call timed inside the real recompute, and each signal's decayed sum
  timed on its own, split into its three SQL statements (events, reactions, signals) and the
  Python rest;
- incremental updates: one upvote through `library.react` and one counted view through
  `library.record_view` (each re-scores the paper's trending rows in the same transaction), and
  a batch of 1,000 mixed actions, against "a full recompute per action";
- `trending.list_page` for the week's first page, a deep page (offset 980) and the month's first
  page;
- a check: after the incremental actions, a full recompute at the same `now` (incremental
  updates score as of the last recompute) must give the week's ranking the table already had.

The corpus. Papers are bench/synth.py's synthetic snapshot (real-looking titles, abstracts,
authors and categories, so rows are as large as real ones, which matters for joins and page
reads), re-dated so that their first versions run evenly over the `--days` (365) days before a
fixed `now`, and re-numbered with arXiv ids (YYMM.NNNNN, in date order). They go in through
`store.upsert_papers` in batches of 20,000, the path `paperfeed ingest` takes: at ~20k papers/s
(bench/import.py) 1M papers take about a minute, and paper_keys and every index are then exactly
what an import leaves. Papers of the last 60 days carry arXiv listing announcements (new in
their primary category, cross-lists in up to two more, on the next weekday), 5 % of older ones a
replacement announcement, and Hugging Face daily papers a "featured" one.

Engagement (the mix is printed above the table): of E rows, 85 % anonymous page views and 10 %
digest clicks (`events`), 3.5 % upvotes and 1.5 % saves by 50,000 users (`reactions`, one per
user, paper and kind; users' activity is heavy-tailed). Papers are picked with Zipf-like
popularity (Pareto 1.5 appeal) times recency (halving every 14 days, floor 2 %), times spread
over the last 60 days after publication, bunched just after it for new papers. On top of E:
Hugging Face upvote and comment series for 2 % of papers and GitHub star series for 3 %
(`signals`, 2-12 observations each, a row only when a value changes). These rows are written
as they are into the migrations' tables with `store.write_rows` (the copy-store path, on any
backend; one transaction per 500,000 rows, explicit ids, then `finish_rows`): `record_event` /
`set_reaction` one at a time would take hours for 10M rows. On SQLite the `events` indexes are
dropped for the bulk load and re-created from their own SQL in sqlite_master, so the schema and
indexes are still exactly the migration's.

The measured actions run after `now` and are deleted again at the end (and at the start of each
run, should one have been cut short), so the cached database stays as built.

Spread: every timing is a median with its min-max over --repeats runs (default 3): the
recompute and each signal's decayed sum are run that many times; the page reads and the actions
are split into that many rounds (the same calls in all), each round's own p50 (or throughput)
beside the whole's. The machine's load average before and after is printed with the table.

    .venv/bin/python bench/trending.py [--papers 1000000 --events 10000000] [--quick]
        [--rebuild] [--repeats 3] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import dataclasses
import io
import json
import os
import pstats
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from benchlib import (
    MIGRATIONS,
    SYNTH_SOURCES,
    Stats,
    cached_folder,
    corpus,
    machine_line,
    timed,
)

from paperfeed.ingest.files import iter_records
from paperfeed.ingest.hf_daily import HF_DAILY_SOURCE
from paperfeed.models import Paper
from paperfeed.rank import trending
from paperfeed.store import Decayed, SQLiteStore, Store, open_store
from paperfeed.store import sqlite as sqlite_store
from paperfeed.users import library

NOW = datetime(2026, 3, 31, 18, 0, tzinfo=UTC)  # fixed, so that every run ranks the same data
NOW_TS = NOW.timestamp()
DAY_S = 86400.0
TARGET_S = 10.0
MIX = {"view": 0.85, "click": 0.10, "upvote": 0.035, "save": 0.015}  # shares of --events
USERS = 50_000
EVENT_DAYS = 60  # engagement is spread over the last 60 days
ANNOUNCED_DAYS = 60  # listing announcements kept for the last 60 days
RECENCY_HALF_LIFE_DAYS = 14.0
HF_SHARE, STARS_SHARE = 0.02, 0.03
PAPER_BATCH = 20_000
CHUNK = 500_000
BENCH_USERS = 1_000
SINGLE_ACTIONS = 200
BATCH_ACTIONS = 1_000
PAGE_CALLS = 50
# The mixed batch: mostly views, as on a real site; some views repeat a client's view of the
# same paper within the burst and are not counted (no re-score); some upvotes are undone.
BATCH_MIX = {"view": 0.62, "repeat view": 0.08, "click": 0.15, "upvote": 0.09, "save": 0.04,
             "undo upvote": 0.02}  # fmt: skip


# -- building the corpus ------------------------------------------------------------------------


# what the cached store is built from: a change to any of these builds a new one
SOURCES = (Path(__file__), *SYNTH_SOURCES, MIGRATIONS)


def db_files(db: Path) -> list[Path]:
    return [p for p in (db, Path(f"{db}-wal"), Path(f"{db}-shm")) if p.exists()]


def add_papers(store: Store, n: int, days: int, step: Callable[[str], None]
               ) -> tuple[np.ndarray, dict[int, tuple[str, ...]]]:  # fmt: skip
    """Insert n re-dated synthetic papers (seq i+1 is paper i); returns each one's publication
    time and the categories of those published in the announced days."""
    span = days * DAY_S
    pub = NOW_TS - span + (np.arange(n) + 0.5) / n * span
    if n / (days / 30.4) > 99_999:
        raise SystemExit(f"{n:,} papers in {days} days overflow YYMM.NNNNN ids; raise --days.")
    announced_from = NOW_TS - ANNOUNCED_DAYS * DAY_S
    categories: dict[int, tuple[str, ...]] = {}
    batch: list[Paper] = []
    month, count = "", 0
    with corpus(n).open("rb") as f:
        for i, (_, _, paper) in enumerate(iter_records(f)):
            if i == n:
                break
            assert isinstance(paper, Paper), paper
            when = datetime.fromtimestamp(float(pub[i]), UTC).replace(microsecond=0)
            yymm = f"{when:%y%m}"
            count = count + 1 if yymm == month else 1
            month = yymm
            ref = f"{yymm}.{count:05d}"
            batch.append(dataclasses.replace(
                paper, id=ref, arxiv_id=ref, published=when, updated=when,
                url=f"https://arxiv.org/abs/{ref}", pdf_url=f"https://arxiv.org/pdf/{ref}",
            ))  # fmt: skip
            if pub[i] >= announced_from:
                categories[i + 1] = paper.categories
            if len(batch) == PAPER_BATCH:
                store.upsert_papers(batch)
                batch = []
            if (i + 1) % 200_000 == 0:
                step(f"  {i + 1:,} papers")
    store.upsert_papers(batch)
    assert store.count_papers() == n, "some synthetic papers merged: seqs would not line up"
    return pub, categories


def popularity(pub: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Each paper's chance of drawing an event: Zipf-like appeal times recency."""
    age_days = (NOW_TS - pub) / DAY_S
    appeal = rng.pareto(1.5, len(pub)) + 1.0
    weights = appeal * (np.exp2(-age_days / RECENCY_HALF_LIFE_DAYS) + 0.02)
    return np.asarray(weights / weights.sum())


def event_times(idx: np.ndarray, pub: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Times of events on papers idx (0-based): after publication, in the last EVENT_DAYS,
    bunched just after publication for papers published within them."""
    since = NOW_TS - EVENT_DAYS * DAY_S
    start = np.maximum(pub[idx], since)
    u = rng.random(len(idx))
    u = np.where(pub[idx] > since, u * u, u)
    return np.asarray(start + (NOW_TS - start) * u)


def top_k(weights: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """k distinct indexes drawn with probability ~ weights (Gumbel top-k)."""
    keys = np.log(weights) + rng.gumbel(size=len(weights))
    return np.asarray(np.argpartition(-keys, k)[:k])


def _series(rng: np.random.Generator, start: float, first: int, last: int
            ) -> list[tuple[str, float]]:  # fmt: skip
    """Observations of a running total going from `first` to `last` after `start`; a point
    only where the value changed, as `record_signals` writes them."""
    k = int(rng.integers(2, 13))
    times = np.sort(start + (NOW_TS - start) * rng.random(k))
    values = np.sort(rng.integers(first, last + 1, k))
    values[0], values[-1] = first, last
    out: list[tuple[str, float]] = []
    for t, v in zip(times.tolist(), values.tolist(), strict=True):
        if not out or out[-1][1] != v:
            stamp = datetime.fromtimestamp(t, UTC).isoformat(timespec="microseconds")
            out.append((stamp, float(v)))
    return out


def first_of_each_key(rows: list[tuple[Any, ...]], key: int) -> list[tuple[Any, ...]]:
    """`rows` sorted, only the first of those whose first `key` columns (the primary key) are
    the same: what INSERT OR IGNORE kept (`write_rows` replaces; PostgreSQL refuses a key twice
    in one statement)."""
    kept: dict[tuple[Any, ...], tuple[Any, ...]] = {}
    for row in sorted(rows):
        kept.setdefault(row[:key], row)
    return list(kept.values())


def add_signals(store: Store, pub: np.ndarray, weights: np.ndarray, rng: np.random.Generator
                ) -> np.ndarray:  # fmt: skip
    """Hugging Face upvote/comment series and GitHub star series; returns the HF papers."""
    n = len(pub)
    since = NOW_TS - EVENT_DAYS * DAY_S
    hf = top_k(weights, max(1, int(HF_SHARE * n)), rng)
    stars = top_k(np.sqrt(weights), max(1, int(STARS_SHARE * n)), rng)
    rows: list[tuple[Any, ...]] = []
    for i in hf.tolist():
        start = max(float(pub[i]), since)
        upvotes = 1 + int(rng.pareto(1.3) * 8)
        for name, last in (("hf_upvotes", upvotes), ("hf_comments", upvotes // 5)):
            rows += [(i + 1, name, t, v, HF_DAILY_SOURCE) for t, v in _series(rng, start, 0, last)]
    for i in stars.tolist():
        start = max(float(pub[i]), since)
        first = int(rng.pareto(1.0) * 20)
        gained = int(rng.pareto(1.3) * 20)
        rows += [(i + 1, "github_stars", t, v, HF_DAILY_SOURCE)
                 for t, v in _series(rng, start, first, first + gained)]  # fmt: skip
    store.write_rows("signals", ("seq", "name", "observed_at", "value", "source"),
                     first_of_each_key(rows, 3))  # fmt: skip
    return hf


def _next_weekday(d: date) -> date:
    d += timedelta(days=1)
    while d.weekday() >= 5:
        d += timedelta(days=1)
    return d


def add_announcements(store: Store, pub: np.ndarray, categories: dict[int, tuple[str, ...]],
                      hf: np.ndarray, rng: np.random.Generator) -> None:  # fmt: skip
    today = NOW.date()
    rows: list[tuple[Any, ...]] = []
    for seq, cats in categories.items():
        day = _next_weekday(datetime.fromtimestamp(float(pub[seq - 1]), UTC).date())
        if day <= today and cats:
            rows.append((f"arxiv:{cats[0]}", day.isoformat(), seq, "new"))
            rows += [(f"arxiv:{c}", day.isoformat(), seq, "cross") for c in cats[1:3]]
    older = np.flatnonzero(pub < NOW_TS - ANNOUNCED_DAYS * DAY_S)
    for i in rng.choice(older, size=len(older) // 20, replace=False).tolist():
        back = int(rng.integers(1, ANNOUNCED_DAYS))
        day = _next_weekday(today - timedelta(days=back + 1))
        rows.append(("arxiv:replaced", day.isoformat(), i + 1, "replace"))
    for i in hf.tolist():
        day = _next_weekday(datetime.fromtimestamp(float(pub[i]), UTC).date())
        if today - timedelta(days=ANNOUNCED_DAYS) <= day <= today:
            rows.append((HF_DAILY_SOURCE, day.isoformat(), i + 1, "featured"))
    store.write_rows("announcements", ("list", "day", "seq", "kind"), first_of_each_key(rows, 3))


def add_reactions(store: Store, pub: np.ndarray, weights: np.ndarray, want: dict[str, int],
                  rng: np.random.Generator) -> None:  # fmt: skip
    created = (NOW - timedelta(days=400)).isoformat(timespec="microseconds")
    readers = [(u, f"reader{u}@example.org", created) for u in range(1, USERS + 1)]
    store.write_rows("users", ("id", "email", "created_at"), readers)
    store.finish_rows()
    activity = rng.pareto(2.0, USERS) + 1.0
    activity /= activity.sum()
    rows: list[tuple[int, int, str, float]] = []
    for kind in ("upvote", "save"):
        size = int(want[kind] * 1.3) + 1000
        users = rng.choice(USERS, size=size, p=activity) + 1
        idx = rng.choice(len(pub), size=size, p=weights)
        _, first = np.unique(users.astype(np.int64) * (len(pub) + 1) + idx, return_index=True)
        keep = np.sort(first)[: want[kind]]  # first draws of each (user, paper), in draw order
        at = event_times(idx[keep], pub, rng)
        rows += zip(users[keep].tolist(), (idx[keep] + 1).tolist(), [kind] * len(keep),
                    at.tolist(), strict=True)  # fmt: skip
    rows.sort()
    for start in range(0, len(rows), CHUNK):
        store.write_rows("reactions", ("user_id", "seq", "kind", "at"), rows[start : start + CHUNK])


def add_events(store: Store, pub: np.ndarray, weights: np.ndarray, want: dict[str, int],
               rng: np.random.Generator, step: Callable[[str], None]
               ) -> tuple[int, int]:  # fmt: skip
    """Views and clicks, written in time order (so ids run in time, as in real use); returns
    the last event id and the most events any one paper got."""
    names = np.array(["view", "click"], dtype=object)
    total = want["view"] + want["click"]
    idx = rng.choice(len(pub), size=total, p=weights)
    at = event_times(idx, pub, rng)
    signal = np.repeat(np.arange(2, dtype=np.int8), [want["view"], want["click"]])
    order = np.argsort(at, kind="stable")
    seqs, at, signal = idx[order] + 1, at[order], signal[order]
    with without_indexes(store, "events"):
        for start in range(0, total, CHUNK):
            end = min(start + CHUNK, total)
            rows = list(zip(range(start + 1, end + 1), seqs[start:end].tolist(),
                            names[signal[start:end]].tolist(), at[start:end].tolist(),
                            strict=True))  # fmt: skip
            store.write_rows("events", ("id", "seq", "signal", "at"), rows)
            if (start // CHUNK + 1) % 4 == 0:
                step(f"  {end:,} events")
        step("  re-creating the events indexes")
    store.finish_rows()
    return total, int(np.bincount(idx).max())


@contextmanager
def without_indexes(store: Store, table: str) -> Iterator[None]:
    """On SQLite, drop `table`'s indexes for a bulk load and re-create them afterwards from their
    own SQL in sqlite_master (so they are exactly the migration's): inserting into 3 indexes row
    by row is slower than building them once. PostgreSQL keeps them."""
    if not isinstance(store, SQLiteStore):
        yield
        return
    found = store.conn.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ?"
        " AND sql IS NOT NULL", (table,)).fetchall()  # fmt: skip
    for name, _ in found:
        store.conn.execute(f"DROP INDEX {name}")
    yield
    for _, sql in found:
        store.conn.execute(sql)


def build(folder: Path, n: int, n_events: int, days: int, step: Callable[[str], None]
          ) -> dict[str, Any]:  # fmt: skip
    """The store (folder/store.db), built; returns what load_or_build keeps about it."""
    rng = np.random.default_rng(0)
    want = {kind: round(share * n_events) for kind, share in MIX.items()}
    stages: dict[str, float] = {}
    started = time.perf_counter()
    store = open_store(str(folder / "store.db"))
    step(f"papers: {n:,} (synthetic corpus {corpus(n)})")
    stages["papers"], (pub, categories) = timed(lambda: add_papers(store, n, days, step))
    weights = popularity(pub, rng)
    step("signals, announcements, users and reactions")
    stages["signals"], hf = timed(lambda: add_signals(store, pub, weights, rng))
    stages["announcements"], _ = timed(lambda: add_announcements(store, pub, categories, hf, rng))
    stages["reactions"], _ = timed(lambda: add_reactions(store, pub, weights, want, rng))
    step(f"events: {want['view'] + want['click']:,}")
    stages["events"], (base_event_id, top_paper_events) = timed(
        lambda: add_events(store, pub, weights, want, rng, step)
    )
    if isinstance(store, SQLiteStore):
        store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    return {"papers": n, "events": n_events, "days": days, "now": NOW.isoformat(),
            "base_event_id": base_event_id, "top_paper_events": top_paper_events,
            "build_s": time.perf_counter() - started, "stages_s": stages}  # fmt: skip


def load_or_build(n: int, n_events: int, days: int, rebuild: bool) -> tuple[Path, dict[str, Any]]:
    """The cached store's path (built first when missing or on `rebuild`) and its meta."""
    folder, meta = cached_folder(
        "trending", {"papers": n, "events": n_events, "days": days}, SOURCES,
        lambda tmp: build(tmp, n, n_events, days, lambda s: print(s, flush=True)), rebuild,
    )  # fmt: skip
    return folder / "store.db", meta


# -- measuring ----------------------------------------------------------------------------------


def pct(xs: Sequence[float], q: float) -> float:
    return float(np.percentile(xs, q))


def spread_s(runs: Sequence[float]) -> str:
    """e.g. "1.23 (1.20-1.31, n=3)": the median of the runs, then their min-max."""
    st = Stats(list(runs))
    return f"{st.median:.2f} ({st.min:.2f}-{st.max:.2f}, n={len(st.runs)})"


def rounds_pct(rounds: Sequence[Sequence[float]], q: float) -> str:
    """The q-th percentile over all rounds, then its min-max over the rounds one by one, in ms."""
    whole = pct([t for r in rounds for t in r], q)
    each = [pct(r, q) for r in rounds if r]
    return f"{whole * 1000:,.1f} ({min(each) * 1000:,.1f}-{max(each) * 1000:,.1f})"


def split_rounds(values: Sequence[float], count: int) -> list[list[float]]:
    """`values` in `count` consecutive rounds of (nearly) equal size."""
    return [list(part) for part in np.array_split(np.asarray(values, dtype=float), count)]


@contextmanager
def store_timers(store: Store, names: Sequence[str]) -> Iterator[dict[str, float]]:
    """Seconds spent in each named store method while the block runs (wraps the instance)."""
    spent = dict.fromkeys(names, 0.0)

    def wrap(name: str, method: Callable[..., Any]) -> Callable[..., Any]:
        def timed_call(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                spent[name] += time.perf_counter() - start

        return timed_call

    for name in names:
        setattr(store, name, wrap(name, getattr(store, name)))
    try:
        yield spent
    finally:
        for name in names:
            delattr(store, name)


def reset(store: Store, meta: dict[str, Any]) -> None:
    """Remove what earlier measurements added, so the data is exactly as built."""
    conn = store.conn  # type: ignore[attr-defined]
    with store.transaction():
        conn.execute("DELETE FROM events WHERE id > ?", (meta["base_event_id"],))
        conn.execute("DELETE FROM reactions WHERE user_id > ?", (USERS,))
        conn.execute("DELETE FROM tags")
        conn.execute("DELETE FROM recent_clients")


def rules() -> dict[str, Decayed]:
    return {name: Decayed(rule.half_life_h * trending.HOUR_S, rule.first_counts)
            for name, rule in trending.RULES.items()}  # fmt: skip


Row = tuple[str, str, str]


def measure_recompute(store: Store, repeats: int) -> tuple[list[Row], float]:
    today = NOW.date()
    names = ("decayed_sums", "latest_day", "list_day_of", "replace_trending")
    runs: list[tuple[float, dict[str, float], dict[str, int]]] = []
    for _ in range(repeats):
        with store_timers(store, names) as spent:
            seconds, counts = timed(lambda: trending.recompute(store, NOW_TS, today))
        runs.append((seconds, dict(spent), counts))
    times = [r[0] for r in runs]
    median = float(np.median(times))
    seconds, spent, counts = min(runs, key=lambda r: abs(r[0] - median))
    each = ", ".join(f"{t:.2f}" for t in times)
    verdict = "meets" if median <= TARGET_S else "MISSES"
    rows: list[Row] = [
        ("full recompute, median (min-max) (s)", spread_s(times),
         f"target <= {TARGET_S:.0f} s: {verdict}; runs: {each} s"),
        ("  papers ranked (day / week / month: every paper of the window)",
         " / ".join(f"{counts[s]:,}" for s in trending.WINDOWS), ""),
    ]  # fmt: skip
    python_s = seconds - sum(spent.values())
    for name, label in (("decayed_sums", "store.decayed_sums, all signals"),
                        ("list_day_of", "store.list_day_of, month window"),
                        ("replace_trending", "store.replace_trending, 3 windows"),
                        ("latest_day", "store.latest_day")):  # fmt: skip
        rows.append((f"  in {label} (s)", f"{spent[name]:.2f}", f"{spent[name] / seconds:.0%}"))
    rows.append(("  in recompute's own Python: scoring rows (s)", f"{python_s:.2f}",
                 f"{python_s / seconds:.0%}"))  # fmt: skip
    return rows, median


def measure_signals(store: Store, repeats: int) -> list[Row]:
    """Each signal's decayed sum alone (`repeats` runs), split into its SQL statements (one run
    each) and the Python rest."""
    conn = store.conn  # type: ignore[attr-defined]
    sql_of = getattr(sqlite_store, "_decayed_sql", None)  # private: None if it moves
    rows: list[Row] = []
    for name, rule in rules().items():
        runs = []
        for _ in range(repeats):
            took, sums = timed(lambda: store.decayed_sums(NOW_TS, {name: rule}))  # noqa: B023
            runs.append(took)
        split = ""
        if sql_of is not None:
            parts = []
            for table, sql in zip(("events", "reactions", "signals"),
                                  sql_of(rule.first_counts), strict=True):  # fmt: skip
                args = (NOW_TS, rule.half_life_s, name)
                s, _ = timed(lambda: conn.execute(sql.format(only=""), args).fetchall())  # noqa: B023
                parts.append(f"{table} {s:.2f}")
            split = "SQL: " + ", ".join(parts) + " s; "
        rows.append((f"  decayed sum of {name}, alone (s)", spread_s(runs),
                     f"{split}{len(sums):,} papers"))  # fmt: skip
    return rows


def measure_pages(store: Store, repeats: int) -> list[Row]:
    rows: list[Row] = []
    for label, span, offset in (("week, first page", "week", 0),
                                ("week, deep page (offset 980)", "week", 980),
                                ("month, first page", "month", 0)):  # fmt: skip
        for _ in range(3):
            trending.list_page(store, span, limit=20, offset=offset)
        rounds: list[list[float]] = []
        with store_timers(store, ("list_trending", "list_days")) as spent:
            for _ in range(repeats):
                rounds.append([])
                for _ in range(PAGE_CALLS):
                    start = time.perf_counter()
                    trending.list_page(store, span, limit=20, offset=offset)
                    rounds[-1].append(time.perf_counter() - start)
        value = f"{rounds_pct(rounds, 50)} / {rounds_pct(rounds, 95)} ms"
        total = sum(map(sum, rounds))
        where = ", ".join(f"{v / total:.0%} in store.{k}" for k, v in spent.items())
        rows.append((f"list_page {label}, p50 / p95", value,
                     f"{repeats} rounds of {PAGE_CALLS} calls, limit 20; {where}"))  # fmt: skip
    return rows


def targets(store: Store, count: int) -> list[str]:
    """Paper ids readers act on: drawn by the same popularity as the built events."""
    conn = store.conn  # type: ignore[attr-defined]
    n = store.count_papers()
    sql = "SELECT (julianday(published) - 2440587.5) * 86400.0 FROM papers ORDER BY seq"
    pub = np.array([r[0] for r in conn.execute(sql)])
    weights = popularity(pub, np.random.default_rng(0))
    seqs = (np.random.default_rng(1).choice(n, size=count, p=weights) + 1).tolist()
    ids: dict[int, str] = {}
    for start in range(0, len(seqs), 500):
        chunk = sorted(set(seqs[start : start + 500]))
        marks = ",".join("?" * len(chunk))
        ids.update(conn.execute(f"SELECT seq, id FROM papers WHERE seq IN ({marks})", chunk))
    return [ids[s] for s in seqs]


class Actions:
    """Readers acting after `now`, one call at a time, each timed."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.users = [store.get_or_add_user(f"bench-{i}@example.org", NOW)
                      for i in range(BENCH_USERS)]  # fmt: skip
        assert all(u.id > USERS for u in self.users), "bench users must come after the readers"
        self.refs = iter(targets(store, SINGLE_ACTIONS * 2 + BATCH_ACTIONS * 2))
        self.at = NOW_TS
        self.k = 0
        self.upvoted: list[tuple[int, str]] = []
        self.viewed: list[tuple[str, str]] = []

    def tick(self) -> float:
        self.at += 0.25
        self.k += 1
        return self.at

    def run(self, kind: str) -> float:
        store, at, k = self.store, self.tick(), self.k
        user = self.users[k % BENCH_USERS]
        start = time.perf_counter()
        if kind in ("upvote", "save"):
            ref = next(self.refs)
            tags = "reading group, to-read" if kind == "save" else None
            library.react(store, user, ref, kind, on=True, now=at, tags=tags)
            if kind == "upvote":
                self.upvoted.append((k % BENCH_USERS, ref))
        elif kind == "undo upvote" and self.upvoted:
            i, ref = self.upvoted.pop()
            library.react(store, self.users[i], ref, "upvote", on=False, now=at)
        elif kind == "repeat view" and self.viewed:
            client, ref = self.viewed[-1]
            assert not library.record_view(store, ref, client, at)
        else:
            signal = "click" if kind == "click" else "view"
            ref, client = next(self.refs), f"bench-client-{k}"
            assert library.record_view(store, ref, client, at, signal=signal)
            if signal == "view":
                self.viewed.append((client, ref))
        return time.perf_counter() - start


def measure_actions(store: Store, recompute_s: float, repeats: int) -> list[Row]:
    """The single actions and the mixed batch, each split into `repeats` rounds."""
    actions = Actions(store)
    rows: list[Row] = []
    per_action = f"a full recompute per action ({recompute_s * 1000:,.0f} ms)"
    for label, kind in (("one upvote (library.react)", "upvote"),
                        ("one counted view (library.record_view)", "view")):  # fmt: skip
        times = [actions.run(kind) for _ in range(SINGLE_ACTIONS)]
        rounds = split_rounds(times, repeats)
        p50 = pct(times, 50)
        rows.append((f"{label}, p50 / p95",
                     f"{rounds_pct(rounds, 50)} / {rounds_pct(rounds, 95)} ms",
                     f"p50 {recompute_s / p50:,.0f}x faster than {per_action}"))  # fmt: skip
    plan = np.random.default_rng(2).choice(
        list(BATCH_MIX), size=BATCH_ACTIONS, p=list(BATCH_MIX.values())
    )
    walls, batch = [], []
    for part in np.array_split(plan, repeats):
        wall, times = timed(lambda: [actions.run(str(kind)) for kind in part])  # noqa: B023
        walls.append(wall / max(len(part), 1))
        batch.append(times)
    wall = float(np.median(walls)) * BATCH_ACTIONS
    mix = ", ".join(f"{share:.0%} {kind}" for kind, share in BATCH_MIX.items())
    rate = Stats(walls).rate(1)
    rows += [
        (f"{BATCH_ACTIONS:,} mixed actions, per action p50 / p95",
         f"{rounds_pct(batch, 50)} / {rounds_pct(batch, 95)} ms", mix),
        (f"{BATCH_ACTIONS:,} mixed actions, throughput", f"{rate} actions/s",
         f"{BATCH_ACTIONS / wall * recompute_s:,.0f}x a full recompute per action "
         f"({1 / recompute_s:.2f} actions/s)"),
    ]  # fmt: skip
    return rows


def week_table(store: Store) -> dict[int, tuple[float, dict[str, float]]]:
    conn = store.conn  # type: ignore[attr-defined]
    return {seq: (score, json.loads(parts)) for seq, score, parts in
            conn.execute("SELECT seq, score, parts FROM trending WHERE span = 'week'")}  # fmt: skip


def top20(store: Store) -> list[int]:
    return [r.row.seq for r in trending.list_page(store, "week", limit=20, offset=0)]


def check_agreement(store: Store, before: dict[int, tuple[float, dict[str, float]]],
                    top_before: list[int]) -> list[Row]:  # fmt: skip
    """The incrementally updated week ranking against a fresh recompute at the same time."""
    state = store.get_trending_state("month")
    assert state is not None
    top_incremental, incremental = top20(store), week_table(store)
    rescored = sum(1 for s, row in incremental.items() if before.get(s, (None,))[0] != row[0])
    trending.recompute(store, state.computed_at, NOW.date())
    top_fresh, fresh = top20(store), week_table(store)
    common = incremental.keys() & fresh.keys()
    worst = max((abs(incremental[s][0] - fresh[s][0]) for s in common), default=0.0)
    # A paper whose only engagement was undone keeps a prior-only row until the next recompute.
    stale = [s for s in incremental.keys() - fresh.keys() if set(incremental[s][1]) != {"prior"}]
    missing = fresh.keys() - incremental.keys()
    agrees = top_incremental == top_fresh and worst <= 1e-9 and not stale and not missing
    moved = "moved" if top_before != top_incremental else "did not move"
    return [
        ("week top-20: incremental table = fresh recompute at the same now",
         "agrees: yes" if agrees else "agrees: NO",
         f"top-20 order {'same' if top_incremental == top_fresh else 'DIFFERENT'}; "
         f"max score difference over {len(common):,} rows {worst:.1e}; rows only incremental "
         f"(not prior-only) {len(stale)}, only fresh {len(missing)}; the actions re-scored "
         f"{rescored:,} of its rows and {moved} its top 20"),
    ]  # fmt: skip


def profile_recompute(store: Store) -> str:
    profiler = cProfile.Profile()
    profiler.runcall(trending.recompute, store, NOW_TS, NOW.date())
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(15)
    return out.getvalue()


# -- the report ---------------------------------------------------------------------------------


def table_counts(store: Store) -> str:
    conn = store.conn  # type: ignore[attr-defined]
    parts = []
    for table in ("papers", "paper_keys", "announcements", "users", "reactions", "events",
                  "signals", "trending"):  # fmt: skip
        parts.append(f"{table} {conn.execute(f'SELECT count(*) FROM {table}').fetchone()[0]:,}")
    return ", ".join(parts)


def describe(meta: dict[str, Any], store: Store) -> str:
    conn = store.conn  # type: ignore[attr-defined]
    kinds = dict(conn.execute("SELECT signal, count(*) FROM events GROUP BY signal"))
    kinds.update(conn.execute("SELECT kind, count(*) FROM reactions GROUP BY kind"))
    series = dict(conn.execute("SELECT name, count(DISTINCT seq) FROM signals GROUP BY name"))
    points = conn.execute("SELECT count(*) FROM signals").fetchone()[0]
    month = conn.execute("SELECT count(*) FROM papers WHERE published >= ?",
                         ((NOW - timedelta(days=30)).isoformat(),)).fetchone()[0]  # fmt: skip
    return (
        f"Trending: {meta['papers']:,} papers (first versions over the {meta['days']} days "
        f"before {NOW:%Y-%m-%d %H:%M} UTC; {month:,} in the last 30), "
        f"{sum(kinds.values()):,} events: {kinds.get('view', 0):,} views + "
        f"{kinds.get('click', 0):,} digest clicks (events), {kinds.get('upvote', 0):,} upvotes + "
        f"{kinds.get('save', 0):,} saves by {USERS:,} users (reactions), over the last "
        f"{EVENT_DAYS} days with Zipf-like popularity x recency (most-engaged paper: "
        f"{meta['top_paper_events']:,} views + clicks); "
        f"plus {points:,} signal points: hf_upvotes on {series.get('hf_upvotes', 0):,} papers, "
        f"github_stars on {series.get('github_stars', 0):,}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--papers", type=int, default=1_000_000)
    ap.add_argument("--events", type=int, default=10_000_000)
    ap.add_argument("--days", type=int, default=365, help="papers' first versions span these")
    ap.add_argument(
        "--quick", action="store_true", help="a smoke run: 50,000 papers, 500,000 events"
    )
    ap.add_argument("--rebuild", action="store_true", help="rebuild the cached database")
    ap.add_argument(
        "--repeats", type=int, default=3,
        help="runs (recompute, decayed sums) or rounds (pages, actions) timed",
    )  # fmt: skip
    ap.add_argument("--profile", action="store_true", help="also print a recompute's profile")
    args = ap.parse_args()
    if args.quick:
        args.papers, args.events = 50_000, 500_000
    db, meta = load_or_build(args.papers, args.events, args.days, args.rebuild)
    stages = ", ".join(f"{k} {v:.0f} s" for k, v in meta["stages_s"].items())
    state = "cached; --rebuild to redo" if meta["cached"] else "just now"
    print(f"database {db}: built in {meta['build_s']:.0f} s ({stages}; {state}); "
          f"{sum(p.stat().st_size for p in db_files(db)) / 1e6:,.0f} MB")  # fmt: skip
    store = open_store(str(db))
    reset(store, meta)
    load_before = os.getloadavg()
    print(f"machine: {machine_line()}")
    print(f"rows: {table_counts(store)}")
    print(describe(meta, store), flush=True)
    rows, recompute_s = measure_recompute(store, args.repeats)
    rows += measure_signals(store, args.repeats)
    rows += measure_pages(store, args.repeats)
    before, top_before = week_table(store), top20(store)
    rows += measure_actions(store, recompute_s, args.repeats)
    rows += check_agreement(store, before, top_before)
    profile = profile_recompute(store) if args.profile or recompute_s > TARGET_S else ""
    print(f"rows after the run: {table_counts(store)}")
    reset(store, meta)
    store.close()
    print()
    print("| figure | value | target / comparison |")
    print("|---|---|---|")
    for figure, value, comparison in rows:
        print(f"| {figure} | {value} | {comparison} |")
    print(f"\nmachine: {machine_line(load_before)}")
    if profile:
        print("\nOne full recompute under cProfile (top 15 by own time):\n" + profile)


if __name__ == "__main__":
    main()
