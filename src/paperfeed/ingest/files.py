"""Import papers from JSON-lines files (our own format, the seed papers, the arXiv snapshot) and
saved Hugging Face `/api/daily_papers` responses.

Streaming: the file is read line by line and written in batches, each batch one transaction,
so a multi-GB snapshot never sits in memory and a killed import leaves only whole batches
behind (re-running it is safe: upserts are idempotent). A bad line is reported with its number
and reason and the rest of the file still goes in. A Hugging Face entry (an object holding a
`paper` object) is read by the hf-daily parser and stored as the harvester stores it: the
paper, its "featured" day and its upvotes, comments and stars as signals observed at `now`.
"""

from __future__ import annotations

import gzip
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from paperfeed.errors import InputError
from paperfeed.ingest.hf_daily import HF_DAILY_SOURCE, DailyPaper, daily_records, parse_daily_item
from paperfeed.ingest.records import RecordError, parse_record
from paperfeed.models import Paper
from paperfeed.store import Store, UpsertResult

Record = Paper | DailyPaper

BATCH_SIZE = 5000


@dataclass(frozen=True, slots=True)
class LineError:
    line: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


@dataclass(slots=True)
class ImportReport:
    path: str
    lines: int = 0
    result: UpsertResult = field(default_factory=UpsertResult)
    errors: list[LineError] = field(default_factory=list)
    announcements: int = 0  # Hugging Face "featured" days newly stored
    signals: int = 0  # upvote, comment and star counts newly stored

    @property
    def papers(self) -> int:
        return self.lines - len(self.errors)


def _open(path: Path) -> BinaryIO:
    try:
        if path.suffix == ".gz":
            return gzip.open(path, "rb")  # type: ignore[return-value]
        return path.open("rb")
    except FileNotFoundError:
        raise InputError(f"No such file: {path}.") from None
    except IsADirectoryError:
        raise InputError(f"{path} is a folder; give the .jsonl file inside it.") from None
    except OSError as e:
        raise InputError(f"Cannot read {path}: {e.strerror}.") from None


def parse_line(raw: bytes) -> Record:
    """One line of a JSONL file to a Paper (or a Hugging Face entry); RecordError says why not."""
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        if "UTF-8" in e.msg:
            raise RecordError("not valid UTF-8 text") from None
        raise RecordError(f"not valid JSON: {e.msg} at column {e.colno}") from None
    return parse_object(obj)


def parse_object(obj: Any) -> Record:
    """A Hugging Face daily-papers entry (it holds a `paper` object), or a paper record."""
    if isinstance(obj, dict) and isinstance(obj.get("paper"), dict):
        return parse_daily_item(obj)
    return parse_record(obj)


def iter_records(stream: BinaryIO) -> Iterator[tuple[int, int, Record | RecordError]]:
    """(line number, bytes read, paper or error) for each non-blank line. A file holding one
    JSON array (as some exports are) is read whole and numbered by item instead."""
    if _looks_like_json_array(stream):
        yield from _iter_array(stream)
        return
    for number, raw in enumerate(stream, start=1):
        if raw.strip():
            try:
                yield number, len(raw), parse_line(raw)
            except RecordError as e:
                yield number, len(raw), e


def _looks_like_json_array(stream: BinaryIO) -> bool:
    """True for a file whose first line opens a JSON array that the line does not close
    (`[` alone, or `[{...},`): a pretty-printed export, not JSON lines."""
    peek = getattr(stream, "peek", None)
    head = peek(65536) if peek else b""
    first = head.lstrip().split(b"\n", 1)[0]
    if not first.startswith(b"["):
        return False
    try:
        orjson.loads(first)
    except orjson.JSONDecodeError:
        return True
    return False


def _iter_array(stream: BinaryIO) -> Iterator[tuple[int, int, Record | RecordError]]:
    data = stream.read()
    try:
        items = orjson.loads(data)
    except orjson.JSONDecodeError as e:
        yield 1, len(data), RecordError(f"the file starts like a JSON array but is not one ({e})")
        return
    for number, obj in enumerate(items, start=1):
        try:
            yield number, 0, parse_object(obj)
        except RecordError as e:
            yield number, 0, e


@dataclass(slots=True)
class _Batch:
    papers: list[Paper] = field(default_factory=list)
    featured: list[DailyPaper] = field(default_factory=list)
    errors: list[LineError] = field(default_factory=list)
    lines: int = 0
    nbytes: int = 0


def _iter_batches(stream: BinaryIO, batch_size: int) -> Iterator[_Batch]:
    batch = _Batch()
    for number, size, item in iter_records(stream):
        batch.lines += 1
        batch.nbytes += size
        if isinstance(item, RecordError):
            batch.errors.append(LineError(number, str(item)))
        elif isinstance(item, DailyPaper):
            batch.featured.append(item)
        else:
            batch.papers.append(item)
        if len(batch.papers) + len(batch.featured) >= batch_size:
            yield batch
            batch = _Batch()
    yield batch


def import_file(
    store: Store,
    path: str | Path,
    *,
    batch_size: int = BATCH_SIZE,
    on_bytes: Callable[[int], None] | None = None,
    now: datetime | None = None,
) -> ImportReport:
    """Import every good line of `path`; the report lists each bad one. Each batch is one
    transaction, so an interrupted import leaves whole batches and can simply be re-run.
    Signals of Hugging Face entries are recorded as observed at `now` (default: the clock)."""
    path = Path(path)
    report = ImportReport(str(path))
    observed_at = now or datetime.now(UTC)
    with _open(path) as stream:
        try:
            for batch in _iter_batches(stream, batch_size):
                _store_batch(store, batch, observed_at, report)
                report.lines += batch.lines
                report.errors.extend(batch.errors)
                if on_bytes:
                    on_bytes(batch.nbytes)
        except (OSError, EOFError) as e:
            raise InputError(f"Reading {path} failed after line {report.lines}: {e}.") from None
    return report


def _store_batch(store: Store, batch: _Batch, observed_at: datetime, report: ImportReport) -> None:
    """One transaction: the papers, then what Hugging Face said about its entries (as the
    hf-daily harvester stores a page)."""
    featured = daily_records(batch.featured)
    with store.transaction():
        result = store.upsert_papers(batch.papers + featured.papers)
        added_ann = store.add_announcements(featured.announcements)
        added_sig = store.record_signals(featured.signals, observed_at, HF_DAILY_SOURCE)
    report.result += result
    report.announcements += added_ann
    report.signals += added_sig


def file_size(path: str | Path) -> int | None:
    """Bytes to read, for a progress bar; None when unknown (compressed input)."""
    p = Path(path)
    return p.stat().st_size if p.is_file() and p.suffix != ".gz" else None
