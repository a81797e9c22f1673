"""SQLite FTS5 with bm25(): the peer bench/search_speed.py times paperfeed's keyword search
against, on the same synthetic corpus and the same queries.

The table is contentless (only the index; a hit is a row number, as tantivy's is a `seq`), with
the title and the abstract as two columns, tokenized by `porter unicode61 remove_diacritics 2`
(Porter stems, accents folded: as near as FTS5 comes to paperfeed's analyzer, which also drops
English stop words). Ranking is `bm25(fts, 2.0, 1.0)`: FTS5 sums each column's term frequency
times its weight before the BM25 saturation, so a title hit counts twice, as paperfeed's
indexing of the title twice does (the document length differs a little: FTS5 counts the title
once).

Queries: each word is quoted (FTS5's syntax would raise on `self-supervised` or `c++`) and the
words are joined with OR, paperfeed's semantics (a disjunction ranked by BM25), or with AND.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path

from benchlib import SRC, SYNTH_SOURCES, build_atomically, cached_path, corpus

from paperfeed.ingest.files import iter_records
from paperfeed.models import Paper

HERE = Path(__file__).resolve().parent
# what the table is built from: the corpus, this builder and the parser that gives the texts
SOURCES = (*SYNTH_SOURCES, HERE / "fts5.py", SRC / "ingest" / "records.py", SRC / "models.py")
TOKENIZE = "porter unicode61 remove_diacritics 2"
TITLE_WEIGHT = 2.0
_BATCH = 10_000


def build(source: Path, db: Path) -> int:
    """The FTS5 table of every paper in the JSON-lines file `source`, written to `db`
    (rowid = line number); returns the papers indexed."""
    conn = sqlite3.connect(db)
    conn.execute(
        f"CREATE VIRTUAL TABLE fts USING fts5(title, abstract, content='', tokenize='{TOKENIZE}')"
    )
    done = 0
    with source.open("rb") as f:
        rows: list[tuple[int, str, str]] = []
        for number, _size, item in iter_records(f):
            if isinstance(item, Paper):
                rows.append((number, item.title, item.abstract))
            if len(rows) >= _BATCH:
                done += _insert(conn, rows)
                rows = []
        done += _insert(conn, rows)
    conn.execute("INSERT INTO fts(fts) VALUES ('optimize')")  # one segment, as a built index
    conn.commit()
    conn.close()
    return done


def _insert(conn: sqlite3.Connection, rows: list[tuple[int, str, str]]) -> int:
    with conn:
        conn.executemany("INSERT INTO fts (rowid, title, abstract) VALUES (?, ?, ?)", rows)
    return len(rows)


def cached(n: int, seed: int = 0) -> Path:
    """The FTS5 database of the synthetic corpus of n papers, built once (atomically) and kept
    in the temp folder, keyed by n, seed and the code that builds it."""
    path = cached_path("fts5", {"n": n, "seed": seed}, SOURCES, ".db")

    def make(tmp: Path) -> None:
        print(f"building {path} (not part of the measured figures)", flush=True)
        build(corpus(n, seed), tmp)

    build_atomically(path, make)
    return path


def match_expression(words: Iterable[str], operator: str = "OR") -> str:
    """The words, each quoted as an FTS5 string (a `"` doubled), joined by OR or AND."""
    quoted = ['"' + w.replace('"', '""') + '"' for w in words]
    return f" {operator} ".join(quoted)


class Fts5:
    """A read-only connection to the table, answering top-k queries."""

    def __init__(self, db: Path) -> None:
        self.conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, check_same_thread=False)

    def search(self, words: Sequence[str], limit: int = 10, operator: str = "OR") -> list[int]:
        """Row numbers of the best `limit` papers by bm25 for `words` (none: no hits)."""
        if not words:
            return []
        rows = self.conn.execute(
            f"SELECT rowid FROM fts WHERE fts MATCH ? ORDER BY bm25(fts, {TITLE_WEIGHT}, 1.0) "
            "LIMIT ?",
            (match_expression(words, operator), limit),
        ).fetchall()
        return [int(r[0]) for r in rows]

    def count(self) -> int:
        """Papers in the table."""
        return int(self.conn.execute("SELECT count(*) FROM fts_docsize").fetchone()[0])

    def close(self) -> None:
        self.conn.close()
