"""A digest plan made into an email: subject, plain-text part and HTML part.

Nothing from a paper or a subscriber is trusted. The HTML part is a Jinja2 template with
autoescape on; the plain-text part is cleaned instead: control characters (a raw ESC, CR or
NUL in an abstract), bidirectional overrides and line separators are removed and whitespace is
collapsed before the text is wrapped, so a title cannot forge lines of the message. LaTeX is
shown as its source text. The subject holds only counts and a date, never user-provided text.
Links come from the caller (`Links`), which puts the click token in; this module signs nothing
and must not import from `paperfeed.web`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape

from paperfeed.digest.compose import SECTIONS, DigestPlan, Item
from paperfeed.models import Paper, shorten
from paperfeed.store import Subscriber

HERE = Path(__file__).resolve().parent
WIDTH = 72  # plain-text lines, URLs excepted (each on its own line)
SNIPPET_CHARS = 300
MAX_AUTHORS = 3
SECTION_TITLES = {
    "topics": "Matching your searches and categories",
    "library": "Like papers in your library",
    "trending": "Trending",
}
# C0 and C1 controls, DEL, line/paragraph separators and bidirectional embeddings, overrides
# and isolates: none belongs in a title, and each can forge or reorder lines.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]")


@dataclass(frozen=True, slots=True)
class Links:
    paper: Callable[[Paper], str]  # the tracked link to a paper (click token inside)
    preferences: str
    unsubscribe: str
    site: str  # base url


@dataclass(frozen=True, slots=True)
class Entry:
    """One paper as both parts show it: every field clean plain text."""

    number: int
    title: str
    byline: str  # authors, arXiv id or DOI, categories
    why: str
    snippet: str
    url: str

    @property
    def indent(self) -> str:
        """Continuation lines start under the title: after "7. " or "12. "."""
        return " " * (len(str(self.number)) + 2)


@dataclass(frozen=True, slots=True)
class Section:
    title: str
    entries: tuple[Entry, ...]


def clean(text: str) -> str:
    """One line of safe plain text: unsafe characters out, whitespace collapsed."""
    return " ".join(_UNSAFE.sub(" ", text).split())


@lru_cache(maxsize=16384)  # a trending paper's lines recur in thousands of digests
def wrap(text: str, first: str = "", rest: str = "", width: int = WIDTH) -> str:
    """Greedy word wrap (textwrap is several times slower); a word longer than a line (a URL)
    gets a line of its own, unbroken."""
    lines: list[str] = []
    words: list[str] = []
    indent, size = first, len(first)
    for word in text.split():
        if words and size + 1 + len(word) > width:
            lines.append(indent + " ".join(words))
            indent, words, size = rest, [word], len(rest) + len(word)
        else:
            size += len(word) + (1 if words else 0)
            words.append(word)
    lines.append(indent + " ".join(words))
    return "\n".join(lines)


def snippet(abstract: str, limit: int = SNIPPET_CHARS) -> str:
    return shorten(clean(abstract), limit)


@lru_cache(maxsize=16384)  # the same paper in many digests: cleaned once
def _shown(title: str, abstract: str, authors: tuple[str, ...], ref: str,
           categories: tuple[str, ...]) -> tuple[str, str, str]:  # fmt: skip
    """(title, byline, snippet) of a paper as plain text."""
    names = ", ".join(clean(a) for a in authors[:MAX_AUTHORS])
    names += " et al." if len(authors) > MAX_AUTHORS else ""
    byline = " · ".join(x for x in (names, clean(ref), clean(", ".join(categories[:3]))) if x)
    return clean(title) or "(untitled)", byline, snippet(abstract)


def build_sections(plan: DigestPlan, papers: Mapping[int, Paper], links: Links
                   ) -> tuple[Section, ...]:  # fmt: skip
    """The plan's papers grouped by section, numbered across sections; a paper no longer in
    the store is left out."""
    shown = [(item, papers[item.seq]) for item in plan.items if item.seq in papers]
    entries = [_entry(n, item, paper, links) for n, (item, paper) in enumerate(shown, start=1)]
    by_section = {s: tuple(e for e, (i, _) in zip(entries, shown, strict=True) if i.section == s)
                  for s in SECTIONS}  # fmt: skip
    return tuple(Section(SECTION_TITLES[s], by_section[s]) for s in SECTIONS if by_section[s])


def _entry(number: int, item: Item, paper: Paper, links: Links) -> Entry:
    ref = f"arXiv:{paper.arxiv_id}" if paper.arxiv_id else (f"doi:{paper.doi}" if paper.doi else "")
    title, byline, text = _shown(paper.title, paper.abstract, paper.authors, ref, paper.categories)
    return Entry(number, title, byline, clean(item.why), text, clean(links.paper(paper)))


def subject(count: int, title_day: date | None) -> str:
    """Counts and a date only: no user-provided text ever reaches a subject line."""
    what = f"{count} new paper{'' if count == 1 else 's'} for you" if count else "nothing new"
    return f"paperfeed: {what}" + (f" — {title_day.isoformat()}" if title_day else "")


def _intro(plan: DigestPlan, count: int) -> str:
    since, until = plan.since, plan.until
    if since is None or until is None:
        days = ""
    elif since == until:
        days = f"listed on {until.isoformat()}"
    else:
        days = f"listed {since.isoformat()} to {until.isoformat()}"
    if not count:
        among = f" among the papers {days}" if days else ""
        return (f"Nothing new matched your searches and categories{among}. You asked to hear "
                "from us on such days too; you can change that in your preferences.")  # fmt: skip
    of = f" of papers {days}" if days else ""
    return f"Your paperfeed digest{of}: {count} paper{'' if count == 1 else 's'}."


@lru_cache(maxsize=1)
def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["wrap"] = wrap
    return env


def render_digest(
    sub: Subscriber,
    plan: DigestPlan,
    papers: Mapping[int, Paper],
    links: Links,
    *,
    title_day: date | None,
) -> tuple[str, str, str]:
    """(subject, text, html) of a digest; a plan with no papers (left) gives the short
    "nothing new" notice that subscribers who asked for one get on empty days."""
    sections = build_sections(plan, papers, links)
    count = sum(len(s.entries) for s in sections)
    context = {
        "intro": _intro(plan, count),
        "sections": sections,
        "email": clean(sub.email),
        "frequency": clean(sub.prefs.frequency),
        "links": Links(links.paper, clean(links.preferences), clean(links.unsubscribe),
                       clean(links.site)),
    }  # fmt: skip
    env = _environment()
    text = env.get_template("digest.txt").render(context)
    html = env.get_template("digest.html").render(context, subject=subject(count, title_day))
    return subject(count, title_day), text, html


def render_notice(sub: Subscriber, plan: DigestPlan, links: Links, *, title_day: date | None
                  ) -> tuple[str, str, str]:  # fmt: skip
    """The "nothing new" notice for a plan without papers (same as `render_digest` gives)."""
    empty = DigestPlan((), plan.since, plan.until)
    return render_digest(sub, empty, {}, links, title_day=title_day)
