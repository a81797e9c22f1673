"""Import speed for the arXiv snapshot format: papers/s into the store, then the keyword index.

Target (foundation issue): >= 20,000 papers/s for the import before any embedding. The corpus
is synthetic (bench/synth.py samples the real abstracts' vocabulary and lengths) because the
real 4.5 GB snapshot cannot be downloaded here; the real 2,000-line fixture is measured too.

    .venv/bin/python bench/import.py [--n 200000] [--seed 0]
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
import time
from pathlib import Path

from paperfeed.ingest.files import import_file, iter_records
from paperfeed.search.keyword import KeywordIndex
from paperfeed.store import open_store

HERE = Path(__file__).resolve().parent
REAL = (
    HERE.parent.parent / "shared" / "data" / "fixtures" / "arxiv_metadata"
    / "kaggle_snapshot_first2000" / "arxiv_data_fixed.jsonl"
)  # fmt: skip
TARGET = 20_000


def _synth() -> object:
    spec = importlib.util.spec_from_file_location("synth", HERE / "synth.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def corpus(n: int, seed: int) -> Path:
    path = Path(tempfile.gettempdir()) / f"paperfeed-synth-{n}-{seed}.jsonl"
    if not path.exists():
        t = time.perf_counter()
        _synth().generate(n, path, seed=seed)  # type: ignore[attr-defined]
        print(
            f"generated {n:,} papers in {time.perf_counter() - t:.1f}s -> {path}", file=sys.stderr
        )
    return path


def timed(fn: object) -> float:
    t = time.perf_counter()
    fn()  # type: ignore[operator]
    return time.perf_counter() - t


def measure(path: Path, workdir: Path) -> dict[str, float]:
    with path.open("rb") as f:
        n = sum(1 for _ in f)
    with path.open("rb") as f:
        parse_s = timed(lambda: sum(1 for _ in iter_records(f)))
    store = open_store(str(workdir / "bench.db"))
    import_s = timed(lambda: import_file(store, path))
    again_s = timed(lambda: import_file(store, path))
    index = KeywordIndex(workdir / "index")
    index_s = timed(lambda: index.sync(store))
    assert store.count_papers() == n == index.num_docs(), "not every paper went in"
    store.close()
    db_mb = sum(p.stat().st_size for p in workdir.glob("bench.db*")) / 1e6
    idx_mb = sum(p.stat().st_size for p in (workdir / "index").rglob("*") if p.is_file()) / 1e6
    return {
        "papers": n,
        "parse only (papers/s)": n / parse_s,
        "import into SQLite (papers/s)": n / import_s,
        "re-import, all unchanged (papers/s)": n / again_s,
        "keyword index build (papers/s)": n / index_s,
        "import + index (papers/s)": n / (import_s + index_s),
        "database size (MB)": db_mb,
        "keyword index size (MB)": idx_mb,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=200_000, help="synthetic papers (default 200,000)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    results = {}
    for label, path in (("real 2,000", REAL), (f"synthetic {args.n:,}", corpus(args.n, args.seed))):
        with tempfile.TemporaryDirectory() as tmp:
            results[label] = measure(path, Path(tmp))
    labels = list(results)
    print(f"| figure | {' | '.join(labels)} | target |")
    print("|---|" + "---|" * (len(labels) + 1))
    for figure in results[labels[0]]:
        target = f">= {TARGET:,}" if figure == "import into SQLite (papers/s)" else ""
        cells = " | ".join(f"{results[label][figure]:,.0f}" for label in labels)
        print(f"| {figure} | {cells} | {target} |")


if __name__ == "__main__":
    main()
