"""bench/fts5.py, the peer search_speed.py times our keyword search against: every query is
safe to MATCH, words are OR-ed (or AND-ed) as asked, the title weighs double, and the table is
built once into a cache keyed by its size."""

from __future__ import annotations

import json
import sqlite3
import sys
import tempfile
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
FILLER = "alpha beta gamma delta epsilon zeta eta theta"


@pytest.fixture
def fts5(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # caches in the test's own folder
    monkeypatch.syspath_prepend(str(BENCH))
    for name in ("fts5", "benchlib", "synth"):  # fresh, under this test's temp folder
        monkeypatch.delitem(sys.modules, name, raising=False)
    import fts5 as module

    return module


def build(fts5: ModuleType, tmp_path: Path, papers: list[tuple[str, str]]) -> ModuleType:
    source = tmp_path / "papers.jsonl"
    lines = [json.dumps({"id": f"p{i}", "title": t, "abstract": a}) for i, (t, a) in
             enumerate(papers, start=1)]  # fmt: skip
    source.write_text("\n".join(lines) + "\n")
    assert fts5.build(source, tmp_path / "fts.db") == len(papers)
    return fts5.Fts5(tmp_path / "fts.db")


def test_words_that_are_fts5_syntax_are_quoted_and_never_raise(
    fts5: ModuleType, tmp_path: Path
) -> None:
    index = build(fts5, tmp_path, [("Self-supervised C++ parsers", FILLER)])
    for words in (["self-supervised"], ["c++"], ['say "hi"'], ["NEAR", "OR", "AND"],
                  ["-", "*", "^title"], ["title:x"]):  # fmt: skip
        index.search(words)  # raises sqlite3.OperationalError without the quoting
    assert index.search(["self-supervised"]) == [1]
    assert index.search(["c++"]) == [1]
    with pytest.raises(sqlite3.OperationalError):  # what the quoting saves us from
        index.conn.execute("SELECT rowid FROM fts WHERE fts MATCH ?", ("self-supervised",))


def test_or_finds_papers_with_any_word_and_and_only_those_with_all(
    fts5: ModuleType, tmp_path: Path
) -> None:
    index = build(fts5, tmp_path, [("graph networks", FILLER), ("molecules", FILLER),
                                   ("unrelated", FILLER), ("graph molecules", FILLER)])  # fmt: skip
    assert sorted(index.search(["graph", "molecules"])) == [1, 2, 4]
    assert index.search(["graph", "molecules"], operator="AND") == [4]
    assert index.search(["graph", "molecules"])[0] == 4  # both words rank first
    assert index.search([]) == []


def test_a_title_hit_outranks_the_same_hit_in_the_abstract(
    fts5: ModuleType, tmp_path: Path
) -> None:
    index = build(fts5, tmp_path, [("filler words here", f"dropout {FILLER}"),
                                   ("dropout words here", f"filler {FILLER}")])  # fmt: skip
    assert index.search(["dropout"]) == [2, 1]


def test_the_table_of_a_corpus_is_built_once(fts5: ModuleType, tmp_path: Path) -> None:
    path = fts5.cached(40)
    assert path.parent == tmp_path and path.name.startswith("paperfeed-bench-fts5-40-")
    built = path.stat().st_mtime_ns
    index = fts5.Fts5(path)
    assert index.count() == 40
    index.close()
    assert fts5.cached(40) == path and path.stat().st_mtime_ns == built
    assert fts5.cached(41) != path
