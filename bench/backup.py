"""Online backup while a writer commits: how long `Store.backup` takes, and what it costs writers.

Builds a store of N synthetic papers (bench/synth.py) with one 384-d float16 vector each, then
runs a writer thread that inserts one paper per transaction, first alone for a few seconds and
then while `Store.backup` copies the database (4096 pages a step, the snapshot held across
steps). Prints the backup's time, size and rate, and the writer's commits per second and commit
latency (p50 / p99 / max) without and during the backup.

    .venv/bin/python bench/backup.py [--n 100000] [--pages 4096]
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from benchlib import corpus, load_module, timed

from paperfeed.ingest.files import import_file
from paperfeed.models import Paper
from paperfeed.store import open_store

BASELINE_S = 3.0


class Writer(threading.Thread):
    def __init__(self, db: Path) -> None:
        super().__init__(daemon=True)
        self.db, self.stop = db, threading.Event()
        self.latencies: list[tuple[float, float]] = []  # (start, seconds) of each commit

    def run(self) -> None:
        store, n = open_store(str(self.db)), 0
        while not self.stop.is_set():
            start = time.perf_counter()
            store.upsert_papers([Paper(id=f"w{n}", title=f"Written during the bench {n}")])
            self.latencies.append((start, time.perf_counter() - start))
            n += 1
        store.close()

    def window(self, start: float, end: float) -> str:
        took = np.array([s for t, s in self.latencies if start <= t < end]) * 1000
        if not len(took):
            return "no commits"
        p50, p99 = np.percentile(took, [50, 99])
        rate = len(took) / (end - start)
        latency = f"p50 {p50:.1f} / p99 {p99:.1f} / max {took.max():.1f} ms"
        return f"{rate:,.0f} commits/s, latency {latency}"


def build(n: int, db: Path) -> float:
    store = open_store(str(db))
    seconds, _ = timed(lambda: import_file(store, corpus(n)))
    store.close()
    load_module("search_speed").fill_vectors(db, "bench-model", 384)
    return seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=100_000, help="papers in the store (100,000)")
    ap.add_argument("--pages", type=int, default=4096, help="pages per backup step (4096)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db, copy = Path(tmp) / "live.db", Path(tmp) / "copy.db"
        print(f"building a store of {args.n:,} papers with vectors ...", flush=True)
        build(args.n, db)
        writer = Writer(db)
        writer.start()
        time.sleep(BASELINE_S)
        store = open_store(str(db), readonly=True)
        started = time.perf_counter()
        size = store.backup(str(copy), pages_per_step=args.pages)
        ended = time.perf_counter()
        store.close()
        time.sleep(0.5)
        writer.stop.set()
        writer.join()
        took = ended - started
        print(f"| store | {args.n:,} papers, {size / 1e6:,.0f} MB |")
        print(
            f"| backup | {took:.2f} s, {size / 1e6 / took:,.0f} MB/s, {args.pages} pages a step |"
        )
        print(f"| writer alone | {writer.window(started - BASELINE_S, started)} |")
        print(f"| writer during the backup | {writer.window(started, ended)} |")


if __name__ == "__main__":
    main()
