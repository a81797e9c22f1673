"""SQLite backend: one file, WAL, foreign keys, a busy timeout, one writer connection.

Read-only opens (`readonly=True`) are for processes that only read, such as a search; they
never create or migrate the file. A store may be handed from the thread that opened it to
another (the web app opens it before its event loop runs), but it must never be used by two
threads at once: each thread that works in parallel (the source scheduler) opens its own.
"""

from __future__ import annotations

import math
import os
import secrets
import shlex
import sqlite3
import stat
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from paperfeed.errors import AlreadyExists, DiskFull, StoreError
from paperfeed.models import (
    Paper,
)
from paperfeed.store import migrations
from paperfeed.store.models import (
    Announcement,
    Change,
    Decayed,
    Delivery,
    EmbeddingRow,
    EmbeddingTodo,
    LibraryItem,
    Listed,
    Preferences,
    Signal,
    SignalPoint,
    SourceRow,
    Subscriber,
    SubscriberChange,
    TrendingRow,
    TrendingState,
    UpsertResult,
    User,
    VectorChange,
)
from paperfeed.store.rows import (
    COLUMN_NAMES,
    COLUMNS,
    DELIVERY_COLUMNS,
    NO_ROW,
    SOURCE_COLUMNS,
    SUBSCRIBER_COLUMNS,
    Merge,
    channel_address,
    day_iso,
    lookup_keys,
    paper_values,
    parse_day,
    row_delivery,
    row_paper,
    row_source,
    row_subscriber,
    row_user,
    rows_by_kind,
    ts,
)

_MAX_VARS = 5000
_NO_ROOM_BYTES = 2**20  # an I/O error on a disk with less room than this is a full disk


def _chunks(items: Sequence[Any], size: int = _MAX_VARS) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def list_migrations() -> list[tuple[int, str, str]]:
    return migrations.list_migrations("paperfeed.store.sqlite")


def disk_full(error: sqlite3.Error, path: str) -> DiskFull | None:
    """`error` as DiskFull when the disk holding `path` ran out of room. SQLite says "full" when
    a write runs short, but only "disk I/O error" when it cannot even size its shared-memory
    file, so an I/O error on a disk with no room left counts too."""
    code = getattr(error, "sqlite_errorcode", 0) & 0xFF
    if code == sqlite3.SQLITE_FULL or (code == sqlite3.SQLITE_IOERR and no_room(path)):
        return DiskFull(f"The disk holding {path} is full (SQLite: {error}); free space and run "
                        "this again: what was saved so far is kept.")  # fmt: skip
    return None


def no_room(path: str | Path) -> bool:
    """Whether the disk holding `path` (a file, or a folder that may be gone) is full: an I/O
    error there is a full disk, whatever words the library that met it chose."""
    folder = Path(path).absolute()
    while not folder.is_dir() and folder != folder.parent:
        folder = folder.parent
    try:
        disk = os.statvfs(folder)
    except OSError:
        return False
    return disk.f_bavail * disk.f_frsize < _NO_ROOM_BYTES


class _Connection(sqlite3.Connection):
    """A connection whose statements turn a full disk into DiskFull, naming the database: in
    WAL mode a write can run out of room at COMMIT, or midway when a page spills, so every
    statement is watched (a try costs nothing until something is raised)."""

    path = ""

    def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:
        return self._watched(super().execute, sql, parameters)

    def executemany(self, sql: str, parameters: Iterable[Any], /) -> sqlite3.Cursor:
        return self._watched(super().executemany, sql, parameters)

    def _watched(self, run: Callable[[str, Any], sqlite3.Cursor], sql: str,
                 parameters: Any) -> sqlite3.Cursor:  # fmt: skip
        try:
            return run(sql, parameters)
        except sqlite3.OperationalError as e:
            if full := disk_full(e, self.path):
                raise full from e
            raise


def _create_private(path: str) -> None:
    """Create a new database file readable by its owner alone, before SQLite opens it: it
    holds the key that signs sign-in links and every subscriber's address, and SQLite gives
    the WAL, SHM and journal files the database file's mode."""
    if path == ":memory:" or path.startswith("file:"):
        return
    with suppress(OSError):  # it exists, or SQLite says why it cannot be made
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))


def privacy_warning(path: str) -> str | None:
    """A sentence when other users of this machine can read the database at `path` (or its
    WAL or SHM, which hold its pages too); None when only its owner can."""
    exposed = []
    for name in (path, path + "-wal", path + "-shm"):
        try:
            if os.stat(name).st_mode & (stat.S_IRGRP | stat.S_IROTH):
                exposed.append(shlex.quote(name))
        except OSError:
            continue
    if not exposed:
        return None
    return (f"{path} is readable by other users of this machine and holds the key that signs "
            f"sign-in links; chmod 600 {' '.join(exposed)}")  # fmt: skip


class SQLiteStore:
    def __init__(self, path: str | Path, *, readonly: bool = False) -> None:
        self.path = str(path)
        self.readonly = readonly
        self._depth = 0
        self.conn = self._connect()
        try:
            self._refuse_newer_schema()
            if not readonly:
                self._migrate()
        except BaseException:
            self.conn.close()
            raise

    def _connect(self) -> _Connection:
        try:
            if self.readonly:
                if self.path != ":memory:" and not Path(self.path).exists():
                    raise StoreError(
                        f"No database at {self.path}: import papers first "
                        "(paperfeed ingest FILE) or point --db at an existing one."
                    )
                target = Path(self.path).resolve().as_uri() + "?mode=ro"
            else:
                _create_private(self.path)
                target = self.path
            conn = sqlite3.connect(target, uri=self.readonly, isolation_level=None,
                                   check_same_thread=False, factory=_Connection)  # fmt: skip
            conn.path = self.path
            if not self.readonly:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
                # Checkpoint every ~80 MB of WAL rather than 4 MB: bulk imports run ~15% faster.
                conn.execute("PRAGMA wal_autocheckpoint=20000")
            conn.execute("PRAGMA cache_size=-65536")  # 64 MB: bulk imports touch many pages
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA busy_timeout=10000")
            _ensure_math(conn)
            return conn
        except sqlite3.Error as e:
            raise StoreError(f"Cannot open the database {self.path}: {e}.") from e

    def _refuse_newer_schema(self) -> None:
        """A file migrated by a newer paperfeed may hold what this code would misread or
        overwrite: refuse it before reading or migrating anything."""
        has_table = self.conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'"
        ).fetchone()
        if not has_table:
            return
        (newest,) = self.conn.execute("SELECT max(version) FROM schema_migrations").fetchone()
        migrations.refuse_newer(self.path, newest, "paperfeed.store.sqlite")

    def _migrate(self) -> None:
        self.conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations "
            "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
        )
        done = {r[0] for r in self.conn.execute("SELECT version FROM schema_migrations")}
        for version, name, sql in list_migrations():
            if version in done:
                continue
            with self.transaction():
                for statement in _split_sql(sql):
                    self.conn.execute(statement)
                self.conn.execute(
                    "INSERT INTO schema_migrations VALUES (?, ?, ?)",
                    (version, name, datetime.now(UTC).isoformat()),
                )

    def applied_migrations(self) -> list[str]:
        return [r[0] for r in self.conn.execute("SELECT name FROM schema_migrations ORDER BY 1")]

    def close(self) -> None:
        self.conn.close()

    def backup(self, path: str, *, overwrite: bool = False, pages_per_step: int = 4096,
               on_step: Callable[[int, int], None] | None = None) -> int:  # fmt: skip
        target = Path(path)
        if target.exists() and Path(self.path).exists() and target.samefile(self.path):
            raise AlreadyExists(f"{path} is the database itself; write the backup to another file.")
        if target.is_dir():
            raise StoreError(f"{path} is a folder; name a file in it, such as "
                             f"{target / 'paperfeed.db'}.")  # fmt: skip
        if target.exists() and not overwrite:
            raise AlreadyExists(f"{path} already exists; choose another file, or replace it "
                                "with --force.")  # fmt: skip
        try:  # mkstemp makes the file readable by its owner alone, and so is the backup
            fd, partial = tempfile.mkstemp(".partial", f".{target.name}.", target.parent)
        except OSError as e:
            raise StoreError(f"Cannot write a backup to {path}: {e.strerror}.") from None
        os.close(fd)
        try:
            self._copy_snapshot(partial, pages_per_step, on_step)
            os.replace(partial, target)
        finally:
            for leftover in (partial, partial + "-journal", partial + "-wal", partial + "-shm"):
                Path(leftover).unlink(missing_ok=True)
        return target.stat().st_size

    def _copy_snapshot(self, partial: str, pages_per_step: int,
                       on_step: Callable[[int, int], None] | None) -> None:  # fmt: skip
        """Copy one snapshot of the database, a few pages a step. The read transaction held
        across the steps pins the snapshot: in WAL mode writers go on committing meanwhile,
        and their commits never restart the copy (as they would between steps otherwise)."""
        progress = None if on_step is None else (lambda _s, left, total: on_step(left, total))
        dest = sqlite3.connect(partial, isolation_level=None)
        try:
            self.conn.execute("BEGIN")
            try:
                self.conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
                self.conn.backup(dest, pages=pages_per_step, progress=progress)
            finally:
                self.conn.execute("ROLLBACK")
            (check,) = dest.execute("PRAGMA quick_check").fetchone()
        except sqlite3.Error as e:
            raise StoreError(f"The backup of {self.path} failed: {e}.") from e
        finally:
            dest.close()
        if check != "ok":
            raise StoreError(f"The backup of {self.path} is damaged ({check}); nothing was kept.")

    @contextmanager
    def transaction(self) -> Iterator[None]:
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        self.conn.execute("BEGIN IMMEDIATE")
        self._depth = 1
        try:
            yield
        except BaseException:
            if self.conn.in_transaction:  # (SQLite may have rolled back already: a full disk)
                self.conn.execute("ROLLBACK")
            raise
        else:
            self.conn.execute("COMMIT")
        finally:
            self._depth = 0

    # -- tables, for copy-store --------------------------------------------------------

    def table_columns(self, table: str) -> list[str]:
        return [r[1] for r in self.conn.execute(f"PRAGMA table_info({_name(table)})")]

    def count_rows(self, table: str) -> int:
        return int(self.conn.execute(f"SELECT count(*) FROM {_name(table)}").fetchone()[0])

    def read_rows(self, table: str, key: Sequence[str], after: Sequence[Any] | None,
                  limit: int) -> list[tuple[Any, ...]]:  # fmt: skip
        cols = ", ".join(map(_name, key))
        where = f"WHERE ({cols}) > ({', '.join('?' * len(key))})" if after is not None else ""
        sql = f"SELECT * FROM {_name(table)} {where} ORDER BY {cols} LIMIT ?"
        return [tuple(r) for r in self.conn.execute(sql, (*(after or ()), limit))]

    def last_key(self, table: str, key: Sequence[str]) -> tuple[Any, ...] | None:
        cols = ", ".join(map(_name, key))
        order = ", ".join(f"{_name(c)} DESC" for c in key)
        row = self.conn.execute(f"SELECT {cols} FROM {_name(table)} ORDER BY {order} LIMIT 1")
        found = row.fetchone()
        return tuple(found) if found else None

    def write_rows(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
                   ) -> None:  # fmt: skip
        cols = ", ".join(map(_name, columns))
        marks = ", ".join("?" * len(columns))
        with self.transaction():
            sql = f"INSERT OR REPLACE INTO {_name(table)} ({cols}) VALUES ({marks})"
            self.conn.executemany(sql, rows)

    def finish_rows(self) -> None:
        """Nothing to do: AUTOINCREMENT ids already continue after the highest one written."""

    # -- papers -------------------------------------------------------------------------

    def upsert_papers(self, papers: Sequence[Paper]) -> UpsertResult:
        if not papers:
            return UpsertResult()
        with self.transaction():
            return _Upsert(self.conn, papers).run()

    def get_paper(self, ref: str) -> Paper | None:
        row = self.conn.execute(f"SELECT {COLUMNS} FROM papers WHERE id = ?", (ref,)).fetchone()
        if row:
            return row_paper(row)
        for key in lookup_keys(ref):
            found = self.conn.execute(
                f"SELECT {COLUMNS} FROM papers JOIN paper_keys USING (seq) WHERE key = ?", (key,)
            ).fetchone()
            if found:
                return row_paper(found)
        return None

    def find_seq(self, ref: str) -> int | None:
        row = self.conn.execute("SELECT seq FROM papers WHERE id = ?", (ref,)).fetchone()
        for key in lookup_keys(ref) if row is None else ():
            row = self.conn.execute("SELECT seq FROM paper_keys WHERE key = ?", (key,)).fetchone()
            if row:
                break
        return int(row[0]) if row else None

    def find_seqs(self, refs: Iterable[str]) -> dict[str, int]:
        wanted = list(set(refs))
        found: dict[str, int] = {}
        for part in _chunks(wanted):
            marks = ",".join("?" * len(part))
            rows = self.conn.execute(f"SELECT id, seq FROM papers WHERE id IN ({marks})", part)
            found.update((str(ref), int(seq)) for ref, seq in rows)
        for ref in wanted:  # by an older id, a version, a DOI: the rare case
            if ref not in found and (seq := self.find_seq(ref)) is not None:
                found[ref] = seq
        return found

    def get_papers_by_seq(self, seqs: Sequence[int]) -> dict[int, Paper]:
        return _load_by_seq(self.conn, seqs)

    def store_id(self) -> str:
        return str(self.conn.execute("SELECT value FROM meta WHERE key = 'store_id'").fetchone()[0])

    def count_papers(self) -> int:
        return int(self.conn.execute("SELECT count(*) FROM papers").fetchone()[0])

    def last_change(self) -> int:
        return int(self.conn.execute("SELECT coalesce(max(changed), 0) FROM papers").fetchone()[0])

    def iter_changes(self, after: int, batch_size: int = 2000) -> Iterator[Change]:
        while True:
            rows = self.conn.execute(
                f"SELECT changed, seq, {COLUMNS} FROM papers WHERE changed > ? "
                "ORDER BY changed LIMIT ?",
                (after, batch_size),
            ).fetchall()
            for row in rows:
                yield Change(changed=row[0], seq=row[1], paper=row_paper(row[2:]))
            if len(rows) < batch_size:
                return
            after = rows[-1][0]

    # -- embeddings -----------------------------------------------------------------------

    def list_embedding_todo(self, model: str, after_seq: int, limit: int, *,
                            before_seq: int | None = None) -> list[EmbeddingTodo]:  # fmt: skip
        order = "ASC" if before_seq is None else "DESC"
        rows = self.conn.execute(
            f"SELECT p.seq, p.changed, e.text_hash, {', '.join('p.' + c for c in COLUMN_NAMES)}"
            " FROM papers p LEFT JOIN embeddings e ON e.model = ? AND e.seq = p.seq"
            " WHERE p.seq > ? AND p.seq < ? AND (e.seq IS NULL OR e.paper_changed < p.changed)"
            f" ORDER BY p.seq {order} LIMIT ?",
            (model, after_seq, NO_ROW if before_seq is None else before_seq, limit),
        ).fetchall()
        return [EmbeddingTodo(r[0], r[1], row_paper(r[3:]), r[2]) for r in rows]

    def count_changes(self, after: int) -> int:
        sql = "SELECT count(*) FROM papers WHERE changed > ?"
        return int(self.conn.execute(sql, (after,)).fetchone()[0])

    def count_vector_changes(self, model: str, after: int) -> int:
        sql = "SELECT count(*) FROM embeddings WHERE model = ? AND changed > ?"
        return int(self.conn.execute(sql, (model, after)).fetchone()[0])

    def count_embedding_todo(self, model: str) -> int:
        row = self.conn.execute(
            "SELECT count(*) FROM papers p LEFT JOIN embeddings e ON e.model = ? AND e.seq = p.seq"
            " WHERE e.seq IS NULL OR e.paper_changed < p.changed",
            (model,),
        ).fetchone()
        return int(row[0])

    def put_embeddings(self, model: str, rows: Sequence[EmbeddingRow]) -> None:
        with self.transaction():
            change = self.last_vector_change(model)
            fresh, checked = [], []
            for row in rows:
                if row.vector is None:
                    checked.append((row.paper_changed, model, row.seq))
                else:
                    change += 1
                    fresh.append(
                        (model, row.seq, row.paper_changed, row.text_hash, row.vector, change)
                    )
            self.conn.executemany(
                "INSERT OR REPLACE INTO embeddings VALUES (?, ?, ?, ?, ?, ?)", fresh
            )
            self.conn.executemany(
                "UPDATE embeddings SET paper_changed = ? WHERE model = ? AND seq = ?", checked
            )

    def count_embeddings(self, model: str) -> int:
        sql = "SELECT count(*) FROM embeddings WHERE model = ?"
        return int(self.conn.execute(sql, (model,)).fetchone()[0])

    def list_embedding_models(self) -> list[tuple[str, int]]:
        rows = self.conn.execute(
            "SELECT model, (SELECT length(vector) / 2 FROM embeddings e2 WHERE e2.model = e.model"
            " LIMIT 1) FROM (SELECT DISTINCT model FROM embeddings) e ORDER BY model"
        ).fetchall()
        return [(str(m), int(d)) for m, d in rows]

    def last_vector_change(self, model: str) -> int:
        sql = "SELECT coalesce(max(changed), 0) FROM embeddings WHERE model = ?"
        return int(self.conn.execute(sql, (model,)).fetchone()[0])

    def iter_vector_changes(
        self, model: str, after: int, batch_size: int = 5000
    ) -> Iterator[VectorChange]:
        while True:
            rows = self.conn.execute(
                "SELECT changed, seq, vector FROM embeddings WHERE model = ? AND changed > ?"
                " ORDER BY changed LIMIT ?",
                (model, after, batch_size),
            ).fetchall()
            for row in rows:
                yield VectorChange(row[0], row[1], row[2])
            if len(rows) < batch_size:
                return
            after = rows[-1][0]

    def iter_embeddings(self, model: str) -> Iterator[tuple[str, str, bytes]]:
        after = 0
        while rows := self.conn.execute(
            "SELECT e.seq, p.id, e.text_hash, e.vector FROM embeddings e JOIN papers p"
            " USING (seq) WHERE e.model = ? AND e.seq > ? ORDER BY e.seq LIMIT 5000",
            (model, after),
        ).fetchall():
            for _, pid, text_hash, vector in rows:
                yield str(pid), str(text_hash), bytes(vector)
            after = rows[-1][0]

    def get_vector(self, model: str, seq: int) -> bytes | None:
        row = self.conn.execute(
            "SELECT vector FROM embeddings WHERE model = ? AND seq = ?", (model, seq)
        ).fetchone()
        return bytes(row[0]) if row else None

    # -- sources ----------------------------------------------------------------------------

    def add_source(self, source: SourceRow) -> None:
        created = source.created_at or datetime.now(UTC)
        try:
            with self.transaction():
                self.conn.execute(
                    "INSERT INTO sources (name, kind, config, interval_s, next_run_at, enabled,"
                    " created_at, cursor) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        source.name,
                        source.kind,
                        orjson.dumps(source.config).decode(),
                        source.interval_s,
                        ts(source.next_run_at),
                        int(source.enabled),
                        ts(created),
                        orjson.dumps(source.cursor).decode(),
                    ),
                )
        except sqlite3.IntegrityError:
            raise AlreadyExists(f"A source named {source.name!r} exists already.") from None

    def get_source(self, name: str) -> SourceRow | None:
        sql = f"SELECT {SOURCE_COLUMNS} FROM sources WHERE name = ?"
        row = self.conn.execute(sql, (name,)).fetchone()
        return row_source(row) if row else None

    def list_sources(self) -> list[SourceRow]:
        sql = f"SELECT {SOURCE_COLUMNS} FROM sources ORDER BY name"
        return [row_source(r) for r in self.conn.execute(sql)]

    def remove_source(self, name: str) -> bool:
        with self.transaction():
            return self.conn.execute("DELETE FROM sources WHERE name = ?", (name,)).rowcount > 0

    def due_sources(self, now: datetime) -> list[str]:
        rows = self.conn.execute(
            "SELECT name FROM sources WHERE enabled AND next_run_at <= ? ORDER BY next_run_at, "
            "name",
            (ts(now),),
        )
        return [str(r[0]) for r in rows]

    def claim_source(
        self, name: str, owner: str, now: datetime, until: datetime, take_from: str | None = None
    ) -> bool:
        with self.transaction():
            taken = self.conn.execute(
                "UPDATE sources SET lease_owner = ?, lease_until = ? WHERE name = ? AND "
                "(lease_owner IS NULL OR lease_owner IN (?, ?) OR lease_until < ?)",
                (owner, ts(until), name, owner, take_from or owner, ts(now)),
            )
            return taken.rowcount > 0

    def save_cursor(self, name: str, cursor: Mapping[str, Any]) -> None:
        with self.transaction():
            self.conn.execute(
                "UPDATE sources SET cursor = ? WHERE name = ?",
                (orjson.dumps(cursor).decode(), name),
            )

    def finish_source_run(
        self,
        name: str,
        *,
        ran_at: datetime,
        next_run_at: datetime,
        added: int,
        error: str | None,
    ) -> None:
        with self.transaction():
            self.conn.execute(
                "UPDATE sources SET last_run_at = ?, next_run_at = ?, last_error = ?,"
                " last_ok_at = CASE WHEN ? IS NULL THEN ? ELSE last_ok_at END,"
                " failures = CASE WHEN ? IS NULL THEN 0 ELSE failures + 1 END,"
                " last_added = ?, papers_added = papers_added + ?,"
                " lease_owner = NULL, lease_until = NULL WHERE name = ?",
                (ts(ran_at), ts(next_run_at), error, error, ts(ran_at), error, added, added,
                 name),
            )  # fmt: skip

    # -- announcements and signals --------------------------------------------------------

    def add_announcements(self, items: Sequence[Announcement]) -> int:
        with self.transaction():
            seqs = self.find_seqs(a.ref for a in items)
            before = self.conn.total_changes
            self.conn.executemany(
                "INSERT OR IGNORE INTO announcements (list, day, seq, kind) VALUES (?, ?, ?, ?)",
                [(a.list, a.day.isoformat(), seqs[a.ref], a.kind) for a in items if a.ref in seqs],
            )
            return self.conn.total_changes - before

    def record_signals(self, items: Sequence[Signal], observed_at: datetime, source: str) -> int:
        with self.transaction():
            seqs = self.find_seqs(s.ref for s in items)
            rows = []
            for item in items:
                seq = seqs.get(item.ref)
                if seq is None:
                    continue
                latest = self.conn.execute(
                    "SELECT value FROM signals WHERE seq = ? AND name = ? "
                    "ORDER BY observed_at DESC LIMIT 1",
                    (seq, item.name),
                ).fetchone()
                if latest is None or latest[0] != item.value:
                    rows.append((seq, item.name, ts(observed_at), item.value, source))
            self.conn.executemany("INSERT OR REPLACE INTO signals VALUES (?, ?, ?, ?, ?)", rows)
            return len(rows)

    def get_announcements(self, ref: str) -> list[Announcement]:
        seq = self.find_seq(ref)
        rows = self.conn.execute(
            "SELECT p.id, a.list, a.day, a.kind FROM announcements a JOIN papers p USING (seq)"
            " WHERE a.seq = ? ORDER BY a.day, a.list",
            (seq,),
        )
        return [Announcement(r[0], r[1], date.fromisoformat(r[2]), r[3]) for r in rows]

    def get_signals(self, ref: str) -> list[SignalPoint]:
        rows = self.conn.execute(
            "SELECT name, observed_at, value, source FROM signals WHERE seq = ?"
            " ORDER BY observed_at, name",
            (self.find_seq(ref),),
        )
        return [SignalPoint(r[0], datetime.fromisoformat(r[1]), r[2], r[3]) for r in rows]

    def latest_signals(self, refs: Sequence[str]) -> dict[str, dict[str, float]]:
        seqs = self.find_seqs(refs)
        by_seq = self._latest_signals(list(set(seqs.values())))
        return {ref: by_seq[seq] for ref, seq in seqs.items() if seq in by_seq}

    def latest_signals_by_seq(self, seqs: Sequence[int]) -> dict[int, dict[str, float]]:
        return self._latest_signals(seqs)

    def _latest_signals(self, seqs: Sequence[int]) -> dict[int, dict[str, float]]:
        found: dict[int, dict[str, float]] = {}
        for chunk in _chunks(seqs):
            rows = self.conn.execute(
                "SELECT seq, name, value FROM signals s WHERE seq IN "
                f"({','.join('?' * len(chunk))}) AND observed_at = (SELECT max(observed_at) "
                "FROM signals t WHERE t.seq = s.seq AND t.name = s.name)",
                chunk,
            )
            for seq, name, value in rows:
                found.setdefault(seq, {})[name] = value
        return found

    def latest_day(self, until: date) -> date | None:
        after = (until + timedelta(days=1)).isoformat()
        days = [
            r[0][:10]
            for sql in (
                "SELECT day FROM announcements WHERE day < ? AND kind NOT LIKE 'replace%'"
                " ORDER BY day DESC LIMIT 1",
                "SELECT published FROM papers WHERE published < ? ORDER BY published DESC LIMIT 1",
            )
            for r in self.conn.execute(sql, (after,))
        ]
        return date.fromisoformat(max(days)) if days else None

    def list_days(
        self,
        since: date,
        until: date,
        *,
        by_signal: str | None = None,
        limit: int = 20,
        offset: int = 0,
    ) -> list[Listed]:
        signal = (
            "(SELECT value FROM signals s WHERE s.seq = l.seq AND s.name = :signal"
            " ORDER BY observed_at DESC LIMIT 1)"
            if by_signal
            else "NULL"
        )
        order = "sig IS NULL, sig DESC, " if by_signal else ""
        rows = self.conn.execute(
            _LISTED.format(only="")
            + f" SELECT l.seq, l.day, {signal} AS sig FROM listed l JOIN papers p USING (seq)"
            f" ORDER BY {order}l.day DESC, p.published DESC, l.seq DESC"
            " LIMIT :limit OFFSET :offset",
            {
                "since": since.isoformat(),
                "after": (until + timedelta(days=1)).isoformat(),
                "signal": by_signal,
                "limit": limit,
                "offset": offset,
            },
        ).fetchall()
        seqs = [r[0] for r in rows]
        papers = self.get_papers_by_seq(seqs)
        signals = self._latest_signals(seqs)
        return [
            Listed(papers[seq], date.fromisoformat(day), signals.get(seq, {}), seq)
            for seq, day, _ in rows
        ]

    def list_newest(self, *, limit: int = 20, offset: int = 0, unranked_in: str | None = None
                    ) -> list[Listed]:  # fmt: skip
        where = _UNRANKED.format(seq="papers.seq") if unranked_in else "1"
        params = {"span": unranked_in, "limit": limit, "offset": offset}
        seqs = [r[0] for r in self.conn.execute(
            f"SELECT seq FROM papers WHERE {where} ORDER BY seq DESC LIMIT :limit OFFSET :offset",
            params)]  # fmt: skip
        papers = self.get_papers_by_seq(seqs)
        signals = self._latest_signals(seqs)
        return [Listed(papers[s], None, signals.get(s, {}), s) for s in seqs]

    # -- accounts -------------------------------------------------------------------------

    def get_secret(self, name: str) -> bytes:
        key = "secret:" + name
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        if row is not None:
            return bytes.fromhex(row[0])
        if self.readonly:
            raise StoreError(f"No key {name!r} in the read-only database {self.path}.")
        with self.transaction():
            self.conn.execute(
                "INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)",
                (key, secrets.token_hex(32)),
            )
            row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return bytes.fromhex(row[0])

    def get_or_add_user(self, email: str, now: datetime) -> User:
        email = email.strip().lower()
        with self.transaction():
            self.conn.execute(
                "INSERT INTO users (email, created_at, last_signin_at) VALUES (?, ?, ?)"
                " ON CONFLICT (email) DO UPDATE SET last_signin_at = excluded.last_signin_at",
                (email, ts(now), ts(now)),
            )
            row = self.conn.execute(
                "SELECT id, email, created_at FROM users WHERE email = ?", (email,)
            ).fetchone()
        return row_user(row)

    def get_user(self, user_id: int) -> User | None:
        row = self.conn.execute(
            "SELECT id, email, created_at FROM users WHERE id = ?", (user_id,)
        ).fetchone()
        return row_user(row) if row else None

    def get_user_by_email(self, email: str) -> User | None:
        row = self.conn.execute(
            "SELECT id, email, created_at FROM users WHERE email = ?", (email.strip().lower(),)
        ).fetchone()
        return row_user(row) if row else None

    def delete_user(self, user_id: int) -> bool:
        with self.transaction():
            return self.conn.execute("DELETE FROM users WHERE id = ?", (user_id,)).rowcount > 0

    def add_session(self, token_hash: str, user_id: int, now: datetime, expires: datetime
                    ) -> None:  # fmt: skip
        with self.transaction():
            self.conn.execute("DELETE FROM sessions WHERE expires_at < ?", (ts(now),))
            self.conn.execute(
                "INSERT INTO sessions VALUES (?, ?, ?, ?)",
                (token_hash, user_id, ts(now), ts(expires)),
            )

    def get_session_user(self, token_hash: str, now: datetime) -> User | None:
        row = self.conn.execute(
            "SELECT u.id, u.email, u.created_at FROM sessions s JOIN users u ON u.id = s.user_id"
            " WHERE s.token_hash = ? AND s.expires_at > ?",
            (token_hash, ts(now)),
        ).fetchone()
        return row_user(row) if row else None

    def delete_session(self, token_hash: str) -> None:
        with self.transaction():
            self.conn.execute("DELETE FROM sessions WHERE token_hash = ?", (token_hash,))

    def spend_token(self, nonce: str, expires_at: float, now: float) -> bool:
        with self.transaction():
            self.conn.execute("DELETE FROM spent_tokens WHERE expires_at < ?", (now,))
            cursor = self.conn.execute(
                "INSERT OR IGNORE INTO spent_tokens VALUES (?, ?)", (nonce, expires_at)
            )
            return cursor.rowcount > 0

    def hit_rate(self, key: str, now: float, window_s: float, limit: int) -> bool:
        with self.transaction():
            self.conn.execute("DELETE FROM rate_hits WHERE key = ? AND at <= ?",
                              (key, now - window_s))  # fmt: skip
            (count,) = self.conn.execute(
                "SELECT count(*) FROM rate_hits WHERE key = ?", (key,)
            ).fetchone()
            if count >= limit:
                return False
            self.conn.execute("INSERT INTO rate_hits VALUES (?, ?)", (key, now))
            return True

    # -- library --------------------------------------------------------------------------

    def set_reaction(self, user_id: int, seq: int, kind: str, on: bool, at: float) -> bool:
        with self.transaction():
            if on:
                sql = "INSERT OR IGNORE INTO reactions VALUES (?, ?, ?, ?)"
                changed = self.conn.execute(sql, (user_id, seq, kind, at)).rowcount > 0
            else:
                sql = "DELETE FROM reactions WHERE user_id = ? AND seq = ? AND kind = ?"
                changed = self.conn.execute(sql, (user_id, seq, kind)).rowcount > 0
                if kind == "save":
                    self.conn.execute(
                        "DELETE FROM tags WHERE user_id = ? AND seq = ?", (user_id, seq)
                    )
            return changed

    def set_tags(self, user_id: int, seq: int, tags: Sequence[str]) -> None:
        with self.transaction():
            self.conn.execute("DELETE FROM tags WHERE user_id = ? AND seq = ?", (user_id, seq))
            self.conn.executemany(
                "INSERT OR IGNORE INTO tags VALUES (?, ?, ?)", [(user_id, seq, t) for t in tags]
            )

    def get_reactions(self, user_id: int, seqs: Sequence[int]) -> dict[int, set[str]]:
        return {seq: set(kinds) for seq, kinds in self._per_paper("reactions", "kind", user_id,
                                                                  seqs).items()}  # fmt: skip

    def get_tags(self, user_id: int, seqs: Sequence[int]) -> dict[int, tuple[str, ...]]:
        return {seq: tuple(tags) for seq, tags in self._per_paper("tags", "tag", user_id,
                                                                 seqs).items()}  # fmt: skip

    def _per_paper(self, table: str, column: str, user_id: int, seqs: Sequence[int]
                   ) -> dict[int, list[str]]:  # fmt: skip
        """`column` of the user's rows in `table` (reactions, tags) for each paper, by value."""
        found: dict[int, list[str]] = {}
        for chunk in _chunks(list(seqs)):
            rows = self.conn.execute(
                f"SELECT seq, {column} FROM {table} WHERE user_id = ? AND seq IN "
                f"({','.join('?' * len(chunk))}) ORDER BY {column}",
                (user_id, *chunk),
            )
            for seq, value in rows:
                found.setdefault(seq, []).append(value)
        return found

    def count_reactions(self, ids: Sequence[str]) -> dict[str, dict[str, int]]:
        found: dict[str, dict[str, int]] = {}
        for chunk in _chunks(list(ids)):
            rows = self.conn.execute(
                "SELECT p.id, r.kind, count(*) FROM papers p JOIN reactions r ON r.seq = p.seq "
                f"WHERE p.id IN ({','.join('?' * len(chunk))}) AND r.kind IN ('upvote', 'save') "
                "GROUP BY p.id, r.kind",
                chunk,
            )
            for ref, kind, n in rows:
                found.setdefault(ref, {})[kind] = int(n)
        return found

    def list_reactions(self, user_id: int, *, tag: str | None = None
                       ) -> dict[int, dict[str, float]]:  # fmt: skip
        tagged = " AND seq IN (SELECT seq FROM tags WHERE user_id = :user AND tag = :tag)"
        found: dict[int, dict[str, float]] = {}
        for seq, kind, at in self.conn.execute(
            "SELECT seq, kind, at FROM reactions WHERE user_id = :user"
            + (tagged if tag is not None else ""),
            {"user": user_id, "tag": tag},
        ):
            found.setdefault(seq, {})[kind] = at
        return found

    def list_library(self, user_id: int, *, kind: str = "save", tag: str | None = None
                     ) -> list[LibraryItem]:  # fmt: skip
        tagged = "AND seq IN (SELECT seq FROM tags WHERE user_id = :user AND tag = :tag)"
        # `+kind`: look the user's rows up by the key, not by the trending index on kind
        rows = self.conn.execute(
            "SELECT seq FROM reactions WHERE user_id = :user AND +kind = :kind"
            f" {tagged if tag is not None else ''} ORDER BY at DESC, seq DESC",
            {"user": user_id, "kind": kind, "tag": tag},
        ).fetchall()
        seqs = [r[0] for r in rows]
        papers = self.get_papers_by_seq(seqs)
        kinds: dict[int, dict[str, float]] = {}
        tags: dict[int, list[str]] = {}
        for seq, k, at in self.conn.execute(
            "SELECT seq, kind, at FROM reactions WHERE user_id = ?", (user_id,)
        ):
            kinds.setdefault(seq, {})[k] = at
        for seq, t in self.conn.execute(
            "SELECT seq, tag FROM tags WHERE user_id = ? ORDER BY tag", (user_id,)
        ):
            tags.setdefault(seq, []).append(t)
        return [LibraryItem(papers[s], kinds.get(s, {}), tuple(tags.get(s, ())), s) for s in seqs]

    def list_user_tags(self, user_id: int) -> list[tuple[str, int]]:
        rows = self.conn.execute(
            "SELECT tag, count(*) FROM tags WHERE user_id = ? GROUP BY tag ORDER BY tag",
            (user_id,),
        )
        return [(r[0], int(r[1])) for r in rows]

    def set_user_categories(self, user_id: int, categories: Sequence[str]) -> None:
        with self.transaction():
            self.conn.execute("UPDATE users SET categories = ? WHERE id = ?",
                              (" ".join(categories), user_id))  # fmt: skip

    def get_user_categories(self, user_id: int) -> list[str]:
        row = self.conn.execute("SELECT categories FROM users WHERE id = ?", (user_id,)).fetchone()
        return row[0].split() if row else []

    def set_feed_key(self, user_id: int, key: str | None) -> None:
        with self.transaction():
            self.conn.execute("UPDATE users SET feed_key = ? WHERE id = ?", (key, user_id))

    def get_feed_key(self, user_id: int) -> str | None:
        row = self.conn.execute("SELECT feed_key FROM users WHERE id = ?", (user_id,)).fetchone()
        return row[0] if row else None

    def get_user_by_feed_key(self, key: str) -> User | None:
        row = self.conn.execute(
            "SELECT id, email, created_at FROM users WHERE feed_key = ?", (key,)
        ).fetchone()
        return row_user(row) if row else None

    # -- engagement and trending ------------------------------------------------------------

    def record_event(self, seq: int, signal: str, at: float, *, client: str | None = None,
                     burst_s: float = 0.0) -> bool:  # fmt: skip
        with self.transaction():
            if client is not None:
                self.conn.execute("DELETE FROM recent_clients WHERE signal = ? AND at <= ?",
                                  (signal, at - burst_s))  # fmt: skip
                cursor = self.conn.execute(
                    "INSERT OR IGNORE INTO recent_clients VALUES (?, ?, ?, ?)",
                    (client, seq, signal, at),
                )
                if cursor.rowcount == 0:
                    return False
            self.conn.execute(
                "INSERT INTO events (seq, signal, at) VALUES (?, ?, ?)", (seq, signal, at)
            )
            return True

    def decayed_sums(self, now: float, rules: Mapping[str, Decayed], *,
                     seqs: Sequence[int] | None = None) -> dict[int, dict[str, float]]:  # fmt: skip
        found: dict[int, dict[str, float]] = {}
        for name, rule in rules.items():
            for chunk in [None] if seqs is None else _chunks(list(seqs)):
                only = "" if chunk is None else f"AND seq IN ({','.join('?' * len(chunk))})"
                args = (now, rule.half_life_s, name, *(chunk or ()))
                for sql in _decayed_sql(rule.first_counts):
                    for seq, total in self.conn.execute(sql.format(only=only), args):
                        if total:
                            box = found.setdefault(seq, {})
                            box[name] = box.get(name, 0.0) + total
        return found

    def list_day_of(self, since: date, until: date, *, seqs: Sequence[int] | None = None
                    ) -> dict[int, tuple[date, str | None]]:  # fmt: skip
        found: dict[int, tuple[date, str | None]] = {}
        for chunk in [None] if seqs is None else _chunks(list(seqs), 400):
            # row numbers are ints from the store itself: written inline, named marks stay
            only = "" if chunk is None else f"AND seq IN ({','.join(str(int(q)) for q in chunk)})"
            rows = self.conn.execute(
                _LISTED.format(only=only)
                + " SELECT l.seq, l.day, p.published FROM listed l JOIN papers p USING (seq)",
                {"since": since.isoformat(), "after": (until + timedelta(days=1)).isoformat()},
            )
            for seq, day, published in rows:
                found[seq] = (date.fromisoformat(day), published)
        return found

    def replace_trending(self, span: str, state: TrendingState, rows: Sequence[TrendingRow]
                         ) -> None:  # fmt: skip
        with self.transaction():
            self.conn.execute("DELETE FROM trending WHERE span = ?", (span,))
            self.upsert_trending(span, rows)
            self.conn.execute(
                "INSERT OR REPLACE INTO trending_state VALUES (?, ?, ?, ?, ?)",
                (
                    span,
                    state.computed_at,
                    state.as_of,
                    day_iso(state.since),
                    day_iso(state.until),
                ),
            )

    def upsert_trending(self, span: str, rows: Sequence[TrendingRow]) -> None:
        with self.transaction():
            self.conn.executemany(
                "INSERT OR REPLACE INTO trending VALUES (?, ?, ?, ?, ?, ?)",
                [(span, r.seq, day_iso(r.day), r.published, r.score, orjson.dumps(r.parts).decode())
                 for r in rows],
            )  # fmt: skip

    def get_trending_state(self, span: str) -> TrendingState | None:
        row = self.conn.execute(
            "SELECT computed_at, as_of, since, until FROM trending_state WHERE span = ?", (span,)
        ).fetchone()
        if row is None:
            return None
        return TrendingState(row[0], row[1], parse_day(row[2]), parse_day(row[3]))

    def list_trending(self, span: str, *, limit: int = 20, offset: int = 0) -> list[TrendingRow]:
        rows = self.conn.execute(
            "SELECT seq, day, published, score, parts FROM trending WHERE span = ?"
            " ORDER BY score DESC, day DESC, published DESC, seq DESC LIMIT ? OFFSET ?",
            (span, limit, offset),
        )
        return [TrendingRow(r[0], parse_day(r[1]), r[2], r[3], orjson.loads(r[4])) for r in rows]

    # The papers of the days :since..:after (exclusive) and the latest such day of each: announced
    # (new, cross-listed, featured; not replaced) or first published that day. `only` narrows it.
    # -- digests ------------------------------------------------------------------------------

    def add_subscriber(self, email: str, now: float, source: str) -> Subscriber:
        try:
            with self.transaction():
                cursor = self.conn.execute(
                    "INSERT INTO subscribers (email, created_at, requested_at, request_source)"
                    " VALUES (?, ?, ?, ?)",
                    (email.strip().lower(), now, now, source),
                )
                found = self.get_subscriber(int(cursor.lastrowid or 0))
        except sqlite3.IntegrityError:
            raise AlreadyExists(f"{email!r} is on the list already.") from None
        assert found is not None
        return found

    def get_subscriber(self, subscriber_id: int) -> Subscriber | None:
        row = self.conn.execute(
            f"SELECT {SUBSCRIBER_COLUMNS} FROM subscribers WHERE id = ?", (subscriber_id,)
        ).fetchone()
        return row_subscriber(row) if row else None

    def get_subscriber_by_email(self, email: str) -> Subscriber | None:
        row = self.conn.execute(
            f"SELECT {SUBSCRIBER_COLUMNS} FROM subscribers WHERE email = ?",
            (email.strip().lower(),),
        ).fetchone()
        return row_subscriber(row) if row else None

    def update_subscriber(self, subscriber_id: int, change: SubscriberChange) -> None:
        changes = change.items()
        if not changes:
            return
        values = [day_iso(v) if isinstance(v, date) else v for v in changes.values()]
        assignments = ", ".join(f"{name} = ?" for name in changes)
        with self.transaction():
            self.conn.execute(f"UPDATE subscribers SET {assignments} WHERE id = ?",
                              (*values, subscriber_id))  # fmt: skip

    def set_preferences(self, subscriber_id: int, prefs: Preferences) -> None:
        with self.transaction():
            self.conn.execute(
                "UPDATE subscribers SET frequency = ?, weekday = ?, hour = ?, timezone = ?,"
                " topics = ?, categories = ?, include_trending = ?, max_papers = ?,"
                " empty_notice = ? WHERE id = ?",
                (prefs.frequency, prefs.weekday, prefs.hour, prefs.timezone,
                 orjson.dumps(list(prefs.topics)).decode(),
                 orjson.dumps(list(prefs.categories)).decode(), int(prefs.include_trending),
                 prefs.max_papers, int(prefs.empty_notice), subscriber_id),
            )  # fmt: skip

    def add_channel(self, user_id: int, channel: str, target: str, secret: str | None,
                    prefs: Preferences, now: float) -> Subscriber:  # fmt: skip
        with self.transaction():
            cursor = self.conn.execute(
                "INSERT INTO subscribers (email, state, created_at, requested_at, request_source,"
                " consent_at, consent_source, channel, target, user_id, secret)"
                " VALUES (?, 'confirmed', ?, ?, 'account', ?, 'account', ?, ?, ?, ?)",
                (channel_address(channel), now, now, now, channel, target, user_id, secret),
            )
            sub_id = int(cursor.lastrowid or 0)
            self.set_preferences(sub_id, prefs)
            found = self.get_subscriber(sub_id)
        assert found is not None
        return found

    def list_channels(self, user_id: int | None = None) -> list[Subscriber]:
        rows = self.conn.execute(
            f"SELECT {SUBSCRIBER_COLUMNS} FROM subscribers WHERE channel <> 'email'"
            " AND (?1 IS NULL OR user_id = ?1) ORDER BY id",
            (user_id,),
        )
        return [row_subscriber(row) for row in rows]

    def delete_channel(self, subscriber_id: int) -> bool:
        with self.transaction():
            cursor = self.conn.execute(
                "DELETE FROM subscribers WHERE id = ? AND channel <> 'email'", (subscriber_id,)
            )
        return cursor.rowcount > 0

    def iter_subscribers(self, state: str = "confirmed", batch_size: int = 5000
                         ) -> Iterator[Subscriber]:  # fmt: skip
        after = 0
        while True:
            rows = self.conn.execute(
                f"SELECT {SUBSCRIBER_COLUMNS} FROM subscribers WHERE state = ? AND id > ?"
                " ORDER BY id LIMIT ?",
                (state, after, batch_size),
            ).fetchall()
            if not rows:
                return
            for row in rows:
                yield row_subscriber(row)
            after = rows[-1][0]

    def count_subscribers(self) -> dict[str, int]:
        rows = self.conn.execute(
            "SELECT state, count(*) FROM subscribers WHERE channel = 'email' GROUP BY state"
        )
        return {state: n for state, n in rows}

    def count_channels(self) -> dict[str, dict[str, int]]:
        rows = self.conn.execute(
            "SELECT channel, state, count(*) FROM subscribers WHERE channel != 'email'"
            " GROUP BY channel, state"
        )
        return rows_by_kind(rows)

    def plan_delivery(
        self,
        subscriber_id: int,
        kind: str,
        period: str,
        *,
        message_id: str,
        plan: Mapping[str, Any],
        now: float,
        send_by: float,
        seqs: Sequence[int] = (),
        last_day: date | None = None,
        last_seq: int | None = None,
    ) -> int | None:
        with self.transaction():
            cursor = self.conn.execute(
                "INSERT OR IGNORE INTO deliveries (subscriber_id, kind, period, message_id, plan,"
                " planned_at, send_by, next_attempt_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (subscriber_id, kind, period, message_id, orjson.dumps(plan).decode(), now,
                 send_by, now),
            )  # fmt: skip
            if cursor.rowcount == 0:
                return None
            delivery_id = int(cursor.lastrowid or 0)
            self.conn.executemany(
                "INSERT OR IGNORE INTO sent_papers VALUES (?, ?, ?)",
                [(subscriber_id, seq, delivery_id) for seq in seqs],
            )
            if kind == "digest":
                self.conn.execute(
                    "UPDATE subscribers SET last_period = ?, last_day = coalesce(?, last_day),"
                    " last_seq = coalesce(?, last_seq) WHERE id = ?",
                    (period, day_iso(last_day), last_seq, subscriber_id),
                )
            return delivery_id

    def claim_delivery(self, now: float) -> Delivery | None:
        with self.transaction():
            row = (
                self.conn.execute(
                    f"SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE state = 'sending'"
                    " ORDER BY id LIMIT 1"
                ).fetchone()
                or self.conn.execute(
                    f"SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE state = 'planned'"
                    " AND next_attempt_at <= ? ORDER BY next_attempt_at, id LIMIT 1",
                    (now,),
                ).fetchone()
            )
            if row is None:
                return None
            self.conn.execute(
                "UPDATE deliveries SET state = 'sending', attempts = attempts + 1 WHERE id = ?",
                (row[0],),
            )
        found = self.get_delivery(row[0])
        assert found is not None
        return found

    def finish_delivery(
        self,
        delivery_id: int,
        state: str,
        now: float,
        *,
        error: str | None = None,
        retry_at: float | None = None,
    ) -> None:
        if state not in ("sent", "planned", "failed", "expired", "cancelled"):
            raise ValueError(f"a delivery cannot end as {state!r}")
        with self.transaction():
            self.conn.execute(
                "UPDATE deliveries SET state = ?, last_error = ?,"
                " next_attempt_at = coalesce(?, next_attempt_at),"
                " sent_at = CASE WHEN ? = 'sent' THEN ? ELSE sent_at END WHERE id = ?",
                (state, error, retry_at, state, now, delivery_id),
            )
            if state in ("failed", "expired", "cancelled"):
                self.conn.execute("DELETE FROM sent_papers WHERE delivery_id = ?", (delivery_id,))

    def get_delivery(self, delivery_id: int) -> Delivery | None:
        row = self.conn.execute(
            f"SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE id = ?", (delivery_id,)
        ).fetchone()
        return row_delivery(row) if row else None

    def list_deliveries(self, subscriber_id: int | None = None, *, state: str | None = None,
                        limit: int = 100) -> list[Delivery]:  # fmt: skip
        rows = self.conn.execute(
            f"SELECT {DELIVERY_COLUMNS} FROM deliveries"
            " WHERE (?1 IS NULL OR subscriber_id = ?1) AND (?2 IS NULL OR state = ?2)"
            " ORDER BY id DESC LIMIT ?3",
            (subscriber_id, state, limit),
        )
        return [row_delivery(r) for r in rows]

    def count_deliveries(self) -> dict[str, int]:
        rows = self.conn.execute("SELECT state, count(*) FROM deliveries GROUP BY state")
        return {state: n for state, n in rows}

    def sent_seqs(self, subscriber_id: int, seqs: Sequence[int] | None = None) -> set[int]:
        if seqs is None:
            rows = self.conn.execute(
                "SELECT seq FROM sent_papers WHERE subscriber_id = ?", (subscriber_id,)
            )
            return {r[0] for r in rows}
        found: set[int] = set()
        for chunk in _chunks(list(seqs)):
            marks = ",".join("?" * len(chunk))
            rows = self.conn.execute(
                f"SELECT seq FROM sent_papers WHERE subscriber_id = ? AND seq IN ({marks})",
                (subscriber_id, *chunk),
            )
            found.update(r[0] for r in rows)
        return found

    def get_vectors(self, model: str, seqs: Sequence[int]) -> dict[int, bytes]:
        found: dict[int, bytes] = {}
        for chunk in _chunks(list(seqs)):
            marks = ",".join("?" * len(chunk))
            rows = self.conn.execute(
                f"SELECT seq, vector FROM embeddings WHERE model = ? AND seq IN ({marks})",
                (model, *chunk),
            )
            found.update((seq, bytes(vector)) for seq, vector in rows)
        return found

    def take_lease(self, name: str, owner: str, now: float, until: float,
                   take_from: str | None = None) -> bool:  # fmt: skip
        with self.transaction():
            cursor = self.conn.execute(
                "INSERT INTO leases VALUES (?1, ?2, ?3) ON CONFLICT (name) DO UPDATE"
                " SET owner = ?2, until = ?3"
                " WHERE leases.owner = ?2 OR leases.until <= ?4 OR leases.owner = ?5",
                (name, owner, until, now, take_from),
            )
            return cursor.rowcount > 0

    def drop_lease(self, name: str, owner: str) -> None:
        with self.transaction():
            self.conn.execute("DELETE FROM leases WHERE name = ? AND owner = ?", (name, owner))

    def lease_owner(self, name: str, now: float) -> str | None:
        row = self.conn.execute(
            "SELECT owner FROM leases WHERE name = ? AND until > ?", (name, now)
        ).fetchone()
        return str(row[0]) if row else None


_LISTED = (
    "WITH hits(seq, day) AS ("
    " SELECT seq, day FROM announcements"
    "  WHERE day >= :since AND day < :after AND kind NOT LIKE 'replace%' {only}"
    " UNION ALL"
    " SELECT seq, substr(published, 1, 10) FROM papers"
    "  WHERE published >= :since AND published < :after {only}"
    "), listed AS (SELECT seq, max(day) AS day FROM hits GROUP BY seq)"
)
# A paper not ranked in trending window :span (its engagement is nil: its prior ranks it).
_UNRANKED = "NOT EXISTS (SELECT 1 FROM trending t WHERE t.span = :span AND t.seq = {seq})"
# Decayed sums of one signal: ?1 now, ?2 half-life (s), ?3 the signal's name.
_DECAY = "pow(2.0, -max(?1 - {at}, 0.0) / ?2)"
_DECAYED_EVENTS = (
    f"SELECT seq, sum(amount * {_DECAY.format(at='at')}) FROM events"
    " WHERE signal = ?3 {only} GROUP BY seq"
)
_DECAYED_REACTIONS = (
    f"SELECT seq, sum({_DECAY.format(at='at')}) FROM reactions"
    " WHERE kind = ?3 {only} GROUP BY seq"
)
# A measured running total counts by its increases (a drop counts as none, not as negative
# attention); the first measurement counts from zero (or not at all: a repository's stars
# before we first looked were not gained now).
_DECAYED_SIGNALS = (
    f"SELECT seq, sum(max(value - prev, 0.0) * {_DECAY.format(at='t')}) FROM ("
    " SELECT seq, value, (julianday(observed_at) - 2440587.5) * 86400.0 AS t,"
    "  lag(value, 1, {first}) OVER (PARTITION BY seq ORDER BY observed_at) AS prev"
    " FROM signals WHERE name = ?3 {only}) GROUP BY seq"
)


def _decayed_sql(first_counts: bool) -> list[str]:
    signals = _DECAYED_SIGNALS.replace("{first}", "0" if first_counts else "value")
    return [_DECAYED_EVENTS, _DECAYED_REACTIONS, signals]


def _ensure_math(conn: sqlite3.Connection) -> None:
    """Trending sums need pow(); SQLite builds without its math functions get Python's."""
    try:
        conn.execute("SELECT pow(2.0, 1.0)")
    except sqlite3.OperationalError:
        conn.create_function("pow", 2, math.pow, deterministic=True)


def _name(identifier: str) -> str:
    """A table or column name for SQL text; only plain lower-case names are ever passed."""
    if not identifier.replace("_", "").isalpha() or not identifier.islower():
        raise ValueError(f"not a table or column name: {identifier!r}")
    return identifier


def _split_sql(script: str) -> list[str]:
    """Statements of a migration file. Our migrations hold no ';' inside strings or triggers
    bodies; a migration that needs one must be split by hand."""
    lines = [ln for ln in script.splitlines() if not ln.strip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


def _load_by_seq(conn: sqlite3.Connection, seqs: Iterable[int]) -> dict[int, Paper]:
    out: dict[int, Paper] = {}
    for chunk in _chunks(list(seqs)):
        marks = ",".join("?" * len(chunk))
        for row in conn.execute(f"SELECT seq, {COLUMNS} FROM papers WHERE seq IN ({marks})", chunk):
            out[row[0]] = row_paper(row[1:])
    return out


class _Upsert(Merge):
    """`Merge` with SQLite's reads and writes (executemany)."""

    def __init__(self, conn: sqlite3.Connection, papers: Sequence[Paper]) -> None:
        super().__init__(papers)
        self.conn = conn
        self.owners = self._find_owners(self.wanted)
        self.current = _load_by_seq(conn, set(self.owners.values()))
        self.next_seq = int(conn.execute("SELECT coalesce(max(seq), 0) FROM papers").fetchone()[0])

    def _find_owners(self, keys: set[str]) -> dict[str, int]:
        owners: dict[str, int] = {}
        for chunk in _chunks(sorted(keys)):
            marks = ",".join("?" * len(chunk))
            owners.update(
                self.conn.execute(f"SELECT key, seq FROM paper_keys WHERE key IN ({marks})", chunk)
            )
        return owners

    def _write(self) -> None:
        change = self.conn.execute("SELECT coalesce(max(changed), 0) FROM papers").fetchone()[0]
        inserts: list[tuple[Any, ...]] = []
        updates: list[tuple[Any, ...]] = []
        keys: list[tuple[str, int]] = []
        for seq, paper in self.dirty.items():
            change += 1
            values = paper_values(paper)
            if seq in self.new:
                inserts.append((seq, *values, change))
            else:
                updates.append((*values, change, seq))
            keys.extend((k, seq) for k in self.dirty_keys[seq])
        # Updates first: a paper that takes an arXiv id frees nothing, but ids must stay unique.
        self.conn.executemany(
            "UPDATE papers SET (" + COLUMNS + ", changed) = "
            "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) WHERE seq = ?",
            updates,
        )
        self.conn.executemany(
            f"INSERT INTO papers (seq, {COLUMNS}, changed) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            inserts,
        )
        self.conn.executemany("INSERT OR IGNORE INTO paper_keys VALUES (?, ?)", keys)
