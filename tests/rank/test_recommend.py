"""rank/recommend.py on small synthetic vectors, and bench/eval_recommend.py end to end."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from paperfeed.rank.recommend import Background, explain, fit

DIM = 16
BENCH = Path(__file__).resolve().parents[2] / "bench"


def unit(rows: np.ndarray) -> np.ndarray:
    rows = np.atleast_2d(np.asarray(rows, np.float64))
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="module")
def world() -> dict[str, np.ndarray]:
    """Topics (random unit directions) with papers scattered around each, plus a component
    every paper shares, as sentence embeddings have."""
    rng = np.random.default_rng(0)
    common = rng.normal(size=DIM) * 2.0
    topics = rng.normal(size=(6, DIM))

    def papers(topic: int, n: int) -> np.ndarray:
        return unit(common + topics[topic] + 0.35 * rng.normal(size=(n, DIM)))

    return {
        "background": np.vstack([papers(t, 200) for t in range(6)]),
        **{f"t{t}": papers(t, 12) for t in range(6)},
    }


def rank_of(scores: np.ndarray, index: int) -> int:
    return int((scores > scores[index]).sum())


def test_a_candidate_near_a_saved_paper_rises_after_saving_it(world: dict[str, np.ndarray]) -> None:
    bg = Background.of(world["background"])
    saved = world["t1"][0]
    near = unit(saved + 0.05 * np.random.default_rng(1).normal(size=DIM))
    candidates = np.vstack([world["t0"][6:], world["t2"][6:], world["t3"][6:], near])
    before = fit(world["t0"][:6], bg).score(candidates)
    after = fit(np.vstack([world["t0"][:6], saved]), bg).score(candidates)
    assert rank_of(before, 18) > 6
    assert rank_of(after, 18) < rank_of(before, 18)
    assert after[18] > after[6:18].max()  # first of everything outside the library's topic
    # the library's own topic stays above unrelated ones
    assert before[:6].min() > before[12:18].max()


def test_not_interested_papers_demote_similar_candidates(world: dict[str, np.ndarray]) -> None:
    bg = Background.of(world["background"])
    library = np.vstack([world["t0"][:6], world["t1"][:6]])
    candidates = np.vstack([world["t0"][6:], world["t1"][6:]])
    plain = fit(library, bg).score(candidates)
    with_neg = fit(library, bg, negatives=world["t1"][:2]).score(candidates)
    # t1 candidates (rows 6..) fall below every t0 candidate once t1 papers are "not interested"
    assert with_neg[6:].max() < with_neg[:6].min()
    assert plain[6:].mean() - plain[:6].mean() > with_neg[6:].mean() - with_neg[:6].mean()
    # a near-copy of a "not interested" paper goes to the very bottom
    dup = fit(library, bg, negatives=candidates[7:8]).score(candidates)
    assert rank_of(dup, 7) == len(candidates) - 1


def test_weights_matter(world: dict[str, np.ndarray]) -> None:
    bg = Background.of(world["background"])
    library = np.vstack([world["t0"][:3], world["t1"][:3]])
    candidates = np.vstack([world["t0"][6:9], world["t1"][6:9]])
    to_t0 = fit(library, bg, weights=np.array([5, 5, 5, 1, 1, 1], np.float32))
    to_t1 = fit(library, bg, weights=np.array([1, 1, 1, 5, 5, 5], np.float32))
    assert to_t0.score(candidates)[:3].mean() > to_t0.score(candidates)[3:].mean()
    assert to_t1.score(candidates)[3:].mean() > to_t1.score(candidates)[:3].mean()
    with pytest.raises(ValueError, match="weights"):
        fit(library, bg, weights=np.ones(2, np.float32))


def test_explain_names_the_nearest_library_paper(world: dict[str, np.ndarray]) -> None:
    library = np.vstack([world["t0"][:1], world["t1"][:1], world["t2"][:1]])
    candidates = np.vstack([world["t2"][5], world["t0"][5], library[1]])
    nearest, sims = explain(library, candidates)
    assert nearest.tolist() == [2, 0, 1]
    assert sims[2] == pytest.approx(1.0, abs=1e-5)
    assert sims.dtype == np.float32
    empty_nearest, empty_sims = explain(library[:0], candidates)
    assert len(empty_nearest) == len(empty_sims) == 3


@pytest.mark.parametrize(
    "case", ["one", "duplicates", "zero-background", "hand-built", "empty", "zero-weights"]
)
def test_degenerate_inputs_give_finite_scores(world: dict[str, np.ndarray], case: str) -> None:
    bg = Background.of(world["background"])
    library = world["t0"][:1]
    weights = None
    if case == "duplicates":
        library = np.vstack([world["t0"][:1]] * 5)
    elif case == "zero-background":
        bg = Background.of(np.zeros((0, DIM), np.float32))
    elif case == "hand-built":
        bg = Background(world["background"][:50])
    elif case == "empty":
        library = np.zeros((0, DIM), np.float32)
    elif case == "zero-weights":
        weights = np.zeros(1, np.float32)
    model = fit(library, bg, weights=weights, negatives=np.zeros((0, DIM), np.float32))
    scores = model.score(np.vstack([world["t0"][6:], world["t3"]]))
    assert scores.shape == (18,) and scores.dtype == np.float32
    assert np.isfinite(scores).all() and np.isfinite(model.weights).all()
    assert model.score(np.zeros((0, DIM), np.float32)).shape == (0,)
    if case in ("one", "duplicates", "zero-background", "hand-built"):
        assert scores[:6].mean() > scores[6:].mean()


# -- the bench, end to end on a tiny CiteULike-shaped set --------------------------------------


def _bench() -> ModuleType:
    sys.path.insert(0, str(BENCH))  # eval_recommend imports benchlib from its folder
    try:
        spec = importlib.util.spec_from_file_location(
            "paperfeed_eval_recommend", BENCH / "eval_recommend.py"
        )
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(BENCH))


def test_the_bench_runs_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("sklearn")
    topics = [
        "protein folding",
        "galaxy survey",
        "neural network",
        "gene expression",
        "quantum spin",
        "graph theory",
        "climate model",
        "social network",
        "cancer therapy",
        "language model",
    ]
    data = tmp_path / "citeulike"
    data.mkdir()
    rng = np.random.default_rng(0)
    with (data / "items.jsonl").open("w") as f:
        for i in range(100):
            title = f"{topics[i % 10]} study {i} of {rng.choice(['new', 'fast', 'large'])} data"
            f.write(json.dumps({"item_id": i, "title": title}) + "\n")
    train, test = [], []
    for user in range(12):
        items = [t * 10 + user % 10 for t in rng.permutation(10)]  # papers of one topic
        train.append(items[:5])
        test.append(items[5:8] if user != 3 else [])  # a reader with nothing held out
    for name, libs in (("cf-train-10-users.dat", train), ("cf-test-10-users.dat", test)):
        lines = [" ".join(map(str, [len(lib), *lib])) for lib in libs]
        (data / name).write_text("\n".join(lines) + "\n")
    _bench().main(
        [
            "--data",
            str(data),
            "--users",
            "0",
            "--no-csfcube",
            "--tune",
            "--cache-dir",
            str(tmp_path / "cache"),
            "--background",
            "50",
            "--synthetic-readers",
            "20",
        ]
    )
    out = capsys.readouterr().out
    assert "11 readers" in out  # user 3 has no test papers
    for method in ("arxiv-sanity-lite", "centroid", "max-sim", "ours", "RIDGE=0.01"):
        assert method in out
    assert "| recall@20 | recall@50 |" in out and "100k readers" in out
    assert list((tmp_path / "cache").glob("*.npy"))
