"""bench/benchlib.py: caches that are complete or absent and keyed by the code that built them;
timings with their spread; a process's own peak memory."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("paperfeed_bench_benchlib", BENCH / "benchlib.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


benchlib = _load()


@pytest.fixture(autouse=True)
def temp_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Caches go to a test's own folder, never to the real temp folder's."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    return tmp_path


@pytest.fixture
def source(tmp_path: Path) -> Path:
    path = tmp_path / "src" / "builder.py"
    path.parent.mkdir()
    path.write_text("VERSION = 1\n")
    return path


class Interrupted(Exception):
    pass


def test_an_interrupted_file_build_leaves_nothing_under_the_final_name(
    tmp_path: Path, source: Path
) -> None:
    path = benchlib.cached_path("corpus", {"n": 10}, [source], ".jsonl")
    assert path.parent == tmp_path and path.name.startswith("paperfeed-bench-corpus-10-")

    def build(tmp: Path) -> None:
        tmp.write_text("half a corpus\n")
        raise Interrupted

    with pytest.raises(Interrupted):
        benchlib.build_atomically(path, build)
    assert not path.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["src"]  # and no temporary file either
    assert benchlib.build_atomically(path, lambda tmp: tmp.write_text("whole\n")) is True
    assert path.read_text() == "whole\n"
    assert benchlib.build_atomically(path, lambda tmp: tmp.write_text("again\n")) is False
    assert path.read_text() == "whole\n"


def test_an_interrupted_folder_build_leaves_nothing_and_is_redone(
    tmp_path: Path, source: Path
) -> None:
    calls = []

    def build(folder: Path, fail: bool) -> dict[str, object]:
        calls.append(folder)
        (folder / "store.db").write_text("rows")
        if fail:
            raise Interrupted
        return {"papers": 3}

    with pytest.raises(Interrupted):
        benchlib.cached_folder("store", {"papers": 3}, [source], lambda f: build(f, True))
    path = benchlib.cached_path("store", {"papers": 3}, [source])
    assert not path.exists() and not calls[0].exists()
    folder, meta = benchlib.cached_folder(
        "store", {"papers": 3}, [source], lambda f: build(f, False)
    )
    assert folder == path and (folder / "store.db").read_text() == "rows"
    assert meta == {"papers": 3, "cached": False}
    assert json.loads((folder / "meta.json").read_text()) == {"papers": 3}
    again, meta = benchlib.cached_folder(
        "store", {"papers": 3}, [source], lambda f: build(f, False)
    )
    assert again == folder and meta["cached"] is True and len(calls) == 2


def test_a_cache_built_by_other_code_or_parameters_is_not_reused(source: Path) -> None:
    built = []

    def build(folder: Path) -> dict[str, object]:
        built.append(source.read_text())
        return {}

    first, _ = benchlib.cached_folder("store", {"papers": 3}, [source], build)
    source.write_text("VERSION = 2\n")  # the builder changed
    second, meta = benchlib.cached_folder("store", {"papers": 3}, [source], build)
    assert second != first and meta["cached"] is False and first.exists()
    third, _ = benchlib.cached_folder("store", {"papers": 4}, [source], build)
    assert third not in (first, second)
    assert built == ["VERSION = 1\n", "VERSION = 2\n", "VERSION = 2\n"]
    assert benchlib.other_versions(second) == [first]  # named, not deleted
    # a folder of sources counts every file below it
    folder = source.parent
    before = benchlib.source_hash([folder])
    (folder / "migrations.sql").write_text("CREATE TABLE t (x);")
    assert benchlib.source_hash([folder]) != before


def test_a_cache_another_run_finished_meanwhile_is_kept(source: Path) -> None:
    path = benchlib.cached_path("corpus", {"n": 2}, [source])

    def build(tmp: Path) -> None:
        path.write_text("theirs")  # another process finished first
        tmp.write_text("mine")

    assert benchlib.build_atomically(path, build) is False
    assert path.read_text() == "theirs" and not list(path.parent.glob("*.tmp-*"))


def test_rebuild_replaces_only_once_the_new_one_is_complete(source: Path) -> None:
    folder, _ = benchlib.cached_folder("s", {}, [source], lambda f: {"v": 1})

    def failing(f: Path) -> dict[str, object]:
        raise Interrupted

    with pytest.raises(Interrupted):
        benchlib.cached_folder("s", {}, [source], failing, rebuild=True)
    assert json.loads((folder / "meta.json").read_text()) == {"v": 1}
    _, meta = benchlib.cached_folder("s", {}, [source], lambda f: {"v": 2}, rebuild=True)
    assert meta == {"v": 2, "cached": False}


def test_leftovers_of_a_dead_build_are_removed(tmp_path: Path, source: Path) -> None:
    path = benchlib.cached_path("corpus", {"n": 1}, [source], ".jsonl")
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    stale = path.with_name(f"{path.name}.tmp-{dead}")
    stale.mkdir()
    (stale / "half").write_text("x")
    mine = path.with_name(f"{path.name}.tmp-{os.getppid()}")  # a live process: kept
    mine.write_text("in progress")
    benchlib.build_atomically(path, lambda tmp: tmp.write_text("done"))
    assert not stale.exists() and mine.exists() and path.read_text() == "done"


def test_save_array_round_trips(tmp_path: Path) -> None:
    np = pytest.importorskip("numpy")
    path = tmp_path / "v.npy"
    benchlib.save_array(path, np.arange(6, dtype=np.float32).reshape(2, 3))
    assert np.load(path).tolist() == [[0, 1, 2], [3, 4, 5]]
    assert [p.name for p in tmp_path.iterdir()] == ["v.npy"]  # no temporary file left


def test_repeat_gives_median_and_spread() -> None:
    stats = benchlib.Stats([0.003, 0.001, 0.002, 0.010])
    assert stats.median == 0.0025 and stats.min == 0.001 and stats.max == 0.010
    assert stats.iqr > 0 and stats.ms().startswith("2.50 ms (1.00-10.00, n=4)")
    assert len(benchlib.repeat(lambda: None, 5).runs) == 5
    line = benchlib.machine_line(os.getloadavg())
    assert "load average" in line and "before" in line and "after" in line


CHILD = """
import resource, sys
sys.path.insert(0, sys.argv[1])
import benchlib
print(benchlib.peak_rss_mb(), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""
PARENT = """
import subprocess, sys
big = bytearray(300 * 2**20)
big[::4096] = b"x" * len(big[::4096])  # touched: resident
del big
run = subprocess.run([sys.executable, "-c", sys.argv[1], sys.argv[2]], capture_output=True,
                     text=True, check=True)
print(run.stdout)
"""


def test_peak_rss_is_the_process_own_not_its_parents() -> None:
    """A fresh child of a process that once held 300 MB reports its own peak (VmHWM), far
    below, where ru_maxrss reports the parent's."""
    if not Path("/proc/self/status").exists():
        pytest.skip("no /proc")
    out = subprocess.run([sys.executable, "-c", PARENT, CHILD, str(BENCH)],
                         capture_output=True, text=True, check=True)  # fmt: skip
    own, ru = map(float, out.stdout.split())
    assert own < 100 and ru > 250, (own, ru)


def test_rates_and_seconds_show_the_median_and_the_spread() -> None:
    stats = benchlib.Stats([2.0, 4.0, 5.0])
    assert stats.rate(1000) == "250 (200-500, n=3)"  # per second: median, slowest-fastest
    assert stats.s() == "4.0 s (2.0-5.0, n=3)"


def test_timed_cpu_tells_waiting_from_working() -> None:
    wall, cpu, out = benchlib.timed_cpu(lambda: time.sleep(0.2) or "slept")
    assert out == "slept" and wall >= 0.2 and cpu < 0.1
    wall, cpu, _ = benchlib.timed_cpu(lambda: sum(i * i for i in range(2_000_000)))
    assert cpu > 0.02 and wall >= cpu * 0.5  # busy: the CPU time is most of the wall time
