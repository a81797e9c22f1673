"""Trending: a score per paper that anyone can recompute by hand from the events behind it.

    score(p, now) = prior(p) + sum over signals s of  weight_s * sum over p's events e of s
                                                      amount_e * 2 ** (-(now - at_e) / half_life_s)

An event is an upvote or a save by a reader here, a page view, a click from a digest, or an
increase of a measured total a source brings (Hugging Face upvotes, GitHub stars). An event
loses half its weight every half-life, so the score says what is getting attention *now*;
without new events a paper's score decays to its prior. The prior ranks papers nobody has
touched yet: 1 point on the newest day with papers, halving each day before it, so a fresh
install lists the newest papers first and any real engagement soon outranks mere freshness.

A window (day, week, month) picks the papers listed in its last 1, 7 or 30 days (see
`Store.list_days`; a store with no dated papers at all ranks every paper). Ties go to the
later day, then the later published date, then the later stored paper, so the order is total.
The README documents the weights and why; `GET /trending.json` and `paperfeed trending` show
each paper's parts.

`trending()` is the pure definition. `recompute()` computes the same from the store for every
paper at once (one streaming pass per signal) as of now, or of the end of the newest day with
papers when that is earlier (see `as_of`); `refresh()` updates the papers an action just
touched, between full recomputes, as of the same time (an event after it counts fully until
the next recompute decays it).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from paperfeed.models import paper_json
from paperfeed.store import Decayed, Listed, Store, TrendingRow, TrendingState

HOUR_S = 3600.0
DAY_S = 86400.0
WINDOWS = {"day": 1, "week": 7, "month": 30}


@dataclass(frozen=True, slots=True)
class Rule:
    weight: float
    half_life_h: float
    first_counts: bool = True  # for measured totals: the first measurement counts from zero
    why: str = ""


RULES: Mapping[str, Rule] = {
    "upvote": Rule(3.0, 72, why="a signed-in reader here vouches for it"),
    "save": Rule(4.0, 168, why="a reader means to read it: stronger than a vote, lasts longer"),
    "view": Rule(0.2, 24, why="anonymous and cheap: many views make one upvote"),
    "click": Rule(0.5, 48, why="a digest reader chose it among others"),
    "hf_upvotes": Rule(1.0, 72, why="an upvote elsewhere: real, but not one of our readers"),
    "github_stars": Rule(
        0.05, 168, first_counts=False, why="stars gained since we first looked; 20 make a vote"
    ),
}
PRIOR = Rule(1.0, 24, why="freshness: 1 point on the newest day, halving each day before")


@dataclass(frozen=True, slots=True)
class Event:
    paper: int
    signal: str
    at: float  # seconds since 1970
    amount: float = 1.0


def decay(age_s: float, half_life_h: float) -> float:
    """What one unit of engagement `age_s` old is worth now (future events count fully)."""
    return float(2.0 ** (-max(age_s, 0.0) / (half_life_h * HOUR_S)))


def sum_events(
    events: Iterable[Event], now: float, rules: Mapping[str, Rule] = RULES
) -> dict[int, dict[str, float]]:
    """Each paper's decayed sum per signal, unweighted (what `Store.decayed_sums` returns)."""
    sums: dict[int, dict[str, float]] = {}
    for e in events:
        rule = rules.get(e.signal)
        if rule is None:
            continue
        box = sums.setdefault(e.paper, {})
        box[e.signal] = box.get(e.signal, 0.0) + e.amount * decay(now - e.at, rule.half_life_h)
    return sums


def prior(day: date | None, newest: date | None) -> float:
    if day is None or newest is None:
        return 0.0
    age_s = max((newest - day).days, 0) * DAY_S
    return PRIOR.weight * decay(age_s, PRIOR.half_life_h)


def score_row(
    seq: int,
    day: date | None,
    published: str | None,
    sums: Mapping[str, float],
    newest: date | None,
    rules: Mapping[str, Rule] = RULES,
) -> TrendingRow:
    parts = {"prior": prior(day, newest)}
    for name, total in sums.items():
        if name in rules:
            parts[name] = rules[name].weight * total
    # fsum: the same parts give the same score whatever order they were added in (ties!)
    return TrendingRow(seq, day, published, math.fsum(parts.values()), parts)


def rank_key(row: TrendingRow) -> tuple[float, int, str, int]:
    """Sort descending by this: score, then later day, later published, later stored."""
    return (row.score, row.day.toordinal() if row.day else 0, row.published or "", row.seq)


def trending(
    events: Iterable[Event],
    candidates: Mapping[int, tuple[date | None, str | None]],
    now: float,
    newest: date | None,
    rules: Mapping[str, Rule] = RULES,
) -> list[TrendingRow]:
    """The ranking of `candidates` (paper -> (day, published)) given every event up to `now`.
    The pure definition the store-backed functions below must agree with."""
    sums = sum_events(events, now, rules)
    rows = [score_row(p, d, pub, sums.get(p, {}), newest, rules)
            for p, (d, pub) in candidates.items()]  # fmt: skip
    return sorted(rows, key=rank_key, reverse=True)


# -- from the store -------------------------------------------------------------------------


def _store_rules(rules: Mapping[str, Rule]) -> dict[str, Decayed]:
    return {n: Decayed(r.half_life_h * HOUR_S, r.first_counts) for n, r in rules.items()}


def window_since(newest: date, span: str) -> date:
    return newest - timedelta(days=WINDOWS[span] - 1)


def as_of(now: float, newest: date | None) -> float:
    """The time scores are taken at: now, but no later than the end of the newest day with
    papers, so that an archive (or a server whose harvest paused) still ranks by what
    happened around its last day instead of decaying everything to nothing."""
    if newest is None:
        return now
    end = datetime.combine(newest + timedelta(days=1), datetime.min.time(), UTC).timestamp()
    return min(now, end)


def recompute(store: Store, now: float, today: date) -> dict[str, int]:
    """Rank every window from scratch; returns how many papers each window ranks. A dated
    store ranks every paper of the window (so a page is one index read); an undated one only
    the papers with engagement, the rest following newest first (see `list_page`)."""
    newest = store.latest_day(today)
    at = as_of(now, newest)
    sums = store.decayed_sums(at, _store_rules(RULES))
    counts = {}
    if newest is None:
        days: dict[int, tuple[date | None, str | None]] = {s: (None, None) for s in sums}
    else:
        days = dict(store.list_day_of(window_since(newest, "month"), newest))
    for span in WINDOWS:
        since = window_since(newest, span) if newest else None
        rows = [score_row(seq, d, pub, sums.get(seq, {}), newest)
                for seq, (d, pub) in days.items()
                if since is None or (d is not None and d >= since)]  # fmt: skip
        store.replace_trending(span, TrendingState(now, at, since, newest), rows)
        counts[span] = len(rows)
    return counts


def refresh(store: Store, seqs: Sequence[int]) -> None:
    """Re-score papers whose engagement just changed, as of the last recompute."""
    states = {span: store.get_trending_state(span) for span in WINDOWS}
    month = states["month"]
    if month is None or not seqs:
        return  # never computed: the next recompute covers everything
    sums = store.decayed_sums(month.as_of, _store_rules(RULES), seqs=seqs)
    if month.until is None:
        days: dict[int, tuple[date | None, str | None]] = {s: (None, None) for s in seqs}
    else:
        days = dict(store.list_day_of(month.since or month.until, month.until, seqs=seqs))
    for span, state in states.items():
        if state is None:
            continue
        rows = [score_row(seq, d, pub, sums.get(seq, {}), state.until)
                for seq, (d, pub) in days.items()
                if state.since is None or (d is not None and d >= state.since)]  # fmt: skip
        store.upsert_trending(span, rows)


def is_stale(store: Store, now: float, today: date, max_age_s: float) -> bool:
    state = store.get_trending_state("day")
    if state is None or now - state.computed_at > max_age_s:
        return True
    return state.until != store.latest_day(today)


def refresh_if_stale(store: Store, today: date, max_age_s: float, now: float | None = None
                     ) -> bool:  # fmt: skip
    """Recompute when the last ranking is older than `max_age_s` or a new day has papers."""
    now = time.time() if now is None else now
    if not is_stale(store, now, today, max_age_s):
        return False
    recompute(store, now, today)
    return True


@dataclass(frozen=True, slots=True)
class Ranked:
    listed: Listed
    row: TrendingRow


def list_page(store: Store, span: str, *, limit: int, offset: int) -> list[Ranked]:
    """One page of a window's ranking. In an undated store, the papers ranked by engagement
    are followed by the rest, newest stored first (their prior is 0). A dated store's papers
    that came after the last recompute join at the next one (a new day triggers it)."""
    state = store.get_trending_state(span)
    if state is None:
        return []
    need = limit + offset
    if state.until is not None:
        return _with_papers(store, store.list_trending(span, limit=limit, offset=offset), [])
    ranked = store.list_trending(span, limit=need)
    rest = store.list_newest(limit=need, unranked_in=span)
    rows = ranked + [_prior_row(item, state.until) for item in rest]
    rows.sort(key=rank_key, reverse=True)
    return _with_papers(store, rows[offset:need], rest)


def _with_papers(store: Store, page: list[TrendingRow], rest: list[Listed]) -> list[Ranked]:
    papers = {item.seq: item for item in rest}
    found = store.get_papers_by_seq([r.seq for r in page if r.seq not in papers])
    signals = store.latest_signals_by_seq([r.seq for r in page])
    return [
        Ranked(papers.get(r.seq) or Listed(found[r.seq], r.day, signals.get(r.seq, {}), r.seq), r)
        for r in page
        if r.seq in papers or r.seq in found
    ]


def ranked_json(item: Ranked) -> dict[str, Any]:
    """A ranked paper as JSON: the paper, its day and signals, its score and the parts."""
    parts = {name: round(value, 4) for name, value in item.row.parts.items()}
    return {
        **paper_json(item.listed.paper),
        "day": item.listed.day.isoformat() if item.listed.day else None,
        "signals": dict(item.listed.signals),
        "trending": {"score": round(item.row.score, 4), "parts": parts},
    }


def _prior_row(item: Listed, newest: date | None) -> TrendingRow:
    published = item.paper.published.isoformat() if item.paper.published else None
    return score_row(item.seq, item.day, published, {}, newest)
