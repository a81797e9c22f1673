"""Parse arXiv OAI-PMH responses (`arXiv` and `arXivRaw` metadata) into papers and paging state.

OAI-PMH is how arXiv wants bulk and incremental harvests done: ListRecords pages chained by a
resumptionToken, deletions announced in headers. This module turns one response body into an
`OaiPage`. It must not fetch, sleep, retry or store (the harvester does); it raises only
`OaiError`, and a single bad record is skipped with a reason rather than sinking the page.
Real responses are not always pristine (a metadata element that lost its namespace, missing
abstracts), so children are looked up in whatever namespace their metadata element has.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from paperfeed.errors import PaperfeedError
from paperfeed.ingest.arxiv_atom import parse_xml
from paperfeed.ingest.dates import parse_date
from paperfeed.ingest.records import RecordError, arxiv_paper, split_author_string
from paperfeed.models import Paper, collapse_space, normalize_doi, parse_arxiv_id

ARXIV_OAI_SOURCE = "arxiv-oai"
_OAI = "{http://www.openarchives.org/OAI/2.0/}"
_EXTRA = {"comments": "comments", "journal-ref": "journal-ref", "report-no": "report-no",
          "license": "license", "submitter": "submitter"}  # fmt: skip


class OaiError(PaperfeedError):
    """An OAI-PMH error reply (other than noRecordsMatch) or a body that is not OAI-PMH."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"OAI-PMH error {code}: {message}")
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class ResumptionToken:
    token: str  # "" on the last page of a list
    cursor: int | None
    complete_list_size: int | None


@dataclass(frozen=True, slots=True)
class OaiPage:
    papers: tuple[Paper, ...]
    identifiers: tuple[str, ...]  # arXiv ids of the live headers (all a ListIdentifiers gives)
    deleted: tuple[str, ...]  # arXiv ids whose header says status="deleted"
    resumption: ResumptionToken | None
    skipped: tuple[str, ...] = ()  # "record 3: ..." for each record left out

    @property
    def is_last_page(self) -> bool:
        return self.resumption is None or not self.resumption.token


def parse_oai_page(xml: bytes) -> OaiPage:
    root = _root(xml)
    if (empty := _raise_if_error(root)) is not None:
        return empty
    papers: list[Paper] = []
    identifiers: list[str] = []
    deleted: list[str] = []
    skipped: list[str] = []
    metadata = _metadata_by_header(root)
    for n, header in enumerate(root.iter(_OAI + "header")):
        oai_id = _oai_id(header)
        if header.get("status") == "deleted":
            deleted.extend([oai_id] if oai_id else [])
            continue
        identifiers.extend([oai_id] if oai_id else [])
        record = metadata.get(id(header))
        if record is None:
            continue
        try:
            papers.append(_paper(record, oai_id))
        except RecordError as e:
            skipped.append(f"record {n}: {e}")
    return OaiPage(tuple(papers), tuple(identifiers), tuple(deleted), _token(root), tuple(skipped))


def _root(xml: bytes) -> ET.Element:
    try:
        root = parse_xml(xml, "OAI-PMH response", PaperfeedError)
    except PaperfeedError as e:
        raise OaiError("badResponse", str(e)) from None
    if root.tag != _OAI + "OAI-PMH":
        raise OaiError("badResponse", f"the body is not an OAI-PMH response (root <{root.tag}>).")
    return root


def _raise_if_error(root: ET.Element) -> OaiPage | None:
    error = root.find(_OAI + "error")
    if error is None:
        return None
    code = error.get("code") or "unknown"
    if code == "noRecordsMatch":
        return OaiPage((), (), (), None)
    raise OaiError(code, collapse_space(error.text or "") or "no reason given")


def _oai_id(header: ET.Element) -> str | None:
    text = collapse_space(header.findtext(_OAI + "identifier") or "")
    parsed = parse_arxiv_id(text.removeprefix("oai:arXiv.org:"))
    return parsed[0] if parsed else None


def _metadata_by_header(root: ET.Element) -> dict[int, ET.Element]:
    """Each record's metadata element, keyed by its header (ListIdentifiers has none)."""
    found: dict[int, ET.Element] = {}
    for record in root.iter(_OAI + "record"):
        header, metadata = record.find(_OAI + "header"), record.find(_OAI + "metadata")
        if header is not None and metadata is not None and len(metadata):
            found[id(header)] = metadata[0]
    return found


def _token(root: ET.Element) -> ResumptionToken | None:
    element = next(root.iter(_OAI + "resumptionToken"), None)
    if element is None:
        return None
    return ResumptionToken(
        token=(element.text or "").strip(),
        cursor=_int(element.get("cursor")),
        complete_list_size=_int(element.get("completeListSize")),
    )


def _int(text: str | None) -> int | None:
    try:
        return int((text or "").strip())
    except ValueError:
        return None


def _paper(meta: ET.Element, oai_id: str | None) -> Paper:
    ns = meta.tag[: meta.tag.index("}") + 1] if meta.tag.startswith("{") else ""
    local = meta.tag.removeprefix(ns)

    def text(name: str) -> str:
        return collapse_space(meta.findtext(ns + name) or "")

    parsed = parse_arxiv_id(text("id"))
    arxiv_id = parsed[0] if parsed else oai_id
    if not arxiv_id:
        raise RecordError(f"no arXiv id in <{local}> or its header")
    title = text("title")
    if not title:
        raise RecordError(f"{arxiv_id}: no title")
    if local == "arXivRaw":
        version, published, updated = _raw_versions(meta, ns)
        authors = split_author_string(text("authors"))
    else:
        version = None
        published = _date(text("created"))
        updated = _date(text("updated")) or published
        authors = _structured_authors(meta, ns)
    extra: dict[str, Any] = {key: v for key, tag in _EXTRA.items() if (v := text(tag))}
    if local == "arXivRaw":
        extra["versions"] = _raw_version_list(meta, ns)
    abstract = text("abstract")
    doi_words = text("doi").split()
    return arxiv_paper(
        arxiv_id,
        ARXIV_OAI_SOURCE,
        code_texts=(abstract, extra.get("comments", "")),
        title=title,
        abstract=abstract,
        authors=authors,
        categories=tuple(dict.fromkeys(text("categories").split())),
        doi=normalize_doi(doi_words[0]) if doi_words else None,
        published=published,
        updated=updated,
        version=version,
        extra=extra,
    )


def _date(text: str) -> datetime | None:
    if not text:
        return None
    try:
        return parse_date(text)
    except ValueError:
        raise RecordError(f"unreadable date {text!r}") from None


def _structured_authors(meta: ET.Element, ns: str) -> tuple[str, ...]:
    names = []
    for author in meta.iter(ns + "author"):
        parts = (author.findtext(ns + k) or "" for k in ("forenames", "keyname", "suffix"))
        name = collapse_space(" ".join(parts))
        if any(c.isalnum() for c in name):  # real records hold a ":" "author" or two
            names.append(name)
    return tuple(names)


def _raw_version_list(meta: ET.Element, ns: str) -> list[dict[str, str]]:
    return [
        {
            "version": (v.get("version") or "").strip(),
            "date": collapse_space(v.findtext(ns + "date") or ""),
            "size": collapse_space(v.findtext(ns + "size") or ""),
        }
        for v in meta.iter(ns + "version")
    ]


def _raw_versions(meta: ET.Element, ns: str) -> tuple[int | None, datetime | None, datetime | None]:
    dated: list[tuple[int, datetime | None]] = []
    for v in _raw_version_list(meta, ns):
        try:
            number = int(v["version"].lower().removeprefix("v"))
        except ValueError:
            raise RecordError(f"bad version {v['version']!r}") from None
        dated.append((number, _date(v["date"])))
    if not dated:
        return None, None, None
    dated.sort(key=lambda d: d[0])
    return dated[-1][0], dated[0][1], dated[-1][1]
