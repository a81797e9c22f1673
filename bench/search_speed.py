"""Search speed at arXiv scale: import, index build, disk, memory and query latency.

For each N (default 100,000; try --n 100000 1000000 2700000) it builds a synthetic corpus
(bench/synth.py: real vocabulary and lengths, deterministic), imports it, builds the keyword
index, writes one vector per paper and builds the vector index, then starts a fresh "serving"
process that opens the store and indexes and times keyword, semantic and hybrid queries over
a fixed set (rare / mid / common words and natural-language questions), query embedding
included.

The paper vectors are random-but-clustered (1,000 centres, deterministic), not model outputs:
embedding 1M abstracts with the CPU model would take many hours (embedding throughput on real
abstracts is measured separately, and reported). The query vectors do come from the real model,
so the latency includes a real query embedding. Quality is bench/eval_search.py's job.

Figures: each latency is over --repeats rounds of the query set, with the range of the rounds'
own figure beside it; the machine's load average before and after is printed above the table.

Peers, in a second fresh process that serves keyword search only: SQLite FTS5's bm25() on the
same papers and queries (bench/fts5.py: title weighted as ours, words quoted, OR as our keyword
search does, also with our stop words left out, and AND), timed in the same rounds as paperfeed's
keyword search, one runner after the other within each round, so that a change in the machine's
load falls on both; the ratio is taken round by round (median, then min-max). The same process
splits paperfeed's keyword search into its parts: the per-query index check (`engine.sync`),
parsing the query and building tantivy's (Python), tantivy itself (search and the top ten's
`seq`), and loading the ten papers from SQLite.
The serving process's memory is its own, read from /proc/self/status once it has loaded what it
serves (VmRSS) and at the end (VmHWM, its peak). The old figure, ru_maxrss, is printed too: on
Linux a child's starts at its parent's peak, so it reported the builder's memory.

    .venv/bin/python bench/search_speed.py [--n 100000 1000000] [--model NAME] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import fts5
import numpy as np
from benchlib import machine_line, peak_rss_mb, proc_status_mb, repeat, synth
from stores import build_store, load_embedder, size_mb
from synth import KAGGLE, SEED_PAPERS

from paperfeed.search.embed import Embedder
from paperfeed.search.engine import SYNC_WAIT_S, SearchEngine
from paperfeed.search.query import Filters, SearchRequest, parse_query
from paperfeed.store import open_store

REPEATS = 3  # rounds of the query set (--repeats)
TARGETS = {"keyword": 20.0, "hybrid": 50.0}


def build(n: int, workdir: Path, embedder: Embedder) -> dict[str, float]:
    took = build_store(n, workdir / "speed.db", workdir / "index", embedder, step=lambda _: None)
    return {
        "import (papers/s)": n / took["import_s"],
        "keyword index build (s)": took["keyword_s"],
        "store synthetic vectors (s)": took["vectors_s"],
        "vector index build (s)": took["vector_index_s"],
        "database (MB)": sum(size_mb(p) for p in workdir.glob("speed.db*")),
        "keyword index (MB)": size_mb(workdir / "index" / "keyword"),
        "vector index (MB)": size_mb(workdir / "index" / "vectors"),
    }


def serve(db: str, index_dir: str, model: str, repeats: int = REPEATS) -> dict[str, Any]:
    """Runs in a fresh process: open everything as a server would, then time queries.

    Memory is this process's own, from /proc/self/status: VmRSS once the store, indexes and
    model are loaded (and the first query of each mode has run), VmHWM (its peak) at the end.
    Not ru_maxrss: on Linux a child's starts at its parent's peak, i.e. the builder's."""
    embedder = load_embedder(model)
    store = open_store(db, readonly=True)
    engine = SearchEngine(store, index_dir, embedder)
    engine.sync()
    queries = [q for group in synth().sample_queries().values() for q in group]
    out: dict[str, Any] = {}
    for mode in ("keyword", "semantic", "hybrid"):
        engine.search(SearchRequest(queries[0], limit=10, mode=mode))  # type: ignore[arg-type]
    out["rss_loaded_mb"] = proc_status_mb().get("VmRSS", float("nan"))
    for mode in ("keyword", "semantic", "hybrid"):
        request = partial(SearchRequest, limit=10, mode=mode)
        out[mode] = query_times(lambda q: engine.search(request(q)), queries, repeats)  # noqa: B023
    out["query embedding"] = query_times(embedder.embed_query, queries, repeats)
    out["peak_rss_mb"] = peak_rss_mb()
    out["ru_maxrss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def query_times(
    run: Callable[[str], object], queries: list[str], repeats: int = REPEATS
) -> list[list[float]]:
    """Milliseconds of each query, in `repeats` rounds over the whole set."""
    rounds = []
    for _ in range(repeats):
        times = []
        for q in queries:
            t = time.perf_counter()
            run(q)
            times.append((time.perf_counter() - t) * 1000)
        rounds.append(times)
    return rounds


PARTS = ("index check (engine.sync)", "query parse + build (Python)",
         "tantivy (search + the top ten's seq)", "load 10 papers from SQLite")  # fmt: skip
FTS_RUNNERS = ("FTS5 bm25 OR", "FTS5 bm25 OR, our stop words left out", "FTS5 bm25 AND")


def peers(db: str, index_dir: str, fts_db: str, repeats: int = REPEATS) -> dict[str, Any]:
    """Runs in a fresh process: paperfeed's keyword search (whole, and split into its parts)
    and FTS5's bm25() over the same queries, each round running every runner in turn.
    Milliseconds per query and round, as `serve` gives them."""
    store = open_store(db, readonly=True)
    engine = SearchEngine(store, index_dir)
    engine.sync()
    fts = fts5.Fts5(Path(fts_db))
    keyword, filters = engine.keyword, Filters()
    queries = [q for group in synth().sample_queries().values() for q in group]
    words = {}
    for q in queries:
        parsed = parse_query(q)
        words[q] = [*parsed.words, *(w for p in parsed.phrases for w in p.split())]
    content = {q: [w for w in ws if keyword.text_analyzer.analyze(w)] for q, ws in words.items()}
    parts: dict[str, list[float]] = {part: [] for part in PARTS}  # of the round under way

    def split(q: str) -> None:
        """One keyword search as engine.search does it, each part timed (into `parts`)."""
        t0 = time.perf_counter()
        engine.sync(wait_s=SYNC_WAIT_S)
        t1 = time.perf_counter()
        query = keyword.build_query(parse_query(q), filters)
        t2 = time.perf_counter()
        seqs = []
        if query is not None:
            searcher = keyword.index.searcher()
            result = searcher.search(query, limit=10, count=False)
            seqs = [int(searcher.doc(address)["seq"][0]) for _, address in result.hits]
        t3 = time.perf_counter()
        store.get_papers_by_seq(seqs)
        t4 = time.perf_counter()
        for part, (a, b) in zip(PARTS, ((t0, t1), (t1, t2), (t2, t3), (t3, t4)), strict=True):
            parts[part].append((b - a) * 1000)

    request = partial(SearchRequest, limit=10, mode="keyword")
    runners: dict[str, Callable[[str], object]] = {
        "keyword": lambda q: engine.search(request(q)),
        "split": split,
        FTS_RUNNERS[0]: lambda q: fts.search(words[q]),
        FTS_RUNNERS[1]: lambda q: fts.search(content[q]),
        FTS_RUNNERS[2]: lambda q: fts.search(words[q], operator="AND"),
    }
    for run in runners.values():  # warm-up: both indexes' files into the page cache
        for q in queries:
            run(q)
    out: dict[str, Any] = {name: [] for name in runners if name != "split"}
    out.update({part: [] for part in PARTS})
    for _ in range(repeats):
        for name, run in runners.items():
            for part in PARTS:
                parts[part] = []
            rounds = query_times(run, queries, 1)
            if name == "split":
                for part in PARTS:
                    out[part].append(parts[part])
            else:
                out[name] += rounds
    # FTS5's rowid is the line number; it is the paper's seq when every line made a new paper
    # (the import numbers new papers in file order): then the top tens can be compared.
    overlap = []
    if store.count_papers() == fts.count():
        for q in queries:
            ours = {h.paper.id for h in engine.search(request(q))}
            theirs = {p.id for p in store.get_papers_by_seq(fts.search(content[q])).values()}
            overlap.append(len(ours & theirs) / max(len(ours), 1))
    out["top-10 overlap"] = float(np.mean(overlap)) if overlap else float("nan")
    fts.close()
    store.close()
    return out


def ratios(over: list[list[float]], under: list[list[float]], q: float) -> str:
    """The q-th percentile of `over` divided by that of `under`, round by round: the median,
    then min-max."""
    each = [
        float(np.percentile(a, q)) / float(np.percentile(b, q))
        for a, b in zip(over, under, strict=True)
    ]
    return f"{np.median(each):,.1f}x ({min(each):,.1f}-{max(each):,.1f})"


def mean_shares(served: dict[str, Any]) -> str:
    """Each part's share of the parts' summed mean time."""
    means = {part: float(np.mean([t for r in served[part] for t in r])) for part in PARTS}
    total = sum(means.values())
    shown = ", ".join(f"{part.split(' (')[0]} {m:,.3f}" for part, m in means.items())
    return f"{total:,.3f} = {shown}"


def percentiles(rounds: list[list[float]], q: float) -> str:
    """The q-th percentile over all rounds, then its min-max over the rounds one by one."""
    each = [float(np.percentile(r, q)) for r in rounds]
    whole = float(np.percentile([t for r in rounds for t in r], q))
    return f"{whole:,.2f} ({min(each):,.2f}-{max(each):,.2f})"


def child(*args: str) -> dict[str, Any]:
    """Run this script with `args` in a fresh process; what it printed last, as JSON."""
    done = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"{' '.join(args[:1])} failed:\n{done.stderr[-3000:]}")
    out: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return out


def measure(n: int, model: str, repeats: int = REPEATS) -> dict[str, Any]:
    embedder = load_embedder(model)
    fts_db = fts5.cached(n)
    with tempfile.TemporaryDirectory(dir=Path(tempfile.gettempdir())) as tmp:
        figures: dict[str, Any] = build(n, Path(tmp), embedder)
        paths = (f"{tmp}/speed.db", f"{tmp}/index")
        served = child("--serve", *paths, "--model", model, "--repeats", str(repeats))
        side = child("--peers", *paths, str(fts_db), "--repeats", str(repeats))
    for mode in ("keyword", "semantic", "hybrid", "query embedding"):
        figures[f"{mode} p50 (ms)"] = percentiles(served[mode], 50)
        figures[f"{mode} p95 (ms)"] = percentiles(served[mode], 95)
    figures["serving process RSS once loaded (MB)"] = served["rss_loaded_mb"]
    figures["serving process peak RSS, VmHWM (MB)"] = served["peak_rss_mb"]
    figures["  ru_maxrss as reported before (MB; the builder's peak)"] = served["ru_maxrss_mb"]
    figures["keyword p50 (ms), beside the peers"] = percentiles(side["keyword"], 50)
    figures["keyword p95 (ms), beside the peers"] = percentiles(side["keyword"], 95)
    for part in PARTS:
        figures[f"  keyword part p50: {part} (ms)"] = percentiles(side[part], 50)
    figures["  keyword parts, mean (ms): sum = parts"] = mean_shares(side)
    for name in FTS_RUNNERS:
        for q in (50, 95):
            figures[f"{name} p{q} (ms)"] = percentiles(side[name], q)
            figures[f"  {name} / keyword, p{q}"] = ratios(side[name], side["keyword"], q)
    figures["top-10 overlap, FTS5 OR (stop words out) with keyword"] = (
        f"{side['top-10 overlap']:.2f}"
    )
    return figures


def embedding_throughput(embedder: Embedder, repeats: int = REPEATS, count: int = 200) -> str:
    """docs/s embedding real title + abstract texts (seed papers, then the snapshot fixture):
    the median of `repeats` runs, and their range."""
    texts = []
    for path in (SEED_PAPERS, KAGGLE):
        for line in path.read_text().splitlines():
            row = json.loads(line)
            texts.append(f"{row['title']}. {row['abstract']}")
    texts = texts[:count]
    runs = repeat(lambda: embedder.embed_documents(texts), repeats)
    n = len(texts)
    return f"{n / runs.median:,.1f} ({n / runs.max:,.1f}-{n / runs.min:,.1f})"


def cell(value: float | str) -> str:
    return value if isinstance(value, str) else f"{value:,.1f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, nargs="+", default=[100_000])
    ap.add_argument("--model", default="", help="embedding model (default: paperfeed's)")
    ap.add_argument("--repeats", type=int, default=REPEATS,
                    help=f"rounds of the query set (default {REPEATS})")  # fmt: skip
    ap.add_argument("--serve", nargs=2, metavar=("DB", "INDEX_DIR"), help=argparse.SUPPRESS)
    ap.add_argument("--peers", nargs=3, metavar=("DB", "INDEX_DIR", "FTS"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        print(json.dumps(serve(args.serve[0], args.serve[1], args.model, args.repeats)))
        return
    if args.peers:
        print(json.dumps(peers(*args.peers, repeats=args.repeats)))
        return
    load_before = os.getloadavg()
    results = {n: measure(n, args.model, args.repeats) for n in args.n}
    docs_per_s = embedding_throughput(load_embedder(args.model), args.repeats)
    for n in args.n:
        results[n]["embedding real abstracts, CPU (docs/s)"] = docs_per_s
    print(f"machine: {machine_line(load_before)}")
    print(
        f"latencies: over all {args.repeats} rounds of the query set, then (min-max) of the "
        "rounds' own; ratios: round by round, the median (min-max); build stages: one run each"
    )
    print(f"| figure | {' | '.join(f'N = {n:,}' for n in args.n)} | target (at 1M) |")
    print("|---|" + "---|" * (len(args.n) + 1))
    for figure in results[args.n[0]]:
        target = ""
        for mode, ms in TARGETS.items():
            if figure == f"{mode} p95 (ms)":
                target = f"<= {ms:.0f} ms"
        if figure.startswith("serving process peak"):
            target = "<= 3,000 MB"
        cells = " | ".join(cell(results[n][figure]) for n in args.n)
        print(f"| {figure} | {cells} | {target} |")


if __name__ == "__main__":
    main()
