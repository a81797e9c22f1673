"""The server's embedding stage on this machine: how fast it drains a backlog of new papers, alone
and while searches run, and what it costs the searches.

    python bench/pipeline.py [--papers 600] [--clients 2] [--rate 10] [--repeats 3]

Runs paperfeed.pipeline.EmbedStage as `paperfeed serve` does (its own thread and store
connection, lower CPU priority, one ONNX thread, passes of PASS_PAPERS papers) over a fresh
store of synthetic papers (bench/synth.py), with the real model:
1. alone: the backlog drained with nothing else running;
2. searches alone: `--clients` threads of hybrid searches over the embedded store, `--rate`
   searches a second in all (a busy server; 0 for as many as the threads can do);
3. both: a fresh backlog drained while the same search threads search the store being embedded
   (as a server's readers would during a harvest).
Prints one table: figure, value, and what it compares with. Spread: the backlog is drained alone
--repeats times (a fresh store each), the median rate and the min-max shown; the searches'
latencies are split into --repeats consecutive rounds, each round's own p50 / p95 range beside
the whole's; the drain while searching runs once. The load average before and after is printed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import benchlib

from paperfeed.ingest.files import import_file
from paperfeed.pipeline import (
    PASS_PAPERS,
    EmbedPass,
    EmbedStage,
    lower_priority,
    process_embedder,
)
from paperfeed.search.engine import SearchEngine
from paperfeed.search.models import load_embedder
from paperfeed.search.query import SearchRequest
from paperfeed.store import open_store

QUERIES = [
    "graph neural networks for molecules", "contrastive learning with large batches",
    "diffusion models for image synthesis", "reinforcement learning from human feedback",
    "efficient transformers for long documents", "uncertainty estimation in deep networks",
    "federated learning with non-iid data", "protein structure prediction",
    "speech recognition with self-supervised models", "robust optimization under shift",
]  # fmt: skip


def fresh_store(folder: Path, name: str, corpus: Path) -> str:
    db = str(folder / f"{name}.db")
    store = open_store(db)
    import_file(store, corpus)
    store.close()
    return db


def drain(db: str, passes: list[EmbedPass]) -> float:
    """Run the embedding stage's passes until nothing is left; seconds taken."""
    embedder = process_embedder(lambda: load_embedder(threads=1))

    def work() -> None:
        lower_priority()  # as the server's embedder thread does
        store = open_store(db)
        stage = EmbedStage(lambda: store, embedder)
        try:
            while True:
                one = stage.run_pass(store)
                passes.append(one)
                if not one.more:
                    break
        finally:
            store.close()

    embedder()  # the model is loaded before the clock starts, as in a running server
    started = time.perf_counter()
    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    return time.perf_counter() - started


def search_load(db: str, clients: int, rate: float, stop: threading.Event,
                latencies: list[float]) -> None:  # fmt: skip
    """`clients` threads of hybrid searches on one engine (a server's thread pool) until `stop`,
    `rate` searches a second in all (0: each thread as fast as it can)."""
    store = open_store(db)
    embedder = process_embedder(lambda: load_embedder(threads=1))
    engine = SearchEngine(store, db + "-index", embedder())
    engine.sync()

    gap = clients / rate if rate > 0 else 0.0

    def client(k: int) -> None:
        i, due = k, time.perf_counter() + gap * k / clients
        while not stop.is_set():
            time.sleep(max(0.0, due - time.perf_counter()))
            started = time.perf_counter()
            engine.search(SearchRequest(QUERIES[i % len(QUERIES)], limit=10, mode="hybrid"))
            latencies.append(time.perf_counter() - started)
            i, due = i + 1, max(due + gap, started)

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    store.close()


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[q - 1] * 1000 if len(values) > 1 else 0.0


def pct_rounds(values: list[float], q: int, rounds: int) -> str:
    """The q-th percentile (ms) of all `values`, then its min-max over `rounds` consecutive
    rounds of them."""
    size = max(len(values) // max(rounds, 1), 1)
    parts = [values[i : i + size] for i in range(0, size * rounds, size)]
    each = [pct(part, q) for part in parts if len(part) > 1]
    spread = f" ({min(each):.1f}-{max(each):.1f})" if each else ""
    return f"{pct(values, q):.1f}{spread}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--papers", type=int, default=600)
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--rate", type=float, default=10.0,
                        help="searches a second in all (0: as fast as they go)")  # fmt: skip
    parser.add_argument("--search-s", type=float, default=20.0, help="searches alone: seconds")
    parser.add_argument(
        "--repeats",
        type=int,
        default=3,
        help="drains alone, and rounds the latencies are split into (default 3)",
    )
    args = parser.parse_args()
    corpus = benchlib.corpus(args.papers)
    folder = Path(tempfile.mkdtemp(prefix="paperfeed-bench-pipeline-"))

    load_before = os.getloadavg()
    alone_runs: list[float] = []
    for k in range(max(args.repeats, 1)):
        alone_db = fresh_store(folder, f"alone{k}", corpus)
        alone_passes: list[EmbedPass] = []
        alone_runs.append(drain(alone_db, alone_passes))
    alone = benchlib.Stats(alone_runs)
    alone_s = alone.median

    stop, idle_lat = threading.Event(), []
    timer = threading.Timer(args.search_s, stop.set)
    timer.start()
    search_load(alone_db, args.clients, args.rate, stop, idle_lat)

    both_db = fresh_store(folder, "both", corpus)
    both_passes: list[EmbedPass] = []
    stop, busy_lat = threading.Event(), []
    searching = threading.Thread(
        target=search_load, args=(both_db, args.clients, args.rate, stop, busy_lat)
    )
    searching.start()
    time.sleep(3)  # the search threads are loaded and searching
    before = len(busy_lat)
    both_s = drain(both_db, both_passes)
    during = len(busy_lat) - before
    stop.set()
    searching.join()

    n = args.papers
    per_pass = [p.seconds for p in alone_passes if p.embedded]
    rows = [
        ("papers embedded per pass (at most)", f"{PASS_PAPERS}", "PASS_PAPERS"),
        ("seconds per full pass, alone", f"{max(per_pass):.1f}", "bounds how late a stop or "
         "a newer paper waits"),
        ("backlog drained, alone",
         f"{n / alone.median:.1f} ({n / alone.max:.1f}-{n / alone.min:.1f}, "
         f"n={len(alone.runs)}) papers/s",
         f"{n} papers in {alone_s:.0f} s (median)"),
        ("backlog drained, while searches run", f"{n / both_s:.1f} papers/s",
         f"{n} papers in {both_s:.0f} s; {during / both_s:.1f} searches/s meanwhile"),
        ("hybrid search p50 / p95, no embedding", f"{pct_rounds(idle_lat, 50, args.repeats)} / "
         f"{pct_rounds(idle_lat, 95, args.repeats)} ms",
         f"{args.clients} client threads, {len(idle_lat)} searches"),
        ("hybrid search p50 / p95, while embedding",
         f"{pct_rounds(busy_lat, 50, args.repeats)} / {pct_rounds(busy_lat, 95, args.repeats)} ms",
         f"{args.clients} client threads, {len(busy_lat)} searches"),
    ]  # fmt: skip
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    load = f"{args.rate:g} searches/s" if args.rate else "searches as fast as they go"
    print(f"embedding stage, {n} synthetic papers, real model; {args.clients} search threads, "
          f"{load}")  # fmt: skip
    for row in [("figure", "value", "compared with"), *rows]:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    print(f"machine: {benchlib.machine_line(load_before)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
