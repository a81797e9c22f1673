"""Recommender quality and cost, side by side: arxiv-sanity-lite's TF-IDF + SVM, the centroid
(zotero-arxiv-daily), max-sim, and ours (paperfeed.rank.recommend, the production code).

CiteULike-a (--data, default EVAL_DIR/citeulike_a; read, never copied into the repository):
the CDL/CVAE split P=10 (cf-train-10-users.dat: 10 library papers per reader; line i = reader
i; cf-test-10-users.dat: the rest of the library). Items: items.jsonl, titles only (16,980).
For each reader with at least one test paper: candidates = every paper not in the train
library; recall@K = hits in the top K / number of test papers (the CDL convention), nDCG@50
with binary gains; means over readers. A fixed random sample of readers (--users, --seed; 0 =
all), the same readers for every method.

arxiv-sanity-lite, reproduced from github.com/karpathy/arxiv-sanity-lite (commit d7a303b):
compute.py's TfidfVectorizer(input='content', encoding='utf-8', decode_error='replace',
strip_accents='unicode', lowercase=True, analyzer='word', stop_words='english',
token_pattern=r'(?u)\\b[a-zA-Z_][a-zA-Z0-9_]+\\b', ngram_range=(1, 2), max_features=20000,
norm='l2', use_idf=True, smooth_idf=True, sublinear_tf=True, max_df=0.1, min_df=5), output
float32; serve.py's svm_rank: LinearSVC(class_weight='balanced', verbose=False,
max_iter=10000, tol=1e-6, C=0.01) fit on every paper (library = 1, all others = 0), ranked by
decision_function. Deviations: it embeds title + abstract + authors, here titles only (so the
vocabulary, ~4.5k terms, is under max_features); it fits on the whole corpus, as here.

Embeddings: the production embedder (search.models.load_embedder), cached under --cache-dir
keyed by model name and a hash of the texts (--no-cache to recompute).

Ours is tuned (RIDGE) with --tune on a validation slice of the sampled readers' *train*
libraries (fit on 7 of the 10, find the other 3 among all papers not in the 7), never on the
test papers that the table reports.

CSFCube (EVAL_DIR/csfcube; --no-csfcube to skip): query by example, each query paper's pool
(test-pid2pool-csfcube.json) ranked by cosine of our title+abstract vectors vs TF-IDF cosine
(the arxiv-sanity-lite vectorizer), nDCG@20 (adjudicated grades 0-3) and MAP (grade >= 2
relevant), per facet and overall.

    .venv/bin/python bench/eval_recommend.py [--users 1000] [--tune] [--eval-dir DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from benchlib import add_eval_dir, eval_set, save_array, timed

from paperfeed.rank import recommend
from paperfeed.search.models import load_embedder

F32 = npt.NDArray[np.float32]
KS = (20, 50, 100)
FACETS = ("background", "method", "result")
BACKGROUND_ROWS = 4000  # what a pass samples from the corpus for recommend.Background
SVM_C = 0.01
SCORE_BATCH = 1000


def asl_vectorizer() -> Any:
    from sklearn.feature_extraction.text import TfidfVectorizer

    return TfidfVectorizer(
        input="content",
        encoding="utf-8",
        decode_error="replace",
        strip_accents="unicode",
        lowercase=True,
        analyzer="word",
        stop_words="english",
        token_pattern=r"(?u)\b[a-zA-Z_][a-zA-Z0-9_]+\b",
        ngram_range=(1, 2),
        max_features=20000,
        norm="l2",
        use_idf=True,
        smooth_idf=True,
        sublinear_tf=True,
        max_df=0.1,
        min_df=5,
    )


def asl_svm(c: float = SVM_C) -> Any:
    from sklearn import svm

    return svm.LinearSVC(class_weight="balanced", verbose=False, max_iter=10000, tol=1e-6, C=c)


# -- data ----------------------------------------------------------------------------------


def jsonl(path: Path) -> Iterable[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield json.loads(line)


def libraries(path: Path) -> list[npt.NDArray[np.intp]]:
    """Line i: "n id id ..." -> reader i's item ids."""
    out = []
    for line in path.read_text().splitlines():
        fields = [int(x) for x in line.split()]
        out.append(np.array(fields[1:], np.intp))
    return out


def embed(texts: Sequence[str], cache_dir: Path | None) -> F32:
    """Our production embedder's vectors for `texts`, from the cache when it has them."""
    embedder = load_embedder()
    digest = hashlib.blake2b("\n".join(texts).encode(), digest_size=12).hexdigest()
    path = None if cache_dir is None else cache_dir / f"{embedder.name}-{digest}.npy"
    if path is not None and path.is_file():
        return np.load(path).astype(np.float32)
    start = time.perf_counter()
    vectors = embedder.embed_documents(list(texts))
    took = time.perf_counter() - start
    print(f"embedded {len(texts)} texts with {embedder.name} in {took:.0f}s", file=sys.stderr)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        save_array(path, vectors)
    return vectors


# -- metrics -------------------------------------------------------------------------------


def rank_metrics(
    scores: npt.NDArray[Any], exclude: npt.NDArray[np.intp], relevant: npt.NDArray[np.intp]
) -> dict[str, float]:
    s = np.asarray(scores, np.float64).copy()
    s[exclude] = -np.inf
    depth = min(max(KS), len(s) - 1)
    top = np.argpartition(-s, depth)[:depth]
    top = top[np.argsort(-s[top], kind="stable")]
    hit = np.isin(top, relevant)
    out = {f"recall@{k}": float(hit[:k].sum()) / len(relevant) for k in KS}
    gains = hit[:50] / np.log2(np.arange(2, min(50, depth) + 2))
    ideal = (1 / np.log2(np.arange(2, min(50, len(relevant)) + 2))).sum()
    out["nDCG@50"] = float(gains.sum() / ideal)
    return out


# -- methods ---------------------------------------------------------------------------------


class Method:
    """fit(reader's library item ids) -> a scorer of item rows; timed apart."""

    name = ""

    def fit(self, library: npt.NDArray[np.intp]) -> Callable[[npt.NDArray[np.intp]], F32]:
        raise NotImplementedError


class Centroid(Method):
    name = "centroid (cosine to library mean)"

    def __init__(self, x: F32) -> None:
        self.x = x

    def fit(self, library: npt.NDArray[np.intp]) -> Callable[[npt.NDArray[np.intp]], F32]:
        c = self.x[library].mean(axis=0)
        c /= max(float(np.linalg.norm(c)), 1e-12)
        return lambda rows: self.x[rows] @ c


class MaxSim(Method):
    name = "max-sim (nearest library paper)"

    def __init__(self, x: F32) -> None:
        self.x = x

    def fit(self, library: npt.NDArray[np.intp]) -> Callable[[npt.NDArray[np.intp]], F32]:
        p = self.x[library]
        return lambda rows: (self.x[rows] @ p.T).max(axis=1)


class Ours(Method):
    name = "ours: whitened centroid + nearest (recommend.py)"

    def __init__(
        self, x: F32, background: recommend.Background, name: str = "", **options: float
    ) -> None:
        self.x, self.background, self.options = x, background, options
        self.name = name or Ours.name

    def fit(self, library: npt.NDArray[np.intp]) -> Callable[[npt.NDArray[np.intp]], F32]:
        model = recommend.fit(self.x[library], self.background, **self.options)
        return lambda rows: model.score(self.x[rows])


class SanitySVM(Method):
    name = "arxiv-sanity-lite (TF-IDF + SVM)"

    def __init__(self, tfidf: Any, c: float = SVM_C) -> None:
        self.tfidf, self.c = tfidf, c

    def fit(self, library: npt.NDArray[np.intp]) -> Callable[[npt.NDArray[np.intp]], F32]:
        y = np.zeros(self.tfidf.shape[0], np.float32)
        y[library] = 1.0
        clf = asl_svm(self.c)
        clf.fit(self.tfidf, y)
        return lambda rows: np.asarray(clf.decision_function(self.tfidf[rows]), np.float32)


def zscore(s: F32) -> F32:
    return (s - s.mean()) / max(float(s.std()), 1e-12)


def evaluate(
    methods: list[Method],
    users: Sequence[int],
    fit_on: list[npt.NDArray[np.intp]],
    targets: list[npt.NDArray[np.intp]],
    n: int,
    combine: bool = True,
    per_user: dict[str, list[float]] | None = None,
) -> dict[str, dict[str, float]]:
    """Every method on every reader; plus, when `combine`, ours + the SVM (z-scores summed),
    to show whether TF-IDF features would add anything to the embeddings. `per_user` gets
    each method's recall@50 per reader."""
    every = np.arange(n)
    rng = np.random.default_rng(7)
    probe = rng.choice(n, min(SCORE_BATCH, n), replace=False)
    sums: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for u in users:
        full: dict[str, F32] = {}
        for m in methods:
            start = time.perf_counter()
            scorer = m.fit(fit_on[u])
            fitted = time.perf_counter()
            scorer(probe)
            sums[m.name]["fit ms"] += (fitted - start) * 1e3
            sums[m.name]["score 1k ms"] += (time.perf_counter() - fitted) * 1e3 * 1000 / len(probe)
            full[m.name] = scorer(every)
            for key, value in rank_metrics(full[m.name], fit_on[u], targets[u]).items():
                sums[m.name][key] += value
                if per_user is not None and key == "recall@50":
                    per_user.setdefault(m.name, []).append(value)
        if combine and Ours.name in full and SanitySVM.name in full:
            mixed = zscore(full[Ours.name]) + zscore(full[SanitySVM.name])
            for key, value in rank_metrics(mixed, fit_on[u], targets[u]).items():
                sums[COMBINED][key] += value
    return {name: {k: v / len(users) for k, v in row.items()} for name, row in sums.items()}


COMBINED = "ours + TF-IDF SVM (z-scores summed; bench only)"
DIRECTION_ONLY = "ours without the nearest term (nearest_weight=0)"


# -- CSFCube ------------------------------------------------------------------------------------


def csfcube(base: Path, cache_dir: Path | None) -> dict[str, dict[str, float]]:
    ids, texts = [], []
    for d in jsonl(base / "abstracts-csfcube-rebuilt.jsonl"):
        abstract = " ".join(d["abstract"]) if isinstance(d["abstract"], list) else d["abstract"]
        ids.append(str(d["paper_id"]))
        texts.append(f"{d['title']}. {abstract}".strip())  # search/embed.py's paper_text
    row = {pid: i for i, pid in enumerate(ids)}
    dense = embed(texts, cache_dir)
    sparse = asl_vectorizer().fit_transform(texts).astype(np.float32)
    pools = json.loads((base / "test-pid2pool-csfcube.json").read_text())
    qrels: dict[tuple[str, str], dict[str, int]] = defaultdict(dict)
    for line in (base / "qrels-csfcube.tsv").read_text().splitlines()[1:]:
        q, facet, cand, grade = line.split("\t")
        qrels[(q, facet)][cand] = int(grade)
    scores: dict[str, dict[str, list[float]]] = {
        "ours": defaultdict(list),
        "tfidf": defaultdict(list),
    }
    for (q, facet), grades in sorted(qrels.items()):
        pool = [c for c in pools[q]["cands"] if c in row and c != q]
        rows = np.array([row[c] for c in pool])
        sims = {
            "ours": dense[rows] @ dense[row[q]],
            "tfidf": np.asarray((sparse[rows] @ sparse[row[q]].T).todense()).ravel(),
        }
        for name, s in sims.items():
            ranked = [pool[i] for i in np.argsort(-s, kind="stable")]
            for key in (facet, "all"):
                scores[name][f"nDCG@20 {key}"].append(ndcg(ranked, grades, 20))
                scores[name][f"MAP {key}"].append(average_precision(ranked, grades))
    return {name: {k: sum(v) / len(v) for k, v in by.items()} for name, by in scores.items()}


def ndcg(ranked: Sequence[str], grades: dict[str, int], k: int) -> float:
    dcg = sum(grades.get(d, 0) / math.log2(i + 2) for i, d in enumerate(ranked[:k]))
    ideal = sorted(grades.values(), reverse=True)[:k]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg > 0 else 0.0


def average_precision(ranked: Sequence[str], grades: dict[str, int]) -> float:
    relevant = {d for d, g in grades.items() if g >= 2}
    hits, total = 0, 0.0
    for i, d in enumerate(ranked):
        if d in relevant:
            hits += 1
            total += hits / (i + 1)
    return total / len(relevant) if relevant else 0.0


# -- cost ----------------------------------------------------------------------------------------


def synthetic_readers(x: F32, background: recommend.Background, readers: int) -> float:
    """Seconds to fit `readers` readers of 10 random papers each with the production code
    and score 1,000 new papers for each."""
    rng = np.random.default_rng(3)
    new = x[rng.choice(len(x), min(SCORE_BATCH, len(x)), replace=False)]
    start = time.perf_counter()
    for _ in range(readers):
        library = x[rng.choice(len(x), 10, replace=False)]
        recommend.fit(library, background).score(new)
    return time.perf_counter() - start


# -- main ----------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    add_eval_dir(ap)
    ap.add_argument("--data", type=Path, help="CiteULike-a folder (default EVAL_DIR/citeulike_a)")
    ap.add_argument("--users", type=int, default=1000, help="readers sampled; 0 = all")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--background",
        type=int,
        default=BACKGROUND_ROWS,
        help="corpus rows sampled for recommend.Background",
    )
    ap.add_argument("--cache-dir", type=Path, default=Path.home() / ".cache" / "paperfeed-bench")
    ap.add_argument("--no-cache", action="store_true", help="embed again, write no cache")
    ap.add_argument("--no-svm", action="store_true", help="skip arxiv-sanity-lite (slowest)")
    ap.add_argument("--no-csfcube", action="store_true")
    ap.add_argument(
        "--tune",
        action="store_true",
        help="recall@50 of ours per RIDGE on the train-only validation slice",
    )
    ap.add_argument(
        "--synthetic-readers",
        type=int,
        default=10000,
        help="time fitting this many readers with the production code; 0 = skip",
    )
    args = ap.parse_args(argv)
    cache = None if args.no_cache else args.cache_dir
    files = ("items.jsonl", "cf-train-10-users.dat", "cf-test-10-users.dat")
    data = args.data or args.eval_dir / "citeulike_a"
    missing = [f for f in files if not (data / f).is_file()]
    if missing:
        sys.exit(f"CiteULike-a not found: {data / missing[0]} is missing (pass --data DIR).")
    csf = (
        None
        if args.no_csfcube
        else eval_set(
            args.eval_dir,
            "csfcube",
            "abstracts-csfcube-rebuilt.jsonl",
            "test-pid2pool-csfcube.json",
            "qrels-csfcube.tsv",
        )
    )

    titles = [str(d["title"]) for d in jsonl(data / "items.jsonl")]
    train = libraries(data / "cf-train-10-users.dat")
    test = libraries(data / "cf-test-10-users.dat")
    n = len(titles)
    x = embed(titles, cache)
    rng = np.random.default_rng(args.seed)
    eligible = [u for u in range(len(train)) if len(test[u]) and len(train[u])]
    users = (
        eligible
        if not args.users or args.users >= len(eligible)
        else sorted(rng.choice(eligible, args.users, replace=False).tolist())
    )
    sample = rng.choice(n, min(args.background, n), replace=False)
    bg_s, background = timed(lambda: recommend.Background.of(x[sample]))

    methods: list[Method] = []
    if not args.no_svm:
        tfidf = asl_vectorizer().fit_transform(titles).astype(np.float32)
        methods.append(SanitySVM(tfidf))
    methods += [
        Centroid(x),
        MaxSim(x),
        Ours(x, background),
        Ours(x, background, DIRECTION_ONLY, nearest_weight=0.0),
    ]

    if args.tune:
        tune(x, x[sample], users, train, n)

    start = time.perf_counter()
    per_user: dict[str, list[float]] = {}
    table = evaluate(methods, users, train, test, n, per_user=per_user)
    took = time.perf_counter() - start
    print(
        f"CiteULike-a, split P=10, titles only: {len(users)} readers (seed {args.seed}) of "
        f"{len(eligible)} with test papers; {n} papers; candidates = all not in the library; "
        f"{len(sample)} background rows; {took:.0f}s\n"
    )
    cols = [*(f"recall@{k}" for k in KS), "nDCG@50", "fit ms", "score 1k ms"]
    print(f"| method | {' | '.join(cols)} | 100k readers, min |")
    print("|---|" + "---|" * (len(cols) + 1))
    for name, row in table.items():
        cells = [f"{row[c]:.4f}" for c in cols[:4]]
        if "fit ms" in row:
            cells += [
                f"{row['fit ms']:.2f}",
                f"{row['score 1k ms']:.2f}",
                f"{(row['fit ms'] + row['score 1k ms']) * 1e5 / 6e4:.1f}",
            ]
        else:
            cells += ["", "", ""]
        print(f"| {name} | {' | '.join(cells)} |")
    best = max(
        (r["recall@50"], k)
        for k, r in table.items()
        if k not in (Ours.name, COMBINED, DIRECTION_ONLY)
    )
    margin = table[Ours.name]["recall@50"] - best[0]
    diff = np.array(per_user[Ours.name]) - np.array(per_user[best[1]])
    se = float(diff.std(ddof=1) / math.sqrt(len(diff))) if len(diff) > 1 else float("nan")
    print(
        f"\nours vs best baseline ({best[1]}) on recall@50: {margin:+.4f} "
        f"({margin / best[0]:+.0%}; paired standard error {se:.4f}).\n"
        f"Background.of on {len(sample)} rows: {bg_s * 1e3:.0f} ms. "
        "100k readers = (fit + score 1k) x 1e5, one core."
    )
    if args.synthetic_readers:
        s = synthetic_readers(x, background, args.synthetic_readers)
        print(
            f"measured: {args.synthetic_readers} synthetic readers (10 papers each) fitted "
            f"and scored on 1,000 papers in {s:.1f}s = {s * 1e3 / args.synthetic_readers:.2f} "
            f"ms per reader -> 100k readers in {s * 1e5 / args.synthetic_readers / 60:.1f} min"
        )

    if csf is not None:
        result = csfcube(csf, cache)
        print("\nCSFCube query by example (title + abstract), each query's pool ranked by cosine:")
        keys = [f"{m} {f}" for f in (*FACETS, "all") for m in ("nDCG@20", "MAP")]
        print("| vectors | " + " | ".join(keys) + " |")
        print("|---|" + "---|" * len(keys))
        for name, label in (("ours", "ours (MiniLM)"), ("tfidf", "TF-IDF (arxiv-sanity-lite)")):
            print(f"| {label} | " + " | ".join(f"{result[name][k]:.3f}" for k in keys) + " |")


def tune(
    x: F32, bg_rows: F32, users: Sequence[int], train: list[npt.NDArray[np.intp]], n: int
) -> None:
    """recall@50 of ours per RIDGE and NEAREST_WEIGHT on the validation slice: each reader's
    train library split 7 / 3 (fixed seed), the 3 found among all papers not in the 7. No test
    paper is read."""
    rng = np.random.default_rng(11)
    fit_on, find = [], []
    for lib in train:
        p = rng.permutation(lib)
        held = max(1, round(0.3 * len(p)))  # 3 of 10
        fit_on.append(p[: len(p) - held])
        find.append(p[len(p) - held :])
    pick = [u for u in users if len(train[u]) >= 2]
    print("tuning on the train-only validation slice (fit 7, find 3):")
    for ridge in (0.001, 0.01, 0.1, 1.0):
        bg = recommend.Background.of(bg_rows, ridge=ridge)
        r = evaluate([Ours(x, bg)], pick, fit_on, find, n, combine=False)[Ours.name]
        print(f"  RIDGE={ridge}: recall@50 {r['recall@50']:.4f}")
    bg = recommend.Background.of(bg_rows)
    for near in (0.0, 1.0, 2.0, 4.0, 8.0, 16.0):
        r = evaluate([Ours(x, bg, nearest_weight=near)], pick, fit_on, find, n, combine=False)
        print(f"  NEAREST_WEIGHT={near}: recall@50 {r[Ours.name]['recall@50']:.4f}")
    r = evaluate([Centroid(x), MaxSim(x)], pick, fit_on, find, n, combine=False)
    for name, row in r.items():
        print(f"  {name}: recall@50 {row['recall@50']:.4f}")
    print()


if __name__ == "__main__":
    main()
