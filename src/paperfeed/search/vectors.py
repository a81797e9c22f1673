"""The vector index: approximate nearest neighbours over the stored embeddings (faiss).

Small collections use an exact inner-product index; from HNSW_FROM vectors on it is HNSW over
8-bit scalar-quantised vectors (a quarter of float32's memory, recall loss well under 1%).
Like the keyword index it is derived data: it catches up with the store's vector change
numbers, is saved to disk after each sync, and `rebuild` makes it again from the stored vectors
without the model.

faiss ids are vector change numbers, not paper rows: a paper re-embedded after a new version
gets a new entry, and the superseded one is filtered out of results until the next rebuild
(HNSW cannot delete). When superseded entries pass STALE_REBUILD of the index it rebuilds.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import faiss as _faiss
import numpy as np
import numpy.typing as npt

from paperfeed.search import index_disk_full, owner_only_dir
from paperfeed.search.embed import Vectors, from_blobs
from paperfeed.store import Store

log = logging.getLogger(__name__)
faiss: Any = _faiss  # its bundled stubs are partial (SWIG); we use it untyped
# One query at a time: OpenMP start-up costs more than it saves (exact search over 100k
# vectors: 24 ms with 2 threads, 5 ms with 1; HNSW builds no slower).
faiss.omp_set_num_threads(1)

HNSW_FROM = 20_000
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 80
HNSW_EF_SEARCH = 96
STALE_REBUILD = 0.2
_BATCH = 20_000


def vector_index_dir(index_dir: str | Path, model: str) -> Path:
    return Path(index_dir) / "vectors" / model


@dataclass(frozen=True, slots=True)
class VectorState:
    store_id: str = ""
    model: str = ""
    last_change: int = 0
    kind: str = "flat"


def read_vector_state(path: str | Path) -> VectorState:
    """How far the vector index in `path` has caught up, without loading it."""
    try:
        return VectorState(**json.loads((Path(path) / "state.json").read_text()))
    except (OSError, ValueError, TypeError):
        return VectorState()


class VectorIndex:
    def __init__(self, path: str | Path, model: str, dim: int) -> None:
        self.path = Path(path)
        self.model, self.dim = model, dim
        owner_only_dir(self.path)
        self.state = VectorState()
        self.index: Any = None
        # Plain arrays, not dicts: 2.7M papers cost 40 MB here instead of ~500 MB.
        self.seq_of = _EMPTY.copy()  # faiss id (vector change number) -> paper row, 0 = none
        self.current = _EMPTY.copy()  # paper row -> its newest vector change, 0 = none
        self.size = 0  # papers with a vector
        self._load()

    # -- persistence ----------------------------------------------------------------------

    def _files(self) -> tuple[Path, Path, Path]:
        return self.path / "vectors.faiss", self.path / "ids.npy", self.path / "state.json"

    def _load(self) -> None:
        index_file, ids_file, state_file = self._files()
        try:
            state = VectorState(**json.loads(state_file.read_text()))
            index = faiss.read_index(str(index_file))
            ids = np.load(ids_file)
        except (OSError, ValueError, TypeError, RuntimeError):
            return self._reset()
        if state.model != self.model or index.d != self.dim:
            return self._reset()
        self.state, self.index = state, index
        self._note(ids[:, 0], ids[:, 1])
        self._tune()

    def _save(self) -> None:
        """Write the index out; DiskFull when there is no room (the index in memory is whole,
        and the next sync writes it again)."""
        try:
            self._write_files()
        except (OSError, RuntimeError) as e:
            if full := index_disk_full(e, self.path):
                raise full from e
            raise

    def _write_files(self) -> None:
        index_file, ids_file, state_file = self._files()
        changes = np.flatnonzero(self.seq_of)
        ids = np.stack([changes, self.seq_of[changes]], axis=1)
        faiss.write_index(self.index, str(index_file) + ".tmp")
        with open(str(ids_file) + ".tmp", "wb") as f:
            np.save(f, ids)
        Path(str(state_file) + ".tmp").write_text(json.dumps(asdict(self.state)))
        # The state goes last: a crash before it leaves the old state, and a sync redoes work.
        for path in (index_file, ids_file, state_file):
            os.replace(str(path) + ".tmp", path)

    def _reset(self, kind: str = "flat") -> None:
        self.state = VectorState(kind=kind)
        self.seq_of, self.current, self.size = _EMPTY.copy(), _EMPTY.copy(), 0
        self.index = self._new_index(kind)

    def _new_index(self, kind: str) -> Any:
        if kind == "flat":
            return faiss.IndexIDMap2(faiss.IndexFlatIP(self.dim))
        hnsw = faiss.IndexHNSWSQ(
            self.dim, faiss.ScalarQuantizer.QT_8bit, HNSW_M, faiss.METRIC_INNER_PRODUCT
        )
        hnsw.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        return faiss.IndexIDMap2(hnsw)

    def _tune(self) -> None:
        if self.state.kind == "hnsw":
            faiss.downcast_index(self.index.index).hnsw.efSearch = HNSW_EF_SEARCH

    def _note(self, changes: npt.NDArray[np.int64], seqs: npt.NDArray[np.int64]) -> None:
        if not len(changes):
            return
        self.seq_of = _grown(self.seq_of, int(changes.max()))
        self.current = _grown(self.current, int(seqs.max()))
        self.seq_of[changes] = seqs
        np.maximum.at(self.current, seqs, changes)
        self.size = int(np.count_nonzero(self.current))

    @property
    def superseded(self) -> int:
        return int(self.index.ntotal) - self.size

    # -- sync -----------------------------------------------------------------------------

    def rebuild(self, store: Store, on_progress: Callable[[int], None] | None = None) -> int:
        total = store.count_embeddings(self.model)
        self._reset("hnsw" if total >= HNSW_FROM else "flat")
        shutil.rmtree(self.path, ignore_errors=True)
        owner_only_dir(self.path)
        return self.sync(store, on_progress)

    def sync(self, store: Store, on_progress: Callable[[int], None] | None = None) -> int:
        """Add vectors written since the last sync; rebuild when the index is for another
        database, has outgrown exact search, or holds too many superseded entries."""
        if self.state.last_change and not self._files()[2].is_file():
            log.warning("vector index files gone; writing them again from memory path=%s",
                        self.path)  # fmt: skip
            owner_only_dir(self.path)
            self._save()
        target = store.last_vector_change(self.model)
        if self.state.store_id not in ("", store.store_id()) or self.state.last_change > target:
            return self.rebuild(store, on_progress)
        if target == self.state.last_change:
            return 0
        grows_out = self.state.kind == "flat" and store.count_embeddings(self.model) >= HNSW_FROM
        if grows_out or self.superseded > STALE_REBUILD * max(int(self.index.ntotal), 1):
            return self.rebuild(store, on_progress)
        added = self._add_from(store, self.state.last_change, on_progress)
        self.state = VectorState(store.store_id(), self.model, target, self.state.kind)
        self._save()
        log.info("vector index synced model=%s added=%d size=%d", self.model, added, self.size)
        return added

    def _add_from(self, store: Store, after: int, on_progress: Callable[[int], None] | None) -> int:
        added = 0
        batch: list[tuple[int, int, bytes]] = []
        for change in store.iter_vector_changes(self.model, after):
            batch.append((change.changed, change.seq, change.vector))
            if len(batch) >= _BATCH:
                added += self._add_batch(batch, on_progress)
                batch = []
        return added + self._add_batch(batch, on_progress)

    def _add_batch(
        self, batch: list[tuple[int, int, bytes]], on_progress: Callable[[int], None] | None
    ) -> int:
        if not batch:
            return 0
        vectors = from_blobs([b for _, _, b in batch], self.dim)
        if self.state.kind == "hnsw" and not self.index.is_trained:
            self.index.train(vectors)
        changes = np.array([c for c, _, _ in batch], dtype=np.int64)
        self.index.add_with_ids(vectors, changes)
        self._note(changes, np.array([s for _, s, _ in batch], dtype=np.int64))
        self._tune()
        if on_progress:
            on_progress(len(batch))
        return len(batch)

    # -- search ---------------------------------------------------------------------------

    def search(self, query: Vectors, k: int, exclude: int | None = None) -> list[tuple[int, float]]:
        """(paper row, cosine similarity), best first."""
        if self.index.ntotal == 0 or k <= 0:
            return []
        want = min(k + self.superseded + (1 if exclude is not None else 0), self.index.ntotal)
        scores, ids = self.index.search(np.asarray(query, dtype=np.float32).reshape(1, -1), want)
        hits = []
        for change, score in zip(ids[0].tolist(), scores[0].tolist(), strict=True):
            seq = int(self.seq_of[change]) if 0 < change < len(self.seq_of) else 0
            if seq == 0 or self.current[seq] != change or seq == exclude:
                continue
            hits.append((seq, float(score)))
        return hits[:k]


_EMPTY = np.zeros(1, dtype=np.int64)


def _grown(array: npt.NDArray[np.int64], top: int) -> npt.NDArray[np.int64]:
    """`array` long enough to index `top`, doubling so that appends stay cheap."""
    if top < len(array):
        return array
    bigger = np.zeros(max(top + 1, 2 * len(array)), dtype=np.int64)
    bigger[: len(array)] = array
    return bigger
