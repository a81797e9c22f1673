"""Sources as configuration: what kinds exist, what each needs, and the defaults we chose.

A source is a row in the store (`SourceRow`): a kind, its options and an interval. This module
validates what an operator asks for and turns it into that row; it must not fetch anything
(harvest.py does). Kinds:

- `arxiv`: arXiv OAI-PMH ListRecords for one set (`cs.LG`, `cs`, `physics:hep-th`), the
  complete and incremental feed; every 6 hours.
- `arxiv-api`: an arXiv API search query (`cat:cs.LG AND abs:diffusion`), newest first,
  stopping at papers already seen; every 6 hours.
- `arxiv-listing`: the per-category new-submissions listing (rss.arxiv.org), what was
  announced today with its announce type; every 2 hours (arXiv announces once a day).
- `hf-daily`: Hugging Face daily papers with upvotes, comments, code and stars; every 2
  hours, re-reading the last days because their upvotes keep moving.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from paperfeed.errors import InputError
from paperfeed.store import SourceRow

HOUR = 3600
KINDS = ("arxiv", "arxiv-api", "arxiv-listing", "hf-daily")
DEFAULT_INTERVAL_S = {"arxiv": 6 * HOUR, "arxiv-api": 6 * HOUR,
                      "arxiv-listing": 2 * HOUR, "hf-daily": 2 * HOUR}  # fmt: skip
DEFAULT_LOOKBACK_DAYS = 7  # how far back a new source's first harvest reaches
MIN_INTERVAL_S = 60
OAI_FORMATS = ("arXiv", "arXivRaw")
_CATEGORY = re.compile(r"^[a-z][a-z\-]*(?:\.[A-Za-z\-]{2,})?$")
_SET = re.compile(r"^[a-z][a-z\-]*(?::[a-z][a-z\-]*(?::[A-Za-z\-]+)?)?$")


@dataclass(frozen=True, slots=True)
class SourceOptions:
    set: str | None = None
    query: str | None = None
    categories: tuple[str, ...] = ()
    metadata_format: str = "arXiv"
    since: date | None = None
    interval_s: int | None = None
    max_results: int | None = None
    name: str | None = None


def oai_set_spec(text: str) -> str:
    """arXiv's OAI set for what a user types: `cs.LG` -> `cs:cs:LG`, `hep-th` ->
    `physics:hep-th`; `cs`, `math` and explicit specs (`physics:hep-th`) stay as they are."""
    value = text.strip()
    if ":" in value:
        if not _SET.match(value):
            raise InputError(f"{text!r} is not an arXiv OAI set such as cs, cs:cs:LG or math.")
        return value
    if not _CATEGORY.match(value):
        raise InputError(f"{text!r} is not an arXiv category or archive such as cs.LG or math.")
    archive, _, sub = value.partition(".")
    group = _GROUP_OF.get(archive)
    if group is None:
        raise InputError(f"{text!r} is not an arXiv archive we know (cs, math, stat, hep-th ...).")
    if not sub:
        return archive if group == archive else f"{group}:{archive}"
    return f"{group}:{archive}:{sub}"


_GROUPS = {
    "cs": ["cs"],
    "econ": ["econ"],
    "eess": ["eess"],
    "math": ["math"],
    "q-bio": ["q-bio"],
    "q-fin": ["q-fin"],
    "stat": ["stat"],
    "physics": [
        "astro-ph", "cond-mat", "gr-qc", "hep-ex", "hep-lat", "hep-ph", "hep-th", "math-ph",
        "nlin", "nucl-ex", "nucl-th", "physics", "quant-ph",
    ],
}  # fmt: skip
_GROUP_OF = {archive: group for group, archives in _GROUPS.items() for archive in archives}


def _category(text: str) -> str:
    value = text.strip()
    if not _CATEGORY.match(value) or value.split(".")[0] not in _GROUP_OF:
        raise InputError(f"{text!r} is not an arXiv category such as cs.LG or math.")
    return value


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.:+]+", "-", text).strip("-")[:48] or "query"


def new_source(kind: str, options: SourceOptions, now: datetime) -> SourceRow:
    """The row for a new source, due at once. InputError with a sentence if `options` do not
    fit `kind`."""
    config: dict[str, Any] = {}
    if kind == "arxiv":
        if not options.set:
            raise InputError("An arxiv source needs --set, e.g. --set cs.LG.")
        if options.metadata_format not in OAI_FORMATS:
            raise InputError(f"--format must be one of {', '.join(OAI_FORMATS)}.")
        config = {"set": oai_set_spec(options.set), "format": options.metadata_format}
        name = f"arxiv-{options.set.strip()}"
    elif kind == "arxiv-api":
        if not options.query or not options.query.strip():
            raise InputError("An arxiv-api source needs --query, e.g. --query 'cat:cs.LG'.")
        config = {"query": options.query.strip(), "max_results": options.max_results or 1000}
        name = f"arxiv-api-{_slug(options.query)}"
    elif kind == "arxiv-listing":
        if not options.categories:
            raise InputError("An arxiv-listing source needs --category, e.g. --category cs.LG.")
        categories = list(dict.fromkeys(_category(c) for c in options.categories))
        config = {"categories": categories}
        name = "arxiv-listing-" + "+".join(categories)
    elif kind == "hf-daily":
        name = "hf-daily"
    else:
        raise InputError(f"Unknown source kind {kind!r}: use one of {', '.join(KINDS)}.")
    if options.since is not None:
        config["since"] = options.since.isoformat()
    interval = options.interval_s or DEFAULT_INTERVAL_S[kind]
    if interval < MIN_INTERVAL_S:
        raise InputError(f"The interval must be at least {MIN_INTERVAL_S} seconds.")
    name = (options.name or name).strip()
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._:+\-]{0,79}", name):
        raise InputError(f"{name!r} cannot name a source: use letters, digits and . _ : + -.")
    return SourceRow(name=name, kind=kind, config=config, interval_s=interval,
                     next_run_at=now, created_at=now)  # fmt: skip


def describe(source: SourceRow) -> str:
    """What a source harvests, in a few words, for `sources list`."""
    c = source.config
    if source.kind == "arxiv":
        return f"OAI-PMH set {c.get('set')} ({c.get('format', 'arXiv')})"
    if source.kind == "arxiv-api":
        return f"API query {c.get('query')!r}"
    if source.kind == "arxiv-listing":
        return "new submissions in " + ", ".join(c.get("categories", []))
    return "Hugging Face daily papers"
