"""PostgreSQL: papers, embeddings, sources, announcements, signals, listings (PaperStore,
EmbeddingStore, SourceStore), and the store's identity (store_id, get_secret, backup).

Merging is SQLite's own (`_Upsert.run`): only the reads and writes around it differ. A batch
looks all its keys up in one query and writes new papers with COPY."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

from paperfeed.errors import StoreError
from paperfeed.models import Paper, identity_keys
from paperfeed.store.models import Announcement, Signal, UpsertResult
from paperfeed.store.postgres.base import Connection, PostgresBase
from paperfeed.store.sqlite.store import (
    _COLUMNS,
    _lookup_keys,
    _paper_values,
    _row_paper,
    _ts,
    _Upsert,
)


def _one(conn: Connection, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> Any:
    """The first column of the one row `sql` returns."""
    row = conn.execute(sql, params).fetchone()
    assert row is not None
    return row[0]


def _load_by_seq(conn: Connection, seqs: Iterable[int]) -> dict[int, Paper]:
    rows = conn.execute(
        f"SELECT seq, {_COLUMNS} FROM papers WHERE seq = ANY(%s) ORDER BY seq", (list(seqs),)
    )
    return {row[0]: _row_paper(row[1:]) for row in rows}


def _find_seqs(conn: Connection, refs: Iterable[str]) -> dict[str, int]:
    """`find_seq` of many refs at once; refs of no stored paper are left out."""
    refs = list(set(refs))
    found: dict[str, int] = dict(
        conn.execute("SELECT id, seq FROM papers WHERE id = ANY(%s)", (refs,)).fetchall()
    )
    keys = {ref: _lookup_keys(ref) for ref in refs if ref not in found}
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


class _PgUpsert(_Upsert):
    """SQLite's `_Upsert` (same matching and merging, `run` is its own) reading one query per
    batch and writing new papers with COPY."""

    def __init__(self, conn: Connection, papers: Sequence[Paper]) -> None:
        self.pg = conn
        self.papers = papers
        self.keys = [identity_keys(p) for p in papers]
        wanted = sorted({k for keys in self.keys for k in keys})
        self.owners = dict(
            conn.execute("SELECT key, seq FROM paper_keys WHERE key = ANY(%s)", (wanted,))
        )
        self.current = _load_by_seq(conn, set(self.owners.values()))
        self.new: set[int] = set()
        self.dirty: dict[int, Paper] = {}
        self.dirty_keys: dict[int, list[str]] = {}
        self.next_seq = int(_one(conn, "SELECT coalesce(max(seq), 0) FROM papers"))
        self.unchanged = 0

    def _write(self) -> None:
        change = int(_one(self.pg, "SELECT coalesce(max(changed), 0) FROM papers"))
        inserts: list[tuple[Any, ...]] = []
        updates: list[tuple[Any, ...]] = []
        keys: dict[str, int] = {}
        for seq, paper in self.dirty.items():
            change += 1
            values = _paper_values(paper)
            if seq in self.new:
                inserts.append((seq, *values, change))
            else:
                updates.append((*values, change, seq))
            for key in self.dirty_keys[seq]:
                keys.setdefault(key, seq)
        marks = ", ".join(["%s"] * 16)
        with self.pg.cursor() as cur:
            if updates:  # first, and in order, as on SQLite: ids must stay unique
                cur.executemany(
                    f"UPDATE papers SET ({_COLUMNS}, changed) = ({marks}) WHERE seq = %s",
                    updates,
                )
            if inserts:
                with cur.copy(f"COPY papers (seq, {_COLUMNS}, changed) FROM STDIN") as copy:
                    for row in inserts:
                        copy.write_row(row)
            cur.execute(
                "INSERT INTO paper_keys (key, seq) SELECT * FROM unnest(%s::text[], %s::bigint[])"
                " ON CONFLICT DO NOTHING",
                (list(keys), list(keys.values())),
            )


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
                f"SELECT 0 AS rank, {_COLUMNS} FROM papers WHERE id = %(ref)s"
                f" UNION ALL SELECT array_position(%(keys)s, key), {_COLUMNS}"
                " FROM papers JOIN paper_keys USING (seq) WHERE key = ANY(%(keys)s)"
                " ORDER BY rank LIMIT 1",
                {"ref": ref, "keys": _lookup_keys(ref)},
            ).fetchone()
        return _row_paper(row[1:]) if row else None

    def find_seq(self, ref: str) -> int | None:
        with self._conn() as conn:
            return _find_seqs(conn, [ref]).get(ref)

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
                    _ts(observed_at),
                    source,
                    [k[0] for k in last],
                    [k[1] for k in last],
                    list(last.values()),
                ),
            )
            return len(rows)
