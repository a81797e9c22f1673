"""The Hugging Face papers API, served from our store, so that existing clients
(`huggingface_hub.HfApi(endpoint=...)`, scripts written against huggingface.co) work against a
self-hosted paperfeed unchanged.

Shapes follow the real responses (see the recorded /api/daily_papers in the shared fixtures):
a paper object (`id`, `title`, `summary`, `authors[].name`, `publishedAt`, `upvotes`,
`githubRepo`, `githubStars`, `ai_keywords`, ...) and, for lists, an item wrapping it with the
day it was listed as its own `publishedAt`. Fields we cannot know (discussions, avatars,
submitters) are left out rather than made up. Errors keep paperfeed's one error shape.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

from paperfeed.errors import QueryError
from paperfeed.models import Paper
from paperfeed.search.engine import SearchEngine
from paperfeed.search.query import Mode, SearchRequest
from paperfeed.web.views import MAX_QUERY, check_year, day_param, find_paper, int_param

DAILY_LIMIT = 50
MAX_LIMIT = 100
SORTS = ("publishedAt", "trending")
_WEEK = re.compile(r"^([0-9]{4})-W([0-9]{2})$")
_MONTH = re.compile(r"^([0-9]{4})-([0-9]{2})$")


def _stamp(value: datetime | date | None) -> str | None:
    """The API's timestamps: ISO 8601 in UTC with milliseconds and a Z."""
    if value is None:
        return None
    if not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day, tzinfo=UTC)
    value = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def hf_paper(paper: Paper, signals: Mapping[str, float]) -> dict[str, Any]:
    """One paper in the API's paper shape."""
    out: dict[str, Any] = {
        "id": paper.arxiv_id or paper.id,
        "authors": [{"name": name, "hidden": False} for name in paper.authors],
        "publishedAt": _stamp(paper.published),
        "title": paper.title,
        "summary": paper.abstract,
        "upvotes": int(signals.get("hf_upvotes", 0)),
    }
    if paper.code_url and "github.com/" in paper.code_url:
        out["githubRepo"] = paper.code_url
    if "github_stars" in signals:
        out["githubStars"] = int(signals["github_stars"])
    keywords = paper.extra.get("ai_keywords")
    if isinstance(keywords, list):
        out["ai_keywords"] = [str(k) for k in keywords]
    return out


def hf_item(paper: Paper, signals: Mapping[str, float], listed: date | None) -> dict[str, Any]:
    """A list item: the paper, and the day it was listed (or first published)."""
    inner = hf_paper(paper, signals)
    return {
        "paper": inner,
        "publishedAt": _stamp(listed) if listed else inner["publishedAt"],
        "title": paper.title,
        "summary": paper.abstract,
        "numComments": int(signals.get("hf_comments", 0)),
    }


def paper_info(engine: SearchEngine, ref: str) -> dict[str, Any]:
    """GET /api/papers/{id}"""
    paper = find_paper(engine, ref)
    return hf_paper(paper, engine.store.latest_signals([paper.id]).get(paper.id, {}))


def search_answer(
    engine: SearchEngine, params: Mapping[str, str]
) -> tuple[list[dict[str, Any]], bool]:
    """GET /api/papers/search?q=&limit= : hybrid search (keyword where there is no model), and
    whether its ranking came from the engine's cache (the server says so in X-Search-Cache:
    what a load test counts its hit rate by)."""
    text = params.get("q", "")
    if len(text) > MAX_QUERY:
        raise QueryError(f"The query is longer than {MAX_QUERY} characters; shorten it.")
    limit = int_param(params, "limit", 20, 1, MAX_LIMIT)
    mode: Mode = "hybrid" if engine.embedder else "keyword"
    found = engine.results(SearchRequest(text=text, limit=limit, mode=mode))
    signals = engine.store.latest_signals([h.paper.id for h in found.hits])
    items = [hf_item(h.paper, signals.get(h.paper.id, {}), None) for h in found.hits]
    return items, found.cached


def _period(params: Mapping[str, str], engine: SearchEngine, today: date) -> tuple[date, date]:
    """The days asked for by `date`, else `week` (2025-W09), else `month` (2025-02); the latest
    day with papers when none is given. Each one given is checked, used or not."""
    day, week, month = day_param(params, "date"), _week(params), _month(params)
    if day:
        return day, day
    if week:
        return week, week + timedelta(days=6)
    if month:
        return month, month.replace(day=calendar.monthrange(month.year, month.month)[1])
    latest = engine.store.latest_day(today) or today
    return latest, latest


def _week(params: Mapping[str, str]) -> date | None:
    """The Monday of the `week` parameter (2025-W09), None when it is not given."""
    if not (week := params.get("week", "").strip()):
        return None
    m = _WEEK.match(week)
    if m:
        check_year(int(m[1]), "week", week)
    try:
        monday = date.fromisocalendar(int(m[1]), int(m[2]), 1) if m else None
    except ValueError:
        monday = None
    if monday is None:
        raise QueryError(f"week must look like 2025-W09, not {week!r}.")
    return monday


def _month(params: Mapping[str, str]) -> date | None:
    """The first day of the `month` parameter (2025-02), None when it is not given."""
    if not (month := params.get("month", "").strip()):
        return None
    m = _MONTH.match(month)
    if not m or not 1 <= int(m[2]) <= 12:
        raise QueryError(f"month must look like 2025-02, not {month!r}.")
    check_year(int(m[1]), "month", month)
    return date(int(m[1]), int(m[2]), 1)


# Hugging Face's `sort=trending` over any past day, week or month: by its upvotes, the one
# measure every period has (our own trending score ranks the current windows only).
TRENDING_SIGNAL = "hf_upvotes"


def daily_papers(
    engine: SearchEngine, params: Mapping[str, str], today: date
) -> list[dict[str, Any]]:
    """GET /api/daily_papers?date=|week=|month=&p=&limit=&sort=publishedAt|trending"""
    sort = params.get("sort", "") or "publishedAt"
    if sort not in SORTS:
        raise QueryError(f"sort must be one of {', '.join(SORTS)}.")
    limit = int_param(params, "limit", DAILY_LIMIT, 1, MAX_LIMIT)
    page = int_param(params, "p", 0, 0, 10_000)
    since, until = _period(params, engine, today)
    listed = engine.store.list_days(
        since, until, by_signal=TRENDING_SIGNAL if sort == "trending" else None,
        limit=limit, offset=page * limit,
    )  # fmt: skip
    return [hf_item(x.paper, x.signals, x.day) for x in listed]
