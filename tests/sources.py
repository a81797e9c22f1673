"""Recorded source responses served the way the real services serve them.

`OaiList` answers OAI-PMH ListRecords from the real records in tests/data/fixtures, split into
pages chained by resumption tokens (as arXiv does; no recorded response has one), with faults
queued per page and tokens that can be made to expire. The other helpers load the recorded
arXiv API and Hugging Face responses.
"""

from __future__ import annotations

import re
from collections import defaultdict, deque
from collections.abc import Callable
from urllib.parse import parse_qsl, urlsplit

import orjson

from paperfeed.ingest.arxiv_oai import parse_oai_page
from tests.conftest import ARXIV_API, ARXIV_OAI, HF_DAILY, LISTINGS
from tests.replay import Reply

OAI_DIR = ARXIV_OAI / "hepcrawl"
API_RAW = ARXIV_API / "raw"
HF_DAY = HF_DAILY / "daily_papers_2024-10-25_first4.json"
LISTING_RSS = LISTINGS / "arxiv_listing_cs.LG.rss.xml"
_RECORD = re.compile(rb"<record>.*?</record>", re.S)
_IDENTIFIER = re.compile(rb"<identifier>\s*(.*?)\s*</identifier>")
_ENVELOPE = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b'<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/" '
    b'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">\n'
    b"<responseDate>2024-10-25T10:00:00Z</responseDate>\n"
    b'<request verb="ListRecords">http://export.arxiv.org/oai2</request>\n'
)


def oai_fixture_records() -> list[bytes]:
    """The <record>s of the arXiv-format OAI fixtures, as written, one per identifier (the
    30 records hold 19 papers; their copies were edited by the fixtures' authors, and one
    list from arXiv never holds a record twice)."""
    records: dict[bytes, bytes] = {}
    for path in sorted(OAI_DIR.glob("*.xml")):
        for record in _RECORD.findall(path.read_bytes()):
            found = _IDENTIFIER.search(record)
            assert found is not None
            records.setdefault(found.group(1), record)
    return list(records.values())


def oai_fixture_ids() -> set[str]:
    """The distinct arXiv ids those records parse to (some records repeat across files)."""
    ids: set[str] = set()
    for path in sorted(OAI_DIR.glob("*.xml")):
        ids.update(p.id for p in parse_oai_page(path.read_bytes()).papers)
    return ids


def oai_error(code: str, message: str) -> bytes:
    return _ENVELOPE + f'<error code="{code}">{message}</error>\n</OAI-PMH>'.encode()


class OaiList:
    """An OAI-PMH endpoint serving `records` `per_page` at a time."""

    def __init__(self, records: list[bytes], per_page: int = 4) -> None:
        self.pages = [records[i : i + per_page] for i in range(0, len(records), per_page)]
        self.faults: dict[int, deque[Reply]] = defaultdict(deque)
        self.epoch = 0  # tokens of an older epoch have expired
        self.seen: list[dict[str, str]] = []
        self.on_request: Callable[[dict[str, str]], None] | None = None

    def page(self, n: int) -> bytes:
        more = n + 1 < len(self.pages)
        token = f"tok{self.epoch}-{n + 1}" if more else ""
        size = sum(len(p) for p in self.pages)
        return (
            _ENVELOPE
            + b"<ListRecords>\n"
            + b"\n".join(self.pages[n])
            + f'\n<resumptionToken cursor="{n * len(self.pages[0])}" '
            f'completeListSize="{size}">{token}</resumptionToken>\n'.encode()
            + b"</ListRecords>\n</OAI-PMH>\n"
        )

    def __call__(self, query: dict[str, str]) -> Reply:
        self.seen.append(query)
        if self.on_request is not None:
            self.on_request(query)
        token = query.get("resumptionToken")
        if token is not None:
            epoch, _, page = token.removeprefix("tok").partition("-")
            if epoch != str(self.epoch) or not page.isdigit():
                return Reply(200, oai_error("badResumptionToken", "The token has expired."))
            n = int(page)
        else:
            n = 0
        if self.faults[n]:
            return self.faults[n].popleft()
        return Reply(200, self.page(n), {"Content-Type": "text/xml; charset=utf-8"})


def _api_key(q: dict[str, str]) -> tuple[str, ...]:
    search = q.get("search_query", "")
    # Searches page by (start, max_results); id look-ups are answered whatever the page size.
    size = q.get("max_results", "10") if search else ""
    return (search, q.get("id_list", ""), q.get("start", "0"), size)


def api_recordings() -> dict[tuple[str, ...], bytes]:
    """Recorded arXiv API answers by query."""
    found: dict[tuple[str, ...], bytes] = {}
    for path in sorted(API_RAW.glob("*.json")):
        data = orjson.loads(path.read_bytes())
        q = dict(parse_qsl(urlsplit(data["url"]).query, keep_blank_values=True))
        found.setdefault(_api_key(q), data["body"].encode())
    return found


class ArxivApi:
    """The arXiv API from recordings; `status` answers 400 for the recorded error."""

    def __init__(self) -> None:
        self.recordings = api_recordings()
        self.seen: list[dict[str, str]] = []

    def __call__(self, query: dict[str, str]) -> Reply:
        self.seen.append(query)
        body = self.recordings.get(_api_key(query))
        if body is None:
            return Reply(404, b"not recorded")
        status = 400 if b"/api/errors" in body else 200
        return Reply(status, body, {"Content-Type": "application/atom+xml"})
