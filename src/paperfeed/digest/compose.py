"""Choosing what goes in one subscriber's digest: the new papers since their last digest that
match their saved searches and arXiv categories, new papers like those in their library, and
trending papers, each with a one-line reason. The plan is data (JSON in the delivery ledger),
rendered at send time by render.py; nothing here sends, signs or renders.

New papers are those listed on the days after the subscriber's last digest (a first digest: the
newest day, or week for a weekly one; at most MAX_WINDOW_DAYS back); in a store of undated
papers, the newest stored after the last digest's newest (`last_seq`).

One `Composer` serves a whole scheduler pass (100,000 subscribers and more), so everything that
does not depend on the subscriber is computed once and cached: the new papers of each window of
days, each distinct saved search's matches within them, each category's papers, the trending
pool. What is per subscriber is a few small store reads (sent papers, the user's reactions and
library) and merging cached lists. Not thread-safe: one Composer per thread.

Saved searches are matched within the window's papers, never by a global top-k (a top-100 of a
million papers holds almost none of today's), by the search engine's `search_within`
(search/within.py): keyword side BM25 with every word required (a search for "dataset
distillation" must not match every paper that says "dataset"), dense side the query embedding
against the stored vectors of the window's papers, fused as hybrid search fuses them. The
composer itself builds no index queries.

Thresholds, measured with all-MiniLM-L6-v2 on the 227 seed papers (a narrow corpus: all of it
data-centric machine learning, so near misses score higher than in a day of all of arXiv):

- `QUERY_MIN_COSINE` 0.50 (search/within.py's default). Off-topic searches ("protein
  folding", "quantum error correction") reach at most 0.34; paraphrased searches ("making a
  trained model forget specific training examples") put their relevant papers at 0.50-0.60.
  For 19 keyword-style searches the papers only the dense side adds were 30 at 0.40 (5
  relevant), 6 at 0.45 (1 relevant), 1 at 0.50: below 0.50 it mostly adds
  neighbours (knowledge distillation for "dataset distillation"), and a digest pays more for a
  wrong paper than a search page does.
- `LIBRARY_MIN_COSINE` 0.65 between two papers. Pairs of seed papers on one topic (by title and
  abstract words) vs pairs on different topics: at 0.55 half of the pairs above it are on
  different topics, at 0.60 30 %, at 0.65 9 %, at 0.70 4 % (but only 4 % of same-topic pairs
  remain). "Similar to X in your library" should read as obviously similar.

The library section is the reader's recommendations (users/foryou.py: the one recommender,
which the For-you page, its feed and the channels also use), computed once per subscriber over
the window's vectors with a Background built once per Composer; unlike the page, it keeps only
papers at least LIBRARY_MIN_COSINE from one library paper, so a digest never pads with papers
unrelated to the library, and each names that paper.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np

from paperfeed.models import collapse_space, shorten
from paperfeed.rank import trending as ranking
from paperfeed.rank.recommend import Background
from paperfeed.search.embed import Vectors
from paperfeed.search.keyword import category_terms
from paperfeed.search.within import QUERY_MIN_COSINE, Within, WithinSearch
from paperfeed.store import Store, Subscriber, TrendingRow, User
from paperfeed.users import foryou

if TYPE_CHECKING:
    from paperfeed.search.engine import SearchEngine

SECTIONS = ("topics", "library", "trending")
LIBRARY_MIN_COSINE = 0.65
SEARCH_DEPTH = 100  # matches kept per saved search and window (each side, and fused)
TRENDING_POOL = 50  # the top of the trending span digests draw from
CATEGORY_SCORE_ROWS = 50_000  # trending rows read to rank a category's papers
UNDATED_MAX = 1000  # a store of undated papers: the newest stored papers a digest considers
MAX_WINDOW_DAYS = 14  # back from a long pause: the last two weeks, not everything since
TITLE_CHARS = 90  # a library title in a why-line
SPAN_WORDS = {"day": "today", "week": "this week", "month": "this month"}
READER_WHY = {"upvote": "upvoted by readers here", "save": "saved by readers here",
              "view": "much read here", "click": "much clicked in digests"}  # fmt: skip
_Key = tuple[float, int, int]  # how a category's papers are ranked (ascending)


@dataclass(frozen=True, slots=True)
class Item:
    seq: int
    why: str  # one line, plain text (rendered escaped)
    section: str  # "topics" | "library" | "trending"


@dataclass(frozen=True, slots=True)
class DigestPlan:
    """What one digest holds, in order. `since`..`until` are the listing days of the new papers
    it covered (inclusive); `until` is the subscriber's new last day. Both None when no new
    day was covered (nothing listed since the last digest, or a store of undated papers, where
    `last_seq` is instead the newest stored paper covered: the subscriber's new `last_seq`)."""

    items: tuple[Item, ...]
    since: date | None
    until: date | None
    last_seq: int | None = None
    unembedded: int = 0  # new papers without a vector yet: matched by their words only

    @property
    def seqs(self) -> tuple[int, ...]:
        return tuple(item.seq for item in self.items)

    def to_json(self) -> dict[str, Any]:
        return {
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
            "last_seq": self.last_seq,
            "items": [{"seq": i.seq, "why": i.why, "section": i.section} for i in self.items],
            **({"unembedded": self.unembedded} if self.unembedded else {}),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DigestPlan:
        """The plan `to_json` wrote; ValueError for anything else."""
        try:
            items = tuple(_item_from_json(x) for x in data["items"])
            last_seq, unembedded = data.get("last_seq"), data.get("unembedded", 0)
            if not (last_seq is None or isinstance(last_seq, int)):
                raise ValueError(f"not a row number: {last_seq!r}")
            if not isinstance(unembedded, int):
                raise ValueError(f"not a count: {unembedded!r}")
            return cls(items, _day(data.get("since")), _day(data.get("until")), last_seq,
                       unembedded)  # fmt: skip
        except (KeyError, TypeError) as e:
            raise ValueError(f"not a digest plan: {e}") from None


def _item_from_json(data: Mapping[str, Any]) -> Item:
    seq, why, section = data["seq"], data["why"], data["section"]
    if not (isinstance(seq, int) and isinstance(why, str) and section in SECTIONS):
        raise ValueError(f"not a digest item: {data!r}")
    return Item(seq, why, section)


def _day(value: object) -> date | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"not a day: {value!r}")
    return date.fromisoformat(value)


# -- the why-lines ------------------------------------------------------------------------------


def search_why(topic: str) -> str:
    return f"matches your search '{collapse_space(topic)}'"


def category_why(category: str) -> str:
    return f"in {category}"


def library_why(title: str) -> str:
    return f"similar to '{shorten(collapse_space(title), TITLE_CHARS)}' in your library"


def trending_why(row: TrendingRow, signals: Mapping[str, float], span: str = "week") -> str:
    """Why a trending paper is there: its largest part of the score, with a count where one is
    known (the latest Hugging Face upvotes or GitHub stars); freshness alone says so."""
    lead = f"trending {SPAN_WORDS.get(span, '')}".strip()
    parts = {name: value for name, value in row.parts.items() if name != "prior" and value > 0}
    if not parts:
        return f"{lead}: one of the newest papers"
    name = max(sorted(parts), key=lambda n: parts[n])
    count = signals.get(name)
    if name == "hf_upvotes":
        said = f"{_count(count, 'upvote')} on Hugging Face" if count else "upvoted on Hugging Face"
    elif name == "github_stars":
        said = f"its code has {_count(count, 'star')} on GitHub" if count else (
            "its code is gaining stars on GitHub")  # fmt: skip
    else:
        said = READER_WHY.get(name, name.replace("_", " "))
    return f"{lead}: {said}"


def _count(value: float | None, noun: str) -> str:
    n = round(value or 0)
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


# -- the composer -------------------------------------------------------------------------------


@dataclass(slots=True)
class _Window:
    """The new papers of listing days `since`..`until` (in a store of undated papers: the
    newest stored after row `last_seq` of the last digest, `since`/`until` None) and what was
    worked out about them."""

    since: date | None
    until: date | None
    days: Mapping[int, tuple[date | None, str | None]]
    seqs: list[int] = field(default_factory=list)
    papers: Within | None = None  # the seqs prepared for the engine's search_within
    searches: dict[str, list[tuple[int, float]]] = field(default_factory=dict)
    by_category: dict[str, list[tuple[_Key, int]]] | None = None  # term -> (key, seq)


class _Seen:
    """Which papers one subscriber must not get: held by an earlier digest (`sent_seqs`), or
    hidden or saved by the user with the same address. Asked in batches, remembered."""

    def __init__(self, store: Store, subscriber_id: int, user: User | None) -> None:
        self.store, self.subscriber_id, self.user = store, subscriber_id, user
        self.blocked: dict[int, bool] = {}

    def prefetch(self, seqs: Iterable[int]) -> None:
        todo = sorted({s for s in seqs if s not in self.blocked})
        if not todo:
            return
        bad = self.store.sent_seqs(self.subscriber_id, todo)
        if self.user is not None:
            reactions = self.store.get_reactions(self.user.id, todo)
            bad |= {s for s, kinds in reactions.items() if kinds & {"hide", "save"}}
        self.blocked.update((s, s in bad) for s in todo)


class Composer:
    """Plans digests for many subscribers as of `today` (see the module docstring). `engine`
    None: no saved-search or library matching (categories and trending still work); an engine
    without an embedder, or papers without vectors: keyword matching only, no library."""

    def __init__(
        self,
        store: Store,
        engine: SearchEngine | None,
        today: date,
        *,
        trending_span: str = "week",
        now: float | None = None,
    ) -> None:
        self.store, self.engine, self.today = store, engine, today
        self.trending_span = trending_span
        self.newest = store.latest_day(today)
        self._windows: dict[tuple[date | None, date | int | None], _Window] = {}
        self._undated_seqs: list[int] | None = None  # undated store: the newest stored rows
        self._within = WithinSearch(engine) if engine is not None else None
        self._whys: dict[str, str] = {}
        self._trending: list[Item] | None = None
        self._scores: dict[int, float] | None = None
        self._background: Background | None = None  # the recommender's, built once per pass
        self.now = now if now is not None else _end_of(today)

    # -- the window of new papers ---------------------------------------------------------

    def window(self, sub: Subscriber) -> tuple[date, date] | None:
        """The listing days whose papers are new to `sub`: the day after its last digest's
        (at most MAX_WINDOW_DAYS back) up to the newest day; for a first digest, the newest
        day (daily) or week (weekly). None when nothing is new."""
        until = self.newest
        if until is None:
            return None
        if sub.last_day is not None:
            since = sub.last_day + timedelta(days=1)
        else:
            since = until - timedelta(days=6 if sub.prefs.frequency == "weekly" else 0)
        since = max(since, until - timedelta(days=MAX_WINDOW_DAYS - 1))
        return (since, until) if since <= until else None

    def _window(self, since: date, until: date) -> _Window:
        key = (since, until)
        if key not in self._windows:
            days = self.store.list_day_of(since, until)
            self._windows[key] = _Window(since, until, days, sorted(days))
        return self._windows[key]

    def _undated(self, after: int | None) -> _Window | None:
        """A store of undated papers: the newest UNDATED_MAX stored papers after row `after`
        (all of them for a first digest)."""
        if self._undated_seqs is None:
            listed = self.store.list_newest(limit=UNDATED_MAX)
            self._undated_seqs = sorted(item.seq for item in listed)
        seqs = [s for s in self._undated_seqs if after is None or s > after]
        if not seqs:
            return None
        key = (None, after)
        if key not in self._windows:
            self._windows[key] = _Window(None, None, dict.fromkeys(seqs, (None, None)), seqs)
        return self._windows[key]

    def _new_papers(self, sub: Subscriber) -> _Window | None:
        if self.newest is None:
            return self._undated(sub.last_seq)
        span = self.window(sub)
        return self._window(*span) if span else None

    # -- composing --------------------------------------------------------------------------

    def prepare(self, subs: Iterable[Subscriber]) -> None:
        """Work out up front what `compose` would on first use for these subscribers: each
        window's papers and vectors, each distinct saved search's matches, the category lists,
        the trending pool. Optional (compose does the same lazily), but it puts the shared cost
        in one place, where it can be timed, and matches each window's searches in one batch
        (the engine's search_within_many: the searches are embedded in batches)."""
        todo: dict[tuple[int, str], _Window] = {}  # each distinct (window, search) once
        for sub in subs:
            window = self._new_papers(sub)
            if window is not None:
                todo.update(((id(window), topic), window) for topic in sub.prefs.topics)
                if sub.prefs.categories and window.by_category is None:
                    window.by_category = self._category_index(window)
            if sub.prefs.include_trending:
                self.trending_pool()
        topics: dict[int, tuple[_Window, list[str]]] = {}  # window -> its searches
        for (key, topic), window in todo.items():
            topics.setdefault(key, (window, []))[1].append(topic)
        for window, window_topics in topics.values():
            papers = self._papers(window)
            if papers is None:
                continue
            fresh = [t for t in window_topics if t not in window.searches]
            found = papers.session.search_many(
                fresh, papers, k=SEARCH_DEPTH, min_cosine=QUERY_MIN_COSINE
            )
            for topic, ranked in zip(fresh, found, strict=True):
                same = collapse_space(topic)  # one list per distinct search, as `search` keeps
                window.searches[topic] = window.searches.setdefault(same, ranked)

    @property
    def _query_vectors(self) -> dict[str, Vectors]:
        """The saved searches' embeddings computed so far (by the text embedded)."""
        return self._within.query_vectors if self._within is not None else {}

    def compose(self, sub: Subscriber) -> DigestPlan:
        """At most `max_papers` papers `sub` has not had, in sections: saved-search matches,
        papers like the library's, category matches (picked after the library: a broad
        category would crowd out everything personal), then trending papers, which take at
        most a third of the places unless nothing else is there. Deterministic."""
        window = self._new_papers(sub)
        user = (
            self.store.get_user(sub.user_id)
            if sub.user_id is not None
            else self.store.get_user_by_email(sub.email)
        )
        limit = max(sub.prefs.max_papers, 0)
        seen = _Seen(self.store, sub.id, user)
        searches = self._search_items(window, sub.prefs.topics) if window else iter(())
        head = list(itertools.islice(searches, 2 * limit + 8))
        trending = self.trending_pool() if sub.prefs.include_trending else []
        seen.prefetch([i.seq for i in head] + [i.seq for i in trending])
        taken: set[int] = set()
        picked = _take(itertools.chain(head, searches), limit, taken, seen)
        if window is not None and user is not None and len(picked) < limit:
            liked = self._library_items(window, user)
            picked += _take(liked, limit - len(picked), taken, seen)
        if window is not None and sub.prefs.categories and len(picked) < limit:
            more = self._category_items(window, sub.prefs.categories)
            picked += _take(more, limit - len(picked), taken, seen)
        room = limit - len(picked)
        cap = min(room, max(1, limit // 3)) if picked else room
        picked += _take(trending, cap, taken, seen)
        items = sorted(picked, key=lambda i: SECTIONS.index(i.section))  # stable: keeps ranks
        if window is None:
            return DigestPlan(tuple(items), None, None)
        last_seq = window.seqs[-1] if window.until is None else None
        return DigestPlan(tuple(items), window.since, window.until, last_seq,
                          self.unembedded(window))  # fmt: skip

    def unembedded(self, window: _Window) -> int:
        """How many of the window's papers have no vector yet (0 without an embedder: then
        nothing is matched by meaning and nothing is waited for)."""
        papers = self._papers(window)
        return papers.unembedded() if papers is not None else 0

    # -- saved searches ---------------------------------------------------------------------

    def _search_items(self, window: _Window, topics: Sequence[str]) -> Iterator[Item]:
        """The saved searches' matches taken in turns: every search's best match, then every
        search's second, and so on (by fused score within a turn), so that one broad search
        cannot crowd out a narrow one. A paper matching several searches comes at its first
        place and names that search. Lazy: most digests need the first few turns only."""
        ranked = [self.search(window, topic) for topic in topics]
        whys = [self._whys.get(t) or self._whys.setdefault(t, search_why(t)) for t in topics]
        given: set[int] = set()
        for rank in range(max(map(len, ranked), default=0)):
            turn = sorted((-r[rank][1], t, r[rank][0]) for t, r in enumerate(ranked)
                          if rank < len(r))  # fmt: skip
            for _, t, seq in turn:
                if seq not in given:
                    given.add(seq)
                    yield Item(seq, whys[t], "topics")

    def search(self, window: _Window, topic: str) -> list[tuple[int, float]]:
        """(seq, fused score) of the window's papers matching one saved search, best first."""
        if topic in window.searches:
            return window.searches[topic]
        key = collapse_space(topic)
        if key not in window.searches:
            papers = self._papers(window)
            window.searches[key] = (
                papers.session.search(key, papers, k=SEARCH_DEPTH, min_cosine=QUERY_MIN_COSINE)
                if papers is not None
                else []
            )
        window.searches[topic] = window.searches[key]
        return window.searches[key]

    def _papers(self, window: _Window) -> Within | None:
        """The window's papers prepared for the engine's search_within (None without one)."""
        if self._within is None or not window.seqs:
            return None
        if window.papers is None:
            window.papers = self._within.papers(window.seqs)
        return window.papers

    def _matrix(self, window: _Window) -> tuple[Vectors | None, np.ndarray | None]:
        """The window's stored vectors (loaded once); None without an embedder or vectors."""
        papers = self._papers(window)
        found = papers.vectors() if papers is not None else None
        return found if found is not None else (None, None)

    # -- library ----------------------------------------------------------------------------

    def _library_items(self, window: _Window, user: User) -> list[Item]:
        """Window papers in the order the reader's model ranks them (users/foryou.py, the
        recommender the For-you page, its feed and the channels use too: fitted on saves and
        upvotes, "not interested" demoted), only those with cosine >= LIBRARY_MIN_COSINE to
        one of the library's papers, each naming that paper."""
        matrix, seqs = self._matrix(window)
        if matrix is None or seqs is None:
            return []
        assert self.engine is not None and self.engine.embedder is not None
        embedder = self.engine.embedder
        if self._background is None:
            self._background = foryou.load_background(self.store, embedder.name, embedder.dim)
        recs = foryou.recommend(
            self.store, embedder.name, embedder.dim, user, foryou.Candidates(seqs, matrix),
            now=self.now, limit=len(seqs),
            background=self._background, min_similarity=LIBRARY_MIN_COSINE, searches=(),
        )  # fmt: skip
        return [Item(r.seq, library_why(r.because.label), "library") for r in recs]

    # -- categories -------------------------------------------------------------------------

    def _category_items(self, window: _Window, categories: Sequence[str]) -> Iterator[Item]:
        """The window's papers in any of `categories` (an archive such as 'cs' covers cs.*),
        highest trending score first; each names the first of the subscriber's categories it
        is in. Lazy: a broad category can hold thousands of papers a day."""
        if window.by_category is None:
            window.by_category = self._category_index(window)
        lists = [_tagged(window.by_category.get(c.lower(), []), rank)
                 for rank, c in enumerate(categories)]  # fmt: skip
        last = None
        for _, seq, rank in heapq.merge(*lists):
            if seq != last:
                yield Item(seq, category_why(categories[rank]), "topics")
            last = seq

    def _category_index(self, window: _Window) -> dict[str, list[tuple[_Key, int]]]:
        scores = self._category_scores()
        papers = self.store.get_papers_by_seq(window.seqs)
        index: dict[str, list[tuple[_Key, int]]] = {}
        for seq, paper in papers.items():
            day = window.days[seq][0]
            key = (-scores.get(seq, 0.0), -day.toordinal() if day else 0, -seq)
            for term in category_terms(paper.categories):
                index.setdefault(term, []).append((key, seq))
        for entries in index.values():
            entries.sort()
        return index

    def _category_scores(self) -> dict[int, float]:
        if self._scores is None:
            rows = self.store.list_trending(self.trending_span, limit=CATEGORY_SCORE_ROWS)
            self._scores = {r.seq: r.score for r in rows}
        return self._scores

    # -- trending ---------------------------------------------------------------------------

    def trending_pool(self) -> list[Item]:
        """The top TRENDING_POOL papers of the span as the trending page lists them (in a store
        of undated papers: those with engagement, then the newest), each with its why-line.
        Read once."""
        if self._trending is None:
            span = self.trending_span
            page = ranking.list_page(self.store, span, limit=TRENDING_POOL, offset=0)
            self._trending = [Item(r.row.seq, trending_why(r.row, r.listed.signals, span),
                                   "trending") for r in page]  # fmt: skip
        return self._trending


def _end_of(day: date) -> float:
    """The last instant of `day` (UTC) in seconds since 1970: the time saves are aged to."""
    return datetime.combine(day, time.max, UTC).timestamp()


def _tagged(entries: Iterable[tuple[_Key, int]], rank: int) -> Iterator[tuple[_Key, int, int]]:
    for key, seq in entries:
        yield key, seq, rank


def _take(items: Iterable[Item], limit: int, taken: set[int], seen: _Seen) -> list[Item]:
    """Up to `limit` items, in order, skipping papers already taken or blocked for this
    subscriber; asks the store about them a chunk at a time."""
    out: list[Item] = []
    stream = iter(items)
    while len(out) < limit:
        chunk = list(itertools.islice(stream, 2 * limit + 8))
        if not chunk:
            break
        seen.prefetch(i.seq for i in chunk if i.seq not in taken)
        for item in chunk:
            if item.seq not in taken and not seen.blocked[item.seq]:
                out.append(item)
                taken.add(item.seq)
                if len(out) == limit:
                    break
    return out
