"""Parse Hugging Face `/api/daily_papers` responses into papers plus their community signals.

The daily list says which arXiv papers people featured on a given day and how they reacted
(upvotes, comments, linked code and its stars, AI keywords). This module turns one recorded
response into `DailyPaper` values, and those into what the store keeps (`daily_records`: papers,
"featured" announcements, signals), for the harvester and for `paperfeed ingest` of a saved
response alike. It must not fetch, store or rank anything; a malformed item is skipped with a
reason (never an exception), and only a response that is not a JSON list at all raises
`HfDailyError`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import orjson

from paperfeed.errors import PaperfeedError
from paperfeed.ingest.dates import parse_date
from paperfeed.ingest.records import RecordError, arxiv_paper, parse_each
from paperfeed.models import Paper, collapse_space, parse_arxiv_id
from paperfeed.store import Announcement, Signal

HF_DAILY_SOURCE = "hf-daily"


class HfDailyError(PaperfeedError):
    """The response is not a daily-papers list (not JSON, an error object, ...)."""


@dataclass(frozen=True, slots=True)
class DailyPaper:
    paper: Paper
    featured_on: date
    upvotes: int | None
    comments: int | None
    github_stars: int | None
    keywords: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class DailyPage:
    papers: tuple[DailyPaper, ...]
    skipped: tuple[str, ...]  # "item 3: no arXiv id" for each item left out


def parse_daily_papers(data: bytes | list[Any], day: date | None = None) -> list[DailyPaper]:
    """The papers of one response; `day` (the `date=` asked for) wins over the entries' dates."""
    return list(parse_daily_page(data, day).papers)


def parse_daily_page(data: bytes | list[Any], day: date | None = None) -> DailyPage:
    papers, skipped = parse_each(_load(data), lambda item: parse_daily_item(item, day), "item")
    return DailyPage(papers, skipped)


def is_daily_papers(items: list[Any]) -> bool:
    """Whether a JSON array read from a file is a saved `/api/daily_papers` response: its
    first item is an entry holding a `paper` object with an id (our own JSON has no `paper`)."""
    first = items[0] if items else None
    return (
        isinstance(first, dict) and isinstance(first.get("paper"), dict) and "id" in first["paper"]
    )


@dataclass(frozen=True, slots=True)
class DailyRecords:
    papers: list[Paper]
    announcements: list[Announcement]
    signals: list[Signal]


def daily_records(items: Iterable[DailyPaper]) -> DailyRecords:
    """What the store keeps of daily papers: each paper (its AI keywords in `extra`), a
    "featured" announcement on its day, and its upvotes, comments and GitHub stars as signals
    (measured totals; the store writes a value only when it changed)."""
    out = DailyRecords([], [], [])
    for item in items:
        paper = item.paper
        if item.keywords:
            paper = dataclasses.replace(
                paper, extra={**paper.extra, "ai_keywords": list(item.keywords)}
            )
        out.papers.append(paper)
        out.announcements.append(
            Announcement(paper.id, HF_DAILY_SOURCE, item.featured_on, "featured")
        )
        for name, value in (("hf_upvotes", item.upvotes), ("hf_comments", item.comments),
                            ("github_stars", item.github_stars)):  # fmt: skip
            if value is not None:
                out.signals.append(Signal(paper.id, name, float(value)))
    return out


def _load(data: bytes | list[Any]) -> list[Any]:
    if isinstance(data, bytes | bytearray | memoryview):
        try:
            data = orjson.loads(data)
        except orjson.JSONDecodeError as e:
            raise HfDailyError(f"The daily-papers response is not valid JSON ({e}).") from None
    if isinstance(data, dict):
        message = data.get("error")
        if isinstance(message, str):
            raise HfDailyError(f"Hugging Face answered with an error: {message}")
        data = [data]  # one paper object, as a paper page embeds it
    if not isinstance(data, list):
        raise HfDailyError(f"The daily-papers response is a {type(data).__name__}, not a list.")
    return data


def parse_daily_item(item: Any, day: date | None = None) -> DailyPaper:
    """One entry of the list (or a bare paper object); RecordError says why not."""
    if not isinstance(item, dict):
        raise RecordError(f"expected an object, got {type(item).__name__}")
    entry: Mapping[str, Any] = item
    paper = item.get("paper", item)
    if not isinstance(paper, dict):
        raise RecordError("field 'paper' is not an object")
    featured_on = day or _featured_day(entry, paper)
    github_repo = _str(paper, "githubRepo") or _str(entry, "githubRepo")
    return DailyPaper(
        paper=_paper(entry, paper, github_repo),
        featured_on=featured_on,
        upvotes=_count(paper, "upvotes"),
        comments=_count(entry if "numComments" in entry else paper, "numComments"),
        github_stars=_count(paper, "githubStars"),
        keywords=_keywords(paper.get("ai_keywords")),
    )


def _paper(entry: Mapping[str, Any], paper: Mapping[str, Any], github_repo: str) -> Paper:
    parsed = parse_arxiv_id(_str(paper, "id"))
    if parsed is None:
        raise RecordError(f"not an arXiv id: {paper.get('id')!r}")
    arxiv_id, version = parsed
    title = collapse_space(_str(paper, "title") or _str(entry, "title"))
    if not title:
        raise RecordError(f"{arxiv_id}: no title")
    extra = {k: v for k in ("ai_summary", "discussionId") if (v := _str(paper, k))}
    return arxiv_paper(
        arxiv_id,
        HF_DAILY_SOURCE,
        code_texts=(github_repo,),
        title=title,
        abstract=collapse_space(_str(paper, "summary")),
        authors=_authors(paper.get("authors")),
        published=_datetime(paper.get("publishedAt")),
        version=version,
        extra=extra,
    )


def _featured_day(entry: Mapping[str, Any], paper: Mapping[str, Any]) -> date:
    # A list entry's own publishedAt is when it was featured; a bare paper object (as a paper
    # page embeds it) carries submittedOnDailyAt instead, and its publishedAt is arXiv's.
    key = "publishedAt" if entry is not paper else "submittedOnDailyAt"
    when = _datetime(entry.get(key)) or _datetime(paper.get("submittedOnDailyAt"))
    if when is None:
        raise RecordError(f"no featured date for {paper.get('id')!r}")
    return when.date()


def _datetime(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        return parse_date(value)
    except ValueError:
        raise RecordError(f"unreadable date {value!r}") from None


def _str(obj: Mapping[str, Any], key: str) -> str:
    value = obj.get(key)
    return value if isinstance(value, str) else ""


def _count(obj: Mapping[str, Any], key: str) -> int | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise RecordError(f"field {key!r} is not a count: {value!r}")
    return value


def _authors(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list):
        return ()
    names = (collapse_space(a["name"]) for a in value if isinstance(a, dict) and _str(a, "name"))
    return tuple(n for n in names if n)


def _keywords(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list):
        return ()
    return tuple(
        dict.fromkeys(collapse_space(k) for k in value if isinstance(k, str) and k.strip())
    )
