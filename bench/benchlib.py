"""What the benchmark scripts share: where the real data is, the synthetic corpus, a timer.

The scripts run as `python bench/NAME.py`, so this folder is on sys.path and they import it
as `benchlib`. synth.py is loaded from its file for the same reason.
"""

from __future__ import annotations

import importlib.util
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SHARED_DATA = HERE.parent.parent / "shared" / "data"
SEED = SHARED_DATA / "seed" / "papers.jsonl"
KAGGLE = (
    SHARED_DATA / "fixtures" / "arxiv_metadata" / "kaggle_snapshot_first2000"
    / "arxiv_data_fixed.jsonl"
)  # fmt: skip


def load_module(name: str) -> Any:
    """bench/NAME.py as a module (bench/ is scripts, not a package)."""
    spec = importlib.util.spec_from_file_location(name, HERE / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def synth() -> Any:
    """bench/synth.py as a module."""
    return load_module("synth")


def corpus(n: int, seed: int = 0) -> Path:
    """A synthetic snapshot file of n papers, generated once and kept in the temp folder."""
    path = Path(tempfile.gettempdir()) / f"paperfeed-synth-{n}-{seed}.jsonl"
    if not path.exists():
        synth().generate(n, path, seed=seed)
    return path


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """(seconds, result) of one call."""
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out
