"""Harvest configured sources: fetch politely, parse, and commit page by page.

One run of one source (`harvest_source`) takes the source's lease, fetches pages with the
shared polite clients (one per host, so two arXiv sources never hit arXiv faster than the
interval), and commits each page's papers, announcements and signals *together with the
cursor that follows them* in one transaction. A run killed at any point therefore resumes
from the last committed page, and since upserts are idempotent a page fetched twice changes
nothing: no record is lost or duplicated. A failing run never raises: it records its error
and a retry time with exponential backoff, so one broken source never stops the others.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import partial
from typing import Any, TypeVar
from urllib.parse import urlsplit

from paperfeed.config import Settings
from paperfeed.errors import PaperfeedError
from paperfeed.ingest.arxiv_atom import AtomPage, parse_arxiv_atom
from paperfeed.ingest.arxiv_listing import parse_arxiv_listing
from paperfeed.ingest.arxiv_oai import OaiError, parse_oai_page
from paperfeed.ingest.hf_daily import daily_records, parse_daily_page
from paperfeed.ingest.http import (
    Clock,
    FetchError,
    FetchPolicy,
    OnRetry,
    PoliteClient,
    SystemClock,
)
from paperfeed.ingest.sources import DEFAULT_LOOKBACK_DAYS
from paperfeed.models import Paper
from paperfeed.owners import dead_local_owner, default_owner, node_of
from paperfeed.store import Announcement, Signal, SourceRow, Store, UpsertResult

log = logging.getLogger(__name__)
_T = TypeVar("_T")

ARXIV_MIN_INTERVAL_S = 3.0  # arXiv's published rule: at most one request every 3 seconds
OTHER_MIN_INTERVAL_S = 1.0
RETRY_FIRST_S = 300.0  # a failed source is retried after 5 min, 10, 20, ... (backoff)
RETRY_MAX_S = 6 * 3600.0
LEASE_S = 900.0  # renewed on every committed page; a dead holder of this node frees it at once
API_PAGE_SIZE = 100
HF_PAGE_SIZE = 100
HF_MAX_PAGES = 10
HF_REFRESH_DAYS = 2  # upvotes keep moving for a few days: re-read the last ones each run


@dataclass(frozen=True, slots=True)
class Endpoints:
    """Base URLs of the sources (settings, so tests and mirrors can point elsewhere) and the
    spacing between requests to one host (None: 3 s for arXiv, 1 s for others)."""

    arxiv_oai: str
    arxiv_api: str
    arxiv_rss: str
    hf: str
    min_interval_s: float | None = None


def endpoints_from(settings: Settings) -> Endpoints:
    return Endpoints(
        arxiv_oai=settings.arxiv_oai_url,
        arxiv_api=settings.arxiv_api_url,
        arxiv_rss=settings.arxiv_rss_url,
        hf=settings.hf_url,
        min_interval_s=settings.fetch_interval_s,
    )


class Fetchers:
    """One polite client per host, shared by every source a process harvests."""

    def __init__(self, endpoints: Endpoints, clock: Clock | None = None,
                 on_retry: OnRetry | None = None) -> None:  # fmt: skip
        self.endpoints = endpoints
        self.clock = clock or SystemClock()
        self.on_retry = on_retry  # told of each failed request before its retry (progress)
        self._clients: dict[str, PoliteClient] = {}

    @property
    def sent(self) -> int:
        """HTTP requests sent so far by every client, retries included."""
        return sum(client.sent for client in self._clients.values())

    def interval_for(self, url: str) -> float:
        host = urlsplit(url).hostname or ""
        interval = self.endpoints.min_interval_s
        if host == "arxiv.org" or host.endswith(".arxiv.org"):  # never below arXiv's rule
            return max(interval or 0.0, ARXIV_MIN_INTERVAL_S)
        return OTHER_MIN_INTERVAL_S if interval is None else interval

    def get(self, url: str, params: Mapping[str, str] | None = None) -> bytes:
        host = urlsplit(url).netloc
        client = self._clients.get(host)
        if client is None:
            policy = FetchPolicy(min_interval_s=self.interval_for(url))
            client = self._clients[host] = PoliteClient(policy=policy, clock=self.clock,
                                                        on_retry=self.on_retry)  # fmt: skip
        return client.get(url, params).body

    def get_arxiv_api(self, params: Mapping[str, str]) -> AtomPage:
        """One arXiv API page; its error feed (sent with HTTP 400) becomes ArxivApiError with
        the API's own words."""
        try:
            body = self.get(self.endpoints.arxiv_api, params)
        except FetchError as e:
            if e.status is not None and 400 <= e.status < 500 and e.body:
                parse_arxiv_atom(e.body)  # raises ArxivApiError when it is the error feed
            raise
        return parse_arxiv_atom(body)

    def close(self) -> None:
        for client in self._clients.values():
            client.close()
        self._clients.clear()


@dataclass
class HarvestReport:
    source: str
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    requests: int = 0  # pages asked for
    sent: int = 0  # HTTP requests sent for them: one each, plus every retry
    took_s: float = 0.0
    deleted: int = 0  # records arXiv says were withdrawn from the list (kept here)
    announcements: int = 0
    signals: int = 0
    skipped: list[str] = field(default_factory=list)  # records left out, with the reason
    notes: list[str] = field(default_factory=list)  # things that went wrong and were handled
    error: str | None = None  # the run failed (what it committed before is kept)
    busy: bool = False  # another process holds this source's lease: not run (or not to the end)
    busy_until: datetime | None = None  # busy: when that lease runs out unless renewed
    next_run_at: datetime | None = None

    def count(self, result: UpsertResult) -> None:
        self.added += result.added
        self.updated += result.updated
        self.unchanged += result.unchanged


class _LeaseLost(PaperfeedError):
    pass


def _counted(report: HarvestReport, fetchers: Fetchers, ask: Callable[[], _T]) -> _T:
    """One page asked for, and the HTTP requests that took (retries too), failed or not."""
    report.requests += 1
    before = fetchers.sent
    try:
        return ask()
    finally:
        report.sent += fetchers.sent - before


def _utc(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def retry_delay_s(interval_s: float, failures: int, asked_s: float | None = None) -> float:
    """How long a source that failed `failures` runs in a row waits: 5 min doubling up to
    max(interval, 6 h), and at least what the server asked for."""
    delay = min(RETRY_FIRST_S * 2.0 ** max(failures - 1, 0), max(interval_s, RETRY_MAX_S))
    return max(delay, asked_s or 0.0)


class _Run:
    """One run of one source: fetch through the shared clients, commit pages atomically."""

    def __init__(
        self,
        store: Store,
        fetchers: Fetchers,
        source: SourceRow,
        owner: str,
        report: HarvestReport,
        lease_s: float = LEASE_S,
    ) -> None:
        self.store, self.fetchers, self.source = store, fetchers, source
        self.owner, self.report, self.lease_s = owner, report, lease_s
        self.endpoints = fetchers.endpoints
        self.cursor: dict[str, Any] = dict(source.cursor)

    def now(self) -> datetime:
        return _utc(self.fetchers.clock.now())

    def start_day(self) -> date:
        since = self.source.config.get("since")
        if since:
            return date.fromisoformat(since)
        return self.now().date() - timedelta(days=DEFAULT_LOOKBACK_DAYS)

    def fetch(self, url: str, params: Mapping[str, str] | None = None) -> bytes:
        return _counted(self.report, self.fetchers, lambda: self.fetchers.get(url, params))

    def fetch_api(self, params: Mapping[str, str]) -> AtomPage:
        return _counted(self.report, self.fetchers, lambda: self.fetchers.get_arxiv_api(params))

    def commit(
        self,
        papers: Sequence[Paper],
        *,
        cursor: Mapping[str, Any] | None = None,
        announcements: Sequence[Announcement] = (),
        signals: Sequence[Signal] = (),
        skipped: Sequence[str] = (),
    ) -> None:
        now = self.now()
        with self.store.transaction():
            if not self.store.claim_source(
                self.source.name, self.owner, now, now + timedelta(seconds=self.lease_s)
            ):
                raise _LeaseLost(f"Another process took over {self.source.name}; stopped.")
            result = self.store.upsert_papers(papers)
            added_ann = self.store.add_announcements(announcements)
            added_sig = self.store.record_signals(signals, now, self.source.kind)
            if cursor is not None:
                self.store.save_cursor(self.source.name, cursor)
        self.report.count(result)  # only once the transaction is in
        self.report.announcements += added_ann
        self.report.signals += added_sig
        self.report.skipped.extend(skipped)
        if cursor is not None:
            self.cursor = dict(cursor)


def _harvest_oai(run: _Run) -> None:
    config = run.source.config
    today = run.now().date().isoformat()
    cursor = run.cursor
    if not cursor.get("token"):
        cursor = {"from": cursor.get("from") or run.start_day().isoformat(), "until": today}
    restarted = False
    while True:
        if cursor.get("token"):
            params = {"verb": "ListRecords", "resumptionToken": cursor["token"]}
        else:
            params = {"verb": "ListRecords", "metadataPrefix": config.get("format", "arXiv"),
                      "set": config["set"], "from": cursor["from"]}  # fmt: skip
        try:
            page = parse_oai_page(run.fetch(run.endpoints.arxiv_oai, params))
        except OaiError as e:
            if e.code != "badResumptionToken" or not cursor.get("token") or restarted:
                raise
            # Tokens expire (a run killed overnight); the list restarts from its first day,
            # which re-reads committed pages harmlessly (upserts are idempotent).
            run.report.notes.append(
                f"resumption token no longer valid ({e.message}); restarted from {cursor['from']}"
            )
            cursor, restarted = {"from": cursor["from"], "until": today}, True
            continue
        run.report.deleted += len(page.deleted)
        if page.is_last_page:
            # The next list starts on the day this one started: datestamps are days, and
            # re-reading a day is harmless, missing one is not.
            cursor = {"from": cursor["until"]}
        else:
            assert page.resumption is not None
            cursor = {**cursor, "token": page.resumption.token}
        run.commit(page.papers, cursor=cursor, skipped=page.skipped)
        if page.is_last_page:
            return


def _harvest_api(run: _Run) -> None:
    config = run.source.config
    max_results = int(config.get("max_results", 1000))
    page_size = int(config.get("page_size", API_PAGE_SIZE))
    seen = run.cursor.get("newest")
    floor = datetime.fromisoformat(seen) if seen else _day_start(run.start_day())
    newest = floor
    start, empty_pages = 0, 0
    while start < max_results:
        params = {"search_query": config["query"], "start": str(start),
                  "max_results": str(min(page_size, max_results - start)),
                  "sortBy": "submittedDate", "sortOrder": "descending"}  # fmt: skip
        page = run.fetch_api(params)
        if not page.papers and not page.skipped:
            # The API sometimes answers an empty page in the middle of a result list.
            if page.total_results and start < page.total_results and empty_pages < 2:
                empty_pages += 1
                run.report.notes.append(f"empty page at start={start}; asked again")
                continue
            break
        run.commit(page.papers, skipped=page.skipped)
        dated = [p.published for p in page.papers if p.published]
        newest = max([newest, *dated])
        start += len(page.papers) + len(page.skipped)
        if (dated and min(dated) < floor) or (page.total_results or 0) <= start:
            break  # sorted newest first: the rest is known ground
    run.commit((), cursor={"newest": newest.isoformat()})


def _day_start(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _harvest_listing(run: _Run) -> None:

    categories: list[str] = list(run.source.config["categories"])
    url = f"{run.endpoints.arxiv_rss.rstrip('/')}/rss/{'+'.join(categories)}"
    page = parse_arxiv_listing(run.fetch(url))
    today = run.now().date()
    announcements = []
    for item in page.items:
        day = item.announced_on or page.day or today
        for category in _lists_of(item.paper.categories, categories):
            announcements.append(
                Announcement(item.paper.id, f"arxiv:{category}", day, item.announce_type)
            )
    day = page.day or today
    run.commit(
        [item.paper for item in page.items],
        cursor={"day": day.isoformat()},
        announcements=announcements,
        skipped=page.skipped,
    )


def _lists_of(paper_categories: Sequence[str], configured: Sequence[str]) -> list[str]:
    """The configured listings a paper belongs to (`cs` holds `cs.LG`)."""
    return [
        c for c in configured if any(pc == c or pc.startswith(c + ".") for pc in paper_categories)
    ] or [configured[0]]


def _harvest_hf(run: _Run) -> None:
    today = run.now().date()
    last = run.cursor.get("day")
    day = date.fromisoformat(last) - timedelta(days=HF_REFRESH_DAYS) if last else run.start_day()
    while day <= today:
        for n in range(HF_MAX_PAGES):
            params = {"date": day.isoformat(), "limit": str(HF_PAGE_SIZE), "p": str(n)}
            page = parse_daily_page(run.fetch(f"{run.endpoints.hf.rstrip('/')}/api/daily_papers",
                                              params), day)  # fmt: skip
            records = daily_records(page.papers)
            run.commit(records.papers, cursor={"day": day.isoformat()},
                       announcements=records.announcements, signals=records.signals,
                       skipped=page.skipped)  # fmt: skip
            if len(page.papers) + len(page.skipped) < HF_PAGE_SIZE:
                break
        day += timedelta(days=1)


HARVESTERS: dict[str, Callable[[_Run], None]] = {
    "arxiv": _harvest_oai,
    "arxiv-api": _harvest_api,
    "arxiv-listing": _harvest_listing,
    "hf-daily": _harvest_hf,
}


def harvest_source(
    store: Store,
    fetchers: Fetchers,
    name: str,
    *,
    owner: str | None = None,
    lease_s: float | None = None,
) -> HarvestReport:
    """Run one source now, holding its lease (`lease_s`, default LEASE_S, renewed on every
    committed page). Never raises for a source's failure: the report says what happened, and
    the store records it with the next run time. A run whose lease another node took over (it
    ran out while a page took longer) stops and records nothing: the new holder's run does."""
    owner = owner or default_owner()
    lease_s = lease_s or LEASE_S
    report = HarvestReport(name)
    clock = fetchers.clock
    started = _utc(clock.now())
    source = store.get_source(name)
    if source is None:
        report.error = f"There is no source named {name!r}; see `paperfeed sources list`."
        return report
    until = started + timedelta(seconds=lease_s)
    if not store.claim_source(name, owner, started, until) and not (
        (dead := dead_local_owner(source.lease_owner, node_of(owner)))
        and store.claim_source(name, owner, started, until, take_from=dead)
    ):
        now_held = store.get_source(name)  # (its holder may have claimed it since we read it)
        report.busy, report.busy_until = True, now_held.lease_until if now_held else None
        report.error = f"{name} is being harvested by another process."
        return report
    source = store.get_source(name) or source  # its cursor as the last holder left it
    asked: float | None = None
    try:
        HARVESTERS[source.kind](_Run(store, fetchers, source, owner, report, lease_s))
    except _LeaseLost as e:
        report.busy, report.error = True, str(e)
        log.warning("harvest stopped source=%s: %s", name, e)
        return report  # (finishing the run would free the new holder's lease)
    except FetchError as e:
        report.error, asked = str(e), e.retry_after_s
    except PaperfeedError as e:
        report.error = str(e)
    except Exception as e:  # a bug must not stop the other sources: log it, back off
        log.exception("harvest failed source=%s", name)
        report.error = f"internal error ({type(e).__name__}: {e}); see the log."
    finished = _utc(clock.now())
    report.took_s = (finished - started).total_seconds()
    if report.error is None:
        next_run = started + timedelta(seconds=source.interval_s)
    else:
        delay = retry_delay_s(source.interval_s, source.failures + 1, asked)
        next_run = finished + timedelta(seconds=delay)
        log.info("harvest failed source=%s error=%s retry_at=%s", name, report.error,
                    next_run.isoformat())  # fmt: skip
    report.next_run_at = next_run
    store.finish_source_run(name, ran_at=started, next_run_at=next_run, added=report.added,
                            error=report.error)  # fmt: skip
    return report


def fetch_arxiv_ids(store: Store, fetchers: Fetchers, ids: Sequence[str]) -> HarvestReport:
    """Look papers up by arXiv id through the API (`id_list`, 100 per request) and store
    them. Raises FetchError / ArxivApiError: the caller named these ids."""
    report = HarvestReport("arxiv-api id_list")
    started = fetchers.clock.now()
    for i in range(0, len(ids), API_PAGE_SIZE):
        chunk = ids[i : i + API_PAGE_SIZE]
        params = {"id_list": ",".join(chunk), "max_results": str(len(chunk))}
        page = _counted(report, fetchers, partial(fetchers.get_arxiv_api, params))
        report.count(store.upsert_papers(page.papers))
        report.skipped.extend(page.skipped)
    report.took_s = fetchers.clock.now() - started
    return report
