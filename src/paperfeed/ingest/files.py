"""Import papers from JSON-lines files (our own format, the seed papers, the arXiv snapshot) and
saved Hugging Face `/api/daily_papers` responses.

Streaming: the file is read line by line and written in batches, each batch one transaction,
so a multi-GB snapshot never sits in memory and a killed import leaves only whole batches
behind (re-running it is safe: upserts are idempotent). A bad line is reported with its number
and reason and the rest of the file still goes in. A Hugging Face entry (an object holding a
`paper` object) is read by the hf-daily parser and stored as the harvester stores it: the
paper, its "featured" day and its upvotes, comments and stars as signals observed at `now`.

Damaged files lose nothing they need not: a line longer than `max_line_bytes` is skipped by
number without ever being held whole; a UTF-8 byte order mark is accepted; a file that cannot
be read to its end (a .gz cut short or damaged) keeps every good line before the fault, and the
report's `fault` says where it broke. A .gz is first read through once (about 1 GB/s): when its
data is damaged (a bad CRC is only seen at the end), the import stops at the first line that no
longer parses instead of storing the garbage that follows.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Callable, Iterable, Iterator
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
Numbered = tuple[int, int, Record | RecordError]  # line (or item) number, bytes read, result

BATCH_SIZE = 5000
MAX_LINE_BYTES = 16 * 2**20  # the default of PAPERFEED_MAX_LINE_BYTES
MAX_ARRAY_BYTES = 64 * 2**20  # a file that is one JSON array is parsed whole, up to this size
_BOM = b"\xef\xbb\xbf"
_CHUNK = 2**20
_READ_ERRORS = (OSError, EOFError, zlib.error)


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
    fault: str | None = None  # why the file could not be read to its end; what came before is in

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


class Lines:
    """The numbered records of a JSON-lines stream. At most `max_bytes + 1` bytes of one line
    are in memory: a longer line is skipped as an error naming its number. A read that fails
    (a .gz cut short or damaged) ends the lines, and `fault` says after which line; the line it
    broke off in is never parsed. `damage` (the reason a check of the whole .gz failed) means
    its data went wrong somewhere: the first line that does not parse is where, and nothing
    from there on is given out."""

    def __init__(self, stream: BinaryIO, max_bytes: int = MAX_LINE_BYTES,
                 damage: str | None = None) -> None:  # fmt: skip
        self.stream, self.max_bytes, self.damage = stream, max_bytes, damage
        self.fault: str | None = None
        self.done = 0  # lines read whole

    def __iter__(self) -> Iterator[Numbered]:
        try:
            while raw := self.stream.readline(self.max_bytes + 1):
                number = self.done + 1
                item = self._parse(number, raw)
                self.done = number
                if item is None:
                    continue
                if self.damage and isinstance(item[2], RecordError):
                    self.fault = (f"the .gz data is damaged ({self.damage}) and stops making "
                                  f"sense at line {number}, though the lines just before it "
                                  "may be garbled too")  # fmt: skip
                    return
                yield item
        except _READ_ERRORS as e:
            self.fault = _read_fault(e, self.done)
        else:
            if self.damage:
                self.fault = (f"the .gz data is damaged ({self.damage}), though every line of "
                              "it parsed (some may be garbled)")  # fmt: skip

    def _parse(self, number: int, raw: bytes) -> Numbered | None:
        size = len(raw)
        if size > self.max_bytes and not raw.endswith(b"\n"):
            size += self._skip_rest()
            reason = f"the line is longer than {self.max_bytes:,} bytes (PAPERFEED_MAX_LINE_BYTES)"
            return number, size, RecordError(reason + "; skipped")
        if number == 1:
            raw = raw.removeprefix(_BOM)
        if not raw.strip():
            return None
        try:
            return number, size, parse_line(raw)
        except RecordError as e:
            return number, size, e

    def _skip_rest(self) -> int:
        """Read past the rest of a line that is too long, a chunk at a time."""
        skipped = 0
        while chunk := self.stream.readline(_CHUNK):
            skipped += len(chunk)
            if chunk.endswith(b"\n"):
                break
        return skipped


def _read_fault(error: BaseException, after: int) -> str:
    if isinstance(error, EOFError):
        return f"the file ends early (truncated .gz) after line {after}"
    if isinstance(error, gzip.BadGzipFile) and after == 0 and "Not a gzipped" in str(error):
        return "it is not gzip data, though its name ends in .gz"
    if isinstance(error, zlib.error | gzip.BadGzipFile):
        return f"the .gz data is damaged ({error}) after line {after}"
    reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
    return f"reading it failed after line {after} ({reason})"


def iter_records(stream: BinaryIO, max_line_bytes: int = MAX_LINE_BYTES) -> Iterator[Numbered]:
    """(line number, bytes read, paper or error) for each non-blank line of a JSON-lines
    stream; a line over `max_line_bytes` is an error. Stops quietly where the stream breaks."""
    return iter(Lines(stream, max_line_bytes))


def read_array(path: Path, max_bytes: int = MAX_ARRAY_BYTES) -> list[Any] | None:
    """The items of a file that is one JSON array (as some exports are), or None when it is JSON
    lines: an array is a file whose first non-space byte is `[` and whose whole text parses as
    one array, of at most `max_bytes`. A broken or deeply nested first line that opens a list
    is then just a bad line."""
    with _open(path) as stream:
        try:
            head = stream.read(_CHUNK).removeprefix(_BOM)
            if not head.lstrip().startswith(b"["):
                return None
            data = head + stream.read(max_bytes + 1 - len(head))
        except _READ_ERRORS:
            return None  # the lines say where it breaks
    if len(data) > max_bytes:
        return None
    try:
        items = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    return items if isinstance(items, list) else None


def _iter_array(items: list[Any]) -> Iterator[Numbered]:
    for number, obj in enumerate(items, start=1):
        try:
            yield number, 0, parse_object(obj)
        except RecordError as e:
            yield number, 0, e


def gz_damage(path: Path) -> str | None:
    """Why a .gz file's data is damaged (a bad CRC, a broken deflate stream), found by reading
    it once to its end; None when it is whole, or merely cut short (that loses no line it
    gives)."""
    if path.suffix != ".gz":
        return None
    with _open(path) as stream:
        try:
            while stream.read(_CHUNK):
                pass
        except EOFError:
            return None
        except (OSError, zlib.error) as e:
            return None if "Not a gzipped" in str(e) else str(e)
    return None


@dataclass(slots=True)
class _Batch:
    papers: list[Paper] = field(default_factory=list)
    featured: list[DailyPaper] = field(default_factory=list)
    errors: list[LineError] = field(default_factory=list)
    lines: int = 0
    nbytes: int = 0


def _iter_batches(records: Iterable[Numbered], batch_size: int) -> Iterator[_Batch]:
    batch = _Batch()
    for number, size, item in records:
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
    max_line_bytes: int = MAX_LINE_BYTES,
    max_array_bytes: int = MAX_ARRAY_BYTES,
) -> ImportReport:
    """Import every good line of `path`; the report lists each bad one, and its `fault` says
    why the file could not be read to its end (every good line before it is imported). Each
    batch is one transaction, so an interrupted import leaves whole batches and can simply be
    re-run. Signals of Hugging Face entries are recorded as observed at `now` (default: the
    clock)."""
    path = Path(path)
    report = ImportReport(str(path))
    observed_at = now or datetime.now(UTC)
    items = read_array(path, max_array_bytes)
    with _open(path) as stream:
        lines = Lines(stream, max_line_bytes, gz_damage(path) if items is None else None)
        records = lines if items is None else _iter_array(items)
        for batch in _iter_batches(records, batch_size):
            _store_batch(store, batch, observed_at, report)
            report.lines += batch.lines
            report.errors.extend(batch.errors)
            if on_bytes:
                on_bytes(batch.nbytes)
    report.fault = lines.fault
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
