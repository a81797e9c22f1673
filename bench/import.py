"""Import speed for the arXiv snapshot format: papers/s into the store, then the keyword index.

Target (foundation issue): >= 20,000 papers/s for the import before any embedding. The corpus
is synthetic (bench/synth.py samples the real abstracts' vocabulary and lengths) because the
real 4.5 GB snapshot cannot be downloaded here; the real 1,000-line fixture in tests/data is
measured too.

Each figure is the median of --repeats runs (each into a fresh database), with the slowest and
fastest run beside it, as papers per wall-clock second and per CPU-second of this process (every
thread): on a machine whose cores other processes use, wall time stretches while CPU time does
not as much, so the second says more nearly what the code costs and the first what this
machine gave it. The import
is split into its two phases: reading and parsing the lines (the same parser, nothing stored),
and the rest (merging with what is stored and writing it: import minus parse).

When 20,000/s holds (measured at 200k synthetic papers on this 2-core AMD EPYC, Python 3.11,
SQLite 3.40): the import is one Python thread, about 73 microseconds of CPU per paper: parsing
~31 (32,000 papers per CPU-second) and merging with the store and writing ~40 (25,000 per CPU-
second; SQLite itself about half of that). Each phase alone is above 20,000/s; the two in
sequence give 13,500-15,000 papers per CPU-second, which is also the wall rate on a quiet
machine (14.4-14.8 s for 200k, 13.3-13.5 CPU-s, load under 2) and about half that when other
processes share the two cores (6,400-7,200/s at load 5-14; on this VM the CPU-seconds grow too
under such load, 14.6-19 s, so neither figure is load-proof: compare quiet runs). So 20,000/s
needs an otherwise idle core about 1.4x faster per thread than this one; it does not hold here.
Batch size changes nothing (5,000 to 50,000: 14.4-14.6 s); a reader thread was tried and
reverted (61e318d: both phases are Python under one GIL). The foundation's code (d53939b) on the
same corpus and machine did 16,000/s at load 2 (12.1 CPU-s): the code does more per paper since
(e.g. control characters stripped from every text and ids checked, 4ef72b3; Hugging Face entries
recognised, 650c02d).

    .venv/bin/python bench/import.py [--n 200000] [--seed 0] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchlib import Stats, corpus, machine_line, timed_cpu
from synth import KAGGLE

from paperfeed.ingest.files import import_file, iter_records
from paperfeed.search.keyword import KeywordIndex
from paperfeed.store import open_store

TARGET = 20_000


class Runs:
    """Wall and CPU seconds of one step over the repeats."""

    def __init__(self) -> None:
        self.wall: list[float] = []
        self.cpu: list[float] = []

    def time(self, fn: Callable[[], Any]) -> None:
        wall, cpu, _ = timed_cpu(fn)
        self.wall.append(wall)
        self.cpu.append(cpu)


def count_lines(path: Path) -> int:
    with path.open("rb") as f:
        return sum(1 for _ in f)


def parse_only(path: Path) -> int:
    with path.open("rb") as f:
        return sum(1 for _ in iter_records(f))


def measure(path: Path, repeats: int) -> tuple[int, dict[str, Runs], dict[str, float]]:
    """Each step's runs over `repeats` fresh databases, and the sizes of the last one."""
    n = count_lines(path)
    steps = {name: Runs() for name in ("parse", "import", "re-import", "index")}
    sizes: dict[str, float] = {}
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as tmp:
            workdir = Path(tmp)
            steps["parse"].time(lambda: parse_only(path))
            store = open_store(str(workdir / "bench.db"))
            steps["import"].time(lambda: import_file(store, path))  # noqa: B023
            steps["re-import"].time(lambda: import_file(store, path))  # noqa: B023
            index = KeywordIndex(workdir / "index")
            steps["index"].time(lambda: index.sync(store))  # noqa: B023
            assert store.count_papers() == n == index.num_docs(), "not every paper went in"
            store.close()
            sizes["database size (MB)"] = (
                sum(p.stat().st_size for p in workdir.glob("bench.db*")) / 1e6
            )
            sizes["keyword index size (MB)"] = (
                sum(p.stat().st_size for p in (workdir / "index").rglob("*") if p.is_file()) / 1e6
            )
    return n, steps, sizes


def table(n: int, steps: dict[str, Runs], sizes: dict[str, float]) -> dict[str, str]:
    """papers/s per step: wall (median, then slowest-fastest), and per CPU-second."""
    parse, imp = steps["parse"], steps["import"]
    write = Runs()  # merge + SQLite: the import minus parsing, run by run; CPU time only (a
    # difference of two wall times taken apart is noise on a shared machine, even negative)
    write.cpu = [max(i - p, 1e-9) for i, p in zip(imp.cpu, parse.cpu, strict=True)]
    both = Runs()
    both.wall = [i + x for i, x in zip(imp.wall, steps["index"].wall, strict=True)]
    both.cpu = [i + x for i, x in zip(imp.cpu, steps["index"].cpu, strict=True)]
    rows = {
        "parse only": parse,
        "import into SQLite": imp,
        "  of it merge + write (import - parse)": write,
        "re-import, all unchanged": steps["re-import"],
        "keyword index build": steps["index"],
        "import + index": both,
    }
    out = {}
    for label, runs in rows.items():
        if runs.wall:
            out[f"{label} (papers/s wall)"] = Stats(runs.wall).rate(n)
        out[f"{label} (papers per CPU-s)"] = Stats(runs.cpu).rate(n)
    out["import: wall s / CPU s"] = f"{Stats(imp.wall).s()} / {Stats(imp.cpu).s()}"
    out.update({k: f"{v:,.0f}" for k, v in sizes.items()})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=200_000, help="synthetic papers (default 200,000)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeats", type=int, default=3, help="runs of each step (default 3)")
    args = ap.parse_args()
    synthetic = corpus(args.n, args.seed)
    load_before = os.getloadavg()
    results = {}
    for label, path in (("real 1,000", KAGGLE), (f"synthetic {args.n:,}", synthetic)):
        results[label] = table(*measure(path, args.repeats))
    print(f"machine: {machine_line(load_before)}")
    print(
        f"each: papers/s at the median of {args.repeats} runs (slowest-fastest); per CPU-s = "
        "this process's CPU time, all threads"
    )
    labels = list(results)
    print(f"| figure | {' | '.join(labels)} | target |")
    print("|---|" + "---|" * (len(labels) + 1))
    for figure in results[labels[0]]:
        target = f">= {TARGET:,}" if figure.startswith("import into SQLite") else ""
        cells = " | ".join(results[label][figure] for label in labels)
        print(f"| {figure} | {cells} | {target} |")


if __name__ == "__main__":
    main()
