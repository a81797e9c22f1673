"""What the benchmark scripts share: where the data is, the synthetic corpus, timers, caches.

The scripts run as `python bench/NAME.py`, so this folder is on sys.path and they import it
as `benchlib`. synth.py is loaded from its file for the same reason.

Data: the real papers are files the tests use (tests/data) and the package's seed, named in
synth.py (which learns from them and is also loaded on its own, by the tests). The evaluation
sets (SciFact, CSFCube, SciRepEval) never go into the repository: a bench that needs them takes
`--eval-dir DIR` (or $PAPERFEED_EVAL_DIR; default ../shared/data/eval beside the repository).

Caches: what a bench builds once and reuses (a synthetic corpus, a store with its indexes) lives
in the temp folder under `cached_path(name, params, sources)`, a name keyed by the parameters
and by a hash of the bytes of the code and data that build it, so that a cache left by older
code is never reused; `build_atomically` builds it under a temporary name and renames it into
place only when complete, so that an interrupted build leaves nothing under the final name.

Timings: `repeat(fn, n)` gives the median and spread of n runs, `machine_line()` says what the
machine was doing (load average), and `peak_rss_mb()` reads this process's own peak memory
(VmHWM), which `ru_maxrss` does not give a child: on Linux it starts at the parent's peak.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import platform
import re
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SRC = ROOT / "src" / "paperfeed"
# the store's schema: a cached store built under other migrations is not reused
MIGRATIONS = SRC / "store" / "sqlite" / "migrations"
# the code that writes the search indexes a cached store carries: a change rebuilds the cache
INDEX_SOURCES = tuple(SRC / "search" / f for f in ("keyword.py", "vectors.py", "embed.py"))
# what the synthetic corpus is made from: the generator and the real papers it learns from
SYNTH_SOURCES = (
    HERE / "synth.py",
    SRC / "data" / "seed_papers.jsonl",
    ROOT / "tests" / "data" / "fixtures" / "arxiv_metadata",
)
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
    path = cached_path("synth", {"n": n, "seed": seed}, SYNTH_SOURCES, ".jsonl")
    build_atomically(path, lambda tmp: synth().generate(n, tmp, seed=seed))
    return path


# -- caches ---------------------------------------------------------------------------------


def _files(sources: Iterable[Path]) -> list[Path]:
    out: list[Path] = []
    for source in sources:
        if source.is_dir():
            out += sorted(
                p for p in source.rglob("*") if p.is_file() and "__pycache__" not in p.parts
            )
        else:
            out.append(source)
    return out


def source_hash(sources: Iterable[Path]) -> str:
    """A hash of the bytes (and names) of these files; a folder stands for every file below it.
    A missing source counts as such, rather than failing."""
    h = hashlib.sha256()
    for path in _files(sources):
        name = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
        h.update(f"{name}\0".encode())
        h.update(path.read_bytes() if path.exists() else b"(missing)")
        h.update(b"\0")
    return h.hexdigest()


def cached_path(
    name: str, params: Mapping[str, Any], sources: Iterable[Path], suffix: str = ""
) -> Path:
    """Where the cache `name` built with `params` by the code and data in `sources` lives:
    paperfeed-bench-NAME-P1-P2-...-KEY in the temp folder, KEY a hash of the parameters and of
    the sources' bytes (so a cache built by other code, or with other parameters, is never
    found)."""
    key = hashlib.sha256(
        (json.dumps(params, sort_keys=True, default=str) + source_hash(sources)).encode()
    ).hexdigest()[:12]
    shown = "-".join(str(v) for v in params.values())
    return Path(tempfile.gettempdir()) / f"paperfeed-bench-{name}-{shown}-{key}{suffix}"


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def build_atomically(path: Path, build: Callable[[Path], object], rebuild: bool = False) -> bool:
    """Make sure `path` (a file or a folder) exists, complete: when it does not (or `rebuild`),
    `build(tmp)` writes it at tmp = PATH.tmp-PID (either kind; tmp does not exist yet), which
    is then renamed to `path` (os.replace); if `build` raises, tmp is removed and nothing appears
    under `path`; should another run have completed `path` meanwhile, that one is kept (unless
    `rebuild`). Leftovers of interrupted builds by processes no longer running are removed.
    Returns whether it built what is now at `path`."""
    for stale in path.parent.glob(f"{path.name}.tmp-*"):
        pid = stale.name.rsplit("-", 1)[-1]
        if pid.isdigit() and not _alive(int(pid)):
            _remove(stale)
    if path.exists() and not rebuild:
        return False
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    _remove(tmp)
    try:
        build(tmp)
        if not tmp.exists():
            raise RuntimeError(f"building {path} wrote nothing at {tmp}")
        if path.exists() and not rebuild:  # another run built it meanwhile: theirs is used
            _remove(tmp)
            return False
        if path.exists():  # rebuild: the old one goes only once the new one is complete
            old = path.with_name(f"{path.name}.old-{os.getpid()}")
            os.replace(path, old)
            _remove(old)
        os.replace(tmp, path)
    except BaseException:
        _remove(tmp)
        raise
    for other in other_versions(path):
        print(f"note: {other} is this cache built by other code; delete it if unused", flush=True)
    return True


def other_versions(path: Path) -> list[Path]:
    """Caches at cached_path's name for the same cache and parameters, but other keys (other
    code built them): kept, as another checkout may still use them, but worth knowing about
    (a store at 1M papers takes gigabytes)."""
    match = re.fullmatch(r"(paperfeed-bench-.*-)[0-9a-f]{12}((?:\.[a-z]+)?)", path.name)
    if match is None:
        return []
    prefix, suffix = match.groups()
    pattern = re.compile(re.escape(prefix) + r"[0-9a-f]{12}" + re.escape(suffix))
    return sorted(
        p for p in path.parent.glob(f"{prefix}*") if p != path and pattern.fullmatch(p.name)
    )


def cached_folder(
    name: str,
    params: Mapping[str, Any],
    sources: Iterable[Path],
    build: Callable[[Path], dict[str, Any]],
    rebuild: bool = False,
) -> tuple[Path, dict[str, Any]]:
    """The cache folder `name` (at cached_path(name, params, sources)), built when missing or
    on `rebuild`: build(folder) fills a new, empty folder and returns what to keep about it,
    kept as meta.json in it. Returns the folder and that meta, plus "cached": whether the folder
    was there already."""
    path = cached_path(name, params, sources)

    def make(tmp: Path) -> None:
        print(f"building {path} (not part of the measured figures)", flush=True)
        tmp.mkdir()
        (tmp / "meta.json").write_text(json.dumps(build(tmp), indent=1))

    built = build_atomically(path, make, rebuild)
    meta: dict[str, Any] = json.loads((path / "meta.json").read_text())
    meta["cached"] = not built
    return path, meta


def save_array(path: Path, array: Any) -> None:
    """np.save to `path`, atomically (a reader never finds half an array there)."""
    import numpy as np

    def write(tmp: Path) -> None:
        with tmp.open("wb") as f:  # a file object: np.save would add ".npy" to a name
            np.save(f, array)

    build_atomically(path, write, rebuild=True)


def write_text(path: Path, text: str) -> None:
    """path.write_text(text), atomically."""
    build_atomically(path, lambda tmp: tmp.write_text(text), rebuild=True)


# -- timings and memory ---------------------------------------------------------------------


class Stats:
    """Seconds over repeated runs: the median and the spread (min, max, interquartile range)."""

    def __init__(self, runs: list[float]) -> None:
        self.runs = list(runs)

    @property
    def median(self) -> float:
        return statistics.median(self.runs)

    @property
    def min(self) -> float:
        return min(self.runs)

    @property
    def max(self) -> float:
        return max(self.runs)

    @property
    def iqr(self) -> float:
        if len(self.runs) < 2:
            return 0.0
        q = statistics.quantiles(self.runs, n=4, method="inclusive")
        return q[2] - q[0]

    def ms(self) -> str:
        """e.g. "1.23 ms (1.10-1.50, n=5)": the median, then min-max over n runs."""
        spread = f"{self.min * 1e3:,.2f}-{self.max * 1e3:,.2f}"
        return f"{self.median * 1e3:,.2f} ms ({spread}, n={len(self.runs)})"

    def s(self) -> str:
        """e.g. "12.3 s (11.9-13.0, n=3)": the median, then min-max over n runs."""
        return f"{self.median:,.1f} s ({self.min:,.1f}-{self.max:,.1f}, n={len(self.runs)})"

    def rate(self, count: float) -> str:
        """`count` per second, e.g. "14,200 (13,800-14,600, n=3)": at the median run, then at
        the slowest and the fastest."""
        return (
            f"{count / self.median:,.0f} ({count / self.max:,.0f}-{count / self.min:,.0f}, "
            f"n={len(self.runs)})"
        )


def repeat(fn: Callable[[], Any], n: int) -> Stats:
    """Time n calls of fn (after none: warm it up first if that matters)."""
    return Stats([timed(fn)[0] for _ in range(n)])


def machine_line(before: tuple[float, float, float] | None = None) -> str:
    """What the machine is (cores, CPU model, memory, Python, SQLite) and how loaded: the load
    average now, and at `before` (an earlier os.getloadavg()) when given."""
    cpuinfo, meminfo = Path("/proc/cpuinfo"), Path("/proc/meminfo")
    model, mem_gb = platform.machine(), 0.0
    for line in cpuinfo.read_text().splitlines() if cpuinfo.exists() else []:
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    if meminfo.exists():
        mem_gb = int(meminfo.read_text().split("MemTotal:")[1].split()[0]) / 1024**2
    load = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    if before is not None:
        load = f"{' / '.join(f'{x:.2f}' for x in before)} before, {load} after"
    return (
        f"{os.cpu_count()} cores ({model}), {mem_gb:.0f} GB RAM, Python "
        f"{platform.python_version()}, SQLite {sqlite3.sqlite_version}; "
        f"load average (1 / 5 / 15 min) {load}"
    )


def proc_status_mb(pid: int | str = "self") -> dict[str, float]:
    """VmHWM (peak resident memory) and VmRSS (resident now) of a process, in MB (MiB, as
    ru_maxrss / 1024 was), from /proc/PID/status; empty where /proc is not there."""
    out: dict[str, float] = {}
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return out
    for line in lines:
        key, _, value = line.partition(":")
        if key in ("VmHWM", "VmRSS"):
            out[key] = int(value.split()[0]) / 1024
    return out


def peak_rss_mb() -> float:
    """This process's own peak resident memory (VmHWM), in MB. Not ru_maxrss: on Linux a child
    starts with its parent's peak there, so a child of a large builder reports the builder's."""
    return proc_status_mb().get("VmHWM", float("nan"))


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """(seconds, result) of one call."""
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def timed_cpu(fn: Callable[[], Any]) -> tuple[float, float, Any]:
    """(wall seconds, CPU seconds, result) of one call; CPU is this process's, every thread
    (user + system), so a wall time much above it means the call waited: for the disk, or for
    the cores, which other processes had."""
    start, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return time.perf_counter() - start, time.process_time() - cpu, out
