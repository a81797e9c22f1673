"""Search quality, keyword vs semantic vs hybrid today vs hybrid now, on four sets side by side,
through paperfeed's own engine.

Sets (read from --eval-dir, default ../shared/data/eval; never copied into the repository):
- SciFact (BEIR): 5,183 abstracts; claims as queries. Test split reported (300 claims); the train
  split (809) is what fusion and cut-off were tuned on. nDCG@10, recall@100.
  Published: BM25 0.665, all-MiniLM-L6-v2 0.645, bge-small-en-v1.5 0.72.
- CSFCube: 50 query papers x facet (background / method / result), query by example: the query
  is a paper (its title + abstract as the keyword query, its stored vector for semantic);
  nDCG@20 over each query's judged pool (grades 0-3). Reported on the test half of the
  dataset's 2-fold split (fold1_test); fold1_dev was tuned on.
- SciRepEval search_small: 100 real search-engine queries, 10 candidates each with click
  grades; nDCG@10 over the candidates. Not tuned on.
- Seed questions (bench/data/seed_questions.jsonl): 40 natural-language questions over the 227
  demo papers, judged by reading them, written before any search ran on them. Not tuned on.

Each corpus is imported into a SQLite store under /tmp/paperfeed-eval and embedded once with
the real model (`embed_missing`, so a re-run only checks); then every query runs once per side
(keyword, semantic without cut-off) and the four variants are made from those two lists:
"hybrid today" is the fusion shipped before issue 18 (min-max convex, dense weight 0.5, no
cut-off); "hybrid now" is `engine.fuse` and `hybrid.cut_off` as `SearchEngine.rank` applies them
(checked against `rank` itself on every text query). Noise: the paired standard error of the
per-query difference (mean of d, sd(d)/sqrt(n)).

    cd bench && PYTHONPATH=../src python eval_search.py [--eval-dir DIR]
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from benchlib import add_eval_dir, eval_set

from paperfeed.models import Paper
from paperfeed.search.embed import embed_missing
from paperfeed.search.engine import CANDIDATES, SearchEngine
from paperfeed.search.hybrid import convex_fusion
from paperfeed.search.models import load_embedder
from paperfeed.search.query import SearchRequest
from paperfeed.store import open_store

CACHE = Path("/tmp/paperfeed-eval")
SEED = Path(__file__).resolve().parents[1] / "src" / "paperfeed" / "data" / "seed_papers.jsonl"
QUESTIONS = Path(__file__).resolve().parent / "data" / "seed_questions.jsonl"
FACETS = ("background", "method", "result")
VARIANTS = ("keyword", "semantic", "hybrid today", "hybrid now")
TODAY_WEIGHT = 0.5  # the dense weight shipped before issue 18
Ranked = list[tuple[int, float]]


@dataclass
class Query:
    qid: str
    text: str  # what is searched (CSFCube: the query paper's title and abstract)
    grades: dict[int, float]  # seq -> grade; unlisted = 0
    pool: list[int] | None = None  # judged candidates: nDCG over them (CSFCube, SciRepEval)
    paper: int | None = None  # CSFCube: the query paper (its stored vector is the dense query)
    group: str = ""  # CSFCube: the facet


@dataclass
class EvalSet:
    name: str
    engine: SearchEngine
    queries: list[Query]
    k: int  # nDCG@k
    depth: int  # each side's depth for the figures (at least CANDIDATES)
    scores: dict[str, list[float]] = field(default_factory=dict)


def ndcg(ranked: Sequence[int], grades: dict[int, float], k: int) -> float:
    dcg = sum(grades.get(d, 0) / math.log2(i + 2) for i, d in enumerate(ranked[:k]))
    ideal = sorted(grades.values(), reverse=True)[:k]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg > 0 else 0.0


def recall(ranked: Sequence[int], grades: dict[int, float], k: int) -> float:
    relevant = {d for d, g in grades.items() if g > 0}
    return len(relevant & set(ranked[:k])) / len(relevant) if relevant else 0.0


def in_pool(ranked: Sequence[int], pool: list[int]) -> list[int]:
    """The judged candidates in the order `ranked` gives them, those it left out last."""
    members = set(pool)
    seen = [d for d in ranked if d in members]
    return seen + [d for d in pool if d not in set(seen)]


def jsonl(path: Path) -> Iterable[dict[str, object]]:
    with path.open() as f:
        for line in f:
            if line.strip():
                yield json.loads(line)


class Seqs(dict[str, int]):
    """Paper id -> row number; a judged paper the store does not hold (merged into another as
    the same paper, or missing from the corpus) gets a number of its own that no search finds."""

    def __missing__(self, pid: str) -> int:
        self[pid] = -1 - len(self)
        return self[pid]


def open_engine(name: str, papers: list[Paper]) -> tuple[SearchEngine, Seqs]:
    """The engine over `papers` (imported and embedded once) and each paper's row number."""
    CACHE.mkdir(exist_ok=True)
    store = open_store(str(CACHE / f"{name}.db"))
    store.upsert_papers(papers)
    embedder = load_embedder()
    t = time.perf_counter()
    report = embed_missing(store, embedder)
    if report.embedded:
        took = time.perf_counter() - t
        print(f"{name}: embedded {report.embedded} papers in {took:.0f}s", file=sys.stderr)
    engine = SearchEngine(store, CACHE / f"{name}.db-index", embedder)
    engine.sync()
    seqs = {p.id: store.find_seq(p.id) for p in papers}
    if None in seqs.values():
        lost = sum(s is None for s in seqs.values())
        print(f"{name}: {lost} papers not held apart by the store", file=sys.stderr)
    return engine, Seqs({pid: s for pid, s in seqs.items() if s is not None})


# -- the sets ------------------------------------------------------------------------------


def scifact(base: Path) -> EvalSet:
    papers = [
        Paper(id=f"sf{d['_id']}", title=str(d["title"]), abstract=str(d["text"]))
        for d in jsonl(base / "corpus.jsonl")
    ]
    engine, seq = open_engine("scifact", papers)
    qrels: dict[str, dict[int, float]] = defaultdict(dict)
    with (base / "qrels" / "test.tsv").open() as f:
        for row in csv.DictReader(f, delimiter="\t"):
            qrels[row["query-id"]][seq[f"sf{row['corpus-id']}"]] = float(row["score"])
    text = {str(q["_id"]): str(q["text"]) for q in jsonl(base / "queries_test.jsonl")}
    queries = [Query(qid, text[qid], grades) for qid, grades in qrels.items()]
    return EvalSet("SciFact test", engine, queries, k=10, depth=CANDIDATES)


def csfcube(base: Path) -> EvalSet:
    papers, text_of = [], {}
    for d in jsonl(base / "abstracts-csfcube-rebuilt.jsonl"):
        abstract = (
            " ".join(d["abstract"]) if isinstance(d["abstract"], list) else str(d["abstract"])
        )
        pid = f"cc{d['paper_id']}"
        papers.append(Paper(id=pid, title=str(d["title"]), abstract=abstract))
        text_of[pid] = f"{d['title']} {abstract}"
    engine, seq = open_engine("csfcube", papers)
    splits = json.loads((base / "evaluation_splits.json").read_text())
    queries = []
    for facet in FACETS:
        anns = json.loads((base / f"test-pid2anns-csfcube-{facet}.json").read_text())
        for name in splits[facet]["fold1_test"]:  # fold1_dev was tuned on
            qpid = name.rsplit("_", 1)[0]
            ann = anns[qpid]
            pool = [seq[f"cc{c}"] for c in ann["cands"]]
            grades = {c: float(g) for c, g in zip(pool, ann["relevance_adju"], strict=True)}
            paper = seq[f"cc{qpid}"]
            queries.append(Query(name, text_of[f"cc{qpid}"], grades, pool, paper, facet))
    return EvalSet("CSFCube test fold", engine, queries, k=20, depth=min(len(papers), 999))


def scirepeval(base: Path) -> EvalSet:
    rows = list(jsonl(base / "search_small.jsonl"))
    papers: dict[str, Paper] = {}
    for row in rows:
        for c in row["candidates"]:  # type: ignore[attr-defined]
            pid = f"s2{c['corpus_id']}"
            papers[pid] = Paper(id=pid, title=str(c["title"]), abstract=str(c["abstract"] or ""))
    engine, seq = open_engine("scirepeval", list(papers.values()))
    queries = []
    for n, row in enumerate(rows):
        cands = row["candidates"]  # type: ignore[index]
        pool = [seq[f"s2{c['corpus_id']}"] for c in cands]
        grades = {seq[f"s2{c['corpus_id']}"]: float(c["score"]) for c in cands}
        queries.append(Query(str(n), str(row["query"]), grades, pool))
    return EvalSet("SciRepEval search", engine, queries, k=10, depth=min(len(papers), 1000))


def seed_questions() -> EvalSet:
    lines = [json.loads(line) for line in SEED.read_text().splitlines() if line.strip()]
    papers = [Paper(id=f"seed{i}", title=d["title"], abstract=d["abstract"])
              for i, d in enumerate(lines)]  # fmt: skip
    engine, seq = open_engine("seed", papers)
    queries = []
    for q in jsonl(QUESTIONS):
        grades = {}
        for r in q["relevant"]:  # type: ignore[attr-defined]
            if lines[r["line"]]["title"] != r["title"]:
                sys.exit(f"{QUESTIONS}: line {r['line']} of {SEED} is no longer {r['title']!r}.")
            grades[seq[f"seed{r['line']}"]] = float(r["grade"])
        queries.append(Query(str(q["id"]), str(q["question"]), grades))
    return EvalSet("Seed questions", engine, queries, k=10, depth=CANDIDATES)


# -- running -------------------------------------------------------------------------------


def sides(s: EvalSet, q: Query, depth: int) -> tuple[Ranked, Ranked]:
    """The keyword and the (uncut) semantic ranking of `q`, each down to `depth`."""
    engine = s.engine
    if q.paper is None:
        keyword = engine.rank(SearchRequest(q.text, limit=depth, mode="keyword")).items
        engine.cut_results = False
        semantic = engine.rank(SearchRequest(q.text, limit=depth, mode="semantic")).items
        engine.cut_results = True
        return keyword[:depth], semantic[:depth]
    keyword = engine.rank(SearchRequest(q.text, limit=depth + 1, mode="keyword")).items
    keyword = [(d, v) for d, v in keyword if d != q.paper][:depth]
    paper = engine.store.get_papers_by_seq([q.paper])[q.paper]
    semantic = [(seq_of(engine, h.paper.id), h.score) for h in engine.related(paper.id, depth)]
    return keyword, semantic


def seq_of(engine: SearchEngine, ref: str) -> int:
    seq = engine.store.find_seq(ref)
    assert seq is not None
    return seq


def now(engine: SearchEngine, keyword: Ranked, semantic: Ranked, cut: bool) -> Ranked:
    """Hybrid as `SearchEngine.rank` makes it from these two lists."""
    fused = engine.fuse(keyword, semantic)
    return engine.cut_off(fused, keyword, semantic) if cut else fused


def run(s: EvalSet) -> dict[str, dict[str, list[float]]]:
    """Per metric and variant, the per-query figures (in query order)."""
    out: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for q in s.queries:
        keyword, semantic = sides(s, q, s.depth)
        ranked = {
            "keyword": keyword,
            "semantic": semantic,
            "hybrid today": convex_fusion([keyword, semantic], [1 - TODAY_WEIGHT, TODAY_WEIGHT]),
            "hybrid now": now(s.engine, keyword, semantic, cut=False),
        }
        cut = {
            "semantic": s.engine.cut_off(semantic, [], semantic),
            "hybrid now": now(s.engine, keyword, semantic, cut=True),
        }
        if q.paper is None and s.depth == CANDIDATES:  # the engine itself gives the same
            request = SearchRequest(q.text, limit=s.depth, mode="hybrid")
            assert s.engine.rank(request).items == cut["hybrid now"], q.qid
        for variant, items in ranked.items():
            ids = [d for d, _ in items]
            graded = in_pool(ids, q.pool) if q.pool is not None else ids
            out[f"nDCG@{s.k}"][variant].append(ndcg(graded, q.grades, s.k))
            out["recall@100"][variant].append(recall(ids, q.grades, 100))
        for variant, items in cut.items():
            ids = [d for d, _ in items]
            graded = in_pool(ids, q.pool) if q.pool is not None else ids
            out[f"nDCG@{s.k}, cut off"][variant].append(ndcg(graded, q.grades, s.k))
            out["recall@100, cut off"][variant].append(recall(ids, q.grades, 100))
        # results a user gets (each side CANDIDATES deep, as a first page asks for)
        kw, sem = keyword[:CANDIDATES], semantic[:CANDIDATES]
        out["results"]["keyword"].append(float(len(kw)))
        out["results"]["semantic"].append(float(len(s.engine.cut_off(sem, [], sem))))
        out["results"]["hybrid today"].append(float(len(convex_fusion([kw, sem], [0.5, 0.5]))))
        out["results"]["hybrid now"].append(float(len(now(s.engine, kw, sem, True))))
        if q.group:
            for variant, items in ranked.items():
                graded = in_pool([d for d, _ in items], q.pool or [])
                out[f"nDCG@{s.k} {q.group}"][variant].append(ndcg(graded, q.grades, s.k))
    return out


def paired(a: Sequence[float], b: Sequence[float]) -> str:
    """mean(a - b) ± its standard error, over the same queries."""
    d = [x - y for x, y in zip(a, b, strict=True)]
    se = statistics.stdev(d) / math.sqrt(len(d)) if len(d) > 1 else float("nan")
    return f"{statistics.fmean(d):+.3f} ± {se:.3f}"


def mean(xs: Sequence[float]) -> float:
    return statistics.fmean(xs) if xs else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_eval_dir(ap)
    args = ap.parse_args()
    bases = (  # all checked before the first one is embedded
        eval_set(args.eval_dir, "scifact", "corpus.jsonl", "queries_test.jsonl", "qrels/test.tsv"),
        eval_set(args.eval_dir, "csfcube", "abstracts-csfcube-rebuilt.jsonl",
                 "evaluation_splits.json",
                 *(f"test-pid2anns-csfcube-{facet}.json" for facet in FACETS)),
        eval_set(args.eval_dir, "scirepeval", "search_small.jsonl"),
    )  # fmt: skip
    sets = [scifact(bases[0]), csfcube(bases[1]), scirepeval(bases[2]), seed_questions()]
    head = " | ".join(VARIANTS)
    print(f"| set (queries) | figure | {head} | now - better single | now - today |")
    print("|---|---|" + "---|" * (len(VARIANTS) + 2))
    cuts = []
    for s in sets:
        out = run(s)
        name = f"{s.name} ({len(s.queries)})"
        for metric in [m for m in out if m.startswith("nDCG") and "cut" not in m]:
            by = out[metric]
            cells = " | ".join(f"{mean(by[v]):.3f}" for v in VARIANTS)
            deltas = "| |"
            if " " not in metric:  # the set's headline figure: with its noise
                best = max(("keyword", "semantic"), key=lambda v: mean(by[v]))
                deltas = (f"| {paired(by['hybrid now'], by[best])} ({best}) "
                          f"| {paired(by['hybrid now'], by['hybrid today'])} |")  # fmt: skip
            print(f"| {name} | {metric} | {cells} {deltas}")
        by = out["recall@100"]
        cells = " | ".join(f"{mean(by[v]):.3f}" for v in VARIANTS)
        print(f"| {name} | recall@100 | {cells} | | |")
        cuts.append((name, s.k, out))
    print("\nThe cut-off (hybrid.cut_off), per set: the figures without it / with it, and the "
          f"results a search returns (each side {CANDIDATES} deep; keyword: its matches up to "
          f"{CANDIDATES}, hybrid today: everything either side found).\n")  # fmt: skip
    print(
        "| set | semantic recall@100 | hybrid now recall@100 | hybrid now nDCG | "
        "results: keyword | semantic | hybrid today | hybrid now |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name, k, out in cuts:
        rec, rec_cut = out["recall@100"], out["recall@100, cut off"]
        n, n_cut = out[f"nDCG@{k}"], out[f"nDCG@{k}, cut off"]
        res = out["results"]
        print(f"| {name} | {mean(rec['semantic']):.3f} / {mean(rec_cut['semantic']):.3f} "
              f"| {mean(rec['hybrid now']):.3f} / {mean(rec_cut['hybrid now']):.3f} "
              f"| {mean(n['hybrid now']):.3f} / {mean(n_cut['hybrid now']):.3f} | "
              + " | ".join(f"{mean(res[v]):.1f}" for v in VARIANTS) + " |")  # fmt: skip
    print("\nSciFact published: BM25 0.665, all-MiniLM-L6-v2 0.645, bge-small-en-v1.5 0.72.")


if __name__ == "__main__":
    main()
