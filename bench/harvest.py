"""Harvest speed: records/s parsed from OAI-PMH XML, and a whole harvest over local HTTP.

Target (sources issue): >= 5,000 records/s parsed from OAI-PMH XML, so that parsing is never
what holds a harvest back (arXiv's 3 s spacing is: 1,000 records a page -> ~330 records/s).
Pages are built like arXiv's ListRecords pages (1,000 records each) from the real records of
the tests' fixtures (tests/data), with their ids renumbered so that every record is a distinct
paper. The end-to-end row runs the real harvester against a local HTTP server with no spacing,
into a fresh SQLite store; the API Atom and HF daily parsers are measured beside it.

    .venv/bin/python bench/harvest.py [--records 20000]
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from benchlib import timed

from paperfeed.ingest.arxiv_atom import parse_arxiv_atom
from paperfeed.ingest.arxiv_oai import parse_oai_page
from paperfeed.ingest.harvest import Endpoints, Fetchers, harvest_source
from paperfeed.ingest.hf_daily import parse_daily_page
from paperfeed.ingest.sources import SourceOptions, new_source
from paperfeed.store import SQLiteStore

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
# The same server, OAI-PMH list and recorded responses the tests use.
from tests.conftest import ARXIV_API
from tests.replay import replay_server
from tests.sources import HF_DAY, OaiList, oai_fixture_records

TARGET = 5_000
PAGE = 1_000


def renumbered(record: bytes, n: int) -> bytes:
    new_id = f"2401.{n:05d}".encode()
    record = re.sub(rb"oai:arXiv.org:[^<]+", b"oai:arXiv.org:" + new_id, record)
    return re.sub(rb"<id>[^<]+</id>", b"<id>" + new_id + b"</id>", record)


def oai_list(total: int) -> OaiList:
    base = oai_fixture_records()
    return OaiList([renumbered(base[n % len(base)], n) for n in range(total)], per_page=PAGE)


def harvest_over_http(served: OaiList, workdir: Path) -> tuple[float, int]:
    with replay_server() as replay:
        replay.handle("/oai", served)
        store = SQLiteStore(workdir / "harvest.db")
        now = datetime.now(UTC)
        store.add_source(new_source("arxiv", SourceOptions(set="cs.LG"), now))
        url = replay.base_url
        fetchers = Fetchers(Endpoints(url + "/oai", url, url, url, min_interval_s=0.0))
        seconds, report = timed(lambda: harvest_source(store, fetchers, "arxiv-cs.LG"))
        fetchers.close()
        assert report.error is None, report.error
        count = store.count_papers()
        store.close()
    return seconds, count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=20_000)
    args = parser.parse_args()
    served = oai_list(args.records)
    bodies = [served.page(n) for n in range(len(served.pages))]
    mb = sum(map(len, bodies)) / 1e6
    parse_s, parsed = timed(lambda: sum(len(parse_oai_page(b).papers) for b in bodies))
    assert parsed == args.records, f"parsed {parsed} of {args.records}"
    with tempfile.TemporaryDirectory() as tmp:
        http_s, stored = harvest_over_http(served, Path(tmp))
    assert stored == args.records, f"stored {stored} of {args.records}"

    api = [p.read_bytes() for p in sorted((ARXIV_API / "xml").glob("*.xml"))]
    api = [b for b in api if b"/api/errors" not in b] * 20
    api_s, entries = timed(lambda: sum(len(parse_arxiv_atom(b).papers) for b in api))
    hf = HF_DAY.read_bytes()
    hf_s, items = timed(lambda: sum(len(parse_daily_page(hf).papers) for _ in range(2_000)))

    rows = [
        ("OAI-PMH parse, records/s", parsed / parse_s, f">= {TARGET:,} (target)"),
        ("OAI-PMH parse, MB/s of XML", mb / parse_s, f"{mb:.0f} MB in {len(bodies)} pages"),
        ("harvest over local HTTP into SQLite, records/s", stored / http_s,
         f"arXiv's 3 s spacing allows ~{PAGE / 3:.0f}"),
        ("arXiv API Atom parse, entries/s", entries / api_s, f"{entries:,} entries"),
        ("HF daily papers parse, items/s", items / hf_s, f"{items:,} items"),
    ]  # fmt: skip
    width = max(len(r[0]) for r in rows)
    print(f"{'figure':<{width}}  {'value':>10}  comparison")
    for name, value, note in rows:
        print(f"{name:<{width}}  {value:>10,.0f}  {note}")


if __name__ == "__main__":
    main()
