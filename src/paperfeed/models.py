"""Plain data: the Paper record and the pure rules that say when two records are one paper.

No I/O here. The store uses `identity_keys` and `merge_papers` so that every backend dedupes
and versions papers the same way.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any

_NEW_ID = re.compile(r"^(\d{4}\.\d{4,5})(?:v(\d{1,6}))?$")
_OLD_ID = re.compile(r"^([a-z][a-z\-]*(?:\.[A-Za-z\-]{2,})?/\d{7})(?:v(\d{1,6}))?$")
_ID_PREFIX = re.compile(
    r"^(?:https?://(?:www\.)?(?:export\.)?arxiv\.org/(?:abs|pdf)/|arxiv:)", re.I
)
_NON_WORD = re.compile(r"[^\w]+")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # C0 and DEL; not tab, CR, LF

# The days a request may name (a listing's day, a search's since/until, a week, a month):
# wider than any paper's dates, narrow enough that a day or a month either side is still a
# date and that the keyword index can hold it (tantivy's dates end in 1677 and 2262).
FIRST_DAY = date(1700, 1, 1)
LAST_DAY = date(2199, 12, 31)


@dataclass(frozen=True, slots=True)
class Paper:
    """One paper, whatever source it came from.

    `id` is stable: the arXiv id without version when there is one, else the DOI, else a hash
    of the normalized title. Title and abstract keep their LaTeX exactly as written.
    """

    id: str
    title: str
    abstract: str = ""
    authors: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    arxiv_id: str | None = None
    doi: str | None = None
    published: datetime | None = None  # first version
    updated: datetime | None = None  # latest version we know of
    version: int | None = None
    url: str | None = None
    pdf_url: str | None = None
    code_url: str | None = None
    sources: tuple[str, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)


def parse_arxiv_id(text: str) -> tuple[str, int | None] | None:
    """Split `2104.08663v2`, `arXiv:hep-th/9901001` or an abs/pdf URL into (id, version)."""
    s = _ID_PREFIX.sub("", text.strip())
    s = s.removesuffix(".pdf")
    for pattern in (_NEW_ID, _OLD_ID):
        m = pattern.match(s)
        if m:
            return m.group(1), int(m.group(2)) if m.group(2) else None
    return None


def normalize_doi(text: str) -> str | None:
    s = re.sub(r"^(?:https?://(?:dx\.)?doi\.org/|doi:)", "", text.strip(), flags=re.I)
    return s.lower() if s.startswith("10.") and "/" in s else None


def normalize_title(title: str) -> str:
    """Lower-case, accents and punctuation folded away: the key that matches one paper's title
    as two sources spell it."""
    folded = title.lower()
    if not folded.isascii():  # twice: NFKD can reveal capitals, lower() accents
        for _ in range(2):
            folded = unicodedata.normalize("NFKD", folded)
            folded = "".join(c for c in folded if not unicodedata.combining(c)).lower()
    return " ".join(_NON_WORD.sub(" ", folded).split())


def collapse_space(text: str) -> str:
    """Runs of white space (line breaks included) as one space, the ends trimmed, and control
    characters (NUL, escapes, bells) dropped: what every source's text is stored as."""
    return " ".join(_CONTROL.sub("", text).split())


def shorten(text: str, limit: int) -> str:
    """At most `limit` characters, cut at a word with an ellipsis."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    if not text[limit - 1].isspace() and " " in cut[limit // 2 :]:
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip(" ,;:.-") + "…"


def title_hash_id(title: str) -> str:
    return "h" + hashlib.sha256(normalize_title(title).encode()).hexdigest()[:15]


def default_id(arxiv_id: str | None, doi: str | None, title: str) -> str:
    return arxiv_id or doi or title_hash_id(title)


def identity_keys(paper: Paper) -> list[str]:
    """Keys in matching order: arXiv id, then DOI, then normalized title (hashed, to keep the
    key index small), then the id itself when it is none of those (a title hash, say)."""
    keys = []
    if paper.arxiv_id:
        keys.append("arxiv:" + paper.arxiv_id)
    if paper.doi:
        keys.append("doi:" + paper.doi)
    title_key = normalize_title(paper.title)
    if title_key:
        keys.append("title:" + hashlib.blake2b(title_key.encode(), digest_size=12).hexdigest())
    if paper.id not in (paper.arxiv_id, paper.doi):
        keys.append("id:" + paper.id)
    return keys


def _differ(a: str | None, b: str | None) -> bool:
    return bool(a and b and a != b)


def _word_overlap(a: str, b: str) -> float:
    wa, wb = set(normalize_title(a).split()), set(normalize_title(b).split())
    return len(wa & wb) / max(len(wa | wb), 1)


def can_merge(existing: Paper, incoming: Paper, key: str = "") -> bool:
    """Whether a key match really is the same paper. Never two different arXiv ids; a title
    match also needs no conflicting DOI and, when both have abstracts, abstracts that share
    most words (generic titles such as "Summary" or "Introduction" are not one paper)."""
    if _differ(existing.arxiv_id, incoming.arxiv_id):
        return False
    if not key.startswith("title:"):
        return True
    if _differ(existing.doi, incoming.doi):
        return False
    if existing.abstract and incoming.abstract:
        return _word_overlap(existing.abstract, incoming.abstract) >= 0.5
    return True


def _freshness(p: Paper) -> tuple[int, str]:
    return (p.version or 0, p.updated.isoformat() if p.updated else "")


def _pick(newer: Any, older: Any) -> Any:
    return newer if newer not in (None, "", ()) else older


def merge_papers(existing: Paper, incoming: Paper) -> Paper:
    """The same paper seen again: the fresher record (higher version, then later update) wins
    each field it has; the other fills the gaps. Sources and extra fields accumulate.
    Merging a record with itself returns an equal record, which keeps re-imports idempotent."""
    if _freshness(incoming) >= _freshness(existing):
        new, old = incoming, existing
    else:
        new, old = existing, incoming
    published = [d for d in (existing.published, incoming.published) if d is not None]
    arxiv_id = existing.arxiv_id or incoming.arxiv_id
    merged = Paper(
        id=arxiv_id or existing.doi or incoming.doi or existing.id,
        title=_pick(new.title, old.title),
        abstract=_pick(new.abstract, old.abstract),
        authors=_pick(new.authors, old.authors),
        categories=_pick(new.categories, old.categories),
        arxiv_id=arxiv_id,
        doi=existing.doi or incoming.doi,
        published=min(published) if published else None,
        updated=_pick(new.updated, old.updated),
        version=_pick(new.version, old.version),
        url=_pick(new.url, old.url),
        pdf_url=_pick(new.pdf_url, old.pdf_url),
        code_url=_pick(new.code_url, old.code_url),
        sources=tuple(dict.fromkeys(existing.sources + incoming.sources)),
        extra={**old.extra, **new.extra},
    )
    return merged if merged != existing else existing


def with_id(paper: Paper, new_id: str) -> Paper:
    return replace(paper, id=new_id)


def paper_json(paper: Paper) -> dict[str, Any]:
    """The JSON shape of a paper, the same in the CLI and the API."""
    return {
        "id": paper.id,
        "title": paper.title,
        "abstract": paper.abstract,
        "authors": list(paper.authors),
        "categories": list(paper.categories),
        "arxiv_id": paper.arxiv_id,
        "doi": paper.doi,
        "published": paper.published.isoformat() if paper.published else None,
        "updated": paper.updated.isoformat() if paper.updated else None,
        "version": paper.version,
        "url": paper.url,
        "pdf_url": paper.pdf_url,
        "code_url": paper.code_url,
        "sources": list(paper.sources),
        "extra": dict(paper.extra),
    }
