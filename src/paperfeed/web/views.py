"""View functions: a request's parameters in, one plain dict out.

Every page has a JSON twin because both are rendered from the same dict: the HTML template
receives it as `view`, the `.json` route returns it as is. Nothing here knows about HTTP; bad
parameters raise `QueryError` / `NotFound`, which the app turns into one error shape.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode

from markupsafe import Markup

from paperfeed.errors import NotFound, QueryError
from paperfeed.models import FIRST_DAY, LAST_DAY, Paper, paper_json, parse_arxiv_id
from paperfeed.rank import trending
from paperfeed.search import highlight
from paperfeed.search.engine import Hit, Results, SearchEngine
from paperfeed.search.query import (
    FILTER_WORDS,
    MODES,
    Filters,
    SearchRequest,
    empty_message,
    filter_words,
    total_text,
)
from paperfeed.store import Listed
from paperfeed.users.bibtex import format_bibtex
from paperfeed.web import mathtext
from paperfeed.web.clean import web_url

PAGE_SIZE = 20
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")  # (fromisoformat takes 20240131 and 2024-W05-3)
MAX_PAGE = 50
MAX_QUERY = 500


def int_param(params: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
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


def day_param(params: Mapping[str, str], name: str) -> date | None:
    text = params.get(name, "").strip()
    if not text:
        return None
    try:
        day = date.fromisoformat(text) if _DAY.fullmatch(text) else None
    except ValueError:
        day = None
    if day is None:
        raise QueryError(f"{name} must be a date like 2024-01-31, not {text!r}.")
    if not FIRST_DAY <= day <= LAST_DAY:
        raise QueryError(f"{name} must be a day from {FIRST_DAY} to {LAST_DAY}, not {text!r}.")
    return day


FLAGS = {"1": True, "true": True, "on": True, "0": False, "false": False, "": False}


def flag_param(params: Mapping[str, str], name: str) -> bool:
    """A yes/no parameter: 1, true or on (a ticked checkbox) for yes; 0, false or none for no."""
    text = params.get(name, "").strip()
    if text not in FLAGS:
        raise QueryError(f"{name} must be 1 or 0, not {text!r}.")
    return FLAGS[text]


def check_year(year: int, name: str, text: str) -> None:
    """A week's or month's year, in the range of days a request may name (models.FIRST_DAY)."""
    if not FIRST_DAY.year <= year <= LAST_DAY.year:
        raise QueryError(f"{name} must fall in the years {FIRST_DAY.year} to {LAST_DAY.year}, "
                         f"not {text!r}.")  # fmt: skip


def _next_page(page: int, shown: int, size: int = PAGE_SIZE, total: int | None = None
               ) -> int | None:  # fmt: skip
    """The next page's number when this one was full and paging may go on (not past `total`
    results, when that is known)."""
    more = shown == size and (total is None or page * size < total)
    return page + 1 if more and page < MAX_PAGE else None


def query_terms(text: str) -> list[str]:
    """The words and phrases a result should show highlighted (search/highlight.py)."""
    return highlight.terms(text)


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
    page = int_param(params, "page", 1, 1, MAX_PAGE)
    limit = int_param(params, "limit", PAGE_SIZE, 1, 100)
    category = params.get("category", "").strip()
    filters = Filters(
        categories=tuple(category.split()) if category else (),
        author=params.get("author", "").strip() or None,
        since=day_param(params, "since"),
        until=day_param(params, "until"),
    )
    has_code = flag_param(params, "has_code")
    request = SearchRequest(text=text, filters=filters, limit=limit, offset=(page - 1) * limit,
                            mode=mode)  # type: ignore[arg-type]  # fmt: skip
    searched = text.strip() or not filters.is_empty
    results = engine.results(request) if searched else Results([], 0, True)
    found = results.hits
    hits = [h for h in found if h.paper.code_url] if has_code else found
    # has_code is checked on the page's papers only, so the size of the whole result is unknown
    total = None if has_code else results.total
    terms = query_terms(text)
    shown = {
        "category": category,
        "author": filters.author or "",
        "since": params.get("since", ""),
        "until": params.get("until", ""),
        "has_code": has_code,
    }
    view = {
        "query": text,
        "mode": mode,
        "filters": shown,
        "page": page,
        "limit": limit,
        "next_page": _next_page(page, len(hits), limit, total if results.exact else None),
        "total": total,
        "total_exact": results.exact,
        "total_text": total_text(total, results.exact) if searched else "",
        "papers": [_hit_json(h, terms) for h in hits],
        "empty_reason": None,
    }
    if not hits and page == 1 and (text.strip() or not filters.is_empty):
        unfiltered: tuple[int, bool] | None = None
        if text.strip() and (has_code or not filters.is_empty):
            alone = results if filters.is_empty else engine.results(
                SearchRequest(text=text, limit=limit, mode=mode))  # type: ignore[arg-type]  # fmt: skip
            unfiltered = (alone.total, alone.exact)
        view["empty_reason"] = empty_reason(text, mode, shown, filters, unfiltered)
    return view


_FILTER_PARAMS = ("category", "author", "since", "until")  # the search form's filters


def _search_link(query: str, mode: str, shown: Mapping[str, Any], drop: str | None) -> str:
    """The same search (first page) without the filter `drop`, or without any when "all"."""
    params: dict[str, str] = {"q": query, "mode": mode}
    for name in _FILTER_PARAMS:
        if shown[name] and drop not in (name, "all"):
            params[name] = str(shown[name])
    if shown["has_code"] and drop not in ("has_code", "all"):
        params["has_code"] = "1"
    return "/search?" + urlencode(params)


def empty_reason(query: str, mode: str, shown: Mapping[str, Any], filters: Filters,
                 unfiltered: tuple[int, bool] | None) -> dict[str, Any]:  # fmt: skip
    """Why a first page is empty, in one sentence: the filters that removed everything (with a
    link to the same search without each of them), or the words themselves. `unfiltered` is
    how many papers the words alone find, and whether that count is exact (None: not asked, as
    when there are no filters, or no words). `shown` holds the parameters as given, `filters`
    the same read (has_code is only in `shown`)."""
    code = [("has_code", FILTER_WORDS["has_code"])] if shown["has_code"] else []
    named = [*filter_words(filters), *code]
    dropped = [
        {"filter": name, "value": shown[name], "text": text,
         "search_without": _search_link(query, mode, shown, name)}
        for name, text in named
    ]  # fmt: skip
    return {
        "message": empty_message(query, [text for _, text in named], unfiltered),
        "filters": dropped,
        "without_filters": unfiltered[0] if unfiltered else None,
        "search_without_filters": _search_link(query, mode, shown, "all") if named else None,
    }


WINDOWS = trending.WINDOWS
TODAY_ON_HOME = 5


def listed_json(item: Listed) -> dict[str, Any]:
    return {**paper_json(item.paper), "day": item.day.isoformat() if item.day else None,
            "signals": dict(item.signals)}  # fmt: skip


def formula() -> dict[str, Any]:
    """The weights and half-lives in force, shown beside every ranking."""
    rules = {name: {"weight": r.weight, "half_life_h": r.half_life_h, "why": r.why}
             for name, r in trending.RULES.items()}  # fmt: skip
    prior = trending.PRIOR
    return {"signals": rules, "prior": {"weight": prior.weight, "half_life_h": prior.half_life_h,
                                        "why": prior.why}}  # fmt: skip


def trending_view(engine: SearchEngine, params: Mapping[str, str], today: date) -> dict[str, Any]:
    """The window's papers by trending score (see rank/trending.py), with each score's parts."""
    window = params.get("window", "") or "week"
    if window not in WINDOWS:
        raise QueryError(f"window must be one of {', '.join(WINDOWS)}.")
    page = int_param(params, "page", 1, 1, MAX_PAGE)
    state = engine.store.get_trending_state(window)
    ranked = trending.list_page(engine.store, window, limit=PAGE_SIZE,
                                offset=(page - 1) * PAGE_SIZE)  # fmt: skip
    first = (page - 1) * PAGE_SIZE + 1
    papers = [{**trending.ranked_json(x), "rank": first + i} for i, x in enumerate(ranked)]
    return {
        "window": window,
        "since": state.since.isoformat() if state and state.since else None,
        "until": state.until.isoformat() if state and state.until else None,
        "computed_at": _stamp(state.computed_at) if state else None,
        "ranked_by": "trending score: prior + sum of weight * decayed engagement",
        "formula": formula(),
        "page": page,
        "next_page": _next_page(page, len(papers)),
        "papers": papers,
    }


def _stamp(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds")


def day_view(engine: SearchEngine, params: Mapping[str, str], today: date) -> dict[str, Any]:
    """The papers of one day (`date`, or the latest day with papers), newest first."""
    page = int_param(params, "page", 1, 1, MAX_PAGE)
    day = day_param(params, "date") or engine.store.latest_day(today)
    papers = []
    if day is not None:
        listed = engine.store.list_days(day, day, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
        papers = [listed_json(x) for x in listed]
    earlier = engine.store.latest_day(day - timedelta(days=1)) if day else None
    return {
        "date": day.isoformat() if day else None,
        "earlier": earlier.isoformat() if earlier else None,
        "page": page,
        "next_page": _next_page(page, len(papers)),
        "papers": papers,
    }


def home_view(engine: SearchEngine, params: Mapping[str, str], today: date) -> dict[str, Any]:
    """Today's papers (the first few, on the first page) and the trending list. A store of
    undated papers has no "today"; its trending list ranks every paper."""
    ranking = trending_view(engine, params, today)
    top_today = None
    if ranking["until"] is not None and ranking["page"] == 1:
        day = day_view(engine, {}, today)
        top_today = {**day, "papers": day["papers"][:TODAY_ON_HOME],
                     "more": len(day["papers"]) > TODAY_ON_HOME}  # fmt: skip
    return {"trending": ranking, "today": top_today, "undated": ranking["until"] is None}


def find_paper(engine: SearchEngine, ref: str) -> Paper:
    """The paper `ref` names (any id it is known by), or NotFound."""
    paper = engine.store.get_paper(ref)
    if paper is None:
        raise NotFound(f"No paper with id {ref!r}.")
    return paper


def paper_view(engine: SearchEngine, ref: str) -> dict[str, Any]:
    paper = find_paper(engine, ref)
    related: list[dict[str, Any]] = []
    if engine.embedder is not None:
        try:
            related = [_hit_json(h, []) for h in engine.related(paper.id, 8)]
        except (NotFound, QueryError):
            related = []  # not embedded yet
    return {"paper": paper_json(paper), "related": related, "bibtex": format_bibtex([paper]),
            "links": paper_links(paper)}  # fmt: skip


def paper_bibtex(engine: SearchEngine, ref: str) -> str:
    return format_bibtex([find_paper(engine, ref)])


def paper_links(paper: Paper) -> list[dict[str, str]]:
    """Where else to read a paper, each only when known: arXiv (or the source's own abstract
    page), the PDF, the code and the DOI. Pages show only http(s) ones (clean.web_url)."""
    parsed = parse_arxiv_id(paper.arxiv_id) if paper.arxiv_id else None
    arxiv = parsed[0] if parsed else None
    links = [
        ("arXiv", f"https://arxiv.org/abs/{arxiv}" if arxiv else None),
        ("abstract page", paper.url if not arxiv else None),
        ("PDF", paper.pdf_url or (f"https://arxiv.org/pdf/{arxiv}" if arxiv else None)),
        ("code", paper.code_url),
        ("DOI", f"https://doi.org/{quote(paper.doi, safe='/')}" if paper.doi else None),
    ]
    return [{"label": label, "url": url} for label, url in links if url and web_url(url)]


def search_title(view: dict[str, Any]) -> str:
    return f"paperfeed: search “{view['query']}”" if view["query"] else "paperfeed: search"


def trending_title(view: dict[str, Any]) -> str:
    return f"paperfeed: trending this {view['window']}"


def day_title(view: dict[str, Any]) -> str:
    return f"paperfeed: papers of {view['date']}" if view["date"] else "paperfeed: papers"


def rich_text(text: str, terms: Sequence[str] = ()) -> Markup:
    """Paper text as safe HTML: math as MathML, query terms marked (see web/mathtext.py)."""
    if not terms:
        return mathtext.render(text)
    return mathtext.render(text, lambda piece: highlight_spans(piece, list(terms)))


def highlight_spans(text: str, terms: list[str]) -> list[tuple[str, bool]]:
    """`text` cut into (piece, is_match) for the query terms: whole words by stem, phrases
    whole (search/highlight.py). The template escapes every piece; nothing here makes markup."""
    return highlight.spans(text, terms)
