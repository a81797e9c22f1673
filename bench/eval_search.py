"""Search quality, keyword vs semantic vs hybrid, side by side, through paperfeed's own engine.

Sets (read from --eval-dir, default ../shared/data/eval; never copied into the repository):
- SciFact (BEIR test split): 300 claims over 5,183 abstracts; nDCG@10 and recall@100.
  Published: BM25 0.665, all-MiniLM-L6-v2 0.645, bge-small-en-v1.5 0.72.
- CSFCube: 50 query papers x facet (background / method / result), query by example: the query
  is a paper (its title + abstract as the keyword query, its stored vector for semantic);
  nDCG@20 over each query's judged pool (adjudicated grades 0-3).
- SciRepEval search_small: 100 real search-engine queries, 10 candidates each with click
  grades; nDCG@10 over the candidates.

Each corpus is imported into a SQLite store under /tmp/paperfeed-eval and embedded once with
the real model (`embed_missing`, so a re-run only checks); then every query runs in each mode.

    .venv/bin/python bench/eval_search.py [--eval-dir DIR]
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from benchlib import add_eval_dir, eval_set

from paperfeed.models import Paper
from paperfeed.search.embed import embed_missing
from paperfeed.search.engine import DENSE_WEIGHT, MAX_LIMIT, Hit, SearchEngine
from paperfeed.search.models import load_embedder
from paperfeed.search.query import SearchRequest
from paperfeed.store import open_store

CACHE = Path("/tmp/paperfeed-eval")
Ranker = Callable[[str], list[str]]
VARIANTS = ("keyword", "semantic", "hybrid", "hybrid-rrf")
FACETS = ("background", "method", "result")
DENSE = DENSE_WEIGHT


def ndcg(ranked: Sequence[str], grades: dict[str, float], k: int) -> float:
    dcg = sum(grades.get(d, 0) / math.log2(i + 2) for i, d in enumerate(ranked[:k]))
    ideal = sorted(grades.values(), reverse=True)[:k]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg > 0 else 0.0


def recall(ranked: Sequence[str], grades: dict[str, float], k: int) -> float:
    relevant = {d for d, g in grades.items() if g > 0}
    return len(relevant & set(ranked[:k])) / len(relevant) if relevant else 0.0


def jsonl(path: Path) -> Iterable[dict[str, object]]:
    with path.open() as f:
        for line in f:
            if line.strip():
                yield json.loads(line)


def open_engine(name: str, papers: list[Paper]) -> SearchEngine:
    CACHE.mkdir(exist_ok=True)
    store = open_store(str(CACHE / f"{name}.db"))
    store.upsert_papers(papers)
    embedder = load_embedder()
    t = time.perf_counter()
    report = embed_missing(store, embedder)
    if report.embedded:
        took = time.perf_counter() - t
        print(f"{name}: embedded {report.embedded} papers in {took:.0f}s", file=sys.stderr)
    engine = SearchEngine(store, CACHE / f"{name}.db-index", embedder, dense_weight=DENSE)
    engine.sync()
    return engine


def rankers(engine: SearchEngine, depth: int) -> dict[str, Ranker]:
    def run(mode: str, fusion: str = "convex") -> Ranker:
        def rank(text: str) -> list[str]:
            engine.fusion = fusion
            request = SearchRequest(text, limit=depth, mode=mode)  # type: ignore[arg-type]
            return [hit.paper.id for hit in engine.search(request)]

        return rank

    return {
        "keyword": run("keyword"),
        "semantic": run("semantic"),
        "hybrid": run("hybrid"),
        "hybrid-rrf": run("hybrid", "rrf"),
    }


# -- SciFact ------------------------------------------------------------------------------


def scifact(base: Path) -> dict[str, dict[str, float]]:
    papers = [
        Paper(id=f"sf{d['_id']}", title=str(d["title"]), abstract=str(d["text"]))
        for d in jsonl(base / "corpus.jsonl")
    ]
    engine = open_engine("scifact", papers)
    qrels: dict[str, dict[str, float]] = defaultdict(dict)
    with (base / "qrels" / "test.tsv").open() as f:
        for row in csv.DictReader(f, delimiter="\t"):
            qrels[row["query-id"]][f"sf{row['corpus-id']}"] = float(row["score"])
    queries = {str(q["_id"]): str(q["text"]) for q in jsonl(base / "queries_test.jsonl")}
    out = {}
    for variant, rank in rankers(engine, 100).items():
        n10, r100 = [], []
        for qid, grades in qrels.items():
            ranked = rank(queries[qid])
            n10.append(ndcg(ranked, grades, 10))
            r100.append(recall(ranked, grades, 100))
        out[variant] = {"nDCG@10": mean(n10), "recall@100": mean(r100)}
    return out


# -- CSFCube --------------------------------------------------------------------------------


def csfcube(base: Path) -> dict[str, dict[str, float]]:
    papers, text_of = [], {}
    for d in jsonl(base / "abstracts-csfcube-rebuilt.jsonl"):
        abstract = (
            " ".join(d["abstract"]) if isinstance(d["abstract"], list) else str(d["abstract"])
        )
        pid = f"cc{d['paper_id']}"
        papers.append(Paper(id=pid, title=str(d["title"]), abstract=abstract))
        text_of[pid] = f"{d['title']} {abstract}"
    engine = open_engine("csfcube", papers)
    depth = min(len(papers), MAX_LIMIT)
    out: dict[str, dict[str, float]] = {v: {} for v in VARIANTS}
    for facet in FACETS:
        anns = json.loads((base / f"test-pid2anns-csfcube-{facet}.json").read_text())
        scores: dict[str, list[float]] = defaultdict(list)
        for qpid, ann in anns.items():
            q = f"cc{qpid}"
            pool = [f"cc{c}" for c in ann["cands"]]
            grades = {c: float(g) for c, g in zip(pool, ann["relevance_adju"], strict=True)}
            kw = [(h.paper.id, h.score) for h in keyword_hits(engine, text_of[q], depth)]
            kw = [(d, s) for d, s in kw if d != q]
            sem = [(h.paper.id, h.score) for h in engine.related(q, depth - 1)]
            ranked = {"keyword": [d for d, _ in kw], "semantic": [d for d, _ in sem]}
            ranked["hybrid"] = fuse(engine, kw, sem, "convex")
            ranked["hybrid-rrf"] = fuse(engine, kw, sem, "rrf")
            for variant, ids in ranked.items():
                scores[variant].append(ndcg(in_pool(ids, pool), grades, 20))
        for variant in VARIANTS:
            out[variant][f"nDCG@20 {facet}"] = mean(scores[variant])
    return out


def keyword_hits(engine: SearchEngine, text: str, depth: int) -> list[Hit]:
    return engine.search(SearchRequest(text, limit=depth, mode="keyword"))


def fuse(
    engine: SearchEngine,
    kw: list[tuple[str, float]],
    sem: list[tuple[str, float]],
    fusion: str,
) -> list[str]:
    """Fuse a keyword and a semantic ranking (ids with their scores) as the engine does."""
    index = {pid: i for i, pid in enumerate(dict.fromkeys([p for p, _ in kw + sem]))}
    back = {i: pid for pid, i in index.items()}
    engine.fusion = fusion
    fused = engine.fuse([(index[p], s) for p, s in kw], [(index[p], s) for p, s in sem])
    return [back[i] for i, _ in fused]


def in_pool(ranked: list[str], pool: list[str]) -> list[str]:
    members = set(pool)
    seen = [d for d in ranked if d in members]
    return seen + [d for d in pool if d not in set(seen)]


# -- SciRepEval search ------------------------------------------------------------------------


def scirepeval(base: Path) -> dict[str, dict[str, float]]:
    rows = list(jsonl(base / "search_small.jsonl"))
    papers: dict[str, Paper] = {}
    for row in rows:
        for c in row["candidates"]:  # type: ignore[attr-defined]
            pid = f"s2{c['corpus_id']}"
            papers[pid] = Paper(id=pid, title=str(c["title"]), abstract=str(c["abstract"] or ""))
    engine = open_engine("scirepeval", list(papers.values()))
    out = {}
    for variant, rank in rankers(engine, min(len(papers), MAX_LIMIT)).items():
        n10 = []
        for row in rows:
            cands = row["candidates"]  # type: ignore[index]
            pool = [f"s2{c['corpus_id']}" for c in cands]
            grades = {f"s2{c['corpus_id']}": float(c["score"]) for c in cands}
            n10.append(ndcg(in_pool(rank(str(row["query"])), pool), grades, 10))
        out[variant] = {"nDCG@10": mean(n10)}
    return out


def mean(xs: Sequence[float]) -> float:
    return sum(xs) / len(xs) if xs else 0.0


def main() -> None:
    global DENSE
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dense-weight", type=float, default=DENSE_WEIGHT, help="for hybrid")
    add_eval_dir(ap)
    args = ap.parse_args()
    DENSE = args.dense_weight
    sets = (  # all checked before the first one is embedded
        eval_set(args.eval_dir, "scifact", "corpus.jsonl", "queries_test.jsonl", "qrels/test.tsv"),
        eval_set(args.eval_dir, "csfcube", "abstracts-csfcube-rebuilt.jsonl",
                 *(f"test-pid2anns-csfcube-{facet}.json" for facet in FACETS)),
        eval_set(args.eval_dir, "scirepeval", "search_small.jsonl"),
    )  # fmt: skip
    results = {"SciFact": scifact(sets[0]), "CSFCube": csfcube(sets[1]),
               "SciRepEval search": scirepeval(sets[2])}  # fmt: skip
    print(f"| set | metric | {' | '.join(VARIANTS)} |")
    print("|---|---|" + "---|" * len(VARIANTS))
    for name, by_variant in results.items():
        for metric in by_variant["keyword"]:
            cells = " | ".join(f"{by_variant[v][metric]:.3f}" for v in VARIANTS)
            print(f"| {name} | {metric} | {cells} |")
    print(f"\nhybrid = convex combination, dense weight {DENSE}; hybrid-rrf = RRF, k=60.")
    print("SciFact published: BM25 0.665, all-MiniLM-L6-v2 0.645, bge-small-en-v1.5 0.72.")


if __name__ == "__main__":
    main()
