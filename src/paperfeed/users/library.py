"""A reader's library and what readers do with papers: upvote, save (with tags), "not
interested", undo; anonymous views and digest clicks; export and import.

Every action that changes engagement re-scores the paper's trending rows at once
(`trending.refresh`), so a vote shows in the ranking without waiting for the next recompute.
"""

from __future__ import annotations

import csv
import io
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from paperfeed.errors import InputError, NotFound
from paperfeed.models import paper_json
from paperfeed.rank import trending
from paperfeed.store import LibraryItem, Store, User
from paperfeed.users.bibtex import ImportResult, format_bibtex, parse_import

KINDS = ("upvote", "save", "hide")
MAX_TAGS = 10
MAX_TAG_LEN = 40
DAY_S = 86400
# How long one counter's repeats of an event on a paper count once: a view once a day per
# network client or signed-in reader; a digest click once per recipient (or, for links that
# name none, per network client) for as long as a digest's links live (sender.CLICK_TTL_S).
COUNT_ONCE_S = {"view": DAY_S, "click": 90 * DAY_S}
# A backstop only: reading is linear, and the largest import (2 MB) takes well under a second.
IMPORT_BUDGET_S = 3.0
_TAG_BAD = re.compile(r"[\x00-\x1f\x7f<>\"]")


def parse_tags(text: str) -> list[str]:
    """Tags from 'a, b c' style input: split on commas, trimmed, lower-cased, unique."""
    tags: list[str] = []
    for raw in text.split(","):
        tag = " ".join(_TAG_BAD.sub("", raw).split()).lower()
        if not tag:
            continue
        if len(tag) > MAX_TAG_LEN:
            raise InputError(f"A tag can have at most {MAX_TAG_LEN} characters.")
        if tag not in tags:
            tags.append(tag)
    if len(tags) > MAX_TAGS:
        raise InputError(f"A paper can have at most {MAX_TAGS} tags.")
    return tags


def _seq(store: Store, ref: str) -> int:
    seq = store.find_seq(ref)
    if seq is None:
        raise NotFound(f"No paper with id {ref!r}.")
    return seq


def react(
    store: Store,
    user: User,
    ref: str,
    kind: str,
    *,
    on: bool,
    now: float,
    tags: str | None = None,
) -> set[str]:
    """Add or undo a reaction (and set tags when saving); returns the paper's reactions now."""
    if kind not in KINDS:
        raise InputError(f"Unknown action {kind!r}; use one of {', '.join(KINDS)}.")
    seq = _seq(store, ref)
    parsed = parse_tags(tags) if tags is not None and on and kind == "save" else None
    with store.transaction():
        changed = store.set_reaction(user.id, seq, kind, on, now)
        if parsed is not None:
            store.set_tags(user.id, seq, parsed)
        if changed and kind in trending.RULES:
            trending.refresh(store, [seq])
    return store.get_reactions(user.id, [seq]).get(seq, set())


def record_view(store: Store, ref: str, who: str, now: float, signal: str = "view") -> bool:
    """Count a page view (or a digest click) by `who` (a reader, a network client or a
    digest's recipient) unless `who` was counted for it within `COUNT_ONCE_S`."""
    seq = store.find_seq(ref)
    if seq is None:
        return False
    with store.transaction():
        counted = store.record_event(seq, signal, now, client=who, burst_s=COUNT_ONCE_S[signal])
        if counted:
            trending.refresh(store, [seq])
    return counted


# -- export -----------------------------------------------------------------------------------


def _saved_at(item: LibraryItem) -> str | None:
    at = item.kinds.get("save")
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="seconds") if at else None


def library_json(items: Sequence[LibraryItem]) -> list[dict[str, Any]]:
    return [{**paper_json(i.paper), "saved_at": _saved_at(i), "tags": list(i.tags),
             "upvoted": "upvote" in i.kinds} for i in items]  # fmt: skip


CSV_FIELDS = ("id", "title", "authors", "published", "categories", "url", "tags", "saved_at")


def library_csv(items: Sequence[LibraryItem]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_FIELDS)
    for row in library_json(items):
        writer.writerow([_csv_cell(row.get(f)) for f in CSV_FIELDS])
    return out.getvalue()


def _csv_cell(value: Any) -> str:
    text = "; ".join(value) if isinstance(value, list) else "" if value is None else str(value)
    # A cell starting with = + - @ is a formula in spreadsheets: paper titles are not ours.
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def library_bibtex(items: Sequence[LibraryItem]) -> str:
    return format_bibtex([i.paper for i in items])


# -- import -----------------------------------------------------------------------------------


@dataclass(slots=True)
class ImportReport:
    saved: int = 0
    already: int = 0
    unknown: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {"saved": self.saved, "already": self.already, "unknown": self.unknown,
                "problems": self.problems}  # fmt: skip


def read_import(text: str, clock: Callable[[], float] = time.monotonic) -> ImportResult:
    """The papers a pasted list or BibTeX file names (bibtex.parse_import), read without the
    store, so that callers can read outside the write lock; `IMPORT_BUDGET_S` of `clock` at
    most."""
    return parse_import(text, budget_s=IMPORT_BUDGET_S, clock=clock)


def save_import(store: Store, user: User, parsed: ImportResult, now: float) -> ImportReport:
    """Save the papers of a read import in one short transaction; ones not in this store are
    reported (an operator can `paperfeed fetch` them), never invented."""
    report = ImportReport(problems=list(parsed.problems))
    touched = []
    with store.transaction():
        seqs = store.find_seqs(item.ref for item in parsed.items)
        for item in parsed.items:
            seq = seqs.get(item.ref)
            if seq is None:
                report.unknown.append(item.ref)
            elif store.set_reaction(user.id, seq, "save", True, now):
                report.saved += 1
                touched.append(seq)
            else:
                report.already += 1
        trending.refresh(store, touched)
    return report
