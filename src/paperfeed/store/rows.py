"""What both backends share besides SQL: the columns of the tables as the code names them,
records to rows and back (times and days as ISO 8601 text, JSON as text), the keys a paper is
looked up by, and how a batch of upserts is merged (`Merge`; each backend reads and writes)."""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime
from typing import Any

import orjson

from paperfeed.models import (
    Paper,
    can_merge,
    identity_keys,
    merge_papers,
    normalize_doi,
    parse_arxiv_id,
)
from paperfeed.store.models import (
    Delivery,
    Preferences,
    SourceRow,
    Subscriber,
    UpsertResult,
    User,
)

COLUMN_NAMES = (
    "id", "arxiv_id", "doi", "title", "abstract", "authors", "categories", "published",
    "updated", "version", "url", "pdf_url", "code_url", "sources", "extra",
)  # fmt: skip

COLUMNS = ", ".join(COLUMN_NAMES)

NO_ROW = 2**62  # above every paper row: "no upper bound"


def iso(d: datetime | None) -> str | None:
    return d.isoformat() if d else None


def ts(d: datetime) -> str:
    """A UTC timestamp as text that sorts in time order."""
    return d.astimezone(UTC).isoformat(timespec="microseconds")


def parse_time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


SOURCE_COLUMNS = (
    "name, kind, config, interval_s, next_run_at, enabled, created_at, cursor, last_run_at, "
    "last_ok_at, last_error, failures, last_added, papers_added, lease_owner, lease_until"
)


def row_source(r: Sequence[Any]) -> SourceRow:
    return SourceRow(
        name=r[0],
        kind=r[1],
        config=orjson.loads(r[2]),
        interval_s=int(r[3]),
        next_run_at=datetime.fromisoformat(r[4]),
        enabled=bool(r[5]),
        created_at=parse_time(r[6]),
        cursor=orjson.loads(r[7]),
        last_run_at=parse_time(r[8]),
        last_ok_at=parse_time(r[9]),
        last_error=r[10],
        failures=int(r[11]),
        last_added=int(r[12]),
        papers_added=int(r[13]),
        lease_owner=r[14],
        lease_until=parse_time(r[15]),
    )


def paper_values(p: Paper) -> tuple[Any, ...]:
    return (
        p.id,
        p.arxiv_id,
        p.doi,
        p.title,
        p.abstract,
        orjson.dumps(p.authors).decode(),
        orjson.dumps(p.categories).decode(),
        iso(p.published),
        iso(p.updated),
        p.version,
        p.url,
        p.pdf_url,
        p.code_url,
        orjson.dumps(p.sources).decode(),
        orjson.dumps(p.extra).decode(),
    )


def row_paper(row: Sequence[Any]) -> Paper:
    """Inverse of `paper_values`; `row` holds the columns in `COLUMNS` order."""
    return Paper(
        id=row[0],
        arxiv_id=row[1],
        doi=row[2],
        title=row[3],
        abstract=row[4],
        authors=tuple(orjson.loads(row[5])),
        categories=tuple(orjson.loads(row[6])),
        published=datetime.fromisoformat(row[7]) if row[7] else None,
        updated=datetime.fromisoformat(row[8]) if row[8] else None,
        version=row[9],
        url=row[10],
        pdf_url=row[11],
        code_url=row[12],
        sources=tuple(orjson.loads(row[13])),
        extra=orjson.loads(row[14]),
    )


SUBSCRIBER_COLUMNS = (
    "id, email, state, created_at, requested_at, request_source, confirm_sent_at, consent_at,"
    " consent_source, unsubscribed_at, bounces, last_period, last_day, frequency, weekday,"
    " hour, timezone, topics, categories, include_trending, max_papers, empty_notice, last_seq,"
    " channel, target, user_id, secret, failures, disabled_note"
)

DELIVERY_COLUMNS = (
    "id, subscriber_id, kind, period, state, message_id, plan, planned_at, send_by, attempts,"
    " next_attempt_at, last_error, sent_at"
)


def channel_address(channel: str) -> str:
    """The synthetic, unique address a notification channel holds in `subscribers.email`: in
    the reserved .invalid domain, so no mail can ever go there and no reader can claim it."""
    return f"{channel}-{secrets.token_hex(12)}@channels.invalid"


def rows_by_kind(rows: Iterable[Sequence[Any]]) -> dict[str, dict[str, int]]:
    """(kind, state, count) rows as {kind: {state: count}}."""
    out: dict[str, dict[str, int]] = {}
    for kind, state, n in rows:
        out.setdefault(kind, {})[state] = int(n)
    return out


def row_subscriber(r: Sequence[Any]) -> Subscriber:
    prefs = Preferences(
        frequency=r[13], weekday=r[14], hour=r[15], timezone=r[16],
        topics=tuple(orjson.loads(r[17])), categories=tuple(orjson.loads(r[18])),
        include_trending=bool(r[19]), max_papers=r[20], empty_notice=bool(r[21]),
    )  # fmt: skip
    return Subscriber(
        id=r[0], email=r[1], state=r[2], prefs=prefs, created_at=r[3], requested_at=r[4],
        request_source=r[5], confirm_sent_at=r[6], consent_at=r[7], consent_source=r[8],
        unsubscribed_at=r[9], bounces=r[10], last_period=r[11], last_day=parse_day(r[12]),
        last_seq=r[22], channel=r[23], target=r[24], user_id=r[25], secret=r[26],
        failures=r[27], disabled_note=r[28],
    )  # fmt: skip


def row_delivery(r: Sequence[Any]) -> Delivery:
    return Delivery(
        id=r[0], subscriber_id=r[1], kind=r[2], period=r[3], state=r[4], message_id=r[5],
        plan=orjson.loads(r[6]), planned_at=r[7], send_by=r[8], attempts=r[9],
        next_attempt_at=r[10], last_error=r[11], sent_at=r[12],
    )  # fmt: skip


def row_user(row: Sequence[Any]) -> User:
    return User(int(row[0]), str(row[1]), datetime.fromisoformat(row[2]))


def day_iso(d: date | None) -> str | None:
    return d.isoformat() if d else None


def parse_day(text: str | None) -> date | None:
    return date.fromisoformat(text) if text else None


def lookup_keys(ref: str) -> list[str]:
    keys = []
    parsed = parse_arxiv_id(ref)
    if parsed:
        keys.append("arxiv:" + parsed[0])
    doi = normalize_doi(ref)
    if doi:
        keys.append("doi:" + doi)
    keys.append("id:" + ref.strip())
    return keys


class Merge:
    """One batch of upserts inside one transaction: every key of the batch looked up once
    (`wanted` -> `owners`, the papers they name in `current`), records merged in memory (ones
    that repeat inside the batch merge with each other), then written by the backend's
    `_write` (`dirty`: the rows to write, `new` among them; `dirty_keys`: their keys)."""

    def __init__(self, papers: Sequence[Paper]) -> None:
        self.papers = papers
        self.keys = [identity_keys(p) for p in papers]
        self.wanted = {k for keys in self.keys for k in keys}
        self.owners: dict[str, int] = {}
        self.current: dict[int, Paper] = {}
        self.next_seq = 0
        self.new: set[int] = set()
        self.dirty: dict[int, Paper] = {}
        self.dirty_keys: dict[int, list[str]] = {}
        self.unchanged = 0

    def _match(self, paper: Paper, keys: list[str]) -> int | None:
        for key in keys:
            seq = self.owners.get(key)
            if seq is not None and can_merge(self.current[seq], paper, key):
                return seq
        return None

    def run(self) -> UpsertResult:
        for paper, keys in zip(self.papers, self.keys, strict=True):
            seq = self._match(paper, keys)
            if seq is None:
                self.next_seq += 1
                seq = self.next_seq
                self.new.add(seq)
                self.current[seq] = self.dirty[seq] = paper
                self.dirty_keys[seq] = keys
            else:
                merged = merge_papers(self.current[seq], paper)
                if merged is self.current[seq]:
                    self.unchanged += 1
                    continue
                self.current[seq] = self.dirty[seq] = merged
                self.dirty_keys[seq] = [*keys, *identity_keys(merged)]
            for key in self.dirty_keys[seq]:
                self.owners.setdefault(key, seq)
        self._write()
        return UpsertResult(
            added=len(self.new),
            updated=len(self.dirty) - len(self.new),
            unchanged=self.unchanged,
        )

    def _write(self) -> None:
        raise NotImplementedError
