"""View functions: a request's parameters in, one plain dict out.

Every page has a JSON twin because both are rendered from the same dict: the HTML template
receives it as `view`, the `.json` route returns it as is. Nothing here knows about HTTP; bad
parameters raise `QueryError` / `NotFound`, which the app turns into one error shape.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from typing import Any

from paperfeed.errors import NotFound, QueryError
from paperfeed.models import paper_json
from paperfeed.search.engine import Hit, SearchEngine
from paperfeed.search.query import MODES, Filters, SearchRequest, parse_query

PAGE_SIZE = 20
MAX_PAGE = 50
MAX_QUERY = 500


def _int(params: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    text = params.get(name, "").strip()
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        raise QueryError(f"{name} must be a whole number, not {text!r}.") from None
    if not low <= value <= high:
        raise QueryError(f"{name} must be between {low} and {high}.")
    return value


def _day(params: Mapping[str, str], name: str) -> date | None:
    text = params.get(name, "").strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise QueryError(f"{name} must be a date like 2024-01-31, not {text!r}.") from None


def query_terms(text: str) -> list[str]:
    """The words and phrases a result should show highlighted."""
    parsed = parse_query(text)
    return [t for t in (*parsed.phrases, *parsed.words) if t.strip()]


def _hit_json(hit: Hit, terms: list[str]) -> dict[str, Any]:
    return {**paper_json(hit.paper), "score": round(hit.score, 4), "highlight": terms}


def search_view(engine: SearchEngine, params: Mapping[str, str]) -> dict[str, Any]:
    text = params.get("q", "")
    if len(text) > MAX_QUERY:
        raise QueryError(f"The query is longer than {MAX_QUERY} characters; shorten it.")
    mode = params.get("mode", "hybrid") or "hybrid"
    if mode not in MODES:
        raise QueryError(f"mode must be one of {', '.join(MODES)}.")
    if mode != "keyword" and engine.embedder is None:
        mode = "keyword"
    page = _int(params, "page", 1, 1, MAX_PAGE)
    limit = _int(params, "limit", PAGE_SIZE, 1, 100)
    category = params.get("category", "").strip()
    filters = Filters(
        categories=tuple(category.split()) if category else (),
        author=params.get("author", "").strip() or None,
        since=_day(params, "since"),
        until=_day(params, "until"),
    )
    has_code = params.get("has_code", "") in ("1", "true", "on")
    request = SearchRequest(text=text, filters=filters, limit=limit, offset=(page - 1) * limit,
                            mode=mode)  # type: ignore[arg-type]  # fmt: skip
    hits = engine.search(request) if text.strip() or not filters.is_empty else []
    if has_code:
        hits = [h for h in hits if h.paper.code_url]
    terms = query_terms(text)
    return {
        "query": text,
        "mode": mode,
        "filters": {
            "category": category,
            "author": filters.author or "",
            "since": params.get("since", ""),
            "until": params.get("until", ""),
            "has_code": has_code,
        },
        "page": page,
        "limit": limit,
        "next_page": page + 1 if len(hits) == limit and page < MAX_PAGE else None,
        "results": [_hit_json(h, terms) for h in hits],
    }


def home_view(engine: SearchEngine, params: Mapping[str, str]) -> dict[str, Any]:
    page = _int(params, "page", 1, 1, MAX_PAGE)
    hits = engine.search(SearchRequest(text="", limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE))
    return {
        "page": page,
        "next_page": page + 1 if len(hits) == PAGE_SIZE and page < MAX_PAGE else None,
        "newest": [paper_json(h.paper) for h in hits],
    }


def paper_view(engine: SearchEngine, ref: str) -> dict[str, Any]:
    paper = engine.store.get_paper(ref)
    if paper is None:
        raise NotFound(f"No paper with id {ref!r}.")
    related: list[dict[str, Any]] = []
    if engine.embedder is not None:
        try:
            related = [_hit_json(h, []) for h in engine.related(paper.id, 8)]
        except (NotFound, QueryError):
            related = []  # not embedded yet
    return {"paper": paper_json(paper), "related": related}


_SPLIT = re.compile(r"\s+")


def highlight_spans(text: str, terms: list[str]) -> list[tuple[str, bool]]:
    """`text` cut into (piece, is_match) for the query terms, case-insensitively, at word
    starts. The template escapes every piece; nothing here produces markup."""
    words = sorted({t for term in terms for t in [term.strip()] if t}, key=len, reverse=True)
    if not words or not text:
        return [(text, False)]
    pattern = re.compile(
        r"(?<!\w)(" + "|".join(re.escape(_SPLIT.sub(" ", w)) for w in words) + r")", re.I
    )
    pieces: list[tuple[str, bool]] = []
    last = 0
    for m in pattern.finditer(text):
        if m.start() > last:
            pieces.append((text[last : m.start()], False))
        pieces.append((m.group(0), True))
        last = m.end()
    if last < len(text):
        pieces.append((text[last:], False))
    return pieces
