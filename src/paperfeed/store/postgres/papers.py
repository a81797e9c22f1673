"""PostgreSQL: papers, embeddings, sources, announcements, signals, listings (PaperStore,
EmbeddingStore, SourceStore), and the store's identity (store_id, get_secret, backup).

Merging is shared with SQLite (`rows.Merge`): only the reads and writes around it differ, so both
backends give the same rows, row numbers and change numbers for the same history."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

import orjson
import psycopg

from paperfeed.errors import AlreadyExists, StoreError
from paperfeed.models import Paper
from paperfeed.store.models import (
    Announcement,
    Change,
    EmbeddingRow,
    EmbeddingTodo,
    Listed,
    Signal,
    SignalPoint,
    SourceRow,
    UpsertResult,
    VectorChange,
)
from paperfeed.store.postgres.base import Connection, PostgresBase
from paperfeed.store.rows import (
    COLUMN_NAMES,
    COLUMNS,
    NO_ROW,
    SOURCE_COLUMNS,
    Merge,
    lookup_keys,
    paper_values,
    row_paper,
    row_source,
    ts,
)

# The papers of the days %(since)s..%(after)s (exclusive) and the latest such day of each, as
# SQLite's `_LISTED`: announced (not replaced) or first published that day. `only` narrows it.
LISTED = (
    "WITH hits(seq, day) AS ("
    " SELECT seq, day FROM announcements"
    "  WHERE day >= %(since)s AND day < %(after)s AND kind NOT ILIKE 'replace%%' {only}"
    " UNION ALL"
    " SELECT seq, substr(published, 1, 10) FROM papers"
    "  WHERE published >= %(since)s AND published < %(after)s {only}"
    "), listed AS (SELECT seq, max(day) AS day FROM hits GROUP BY seq)"
)
_PAPER_TYPES = ["int8", *("int8" if c == "version" else "text" for c in COLUMN_NAMES), "int8"]


def _copy(
    cur: psycopg.Cursor[Any], target: str, types: list[str], rows: Iterable[Sequence[Any]]
) -> None:
    """Write `rows` into `target` (a table and its columns, of `types`) with a binary COPY."""
    with cur.copy(f"COPY {target} FROM STDIN (FORMAT BINARY)") as copy:
        copy.set_types(types)
        for row in rows:
            copy.write_row(row)


def _one(conn: Connection, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> Any:
    """The first column of the one row `sql` returns."""
    row = conn.execute(sql, params).fetchone()
    assert row is not None
    return row[0]


def _load_by_seq(conn: Connection, seqs: Iterable[int]) -> dict[int, Paper]:
    rows = conn.execute(
        f"SELECT seq, {COLUMNS} FROM papers WHERE seq = ANY(%s) ORDER BY seq", (list(seqs),)
    )
    return {row[0]: row_paper(row[1:]) for row in rows}


def _find_seqs(conn: Connection, refs: Iterable[str]) -> dict[str, int]:
    """`find_seq` of many refs at once; refs of no stored paper are left out."""
    refs = list(set(refs))
    found: dict[str, int] = dict(
        conn.execute("SELECT id, seq FROM papers WHERE id = ANY(%s)", (refs,)).fetchall()
    )
    keys = {ref: lookup_keys(ref) for ref in refs if ref not in found}
    wanted = sorted({k for ks in keys.values() for k in ks})
    if wanted:
        owners: dict[str, int] = dict(
            conn.execute("SELECT key, seq FROM paper_keys WHERE key = ANY(%s)", (wanted,))
        )
        for ref, ks in keys.items():
            seq = next((owners[k] for k in ks if k in owners), None)
            if seq is not None:
                found[ref] = seq
    return {ref: int(seq) for ref, seq in found.items()}


def _key_owners(conn: Connection, keys: Iterable[str]) -> dict[str, int]:
    """The row number of each of `keys` that some paper holds."""
    rows = conn.execute(
        "SELECT key, seq FROM paper_keys WHERE key = ANY(%b::text[])", (list(keys),)
    )
    return {str(key): int(seq) for key, seq in rows}


def _latest_signals(conn: Connection, seqs: Iterable[int]) -> dict[int, dict[str, float]]:
    found: dict[int, dict[str, float]] = {}
    rows = conn.execute(
        "SELECT DISTINCT ON (seq, name) seq, name, value FROM signals WHERE seq = ANY(%s)"
        " ORDER BY seq, name, observed_at DESC",
        (list(seqs),),
    )
    for seq, name, value in rows:
        found.setdefault(seq, {})[name] = value
    return found


class _PgUpsert(Merge):
    """`Merge` (the same matching and merging as SQLite's) with PostgreSQL's reads and writes:
    one query for the batch's keys, binary COPY for new papers, new keys and updates."""

    def __init__(self, conn: Connection, papers: Sequence[Paper]) -> None:
        super().__init__(papers)
        self.pg = conn
        self.looked_up = self.wanted
        self.stored = _key_owners(conn, self.looked_up)
        self.owners = dict(self.stored)
        self.current = _load_by_seq(conn, set(self.owners.values()))
        self.stored_ids = {seq: p.id for seq, p in self.current.items()}
        self.next_seq = int(_one(conn, "SELECT coalesce(max(seq), 0) FROM papers"))

    def _write(self) -> None:
        change = int(_one(self.pg, "SELECT coalesce(max(changed), 0) FROM papers"))
        inserts: list[tuple[Any, ...]] = []
        updates: list[tuple[Any, ...]] = []
        renames: list[tuple[Any, ...]] = []
        keys: dict[str, int] = {}
        for seq, paper in self.dirty.items():
            change += 1
            values = paper_values(paper)
            if seq in self.new:
                inserts.append((seq, *values, change))
            elif paper.id == self.stored_ids[seq]:
                updates.append((seq, *values, change))
            else:
                renames.append((*values, change, seq))
            for key in self.dirty_keys[seq]:
                keys.setdefault(key, seq)
        # SQLite's INSERT OR IGNORE: a COPY of the keys no paper holds yet
        held = set(self.stored)
        unseen = [k for k in keys if k not in self.looked_up]
        if unseen:
            held.update(_key_owners(self.pg, unseen))
        fresh = [(k, seq) for k, seq in keys.items() if k not in held]
        marks = ", ".join(["%s"] * 16)
        with self.pg.cursor() as cur:
            # Updates before inserts, as on SQLite; those that change a paper's id one at a
            # time and in order, since ids must stay unique after each.
            if renames:
                cur.executemany(
                    f"UPDATE papers SET ({COLUMNS}, changed) = ({marks}) WHERE seq = %s",
                    renames,
                )
            if updates:
                cur.execute(
                    "CREATE TEMP TABLE IF NOT EXISTS paper_updates (LIKE papers)"
                    " ON COMMIT DELETE ROWS"
                )
                _copy(cur, f"paper_updates (seq, {COLUMNS}, changed)", _PAPER_TYPES, updates)
                cur.execute(
                    f"UPDATE papers p SET ({COLUMNS}, changed) = ("
                    + ", ".join("u." + c for c in COLUMN_NAMES)
                    + ", u.changed) FROM paper_updates u WHERE p.seq = u.seq"
                )
                cur.execute("DELETE FROM paper_updates")
            if inserts:
                _copy(cur, f"papers (seq, {COLUMNS}, changed)", _PAPER_TYPES, inserts)
            if fresh:
                _copy(cur, "paper_keys (key, seq)", ["text", "int8"], fresh)


class PaperMethods(PostgresBase):
    # -- identity -------------------------------------------------------------------------

    def store_id(self) -> str:
        with self._conn() as conn:
            return str(_one(conn, "SELECT value FROM meta WHERE key = 'store_id'"))

    def get_secret(self, name: str) -> bytes:
        key = "secret:" + name
        sql = "SELECT value FROM meta WHERE key = %s"
        with self._conn() as conn:
            row = conn.execute(sql, (key,)).fetchone()
        if row is not None:
            return bytes.fromhex(row[0])
        if self.readonly:
            raise StoreError(f"No key {name!r} in the read-only database {self.path}.")
        with self._tx() as conn:
            conn.execute(
                "INSERT INTO meta (key, value) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                (key, secrets.token_hex(32)),
            )
            return bytes.fromhex(_one(conn, sql, (key,)))

    def backup(self, path: str, *, overwrite: bool = False, pages_per_step: int = 4096,
               on_step: Callable[[int, int], None] | None = None) -> int:  # fmt: skip
        raise StoreError(
            f"{self.path} is a PostgreSQL database: back it up with pg_dump, or copy it to a "
            f"file with paperfeed copy-store {self.path} sqlite:///{path}."
        )

    # -- papers -----------------------------------------------------------------------------

    def upsert_papers(self, papers: Sequence[Paper]) -> UpsertResult:
        if not papers:
            return UpsertResult()
        with self._tx() as conn:
            return _PgUpsert(conn, papers).run()

    def get_paper(self, ref: str) -> Paper | None:
        with self._conn() as conn:
            row = conn.execute(
                f"SELECT 0 AS rank, {COLUMNS} FROM papers WHERE id = %(ref)s"
                f" UNION ALL SELECT array_position(%(keys)s, key), {COLUMNS}"
                " FROM papers JOIN paper_keys USING (seq) WHERE key = ANY(%(keys)s)"
                " ORDER BY rank LIMIT 1",
                {"ref": ref, "keys": lookup_keys(ref)},
            ).fetchone()
        return row_paper(row[1:]) if row else None

    def find_seq(self, ref: str) -> int | None:
        with self._conn() as conn:
            return _find_seqs(conn, [ref]).get(ref)

    def find_seqs(self, refs: Iterable[str]) -> dict[str, int]:
        with self._conn() as conn:
            return _find_seqs(conn, refs)

    def get_papers_by_seq(self, seqs: Sequence[int]) -> dict[int, Paper]:
        with self._conn() as conn:
            return _load_by_seq(conn, seqs)

    def count_papers(self) -> int:
        with self._conn() as conn:
            return int(_one(conn, "SELECT count(*) FROM papers"))

    def last_change(self) -> int:
        with self._conn() as conn:
            return int(_one(conn, "SELECT coalesce(max(changed), 0) FROM papers"))

    # -- announcements and signals --------------------------------------------------------

    def add_announcements(self, items: Sequence[Announcement]) -> int:
        with self._tx() as conn:
            seqs = _find_seqs(conn, (a.ref for a in items))
            known = [a for a in items if a.ref in seqs]
            cur = conn.execute(
                "INSERT INTO announcements (list, day, seq, kind) SELECT * FROM"
                " unnest(%s::text[], %s::text[], %s::bigint[], %s::text[]) ON CONFLICT DO NOTHING",
                (
                    [a.list for a in known],
                    [a.day.isoformat() for a in known],
                    [seqs[a.ref] for a in known],
                    [a.kind for a in known],
                ),
            )
            return max(cur.rowcount, 0)

    def record_signals(self, items: Sequence[Signal], observed_at: datetime, source: str) -> int:
        with self._tx() as conn:
            seqs = _find_seqs(conn, (s.ref for s in items))
            latest = {
                (seq, name): value
                for seq, name, value in conn.execute(
                    "SELECT DISTINCT ON (seq, name) seq, name, value FROM signals"
                    " WHERE seq = ANY(%s) AND name = ANY(%s) ORDER BY seq, name, observed_at DESC",
                    (sorted(set(seqs.values())), sorted({s.name for s in items})),
                )
            }
            rows: list[tuple[int, str, float]] = []
            for item in items:
                seq = seqs.get(item.ref)
                if seq is None:
                    continue
                value = latest.get((seq, item.name))
                if value is None or value != item.value:
                    rows.append((seq, item.name, float(item.value)))
            last = {(seq, name): value for seq, name, value in rows}  # a repeat replaces
            conn.execute(
                "INSERT INTO signals (seq, name, observed_at, value, source) SELECT s, n, %s, v, %s"
                " FROM unnest(%s::bigint[], %s::text[], %s::float8[]) AS t(s, n, v)"
                " ON CONFLICT (seq, name, observed_at)"
                " DO UPDATE SET value = excluded.value, source = excluded.source",
                (
                    ts(observed_at),
                    source,
                    [k[0] for k in last],
                    [k[1] for k in last],
                    list(last.values()),
                ),
            )
            return len(rows)

    def get_announcements(self, ref: str) -> list[Announcement]:
        with self._conn() as conn:
            rows = conn.execute(
                "SELECT p.id, a.list, a.day, a.kind FROM announcements a JOIN papers p USING (seq)"
                " WHERE a.seq = %s ORDER BY a.day, a.list",
                (_find_seqs(conn, [ref]).get(ref),),
            ).fetchall()
        return [Announcement(r[0], r[1], date.fromisoformat(r[2]), r[3]) for r in rows]

    def get_signals(self, ref: str) -> list[SignalPoint]:
        with self._conn() as conn:
            rows = conn.execute(
                "SELECT name, observed_at, value, source FROM signals WHERE seq = %s"
                " ORDER BY observed_at, name",
                (_find_seqs(conn, [ref]).get(ref),),
            ).fetchall()
        return [SignalPoint(r[0], datetime.fromisoformat(r[1]), r[2], r[3]) for r in rows]

    def latest_signals(self, refs: Sequence[str]) -> dict[str, dict[str, float]]:
        with self._conn() as conn:
            seqs = _find_seqs(conn, refs)
            by_seq = _latest_signals(conn, seqs.values())
        return {ref: by_seq[seq] for ref, seq in seqs.items() if seq in by_seq}

    def latest_signals_by_seq(self, seqs: Sequence[int]) -> dict[int, dict[str, float]]:
        with self._conn() as conn:
            return _latest_signals(conn, seqs)

    # -- listings -------------------------------------------------------------------------

    def latest_day(self, until: date) -> date | None:
        after = (until + timedelta(days=1)).isoformat()
        days: list[str] = []
        with self._conn() as conn:
            for sql in (
                "SELECT day FROM announcements WHERE day < %s AND kind NOT ILIKE 'replace%%'"
                " ORDER BY day DESC LIMIT 1",
                "SELECT published FROM papers WHERE published < %s ORDER BY published DESC LIMIT 1",
            ):
                days.extend(str(r[0])[:10] for r in conn.execute(sql, (after,)))
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
            "(SELECT value FROM signals s WHERE s.seq = l.seq AND s.name = %(signal)s"
            " ORDER BY observed_at DESC LIMIT 1)"
            if by_signal
            else "NULL::float8"
        )
        order = "sig DESC NULLS LAST, " if by_signal else ""
        with self._conn() as conn:
            rows = conn.execute(
                LISTED.format(only="")
                + f" SELECT l.seq, l.day, {signal} AS sig FROM listed l JOIN papers p USING (seq)"
                f" ORDER BY {order}l.day DESC, p.published DESC NULLS LAST, l.seq DESC"
                " LIMIT %(limit)s OFFSET %(offset)s",
                {
                    "since": since.isoformat(),
                    "after": (until + timedelta(days=1)).isoformat(),
                    "signal": by_signal,
                    "limit": limit,
                    "offset": offset,
                },
            ).fetchall()
            seqs = [int(r[0]) for r in rows]
            papers = _load_by_seq(conn, seqs)
            signals = _latest_signals(conn, seqs)
        return [
            Listed(papers[seq], date.fromisoformat(day), signals.get(seq, {}), seq)
            for seq, day, _ in rows
        ]

    def list_newest(self, *, limit: int = 20, offset: int = 0, unranked_in: str | None = None
                    ) -> list[Listed]:  # fmt: skip
        unranked = (
            " WHERE NOT EXISTS (SELECT 1 FROM trending t WHERE t.span = %(span)s"
            " AND t.seq = papers.seq)"
            if unranked_in
            else ""
        )
        with self._conn() as conn:
            seqs = [
                int(r[0])
                for r in conn.execute(
                    f"SELECT seq FROM papers{unranked} ORDER BY seq DESC"
                    " LIMIT %(limit)s OFFSET %(offset)s",
                    {"span": unranked_in, "limit": limit, "offset": offset},
                )
            ]
            papers = _load_by_seq(conn, seqs)
            signals = _latest_signals(conn, seqs)
        return [Listed(papers[s], None, signals.get(s, {}), s) for s in seqs]

    # -- changes ----------------------------------------------------------------------------

    def iter_changes(self, after: int, batch_size: int = 2000) -> Iterator[Change]:
        while True:
            with self._conn() as conn:
                rows = conn.execute(
                    f"SELECT changed, seq, {COLUMNS} FROM papers WHERE changed > %s"
                    " ORDER BY changed LIMIT %s",
                    (after, batch_size),
                ).fetchall()
            for row in rows:
                yield Change(changed=row[0], seq=row[1], paper=row_paper(row[2:]))
            if len(rows) < batch_size:
                return
            after = rows[-1][0]

    def count_changes(self, after: int) -> int:
        with self._conn() as conn:
            return int(_one(conn, "SELECT count(*) FROM papers WHERE changed > %s", (after,)))

    # -- embeddings -----------------------------------------------------------------------

    def list_embedding_todo(self, model: str, after_seq: int, limit: int, *,
                            before_seq: int | None = None) -> list[EmbeddingTodo]:  # fmt: skip
        order = "ASC" if before_seq is None else "DESC"
        with self._conn() as conn:
            rows = conn.execute(
                "SELECT p.seq, p.changed, e.text_hash, "
                + ", ".join("p." + c for c in COLUMN_NAMES)
                + " FROM papers p LEFT JOIN embeddings e ON e.model = %s AND e.seq = p.seq"
                " WHERE p.seq > %s AND p.seq < %s"
                " AND (e.seq IS NULL OR e.paper_changed < p.changed)"
                f" ORDER BY p.seq {order} LIMIT %s",
                (model, after_seq, NO_ROW if before_seq is None else before_seq, limit),
            ).fetchall()
        return [EmbeddingTodo(r[0], r[1], row_paper(r[3:]), r[2]) for r in rows]

    def count_embedding_todo(self, model: str) -> int:
        with self._conn() as conn:
            return int(
                _one(
                    conn,
                    "SELECT count(*) FROM papers p"
                    " LEFT JOIN embeddings e ON e.model = %s AND e.seq = p.seq"
                    " WHERE e.seq IS NULL OR e.paper_changed < p.changed",
                    (model,),
                )
            )

    def put_embeddings(self, model: str, rows: Sequence[EmbeddingRow]) -> None:
        with self._tx() as conn:
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
            with conn.cursor() as cur:
                if fresh:
                    cur.executemany(
                        "INSERT INTO embeddings (model, seq, paper_changed, text_hash, vector,"
                        " changed) VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (model, seq)"
                        " DO UPDATE SET paper_changed = excluded.paper_changed,"
                        " text_hash = excluded.text_hash, vector = excluded.vector,"
                        " changed = excluded.changed",
                        fresh,
                    )
                if checked:
                    cur.executemany(
                        "UPDATE embeddings SET paper_changed = %s WHERE model = %s AND seq = %s",
                        checked,
                    )

    def count_embeddings(self, model: str) -> int:
        with self._conn() as conn:
            return int(_one(conn, "SELECT count(*) FROM embeddings WHERE model = %s", (model,)))

    def list_embedding_models(self) -> list[tuple[str, int]]:
        with self._conn() as conn:
            rows = conn.execute(
                "SELECT model, (SELECT octet_length(vector) / 2 FROM embeddings e2"
                " WHERE e2.model = e.model LIMIT 1)"
                " FROM (SELECT DISTINCT model FROM embeddings) e ORDER BY model"
            ).fetchall()
        return [(str(m), int(d)) for m, d in rows]

    def last_vector_change(self, model: str) -> int:
        sql = "SELECT coalesce(max(changed), 0) FROM embeddings WHERE model = %s"
        with self._conn() as conn:
            return int(_one(conn, sql, (model,)))

    def count_vector_changes(self, model: str, after: int) -> int:
        sql = "SELECT count(*) FROM embeddings WHERE model = %s AND changed > %s"
        with self._conn() as conn:
            return int(_one(conn, sql, (model, after)))

    def iter_vector_changes(
        self, model: str, after: int, batch_size: int = 5000
    ) -> Iterator[VectorChange]:
        while True:
            with self._conn() as conn:
                rows = conn.execute(
                    "SELECT changed, seq, vector FROM embeddings WHERE model = %s AND changed > %s"
                    " ORDER BY changed LIMIT %s",
                    (model, after, batch_size),
                ).fetchall()
            for row in rows:
                yield VectorChange(row[0], row[1], bytes(row[2]))
            if len(rows) < batch_size:
                return
            after = rows[-1][0]

    def get_vector(self, model: str, seq: int) -> bytes | None:
        with self._conn() as conn:
            row = conn.execute(
                "SELECT vector FROM embeddings WHERE model = %s AND seq = %s", (model, seq)
            ).fetchone()
        return bytes(row[0]) if row else None

    def get_vectors(self, model: str, seqs: Sequence[int]) -> dict[int, bytes]:
        with self._conn() as conn:
            rows = conn.execute(
                "SELECT seq, vector FROM embeddings WHERE model = %s AND seq = ANY(%s)"
                " ORDER BY seq",
                (model, list(seqs)),
            ).fetchall()
        return {int(seq): bytes(vector) for seq, vector in rows}

    def iter_embeddings(self, model: str) -> Iterator[tuple[str, str, bytes]]:
        after = 0
        while True:
            with self._conn() as conn:
                rows = conn.execute(
                    "SELECT e.seq, p.id, e.text_hash, e.vector FROM embeddings e JOIN papers p"
                    " USING (seq) WHERE e.model = %s AND e.seq > %s ORDER BY e.seq LIMIT 5000",
                    (model, after),
                ).fetchall()
            if not rows:
                return
            for _, pid, text_hash, vector in rows:
                yield str(pid), str(text_hash), bytes(vector)
            after = rows[-1][0]

    # -- sources ----------------------------------------------------------------------------

    def add_source(self, source: SourceRow) -> None:
        created = source.created_at or datetime.now(UTC)
        with self._tx() as conn:
            cur = conn.execute(
                "INSERT INTO sources (name, kind, config, interval_s, next_run_at, enabled,"
                " created_at, cursor) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
                " ON CONFLICT (name) DO NOTHING",
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
            if cur.rowcount == 0:
                raise AlreadyExists(f"A source named {source.name!r} exists already.")

    def get_source(self, name: str) -> SourceRow | None:
        with self._conn() as conn:
            row = conn.execute(
                f"SELECT {SOURCE_COLUMNS} FROM sources WHERE name = %s", (name,)
            ).fetchone()
        return row_source(row) if row else None

    def list_sources(self) -> list[SourceRow]:
        with self._conn() as conn:
            rows = conn.execute(f"SELECT {SOURCE_COLUMNS} FROM sources ORDER BY name").fetchall()
        return [row_source(r) for r in rows]

    def remove_source(self, name: str) -> bool:
        with self._tx() as conn:
            return conn.execute("DELETE FROM sources WHERE name = %s", (name,)).rowcount > 0

    def due_sources(self, now: datetime) -> list[str]:
        with self._conn() as conn:
            rows = conn.execute(
                "SELECT name FROM sources WHERE enabled <> 0 AND next_run_at <= %s"
                " ORDER BY next_run_at, name",
                (ts(now),),
            ).fetchall()
        return [str(r[0]) for r in rows]

    def claim_source(
        self, name: str, owner: str, now: datetime, until: datetime, take_from: str | None = None
    ) -> bool:
        with self._tx() as conn:
            taken = conn.execute(
                "UPDATE sources SET lease_owner = %s, lease_until = %s WHERE name = %s AND"
                " (lease_owner IS NULL OR lease_owner IN (%s, %s) OR lease_until < %s)",
                (owner, ts(until), name, owner, take_from or owner, ts(now)),
            )
            return taken.rowcount > 0

    def save_cursor(self, name: str, cursor: Mapping[str, Any]) -> None:
        with self._tx() as conn:
            conn.execute(
                "UPDATE sources SET cursor = %s WHERE name = %s",
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
        with self._tx() as conn:
            conn.execute(
                "UPDATE sources SET last_run_at = %(ran)s, next_run_at = %(next)s,"
                " last_error = %(error)s,"
                " last_ok_at = CASE WHEN %(error)s::text IS NULL THEN %(ran)s ELSE last_ok_at END,"
                " failures = CASE WHEN %(error)s::text IS NULL THEN 0 ELSE failures + 1 END,"
                " last_added = %(added)s, papers_added = papers_added + %(added)s,"
                " lease_owner = NULL, lease_until = NULL WHERE name = %(name)s",
                {"ran": ts(ran_at), "next": ts(next_run_at), "error": error, "added": added,
                 "name": name},
            )  # fmt: skip
