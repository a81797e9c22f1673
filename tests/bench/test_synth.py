"""bench/synth.py: snapshot-format lines, determinism, unique ids, speed, usable query sets."""

from __future__ import annotations

import importlib.util
import json
import re
import statistics
import time
from datetime import datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

SYNTH_PATH = Path(__file__).resolve().parents[2] / "bench" / "synth.py"
KEYS = [
    "id",
    "submitter",
    "authors",
    "title",
    "comments",
    "journal-ref",
    "doi",
    "report-no",
    "categories",
    "license",
    "abstract",
    "versions",
    "update_date",
    "authors_parsed",
]
CREATED_FORMAT = "%a, %d %b %Y %H:%M:%S GMT"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("paperfeed_bench_synth", SYNTH_PATH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # not put in sys.modules, as bench/import.py does
    return module


synth = _load()


@pytest.fixture(scope="module")
def papers() -> list[dict[str, Any]]:
    return list(synth.iter_papers(2000, seed=0))


def _words(paper: dict[str, Any]) -> set[str]:
    return set(re.findall(r"[a-z]+", f"{paper['title']} {paper['abstract']}".lower()))


def test_lines_are_snapshot_records(tmp_path: Path) -> None:
    out = tmp_path / "s.jsonl"
    synth.generate(300, out, seed=3)
    lines = out.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 300
    for line in lines:
        paper = json.loads(line)
        assert list(paper) == KEYS
        assert re.fullmatch(r"\d{4}\.\d{5}", paper["id"])
        assert paper["title"].strip() and len(paper["abstract"].split()) >= 1
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", paper["update_date"])
        assert paper["authors_parsed"] and all(len(a) == 3 for a in paper["authors_parsed"])
        assert paper["submitter"] in paper["authors"]
        assert all(re.fullmatch(r"[a-z-]+(\.[A-Za-z-]+)?", c) for c in paper["categories"].split())


def test_versions_are_ordered_dates_in_range(papers: list[dict[str, Any]]) -> None:
    counts = set()
    for paper in papers:
        versions = paper["versions"]
        counts.add(len(versions))
        assert [v["version"] for v in versions] == [f"v{i + 1}" for i in range(len(versions))]
        created = [datetime.strptime(v["created"], CREATED_FORMAT) for v in versions]
        assert created == sorted(created)
        assert datetime(2007, 4, 1) <= created[0] < datetime(2026, 4, 1)
        assert paper["id"][:4] == created[0].strftime("%y%m")
        assert paper["update_date"] >= created[-1].date().isoformat()
    assert counts == {1, 2, 3}


def test_same_seed_same_bytes(tmp_path: Path) -> None:
    a, b, c = tmp_path / "a.jsonl", tmp_path / "b.jsonl", tmp_path / "c.jsonl"
    synth.generate(500, a, seed=7)
    synth.generate(500, b, seed=7)
    synth.generate(500, c, seed=8)
    assert a.read_bytes() == b.read_bytes()
    assert a.read_bytes() != c.read_bytes()


def test_ids_unique_and_in_order(papers: list[dict[str, Any]]) -> None:
    ids = [p["id"] for p in papers]
    assert len(set(ids)) == len(ids)
    assert ids == sorted(ids, key=lambda i: (int(i[:2]) < 7, i))  # 07xx .. 26xx, no wrap-around
    assert ids[0].startswith("0704.") and ids[-1].startswith("26")


def test_thousand_papers_in_well_under_two_seconds() -> None:
    next(synth.iter_papers(1))  # the model is learnt once per process; not what is timed
    start = time.perf_counter()
    n = sum(1 for _ in synth.iter_papers(1000, seed=1))
    assert n == 1000
    assert time.perf_counter() - start < 1.0


def test_lengths_and_doi_rate_follow_the_real_data(papers: list[dict[str, Any]]) -> None:
    real = synth.model().abstract_lengths
    lengths = [len(p["abstract"].split()) for p in papers]
    assert abs(statistics.mean(lengths) / statistics.mean(real) - 1) < 0.1
    assert min(lengths) >= min(real) and max(lengths) <= max(real)
    titles = [len(p["title"].split()) for p in papers]
    assert abs(statistics.mean(titles) / statistics.mean(synth.model().title_lengths) - 1) < 0.1
    doi_share = sum(p["doi"] is not None for p in papers) / len(papers)
    assert 0.03 < doi_share < 0.07


def test_query_sets_hit_the_generated_text(papers: list[dict[str, Any]]) -> None:
    queries = synth.sample_queries(0)
    assert sorted(queries) == ["common", "mid", "questions", "rare"]
    assert all(len(qs) == 10 and all(q.strip() for q in qs) for qs in queries.values())
    assert queries == synth.sample_queries(0)
    vocabulary = synth.word_frequencies()
    assert all(vocabulary[w] == 1 for w in queries["rare"])
    docs = [_words(p) for p in papers]
    hits = {q: sum(all(w in d for w in q.split()) for d in docs) for q in queries["mid"]}
    assert all(5 <= h <= 200 for h in hits.values()), hits  # 0.25 % to 10 % of 2,000
    for q in queries["common"]:
        assert sum(all(w in d for w in q.split()) for d in docs) >= 20, q
    assert all(len(q.split()) >= 5 for q in queries["questions"])


def test_topics_cluster_their_words(papers: list[dict[str, Any]]) -> None:
    """Papers with two or more words of one topic mostly carry that topic's category."""
    docs = [_words(p) for p in papers]
    same = chance = 0.0
    clustered = 0
    for topic in synth.topics(0):
        in_topic = [p for p, d in zip(papers, docs, strict=True) if len(d & set(topic.words)) >= 2]
        clustered += len(in_topic)
        same += sum(p["categories"] == topic.category for p in in_topic)
        chance += sum(p["categories"] == topic.category for p in papers) / len(papers)
    assert clustered > 500
    assert same / clustered > 0.3 > 3 * chance / len(synth.topics(0))
