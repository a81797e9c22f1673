"""Import speed for the arXiv snapshot format: papers/s into the store, then the keyword index.

Target (foundation issue): >= 20,000 papers/s for the import before any embedding. The corpus
is synthetic (bench/synth.py samples the real abstracts' vocabulary and lengths) because the
real 4.5 GB snapshot cannot be downloaded here; the real 1,000-line fixture in tests/data is
measured too.

    .venv/bin/python bench/import.py [--n 200000] [--seed 0]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from benchlib import corpus, timed
from synth import KAGGLE

from paperfeed.ingest.files import import_file, iter_records
from paperfeed.search.keyword import KeywordIndex
from paperfeed.store import open_store

TARGET = 20_000


def measure(path: Path, workdir: Path) -> dict[str, float]:
    with path.open("rb") as f:
        n = sum(1 for _ in f)
    with path.open("rb") as f:
        parse_s, _ = timed(lambda: sum(1 for _ in iter_records(f)))
    store = open_store(str(workdir / "bench.db"))
    import_s, _ = timed(lambda: import_file(store, path))
    again_s, _ = timed(lambda: import_file(store, path))
    index = KeywordIndex(workdir / "index")
    index_s, _ = timed(lambda: index.sync(store))
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
    synthetic = corpus(args.n, args.seed)
    for label, path in (("real 1,000", KAGGLE), (f"synthetic {args.n:,}", synthetic)):
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
