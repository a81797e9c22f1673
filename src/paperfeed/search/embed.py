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
from typing import Protocol

import numpy as np
import numpy.typing as npt

from paperfeed.models import Paper
from paperfeed.store import EmbeddingRow, Store

Vectors = npt.NDArray[np.float32]


class Embedder(Protocol):
    """Turns texts into L2-normalised vectors. `name` identifies the model and its version:
    vectors of different names are never mixed."""

    name: str
    dim: int

    def embed_documents(self, texts: Sequence[str]) -> Vectors: ...

    def embed_query(self, text: str) -> Vectors: ...


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


def embed_missing(
    store: Store,
    embedder: Embedder,
    *,
    batch_size: int = 64,
    on_progress: Callable[[int], None] | None = None,
) -> EmbedReport:
    """Embed every paper the store says `embedder` has not seen since its last change."""
    embedded = unchanged = 0
    after = 0
    while todo := store.list_embedding_todo(embedder.name, after, batch_size):
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
        after = todo[-1].seq
        if on_progress:
            on_progress(len(todo))
    return EmbedReport(embedded, unchanged)


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
