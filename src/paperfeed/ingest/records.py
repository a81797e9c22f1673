"""Pure parsers from one JSON object to a `Paper`, for the two file formats we import:

- the arXiv metadata snapshot (Kaggle/Cornell `arxiv-metadata-oai-snapshot.json`), and
- our own JSONL (`id`, `title`, `abstract`, `authors`, ...; the seed papers are `title` and
  `abstract` only).

They raise `RecordError` with a reason a user can fix; they never touch the store.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any, TypeVar

from paperfeed.ingest.codelinks import find_code_links
from paperfeed.ingest.dates import parse_date
from paperfeed.models import Paper, collapse_space, default_id, normalize_doi, parse_arxiv_id

SNAPSHOT_SOURCE = "arxiv-snapshot"
JSONL_SOURCE = "jsonl"
_SNAPSHOT_MARKERS = ("authors_parsed", "versions", "update_date", "submitter")
_SNAPSHOT_EXTRA = ("submitter", "comments", "journal-ref", "report-no", "license")
_OWN_FIELDS = {
    "id", "arxiv_id", "doi", "title", "abstract", "summary", "authors", "categories",
    "published", "updated", "version", "url", "pdf_url", "code_url", "extra", "sources",
}  # fmt: skip


# Characters that make a paper's page unreachable (a route never matches a line break) or its
# id unprintable: C0 and C1 controls, DEL, and the Unicode line and paragraph separators.
_ID_BREAK = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")

_T = TypeVar("_T")
_R = TypeVar("_R")


class RecordError(ValueError):
    """A record we cannot turn into a paper; str() is the reason."""


def parse_each(
    items: Iterable[_T], parse: Callable[[_T], _R], label: str
) -> tuple[tuple[_R, ...], tuple[str, ...]]:
    """Parse every item; one that raises RecordError is left out as "LABEL N: reason"."""
    parsed: list[_R] = []
    skipped: list[str] = []
    for n, item in enumerate(items):
        try:
            parsed.append(parse(item))
        except RecordError as e:
            skipped.append(f"{label} {n}: {e}")
    return tuple(parsed), tuple(skipped)


def parse_record(obj: Any) -> Paper:
    if not isinstance(obj, dict):
        raise RecordError(f"expected a JSON object, got {type(obj).__name__}")
    if any(k in obj for k in _SNAPSHOT_MARKERS):
        return parse_snapshot_record(obj)
    return parse_jsonl_record(obj)


def _text(obj: Mapping[str, Any], key: str) -> str:
    value = obj.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise RecordError(f"field {key!r} must be a string")
    return collapse_space(value)


def _require_title(obj: Mapping[str, Any]) -> str:
    title = _text(obj, "title")
    if not title:
        raise RecordError("no title")
    return title


def _date(value: Any, key: str) -> datetime | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise RecordError(f"field {key!r} must be a date string")
    try:
        return parse_date(value)
    except ValueError as e:
        raise RecordError(f"field {key!r}: {e}") from None


def arxiv_links(arxiv_id: str) -> tuple[str, str]:
    return f"https://arxiv.org/abs/{arxiv_id}", f"https://arxiv.org/pdf/{arxiv_id}"


def arxiv_paper(
    arxiv_id: str, source: str, *, code_texts: tuple[str, ...] = (), **fields: Any
) -> Paper:
    """A Paper for an arXiv id, as every arXiv-backed source builds it: the id, abstract and PDF
    links, and the first code repository named in `code_texts` (abstract, comments, ...)."""
    abs_url, pdf_url = arxiv_links(arxiv_id)
    code = find_code_links(*code_texts)
    return Paper(
        id=arxiv_id,
        arxiv_id=arxiv_id,
        url=abs_url,
        pdf_url=pdf_url,
        code_url=code[0] if code else None,
        sources=(source,),
        **fields,
    )


def _snapshot_authors(obj: Mapping[str, Any]) -> tuple[str, ...]:
    parsed = obj.get("authors_parsed")
    if isinstance(parsed, list) and parsed:
        names = []
        for parts in parsed:
            if not isinstance(parts, list) or not parts:
                raise RecordError("field 'authors_parsed' must be a list of [last, first, ...]")
            # [last, first, suffix, affiliation...]: affiliations are not part of the name
            first = parts[1] if len(parts) > 1 and parts[1] else ""
            suffix = parts[2] if len(parts) > 2 and parts[2] else ""
            name = f"{first} {parts[0]} {suffix}"
            if name := collapse_space(name):
                names.append(name)
        return tuple(names)
    return split_author_string(_text(obj, "authors"))


def split_author_string(authors: str) -> tuple[str, ...]:
    """`A. One, B. Two and C. Three` -> ('A. One', 'B. Two', 'C. Three')."""
    names = authors.replace(" and ", ", ").split(",")
    return tuple(n.strip() for n in names if n.strip())


def _snapshot_versions(
    obj: Mapping[str, Any],
) -> tuple[int | None, datetime | None, datetime | None]:
    versions = obj.get("versions") or []
    if not isinstance(versions, list):
        raise RecordError("field 'versions' must be a list")
    dated: list[tuple[int, datetime | None]] = []
    for v in versions:
        if not isinstance(v, dict):
            raise RecordError("field 'versions' must hold objects")
        try:
            number = int(str(v.get("version", "")).lstrip("v"))
        except ValueError:
            raise RecordError(f"bad version {v.get('version')!r}") from None
        dated.append((number, _date(v.get("created"), "versions.created")))
    if not dated:
        return None, None, _date(obj.get("update_date"), "update_date")
    dated.sort(key=lambda d: d[0])
    return dated[-1][0], dated[0][1], dated[-1][1]


def parse_snapshot_record(obj: Mapping[str, Any]) -> Paper:
    raw_id = obj.get("id")
    parsed = parse_arxiv_id(str(raw_id)) if isinstance(raw_id, str | int | float) else None
    if not parsed:
        raise RecordError(f"not an arXiv id: {raw_id!r}")
    arxiv_id, id_version = parsed
    version, published, updated = _snapshot_versions(obj)
    doi_text = _text(obj, "doi").split(" ")[0]
    abs_url, pdf_url = arxiv_links(arxiv_id)
    extra = {k: str(obj[k]).strip() for k in _SNAPSHOT_EXTRA if obj.get(k)}
    return Paper(
        id=arxiv_id,
        arxiv_id=arxiv_id,
        title=_require_title(obj),
        abstract=_text(obj, "abstract"),
        authors=_snapshot_authors(obj),
        categories=tuple(dict.fromkeys(_text(obj, "categories").split())),
        doi=normalize_doi(doi_text) if doi_text else None,
        published=published,
        updated=updated,
        version=version or id_version,
        url=abs_url,
        pdf_url=pdf_url,
        sources=(SNAPSHOT_SOURCE,),
        extra=extra,
    )


def _names(value: Any, key: str) -> tuple[str, ...]:
    """A list of strings, a list of {"name": ...} objects, or one comma-separated string;
    categories once each (some exports repeat the primary one)."""
    if value is None:
        return ()
    if isinstance(value, str):
        text = collapse_space(value)
        return split_author_string(text) if key == "authors" else tuple(dict.fromkeys(text.split()))
    if not isinstance(value, list):
        raise RecordError(f"field {key!r} must be a list or a string")
    out = []
    for item in value:
        name = item.get("name") if isinstance(item, dict) else item
        if not isinstance(name, str):
            raise RecordError(f"field {key!r} must hold strings")
        if name.strip():
            out.append(collapse_space(name))
    return tuple(dict.fromkeys(out)) if key == "categories" else tuple(out)


def _id_text(obj: Mapping[str, Any], key: str) -> str | None:
    """An id field's text, blank space around it trimmed; None when it is not a string.
    A control character inside it is refused: its page could never be found."""
    raw = obj.get(key)
    if not isinstance(raw, str):
        return None
    text = raw.strip()
    if found := _ID_BREAK.search(text):
        raise RecordError(f"field {key!r} holds a control character (U+{ord(found[0]):04X}); "
                          "a paper id must be printable")  # fmt: skip
    return text


def _own_ids(obj: Mapping[str, Any]) -> tuple[str | None, int | None, str | None]:
    texts = {key: _id_text(obj, key) for key in ("arxiv_id", "id", "doi")}
    arxiv_id = version = None
    for key in ("arxiv_id", "id"):
        if (text := texts[key]) and (parsed := parse_arxiv_id(text)):
            arxiv_id, version = parsed
            break
    doi = normalize_doi(_text(obj, "doi")) if obj.get("doi") else None
    if doi is None and texts["id"]:
        doi = normalize_doi(texts["id"])
    return arxiv_id, version, doi


def parse_jsonl_record(obj: Mapping[str, Any]) -> Paper:
    title = _require_title(obj)
    arxiv_id, id_version, doi = _own_ids(obj)
    given_id = obj.get("id")
    if given_id is not None and not isinstance(given_id, str | int):
        raise RecordError("field 'id' must be a string")
    version = obj.get("version", id_version)
    if version is not None and (not isinstance(version, int) or isinstance(version, bool)):
        raise RecordError("field 'version' must be a whole number")
    extra = obj.get("extra") or {}
    if not isinstance(extra, dict):
        raise RecordError("field 'extra' must be an object")
    extra = {**{k: v for k, v in obj.items() if k not in _OWN_FIELDS}, **extra}
    links = arxiv_links(arxiv_id) if arxiv_id else (None, None)
    fallback_id = str(given_id).strip() if given_id not in (None, "") else None
    return Paper(
        id=arxiv_id or doi or fallback_id or default_id(None, None, title),
        arxiv_id=arxiv_id,
        doi=doi,
        title=title,
        abstract=_text(obj, "abstract") or _text(obj, "summary"),
        authors=_names(obj.get("authors"), "authors"),
        categories=_names(obj.get("categories"), "categories"),
        published=_date(obj.get("published"), "published"),
        updated=_date(obj.get("updated"), "updated"),
        version=version,
        url=_text(obj, "url") or links[0],
        pdf_url=_text(obj, "pdf_url") or links[1],
        code_url=_text(obj, "code_url") or None,
        sources=(JSONL_SOURCE,),
        extra=extra,
    )
