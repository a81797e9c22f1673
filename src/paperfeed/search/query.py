"""What a user typed, read into words, quoted phrases and exclusions.

This is the only reader of user query syntax, and it is deliberately small: bare words,
"quoted phrases", -word and -"phrase". Everything else (`:`, `^`, `(`, `+`, `<`...) is plain
text that the tokenizer later splits or drops, so no user input can reach a query language.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import Literal

from paperfeed.models import Paper

_WORD = re.compile(r"\w+")


@dataclass(frozen=True, slots=True)
class ParsedQuery:
    words: tuple[str, ...] = ()  # bare words: should match, ranked by BM25
    phrases: tuple[str, ...] = ()  # "quoted": must match as a phrase
    excluded: tuple[str, ...] = ()  # -word or -"phrase": must not match

    @property
    def is_empty(self) -> bool:
        return not (self.words or self.phrases or self.excluded)


@dataclass(frozen=True, slots=True)
class Filters:
    categories: tuple[str, ...] = ()  # any of them ('cs.LG', or a whole archive: 'cs')
    author: str | None = None  # every word of it in one paper's author list
    since: date | None = None  # first published on or after
    until: date | None = None  # first published on or before

    @property
    def is_empty(self) -> bool:
        return not (self.categories or self.author or self.since or self.until)


# How a sentence names each filter of a search, by its parameter, in this order (has_code is the
# search page's, checked on a page's papers, not a Filters field).
FILTER_WORDS = {"category": "in {}", "author": "by {}", "since": "since {}", "until": "until {}",
                "has_code": "with code"}  # fmt: skip


def filter_words(filters: Filters) -> list[tuple[str, str]]:
    """Each filter set, by its parameter's name and in words as a sentence names it, in that
    order: ("category", "in cs.LG"), ("author", "by Ann Lee"), ("since", "since 2024-01-01")."""
    values = {"category": " ".join(filters.categories), "author": (filters.author or "").strip(),
              "since": filters.since.isoformat() if filters.since else "",
              "until": filters.until.isoformat() if filters.until else ""}  # fmt: skip
    return [(name, FILTER_WORDS[name].format(value)) for name, value in values.items() if value]


def total_text(total: int | None, exact: bool) -> str:
    """ "1 result", "1,234 results", "100 or more results"; empty when unknown."""
    if total is None:
        return ""
    words = f"{total:,} result" + ("" if total == 1 else "s")
    return words if exact else f"{total:,} or more results"


def empty_message(query: str, filters: list[str], unfiltered: tuple[int, bool] | None) -> str:
    """Why a search found nothing, in one sentence: the filters (in words, from `filter_words`) that
    removed everything, or the words themselves. `unfiltered`: how many papers the words alone
    find and whether that count is exact (None: not asked)."""
    where = "".join(f" {f}" for f in filters)
    words = f" match “{query.strip()}”" if query.strip() else ""
    if not filters:
        return f"No papers match “{query.strip()}”; try fewer or different words."
    if not words:
        return f"No papers{where}; try removing a filter."
    if unfiltered and unfiltered[0]:
        count, exact = unfiltered
        more = "" if exact else " or more"
        found = "1 paper matches" if count == 1 and exact else f"{count:,}{more} papers match"
        return f"No papers{where}{words}; without the filters, {found}."
    return (f"No papers{where}{words}, and none match without the filters either; "
            "try fewer or different words.")  # fmt: skip


def _words(text: str) -> str:
    return " " + " ".join(_WORD.findall(text.lower())) + " "


def matches(paper: Paper, filters: Filters, parsed: ParsedQuery | None = None) -> bool:
    """The keyword index's filters, phrases and exclusions, checked on one paper in Python:
    for candidates that came from the vector index. Phrases match as whole words in order."""
    if filters.categories:
        wanted = {c.lower() for c in filters.categories}
        have = {c.lower() for c in paper.categories} | {
            c.lower().split(".")[0] for c in paper.categories
        }
        if not wanted & have:
            return False
    if filters.author:
        names = _words(" ".join(paper.authors))
        if not all(f" {w} " in names for w in _words(filters.author).split()):
            return False
    if filters.since or filters.until:
        day = paper.published.date() if paper.published else None
        if day is None or (filters.since and day < filters.since):
            return False
        if filters.until and day > filters.until:
            return False
    if parsed and (parsed.phrases or parsed.excluded):
        text = _words(paper.title + " " + paper.abstract)
        if not all(_words(p) in text for p in parsed.phrases):
            return False
        if any(_words(x) in text for x in parsed.excluded):
            return False
    return True


Mode = Literal["keyword", "semantic", "hybrid"]
MODES: tuple[Mode, ...] = ("keyword", "semantic", "hybrid")


@dataclass(frozen=True, slots=True)
class SearchRequest:
    text: str
    filters: Filters = field(default_factory=Filters)
    limit: int = 20
    offset: int = 0
    mode: Mode = "keyword"


def _read_quoted(text: str, start: int) -> tuple[str, int]:
    """Text from after the quote at `start` to the closing quote (or the end)."""
    end = text.find('"', start + 1)
    if end == -1:
        return text[start + 1 :], len(text)
    return text[start + 1 : end], end + 1


def _read_word(text: str, start: int) -> tuple[str, int]:
    end = start
    while end < len(text) and not text[end].isspace() and text[end] != '"':
        end += 1
    return text[start:end], end


def parse_query(text: str) -> ParsedQuery:
    words: list[str] = []
    phrases: list[str] = []
    excluded: list[str] = []
    i = 0
    while i < len(text):
        if text[i].isspace():
            i += 1
            continue
        negate = text[i] == "-" and i + 1 < len(text) and not text[i + 1].isspace()
        start = i + 1 if negate else i
        if text[start] == '"':
            chunk, i = _read_quoted(text, start)
            closed = text[i - 1 : i] == '"' and i - 1 > start
            target = excluded if negate else (phrases if closed else words)
            if not closed and not negate:
                words.extend(chunk.split())  # an unbalanced quote is just words
                continue
        else:
            chunk, i = _read_word(text, start)
            target = excluded if negate else words
        if chunk.strip():
            target.append(chunk.strip())
    return ParsedQuery(tuple(words), tuple(phrases), tuple(excluded))
