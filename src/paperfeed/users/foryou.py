""" "For you": the one place that turns a reader's library into recommendations. The page
(/for-you), its JSON twin, the private Atom feed, the per-tag recommendations of /library and
the digest's library section all call `recommend`; the method itself is rank/recommend.py's
(`fit` a reader model, `score` candidates, `explain` by the nearest library paper).

What the reader's library says (kept simple; the method may weigh it differently):
- positives: saved papers and upvoted ones ("More like this" on the page is an upvote), the
  most recent `MAX_POSITIVES`; a paper both saved and upvoted counts twice. Each weighs
  `RECENT_FLOOR + (1 - RECENT_FLOOR) * 2^(-age / HALF_LIFE_DAYS)`: a save of last week counts
  about twice one of two years ago, and old saves never fall to nothing. With `tag`: only the
  saved papers with that tag (arxiv-sanity-lite's per-tag recommendations).
- negatives: "not interested" (the 'hide' reaction), demoted by similarity in the model.
- candidates never include a paper the reader saved, upvoted or hid.

Each recommendation says why, naming something of the reader's: the saved search of their
digest subscription that the paper matches (every word of it in the title or abstract), else
the library paper it is most like (by title), or with `tag` the tag and that paper. A reader
with no positives but followed arXiv categories (the cold start) gets the candidates in those
categories by trending score, each naming its category.

The Background (papers standing in for "not in this library") is built once per page or
digest pass (`load_background`): the newest BACKGROUND_PAPERS stored vectors.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from paperfeed.errors import InputError
from paperfeed.models import Paper, collapse_space, shorten
from paperfeed.rank.recommend import Background, explain, fit
from paperfeed.search.embed import from_blobs
from paperfeed.search.keyword import category_terms
from paperfeed.search.query import Filters, ParsedQuery, matches, parse_query
from paperfeed.store import Store, User

POSITIVE = frozenset({"save", "upvote"})  # the reactions that say "more like this"
MAX_POSITIVES = 200  # the most recent saves and upvotes a reader model is fitted on
HALF_LIFE_DAYS = 180.0
RECENT_FLOOR = 0.5
BACKGROUND_PAPERS = 4000  # as bench/eval_recommend.py measured (BACKGROUND_ROWS)
CATEGORY_SCORE_ROWS = 20_000  # trending rows read to rank a cold start's category papers
TITLE_CHARS = 90
MAX_CATEGORIES = 20
DAY_S = 86400.0
FEED_KEY_BYTES = 24  # 192 random bits, 32 URL-safe characters
_FEED_KEY = re.compile(r"[A-Za-z0-9_-]{32}")
_CATEGORY = re.compile(r"[a-z][a-z-]*(\.[A-Za-z][A-Za-z-]*)?")


@dataclass(frozen=True, slots=True)
class Reason:
    """What a recommendation is like: a library paper (`seq`, its title as `label`), a tag
    (with the tagged paper it is closest to), a saved search, or a followed category."""

    kind: str  # "paper" | "tag" | "search" | "category"
    label: str
    seq: int | None = None
    title: str | None = None  # the library paper a "tag" reason is closest to


@dataclass(frozen=True, slots=True)
class Recommendation:
    seq: int
    score: float  # the reader model's score (comparable within one call only)
    similarity: float  # cosine to the nearest positive (0 for category picks)
    because: Reason

    @property
    def why(self) -> str:
        r = self.because
        if r.kind == "search":
            return f"Matches your saved search “{r.label}”"
        if r.kind == "tag":
            like = shorten(collapse_space(r.title or ""), TITLE_CHARS)
            return f"Like your papers tagged “{r.label}”, most of all “{like}”"
        if r.kind == "category":
            return f"New in {r.label}, which you follow"
        return f"Like “{shorten(collapse_space(r.label), TITLE_CHARS)}” in your library"

    def as_json(self) -> dict[str, Any]:
        r = self.because
        because: dict[str, Any] = {"kind": r.kind, "label": r.label}
        if r.seq is not None:
            because["seq"] = r.seq
        return {"score": round(self.score, 4), "similarity": round(self.similarity, 4),
                "why": self.why, "because": because}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Candidates:
    """Papers that may be recommended, with their stored vectors (rows in `seqs` order);
    papers without a vector yet are left out of `seqs`."""

    seqs: npt.NDArray[np.int64]
    vectors: npt.NDArray[np.float32]

    @classmethod
    def load(cls, store: Store, model: str, dim: int, seqs: Sequence[int]) -> Candidates:
        blobs = store.get_vectors(model, list(seqs))
        have = [s for s in seqs if s in blobs]
        return cls(np.array(have, dtype=np.int64), from_blobs([blobs[s] for s in have], dim))


def load_background(store: Store, model: str, dim: int, size: int = BACKGROUND_PAPERS
                    ) -> Background:  # fmt: skip
    """The newest `size` stored papers' vectors: once per page or digest pass."""
    seqs = [item.seq for item in store.list_newest(limit=size)]
    blobs = store.get_vectors(model, seqs)
    vectors = from_blobs([blobs[s] for s in seqs if s in blobs], dim)
    return Background.of(vectors)


def parse_categories(text: str) -> list[str]:
    """arXiv categories from 'cs.LG cs.CL' or 'cs.LG, hep-th' (an archive such as 'math'
    covers all of it); InputError names the first that is not one."""
    found = list(dict.fromkeys(text.replace(",", " ").split()))
    for c in found:
        if len(c) > 40 or not _CATEGORY.fullmatch(c):
            raise InputError(f"{c[:40]!r} is not an arXiv category like cs.LG, math or hep-th.")
    if len(found) > MAX_CATEGORIES:
        raise InputError(f"At most {MAX_CATEGORIES} categories; remove some.")
    return found


def saved_searches(store: Store, user: User) -> tuple[str, ...]:
    """The saved searches of the digest subscription with the reader's address."""
    sub = store.get_subscriber_by_email(user.email)
    return sub.prefs.topics if sub is not None else ()


def has_library(store: Store, user: User) -> bool:
    """Whether the reader saved or upvoted anything (else: the cold start)."""
    return any(kinds.keys() & POSITIVE for kinds in store.list_reactions(user.id).values())


def recommend(
    store: Store,
    model: str,
    dim: int,
    user: User,
    candidates: Candidates | Sequence[int],
    *,
    now: float,
    limit: int,
    tag: str | None = None,
    background: Background | None = None,
    min_similarity: float | None = None,
    searches: Sequence[str] | None = None,
    categories: Sequence[str] | None = None,
) -> list[Recommendation]:
    """At most `limit` of `candidates` for `user`, best first (see the module docstring).
    `min_similarity`: only papers at least that similar (cosine) to a library paper, and no
    category picks (the digest's cut: it never pads with unrelated papers). `searches` and
    `categories` default to the reader's own (their digest's saved searches, the categories
    they follow)."""
    listed = [int(s) for s in (candidates.seqs if isinstance(candidates, Candidates)
                               else candidates)]  # fmt: skip
    if not isinstance(candidates, Candidates):
        candidates = Candidates.load(store, model, dim, listed)
    reactions = store.list_reactions(user.id)  # seq -> {kind: at}: no papers read
    mine = np.fromiter(reactions, np.int64, len(reactions))  # saved, upvoted or hidden
    if limit <= 0:
        return []
    liked = reactions if tag is None else store.list_reactions(user.id, tag=tag)
    wants = {"save"} if tag is not None else POSITIVE
    positives, weights, kept = _positives(store, model, dim, liked, wants, now)
    if not len(positives):  # the cold start: by followed category, vectors or not
        if min_similarity is not None or tag is not None:
            return []
        chosen = store.get_user_categories(user.id) if categories is None else categories
        return _by_category(store, [s for s in listed if s not in reactions], chosen, limit)
    keep = ~np.isin(candidates.seqs, mine)
    seqs, matrix = candidates.seqs[keep], candidates.vectors[keep]
    if min_similarity is not None:  # the digest's cut first: one product with the library
        nearest, cosine = explain(positives, matrix)
        above = cosine >= min_similarity
        seqs, matrix, nearest, cosine = seqs[above], matrix[above], nearest[above], cosine[above]
    if not len(seqs):
        return []
    hides = sorted((at["hide"], seq) for seq, at in reactions.items() if "hide" in at)
    negatives = _vectors(store, model, dim, [seq for _, seq in hides[-MAX_POSITIVES:]])
    bg = background if background is not None else Background.of(matrix)
    reader = fit(positives, bg, negatives=negatives if len(negatives) else None, weights=weights)
    scores = reader.score(matrix)
    order = np.lexsort((seqs, -scores))[:limit]
    if min_similarity is None:  # (only the shown papers are explained: the costly part)
        nearest, cosine = explain(positives, matrix[order])
    else:
        nearest, cosine = nearest[order], cosine[order]
    wanted = saved_searches(store, user) if searches is None else tuple(searches)
    found = store.get_papers_by_seq([int(seqs[i]) for i in order]) if wanted else {}
    titles = store.get_papers_by_seq(sorted({kept[int(n)] for n in nearest}))
    out = []
    for k, i in enumerate(order):
        seq, like = int(seqs[i]), kept[int(nearest[k])]
        title = titles[like].title if like in titles else ""
        search = _matching_search(found.get(seq), wanted)
        if search is not None:
            reason = Reason("search", search)
        elif tag is not None:
            reason = Reason("tag", tag, like, title)
        else:
            reason = Reason("paper", title, like)
        out.append(Recommendation(seq, float(scores[i]), float(cosine[k]), reason))
    return out


Matrix = npt.NDArray[np.float32]


def _positives(store: Store, model: str, dim: int, reactions: Mapping[int, Mapping[str, float]],
               kinds: Set[str], now: float) -> tuple[Matrix, Matrix, list[int]]:  # fmt: skip
    """The library papers with vectors (the most recent MAX_POSITIVES of those with one of
    `kinds`), their weights (one per save or upvote, by recency) and their row numbers."""
    recent = sorted(((max(at[k] for k in at.keys() & kinds), seq)
                     for seq, at in reactions.items() if at.keys() & kinds),
                    reverse=True)  # fmt: skip
    seqs = [seq for _, seq in recent[:MAX_POSITIVES]]
    blobs = store.get_vectors(model, seqs)
    kept = [s for s in seqs if s in blobs]
    weights = []
    for seq in kept:
        ages = [max(now - at, 0.0) / DAY_S for k, at in reactions[seq].items() if k in kinds]
        weights.append(sum(RECENT_FLOOR + (1 - RECENT_FLOOR) * 2 ** (-a / HALF_LIFE_DAYS)
                           for a in ages))  # fmt: skip
    vectors = from_blobs([blobs[s] for s in kept], dim)
    return vectors, np.array(weights, dtype=np.float32), kept


def _vectors(store: Store, model: str, dim: int, seqs: Sequence[int]) -> npt.NDArray[np.float32]:
    blobs = store.get_vectors(model, seqs)
    return from_blobs([blobs[s] for s in seqs if s in blobs], dim)


def _matching_search(paper: Paper | None, searches: Sequence[str]) -> str | None:
    """The first saved search whose every word and phrase is in the paper's text."""
    if paper is None:
        return None
    for search in searches:
        parsed = parse_query(collapse_space(search))
        if not (parsed.words or parsed.phrases):
            continue
        strict = ParsedQuery(phrases=parsed.phrases + parsed.words, excluded=parsed.excluded)
        if matches(paper, Filters(), strict):
            return collapse_space(search)
    return None


def _by_category(store: Store, seqs: Sequence[int], categories: Sequence[str], limit: int
                 ) -> list[Recommendation]:  # fmt: skip
    """The cold start: candidates in any followed category, highest trending score first
    (then newest), each naming the first of the reader's categories it is in."""
    if not categories:
        return []
    scores = {r.seq: r.score for r in store.list_trending("week", limit=CATEGORY_SCORE_ROWS)}
    papers = store.get_papers_by_seq(list(seqs))
    wanted = [c.lower() for c in categories]
    picked: list[tuple[float, int, str]] = []
    for seq, paper in papers.items():
        terms = category_terms(paper.categories)
        first = next((categories[k] for k, c in enumerate(wanted) if c in terms), None)
        if first is not None:
            picked.append((-scores.get(seq, 0.0), -seq, first))
    picked.sort()
    return [Recommendation(-neg_seq, -neg_score, 0.0, Reason("category", category))
            for neg_score, neg_seq, category in picked[:limit]]  # fmt: skip


def follow_categories(store: Store, user: User, text: str) -> list[str]:
    """Set the categories the reader follows from free text (see `parse_categories`)."""
    categories = parse_categories(text)
    store.set_user_categories(user.id, categories)
    return categories


def rotate_feed_key(store: Store, user: User) -> str:
    """A new random key for the reader's private feed; the old key's URL stops working."""
    key = secrets.token_urlsafe(FEED_KEY_BYTES)
    store.set_feed_key(user.id, key)
    return key


def is_feed_key(text: str) -> bool:
    """Whether `text` has the shape of a feed key (anything else is not looked up)."""
    return bool(_FEED_KEY.fullmatch(text))
