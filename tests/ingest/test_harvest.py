"""Harvesting configured sources against a local server replaying recorded responses, with
injected faults and an injected clock. The store is the real SQLite store."""

from __future__ import annotations

import dataclasses
import itertools
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from paperfeed.ingest.files import import_file
from paperfeed.ingest.harvest import (
    Endpoints,
    Fetchers,
    fetch_arxiv_ids,
    harvest_source,
    retry_delay_s,
)
from paperfeed.ingest.http import Retry
from paperfeed.ingest.scheduler import SourceScheduler
from paperfeed.ingest.sources import SourceOptions, new_source
from paperfeed.store import SourceRow, SQLiteStore
from tests.replay import CUT, RESET, FakeClock, Replay, Reply
from tests.sources import (
    HF_DAY,
    LISTING_RSS,
    OAI_DIR,
    ArxivApi,
    OaiList,
    oai_error,
    oai_fixture_ids,
    oai_fixture_records,
)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteStore]:
    s = SQLiteStore(tmp_path / "harvest.db")
    yield s
    s.close()


def endpoints_for(base: str) -> Endpoints:
    return Endpoints(
        arxiv_oai=base + "/oai",
        arxiv_api=base + "/api/query",
        arxiv_rss=base,
        hf=base,
        min_interval_s=3.0,
    )


@pytest.fixture
def fetchers(replay: Replay, clock: FakeClock) -> Iterator[Fetchers]:
    f = Fetchers(endpoints_for(replay.base_url), clock)
    yield f
    f.close()


def add(store: SQLiteStore, clock: FakeClock, kind: str, **options: object) -> SourceRow:
    now = datetime.fromtimestamp(clock.now(), UTC)
    source = new_source(kind, SourceOptions(**options), now)  # type: ignore[arg-type]
    store.add_source(source)
    return source


def stored_ids(store: SQLiteStore) -> set[str]:
    return {c.paper.id for c in store.iter_changes(0)}


@pytest.fixture
def oai(replay: Replay) -> OaiList:
    served = OaiList(oai_fixture_records(), per_page=4)
    replay.handle("/oai", served)
    return served


# -- OAI-PMH -----------------------------------------------------------------------------------


def test_oai_harvest_ingests_every_record_once_across_pages(
    store: SQLiteStore, fetchers: Fetchers, clock: FakeClock, oai: OaiList
) -> None:
    add(store, clock, "arxiv", set="hep-ex", since=date(2017, 12, 14))
    report = harvest_source(store, fetchers, "arxiv-hep-ex")
    assert report.error is None
    assert report.requests == len(oai.pages) >= 5
    assert stored_ids(store) == oai_fixture_ids()
    assert store.count_papers() == len(oai_fixture_ids()) == report.added
    first, *rest = oai.seen
    assert first == {"verb": "ListRecords", "metadataPrefix": "arXiv",
                     "set": "physics:hep-ex", "from": "2017-12-14"}  # fmt: skip
    assert [q["resumptionToken"] for q in rest] == [f"tok0-{n}" for n in range(1, len(oai.pages))]
    source = store.get_source("arxiv-hep-ex")
    assert source is not None and source.last_error is None
    assert source.papers_added == report.added and source.cursor == {"from": "2023-11-14"}
    assert source.next_run_at == source.last_run_at + timedelta(hours=6)  # type: ignore[operator]


def test_second_harvest_adds_nothing_and_asks_only_for_what_is_new(
    store: SQLiteStore, fetchers: Fetchers, clock: FakeClock, oai: OaiList
) -> None:
    add(store, clock, "arxiv", set="cs.LG")
    harvest_source(store, fetchers, "arxiv-cs.LG")
    last = store.last_change()
    clock.t += 86400
    again = harvest_source(store, fetchers, "arxiv-cs.LG")
    assert (again.added, again.updated, again.error) == (0, 0, None)
    assert store.last_change() == last  # not one row rewritten
    assert oai.seen[len(oai.pages)]["from"] == "2023-11-14"  # the day the first list started


def test_requests_are_spaced_and_retry_after_is_honoured(
    store: SQLiteStore, fetchers: Fetchers, clock: FakeClock, oai: OaiList
) -> None:
    times: list[float] = []
    oai.on_request = lambda q: times.append(clock.t)
    oai.faults[1].append(Reply(503, b"busy", {"Retry-After": "37"}))
    oai.faults[2].append(Reply(429, b"slow down", {"Retry-After": "5"}))
    add(store, clock, "arxiv", set="cs.LG")
    report = harvest_source(store, fetchers, "arxiv-cs.LG")
    assert report.error is None and store.count_papers() == len(oai_fixture_ids())
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert min(gaps) >= 3.0
    assert 37.0 in clock.sleeps and gaps[1] >= 37.0  # the retry of page 1 waited as asked


@pytest.mark.parametrize(
    "fault",
    [
        Reply(fault=RESET),
        Reply(200, b"", fault=CUT),  # the body is filled in below
        Reply(500, b"oops"),
        Reply(502, b"bad gateway"),
    ],
    ids=["reset", "cut-off body", "500", "502"],
)
def test_transient_faults_are_retried_and_lose_nothing(
    store: SQLiteStore, fetchers: Fetchers, clock: FakeClock, oai: OaiList, fault: Reply
) -> None:
    if fault.fault == CUT:
        fault.body = oai.page(2)
    oai.faults[2].append(fault)
    add(store, clock, "arxiv", set="cs.LG")
    report = harvest_source(store, fetchers, "arxiv-cs.LG")
    assert report.error is None
    assert stored_ids(store) == oai_fixture_ids()
    assert len(oai.seen) == len(oai.pages) + 1  # the client retried the faulty page


@pytest.mark.parametrize(
    "body",
    [b"<OAI-PMH xmlns='http://www.openarchives.org/OAI/2.0/'><ListRecords><record>", b"\xff\xfe<"],
    ids=["truncated XML", "invalid UTF-8"],
)
def test_a_broken_page_fails_the_run_and_the_next_run_resumes_from_it(
    store: SQLiteStore, fetchers: Fetchers, clock: FakeClock, oai: OaiList, body: bytes
) -> None:
    oai.faults[3].append(Reply(200, body))
    add(store, clock, "arxiv", set="cs.LG")
    failed = harvest_source(store, fetchers, "arxiv-cs.LG")
    assert failed.error and "OAI-PMH" in failed.error
    assert failed.added == 3 * 4  # the pages before it are committed
    source = store.get_source("arxiv-cs.LG")
    assert source is not None and source.failures == 1 and source.cursor["token"] == "tok0-3"
    assert source.next_run_at == datetime.fromtimestamp(clock.t, UTC) + timedelta(minutes=5)
    clock.t += 600
    resumed = harvest_source(store, fetchers, "arxiv-cs.LG")
    assert resumed.error is None and resumed.requests == len(oai.pages) - 3
    assert stored_ids(store) == oai_fixture_ids()
    source = store.get_source("arxiv-cs.LG")
    assert source is not None and source.failures == 0 and source.last_error is None


def test_an_expired_token_restarts_the_list_without_duplicates(
    store: SQLiteStore, fetchers: Fetchers, clock: FakeClock, oai: OaiList
) -> None:
    oai.faults[2].extend([Reply(503, b"down")] * 5)  # the client gives up after 5 attempts
    add(store, clock, "arxiv", set="cs.LG")
    assert harvest_source(store, fetchers, "arxiv-cs.LG").error
    oai.epoch += 1  # a day later the server no longer knows the saved token
    clock.t += 86400
    report = harvest_source(store, fetchers, "arxiv-cs.LG")
    assert report.error is None, report.error
    assert any("restarted" in n for n in report.notes)
    assert stored_ids(store) == oai_fixture_ids()
    assert store.count_papers() == len(oai_fixture_ids())


def test_an_oai_error_reply_is_reported(
    store: SQLiteStore, fetchers: Fetchers, clock: FakeClock, replay: Replay
) -> None:
    replay.add("/oai", sticky=Reply(200, oai_error("badArgument", "Illegal set cs:cs:XX")))
    add(store, clock, "arxiv", set="cs.XX")
    report = harvest_source(store, fetchers, "arxiv-cs.XX")
    assert report.error == "OAI-PMH error badArgument: Illegal set cs:cs:XX"


def test_no_records_match_is_an_empty_success(
    store: SQLiteStore, fetchers: Fetchers, clock: FakeClock, replay: Replay
) -> None:
    replay.add("/oai", sticky=Reply(200, oai_error("noRecordsMatch", "nothing")))
    add(store, clock, "arxiv", set="math")
    report = harvest_source(store, fetchers, "arxiv-math")
    assert (report.error, report.added) == (None, 0)


def test_a_record_without_abstract_is_kept(
    store: SQLiteStore, fetchers: Fetchers, clock: FakeClock, replay: Replay
) -> None:
    record = oai_fixture_records()[0]
    start, end = record.index(b"<abstract>"), record.index(b"</abstract>") + len(b"</abstract>")
    served = OaiList([record[:start] + record[end:]])
    replay.handle("/oai", served)
    add(store, clock, "arxiv", set="cs")
    report = harvest_source(store, fetchers, "arxiv-cs")
    assert report.added == 1
    paper = store.get_paper(next(iter(stored_ids(store))))
    assert paper is not None and paper.abstract == "" and paper.title


def test_arxiv_raw_keeps_the_version_history(
    store: SQLiteStore, fetchers: Fetchers, clock: FakeClock, replay: Replay
) -> None:
    body = (OAI_DIR.parent / "invenio" / "arxivraw_GetRecord_1304.4214.xml").read_bytes()
    replay.add("/oai", sticky=Reply(200, body))
    add(store, clock, "arxiv", set="cs", metadata_format="arXivRaw", name="raw")
    assert harvest_source(store, fetchers, "raw").added == 1
    paper = store.get_paper("1304.4214")
    assert paper is not None and paper.version == 1 and paper.extra["versions"]


# -- arXiv API ---------------------------------------------------------------------------------


def test_api_query_pages_until_the_limit(
    store: SQLiteStore, fetchers: Fetchers, clock: FakeClock, replay: Replay
) -> None:
    api = ArxivApi()
    replay.handle("/api/query", api)
    source = new_source(
        "arxiv-api",
        SourceOptions(query="testing", max_results=60, since=date(1990, 1, 1)),
        datetime.fromtimestamp(clock.t, UTC),
    )
    store.add_source(SourceRow(**{**_fields(source), "config": {**source.config, "page_size": 10}}))
    report = harvest_source(store, fetchers, source.name)
    assert report.error is None
    assert [q["start"] for q in api.seen] == ["0", "10", "20", "30", "40", "50"]
    assert all(q["sortBy"] == "submittedDate" for q in api.seen)
    assert report.added + report.updated == store.count_papers() >= 55
    stored = store.get_source(source.name)
    assert stored is not None and stored.cursor["newest"].startswith("20")


def _fields(row: SourceRow) -> dict[str, object]:
    return {name: getattr(row, name) for name in row.__dataclass_fields__}


def test_id_lookups_and_the_error_feed(
    store: SQLiteStore, fetchers: Fetchers, replay: Replay
) -> None:
    replay.handle("/api/query", ArxivApi())
    report = fetch_arxiv_ids(store, fetchers, ["0808.05394", "1707.08567"])
    assert report.added == 1 and store.get_paper("1707.08567") is not None  # 0808.05394 is void
    with pytest.raises(Exception, match="incorrect id format for abc"):
        fetch_arxiv_ids(store, fetchers, ["abc"])


# -- listings and Hugging Face -----------------------------------------------------------------


def test_listing_records_announce_types_once(
    store: SQLiteStore, fetchers: Fetchers, clock: FakeClock, replay: Replay
) -> None:
    replay.add("/rss/cs.LG", sticky=Reply(200, LISTING_RSS.read_bytes()))
    add(store, clock, "arxiv-listing", categories=("cs.LG",))
    first = harvest_source(store, fetchers, "arxiv-listing-cs.LG")
    assert first.error is None and first.added > 0 and first.announcements >= first.added
    kinds = {a.kind for c in store.iter_changes(0) for a in store.get_announcements(c.paper.id)}
    assert {"new", "cross", "replace"} <= kinds
    again = harvest_source(store, fetchers, "arxiv-listing-cs.LG")
    assert (again.added, again.updated, again.announcements) == (0, 0, 0)


def hf_handler(upvote_bonus: list[int]) -> object:
    def answer(query: dict[str, str]) -> Reply:
        if query.get("date") != "2024-10-25" or query.get("p") != "0":
            return Reply(200, b"[]")
        items = orjson.loads(HF_DAY.read_bytes())
        items[0]["paper"]["ai_keywords"] = ["question synthesis", "reasoning"]  # newer answers
        for item in items:
            item["paper"]["upvotes"] += upvote_bonus[0]
        return Reply(200, orjson.dumps(items))

    return answer


def test_hf_daily_stores_papers_signals_and_the_featured_day(
    store: SQLiteStore, fetchers: Fetchers, clock: FakeClock, replay: Replay
) -> None:
    bonus = [0]
    replay.handle("/api/daily_papers", hf_handler(bonus))  # type: ignore[arg-type]
    add(store, clock, "hf-daily", since=date(2024, 10, 24))
    clock.t = datetime(2024, 10, 26, 9, tzinfo=UTC).timestamp()
    first = harvest_source(store, fetchers, "hf-daily")
    assert first.error is None and first.added == 4 and first.requests == 3  # 24th to 26th
    some = next(iter(stored_ids(store)))
    assert [(a.list, a.day, a.kind) for a in store.get_announcements(some)] == [
        ("hf-daily", date(2024, 10, 25), "featured")
    ]
    upvotes = [s for s in store.get_signals(some) if s.name == "hf_upvotes"]
    assert len(upvotes) == 1 and upvotes[0].source == "hf-daily"
    first_id = orjson.loads(HF_DAY.read_bytes())[0]["paper"]["id"]
    paper = store.get_paper(first_id)
    assert paper is not None and paper.extra["ai_keywords"] == ["question synthesis", "reasoning"]
    clock.t += 3600
    same = harvest_source(store, fetchers, "hf-daily")
    assert (same.added, same.signals) == (0, 0)
    bonus[0] = 5
    clock.t += 3600
    moved = harvest_source(store, fetchers, "hf-daily")
    assert moved.signals == 4  # one new upvote count per paper, with its time
    later = [s for s in store.get_signals(some) if s.name == "hf_upvotes"]
    assert later[1].value == later[0].value + 5 and later[1].observed_at > later[0].observed_at


def test_a_saved_daily_papers_file_is_stored_as_the_harvester_stores_it(
    store: SQLiteStore, fetchers: Fetchers, clock: FakeClock, replay: Replay, tmp_path: Path
) -> None:
    """`paperfeed ingest` of a saved /api/daily_papers response and a harvest of the same
    response leave the same papers, featured days and counts (the demo relies on it)."""

    def answer(query: dict[str, str]) -> Reply:
        day = query.get("date") == "2024-10-25" and query.get("p") == "0"
        return Reply(200, HF_DAY.read_bytes() if day else b"[]")

    replay.handle("/api/daily_papers", answer)  # type: ignore[arg-type]
    add(store, clock, "hf-daily", since=date(2024, 10, 25))
    clock.t = datetime(2024, 10, 25, 18, tzinfo=UTC).timestamp()
    assert harvest_source(store, fetchers, "hf-daily").added == 4
    saved = SQLiteStore(tmp_path / "saved.db")
    report = import_file(saved, HF_DAY, now=datetime.fromtimestamp(clock.t, UTC))
    assert (report.result.added, report.announcements, report.signals) == (4, 4, 8)
    for pid in stored_ids(store):
        assert saved.get_paper(pid) == store.get_paper(pid)
        assert saved.get_announcements(pid) == store.get_announcements(pid)
        assert saved.get_signals(pid) == store.get_signals(pid)
    again = import_file(saved, HF_DAY, now=datetime.fromtimestamp(clock.t + 60, UTC))
    assert (again.result.unchanged, again.announcements, again.signals) == (4, 0, 0)
    saved.close()


# -- failures, backoff and the scheduler -------------------------------------------------------


def test_a_dead_source_backs_off_and_never_stops_the_others(
    store: SQLiteStore, clock: FakeClock, replay: Replay, oai: OaiList
) -> None:
    dead = Endpoints(arxiv_oai=replay.base_url + "/oai", arxiv_api="http://127.0.0.1:9/api",
                     arxiv_rss="http://127.0.0.1:9", hf="http://127.0.0.1:9",
                     min_interval_s=0.0)  # fmt: skip
    add(store, clock, "arxiv-listing", categories=("cs.CL",))
    add(store, clock, "arxiv", set="cs.LG")
    scheduler = SourceScheduler(lambda: store, dead, clock=clock)
    reports = {r.source: r for r in scheduler.run_due(store)}
    scheduler.fetchers.close()
    assert reports["arxiv-cs.LG"].error is None and reports["arxiv-cs.LG"].added > 0
    failing = reports["arxiv-listing-cs.CL"]
    assert failing.error and "failed 5 times" in failing.error
    source = store.get_source("arxiv-listing-cs.CL")
    assert source is not None and source.failures == 1 and source.last_error == failing.error
    assert store.due_sources(datetime.fromtimestamp(clock.t, UTC)) == []


def test_backoff_doubles_up_to_a_ceiling_and_respects_retry_after() -> None:
    delays = [retry_delay_s(2 * 3600, n) for n in range(1, 9)]
    assert delays[:4] == [300, 600, 1200, 2400]
    assert max(delays) == 6 * 3600
    assert retry_delay_s(3600, 1, asked_s=1800) == 1800


def test_a_source_leased_by_another_process_is_skipped(
    store: SQLiteStore, fetchers: Fetchers, clock: FakeClock, oai: OaiList
) -> None:
    add(store, clock, "arxiv", set="cs.LG")
    now = datetime.fromtimestamp(clock.t, UTC)
    assert store.claim_source("arxiv-cs.LG", "other:1", now, now + timedelta(minutes=10))
    report = harvest_source(store, fetchers, "arxiv-cs.LG", owner="me:2")
    assert report.busy and oai.seen == []
    clock.t += 3600  # the other process died: its lease runs out
    assert harvest_source(store, fetchers, "arxiv-cs.LG", owner="me:2").added > 0


def test_a_run_whose_lease_another_node_took_over_stops_and_leaves_its_record_alone(
    tmp_path: Path, store: SQLiteStore, fetchers: Fetchers, clock: FakeClock, oai: OaiList
) -> None:
    """A page that took longer than the lease (a stalled node): another node took the run
    over. The stalled run stops at its next commit and records nothing: finishing the run
    would free the new holder's lease and count a failure against the source."""
    before = add(store, clock, "arxiv", set="cs.LG")

    def stall(query: dict[str, str]) -> None:
        if len(oai.seen) == 2:
            clock.t += 120  # the second page took two minutes
            now = datetime.fromtimestamp(clock.t, UTC)
            other = SQLiteStore(tmp_path / "harvest.db")  # node-b's own connection
            assert other.claim_source("arxiv-cs.LG", "node-b:1", now, now + timedelta(seconds=60))
            other.close()

    oai.on_request = stall
    report = harvest_source(store, fetchers, "arxiv-cs.LG", owner="node-a:2", lease_s=60)
    assert report.busy and report.error == "Another process took over arxiv-cs.LG; stopped."
    assert len(oai.seen) == 2 and report.added > 0  # the first page is in
    row = store.get_source("arxiv-cs.LG")
    assert row is not None and row.lease_owner == "node-b:1"
    assert (row.last_run_at, row.failures, row.next_run_at) == (None, 0, before.next_run_at)


def test_the_arxiv_floor_holds_whatever_the_settings() -> None:
    fast = Fetchers(Endpoints("https://oaipmh.arxiv.org/oai", "https://export.arxiv.org/api",
                              "https://rss.arxiv.org", "https://huggingface.co",
                              min_interval_s=0.0))  # fmt: skip
    assert fast.interval_for("https://export.arxiv.org/api/query") == 3.0
    assert fast.interval_for("https://huggingface.co/api/daily_papers") == 0.0
    assert fast.interval_for("https://notarxiv.org.example.com/") == 0.0


def test_an_unknown_source_is_a_sentence(store: SQLiteStore, fetchers: Fetchers) -> None:
    assert harvest_source(store, fetchers, "nope").error == (
        "There is no source named 'nope'; see `paperfeed sources list`."
    )


def test_the_scheduler_thread_harvests_due_sources_and_stops(
    tmp_path: Path, replay: Replay, oai: OaiList
) -> None:
    db = tmp_path / "scheduled.db"
    setup = SQLiteStore(db)
    setup.add_source(new_source("arxiv", SourceOptions(set="cs.LG"), datetime.now(UTC)))
    fast = dataclasses.replace(endpoints_for(replay.base_url), min_interval_s=0.0)
    seen: list[str] = []
    scheduler = SourceScheduler(
        lambda: SQLiteStore(db), fast, poll_s=0.05, on_harvest=lambda r: seen.append(r.source)
    )
    scheduler.start()
    try:
        deadline = time.monotonic() + 20
        while not seen and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        scheduler.stop()
    assert seen == ["arxiv-cs.LG"]  # once: the next run is 6 h away
    assert setup.count_papers() == len(oai_fixture_ids())
    setup.close()


def test_a_scheduler_that_found_a_source_leased_looks_again_when_the_lease_runs_out(
    tmp_path: Path, replay: Replay, oai: OaiList
) -> None:
    """Another node holds the source and dies: this scheduler takes the run over when the lease
    runs out, not at its next poll (poll_s: a minute here)."""
    db = tmp_path / "scheduled.db"
    setup = SQLiteStore(db)
    setup.add_source(new_source("arxiv", SourceOptions(set="cs.LG"), datetime.now(UTC)))
    now = datetime.now(UTC)
    assert setup.claim_source("arxiv-cs.LG", "node-b:1", now, now + timedelta(seconds=1))
    fast = dataclasses.replace(endpoints_for(replay.base_url), min_interval_s=0.0)
    seen: list[float] = []
    scheduler = SourceScheduler(lambda: SQLiteStore(db), fast, poll_s=60, owner="node-a:2",
                                on_harvest=lambda r: seen.append(time.monotonic()))  # fmt: skip
    started = time.monotonic()
    scheduler.start()
    try:
        while not seen and time.monotonic() < started + 20:
            time.sleep(0.02)
    finally:
        scheduler.stop()
    assert seen and 0.9 <= seen[0] - started < 10
    assert setup.count_papers() == len(oai_fixture_ids())
    setup.close()


def test_a_run_without_network_counts_every_request_and_reports_each_retry(
    store: SQLiteStore, clock: FakeClock
) -> None:
    """Port 9 on 127.0.0.1 refuses: 1 page asked for, 5 requests sent, 4 retries announced
    (with their backoff) before each wait, and the report agrees with the error's "5 times"."""
    closed = Endpoints(arxiv_oai="http://127.0.0.1:9/oai", arxiv_api="http://127.0.0.1:9/api",
                       arxiv_rss="http://127.0.0.1:9", hf="http://127.0.0.1:9",
                       min_interval_s=0.0)  # fmt: skip
    heard: list[Retry] = []
    fetchers = Fetchers(closed, clock, on_retry=heard.append)
    add(store, clock, "arxiv", set="cs.LG")
    report = harvest_source(store, fetchers, "arxiv-cs.LG")
    fetchers.close()
    assert report.error and "failed 5 times" in report.error
    assert (report.requests, report.sent) == (1, 5)
    assert [(r.attempt, r.max_attempts, r.wait_s) for r in heard] == [
        (1, 5, 5.0), (2, 5, 10.0), (3, 5, 20.0), (4, 5, 40.0)]  # fmt: skip
    assert all(r.url == "http://127.0.0.1:9/oai" and "ConnectError" in r.error for r in heard)
    assert report.took_s == 75.0  # the waits, on the injected clock


def test_retries_that_succeed_are_counted_too(
    store: SQLiteStore, fetchers: Fetchers, clock: FakeClock, replay: Replay
) -> None:
    replay.add("/rss/cs.CL", Reply(503, b"busy", {"Retry-After": "1"}))
    replay.add("/rss/cs.CL", Reply(200, LISTING_RSS.read_bytes()))
    add(store, clock, "arxiv-listing", categories=("cs.CL",))
    report = harvest_source(store, fetchers, "arxiv-listing-cs.CL")
    assert report.error is None and report.added > 0
    assert (report.requests, report.sent) == (1, 2)
