"""Dense embeddings of papers: the Embedder protocol, the text we embed, and the resumable
`embed_missing` loop that fills the store.

Vectors are L2-normalised float32 in memory and float16 in the store. Each batch is written in
its own transaction, so a killed run loses at most one batch and the next run carries on from
what is stored (papers already embedded are not in the to-do list any more).
"""

from __future__ import annotations

import hashlib
import re
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Protocol

import numpy as np
import numpy.typing as npt

from paperfeed.errors import InputError
from paperfeed.models import Paper
from paperfeed.store import EmbeddingRow, EmbeddingTodo, Store

Vectors = npt.NDArray[np.float32]
_ABOVE_ALL = 2**62  # a row number above every paper's


class Embedder(Protocol):
    """Turns texts into L2-normalised vectors. `name` identifies the model and its version:
    vectors of different names are never mixed."""

    name: str
    dim: int

    def embed_documents(self, texts: Sequence[str]) -> Vectors: ...

    def embed_query(self, text: str) -> Vectors: ...

    def embed_queries(self, texts: Sequence[str]) -> Vectors:
        """`embed_query` of each text (the same vectors, within float rounding), in batches:
        one row per text, in order."""
        ...


def paper_text(paper: Paper) -> str:
    """What we embed: title and abstract, as SPECTER-style models are trained on."""
    return f"{paper.title}. {paper.abstract}".strip()


def text_hash(text: str) -> str:
    return hashlib.blake2b(text.encode(), digest_size=12).hexdigest()


def to_blob(vector: Vectors) -> bytes:
    return np.asarray(vector, dtype="<f2").tobytes()


def from_blobs(blobs: Sequence[bytes], dim: int) -> Vectors:
    raw = np.frombuffer(b"".join(blobs), dtype="<f2").reshape(len(blobs), dim)
    return raw.astype(np.float32)


def normalize(x: npt.NDArray[np.floating]) -> Vectors:
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    out: Vectors = (x / np.maximum(norms, 1e-12)).astype(np.float32)
    return out


@dataclass(frozen=True, slots=True)
class EmbedReport:
    embedded: int
    unchanged: int
    more: bool = False  # stopped at `max_papers` (or when told to) with papers still to do


def embed_missing(
    store: Store,
    embedder: Embedder,
    *,
    batch_size: int = 64,
    on_progress: Callable[[int], None] | None = None,
    max_papers: int | None = None,
    keep_going: Callable[[], bool] = lambda: True,
) -> EmbedReport:
    """Embed every paper the store says `embedder` has not seen since its last change, newest
    rows first (what was just harvested goes before an old backlog). `max_papers` (embedded or
    checked) and `keep_going` (asked before each batch) bound one call; the report says
    whether papers were left."""
    embedded = unchanged = 0
    below = _ABOVE_ALL  # the last row done: the walk goes down from there

    def todo_after(limit: int) -> list[EmbeddingTodo]:
        return store.list_embedding_todo(embedder.name, 0, limit, before_seq=below)

    while True:
        room = batch_size
        if max_papers is not None:
            room = min(room, max_papers - embedded - unchanged)
        if room <= 0 or not keep_going():
            return EmbedReport(embedded, unchanged, more=bool(todo_after(1)))
        todo = todo_after(room)
        if not todo:
            return EmbedReport(embedded, unchanged)
        texts = [paper_text(t.paper) for t in todo]
        hashes = [text_hash(t) for t in texts]
        fresh = [i for i, t in enumerate(todo) if t.text_hash != hashes[i]]
        vectors = embedder.embed_documents([texts[i] for i in fresh]) if fresh else None
        rows = []
        for i, item in enumerate(todo):
            blob = None
            if vectors is not None and i in fresh:
                blob = to_blob(vectors[fresh.index(i)])
            rows.append(EmbeddingRow(item.seq, item.changed, hashes[i], blob))
        store.put_embeddings(embedder.name, rows)
        embedded += len(fresh)
        unchanged += len(todo) - len(fresh)
        below = todo[-1].seq
        if on_progress:
            on_progress(len(todo))


def export_embeddings(store: Store, model: str, path: str | Path) -> int:
    """Write every stored vector of `model` to a .npz file (paper ids, text hashes, float16
    vectors), e.g. to embed on a GPU machine and bring the vectors home."""
    ids, hashes, blobs = [], [], []
    for pid, hashed, blob in store.iter_embeddings(model):
        ids.append(pid)
        hashes.append(hashed)
        blobs.append(blob)
    dim = len(blobs[0]) // 2 if blobs else 0
    vectors = np.frombuffer(b"".join(blobs), dtype="<f2").reshape(len(blobs), dim)
    with open(path, "wb") as f:
        np.savez_compressed(
            f, model=np.array(model), ids=np.array(ids), text_hash=np.array(hashes), vectors=vectors
        )
    return len(ids)


def import_embeddings(store: Store, path: str | Path) -> tuple[str, int]:
    """Store the vectors of an exported file for papers whose title and abstract are still the
    text that was embedded (matched by text hash); others are left for `embed`."""
    try:
        with np.load(path, allow_pickle=False) as data:
            model = str(data["model"])
            table = dict(zip(data["text_hash"].tolist(), data["vectors"], strict=True))
    except (OSError, ValueError, KeyError) as e:
        raise InputError(f"{path} is not an embeddings file made by `paperfeed embeddings "
                         f"export` ({e}).") from None  # fmt: skip
    imported, after = 0, 0
    while todo := store.list_embedding_todo(model, after, 5000):
        rows = []
        for item in todo:
            hashed = text_hash(paper_text(item.paper))
            if hashed in table:
                rows.append(EmbeddingRow(item.seq, item.changed, hashed, to_blob(table[hashed])))
        store.put_embeddings(model, rows)
        imported += len(rows)
        after = todo[-1].seq
    return model, imported


_WORD = re.compile(r"\w+")


class HashingEmbedder:
    """A deterministic bag-of-words embedder (feature hashing of lower-cased words and word
    pairs). Not a language model: it exists so that unit tests of the plumbing run in
    milliseconds. Quality tests and CI use the real model."""

    def __init__(self, dim: int = 64) -> None:
        self.dim = dim
        self.name = f"hashing-{dim}"

    def _one(self, text: str) -> Vectors:
        v = np.zeros(self.dim, dtype=np.float32)
        words = _WORD.findall(text.lower())
        for feature in words + [a + " " + b for a, b in pairwise(words)]:
            h = zlib.crc32(feature.encode())
            v[h % self.dim] += 1.0 if (h >> 16) & 1 else -1.0
        return v

    def embed_documents(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return normalize(np.stack([self._one(t) for t in texts]))

    def embed_query(self, text: str) -> Vectors:
        out: Vectors = normalize(self._one(text)[None, :])[0]
        return out

    def embed_queries(self, texts: Sequence[str]) -> Vectors:
        return self.embed_documents(texts)
