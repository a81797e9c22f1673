"""What the benchmark scripts share: where the data is, the synthetic corpus, a timer.

The scripts run as `python bench/NAME.py`, so this folder is on sys.path and they import it
as `benchlib`. synth.py is loaded from its file for the same reason.

Data: the real papers are files the tests use (tests/data) and the package's seed, named in
synth.py (which learns from them and is also loaded on its own, by the tests). The evaluation
sets (SciFact, CSFCube, SciRepEval) never go into the repository: a bench that needs them takes
`--eval-dir DIR` (or $PAPERFEED_EVAL_DIR; default ../shared/data/eval beside the repository).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
EVAL_ENV = "PAPERFEED_EVAL_DIR"
EVAL_DEFAULT = HERE.parent.parent / "shared" / "data" / "eval"
# name -> (what it is, where such a set comes from)
EVAL_SETS = {
    "scifact": ("SciFact (BEIR)", "download the BEIR scifact set (github.com/beir-cellar/beir)"),
    "csfcube": ("CSFCube", "get it from github.com/iesl/CSFCube (CC BY-NC 4.0)"),
    "scirepeval": (
        "SciRepEval search_small",
        "copy training/sample_data/search_small.jsonl of github.com/allenai/scirepeval",
    ),
}


def add_eval_dir(parser: argparse.ArgumentParser) -> None:
    """The `--eval-dir DIR` option: where the evaluation sets are."""
    parser.add_argument(
        "--eval-dir",
        type=Path,
        default=Path(os.environ.get(EVAL_ENV) or EVAL_DEFAULT),
        help=f"folder holding scifact/, csfcube/, scirepeval/ (default ${EVAL_ENV} or "
        f"{EVAL_DEFAULT})",
    )


def eval_set(eval_dir: Path, name: str, *files: str) -> Path:
    """eval_dir/name holding `files`; when anything is missing, exit with one sentence."""
    folder = eval_dir / name
    missing = [f for f in files if not (folder / f).is_file()]
    if folder.is_dir() and not missing:
        return folder
    what, source = EVAL_SETS[name]
    where = folder / missing[0] if folder.is_dir() else folder
    sys.exit(f"{what} not found at {where}: {source} into {folder}, or pass --eval-dir DIR.")


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
