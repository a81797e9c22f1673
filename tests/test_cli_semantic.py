"""Search by meaning from the command line, with the real model on the seed papers."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from paperfeed.cli import main
from tests.conftest import SEED
from tests.search.test_keyword import BAD_QUERIES

UNLEARNING = "removing the influence of specific training examples from a trained model"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def titles(out: str) -> list[str]:
    return [row["title"] for row in json.loads(out)]


def test_search_by_meaning_finds_machine_unlearning(
    capsys: pytest.CaptureFixture[str], embedded_seed_db: Path
) -> None:
    code, out, _ = run(capsys, "--db", str(embedded_seed_db), "search", UNLEARNING, "--json")
    top = titles(out)[:5]
    assert code == 0
    assert sum("unlearning" in t.lower() for t in top) >= 2, top
    code, out, _ = run(
        capsys, "--db", str(embedded_seed_db), "search", UNLEARNING, "--json", "--mode", "semantic"
    )
    assert "unlearning" in titles(out)[0].lower()


@pytest.mark.parametrize("mode", ["keyword", "semantic", "hybrid"])
def test_every_odd_query_works_in_every_mode(
    capsys: pytest.CaptureFixture[str], embedded_seed_db: Path, mode: str
) -> None:
    for text in BAD_QUERIES:
        argv = ["--db", str(embedded_seed_db), "search", "--mode", mode, "--json", "--", text]
        code, out, err = run(capsys, *argv)  # '--': a query may start with '-'

        assert code == 0 and isinstance(json.loads(out), list), (text, err)


def test_related_papers_exclude_the_paper(
    capsys: pytest.CaptureFixture[str], embedded_seed_db: Path
) -> None:
    code, out, _ = run(capsys, "--db", str(embedded_seed_db), "search", "dropout", "--json")
    first = json.loads(out)[0]
    code, out, _ = run(
        capsys, "--db", str(embedded_seed_db), "related", first["id"], "--json", "--limit", "5"
    )
    rows = json.loads(out)
    assert code == 0 and len(rows) == 5
    assert first["id"] not in {r["id"] for r in rows}
    assert sum("dropout" in (r["title"] + r["abstract"]).lower() for r in rows) >= 3
    code, _, err = run(capsys, "--db", str(embedded_seed_db), "related", "nope")
    assert code == 1 and "No paper with id" in err


def test_before_embedding_semantic_says_what_to_do_and_hybrid_falls_back(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    db = str(tmp_path / "plain.db")
    run(capsys, "--db", db, "ingest", str(SEED))
    code, _, err = run(capsys, "--db", db, "search", "dropout", "--mode", "semantic")
    assert code == 1 and "paperfeed embed" in err
    code, out, err = run(capsys, "--db", db, "search", "dropout", "--json")
    assert code == 0 and "dropout" in titles(out)[0].lower() and "keyword results" in err


def test_embed_is_incremental_and_reindex_needs_no_model(
    capsys: pytest.CaptureFixture[str], embedded_seed_db: Path, tmp_path: Path
) -> None:
    db = tmp_path / "copy.db"
    shutil.copy(embedded_seed_db, db)
    code, _, err = run(capsys, "--db", str(db), "embed")
    assert code == 0 and err.startswith("0 papers embedded") and "227 of 227" in err
    code, _, err = run(capsys, "--db", str(db), "reindex")
    assert code == 0 and "vector index rebuilt: 227 papers" in err
    code, out, _ = run(
        capsys, "--db", str(db), "search", UNLEARNING, "--json", "--mode", "semantic"
    )
    assert "unlearning" in titles(out)[0].lower()


def test_embeddings_move_between_machines(
    capsys: pytest.CaptureFixture[str], embedded_seed_db: Path, tmp_path: Path
) -> None:
    exported = tmp_path / "vectors.npz"
    code, _, err = run(capsys, "--db", str(embedded_seed_db), "embeddings", "export", str(exported))
    assert code == 0 and err.startswith("227 all-MiniLM-L6-v2-int8 vectors written")
    other = str(tmp_path / "other.db")
    run(capsys, "--db", other, "ingest", str(SEED))
    edited = tmp_path / "edited.jsonl"
    first = json.loads(SEED.read_text().splitlines()[0])
    edited.write_text(json.dumps({**first, "abstract": "A rewritten abstract.", "version": 2}))
    run(capsys, "--db", other, "ingest", str(edited))  # this paper's text no longer matches
    code, _, err = run(capsys, "--db", other, "embeddings", "import", str(exported))
    assert code == 0 and "226 all-MiniLM-L6-v2-int8 vectors imported; 1 papers" in err
    code, out, _ = run(capsys, "--db", other, "search", UNLEARNING, "--mode", "semantic", "--json")
    assert "unlearning" in titles(out)[0].lower()
    code, _, err = run(capsys, "--db", other, "embeddings", "import", str(SEED))
    assert code == 1 and "is not an embeddings file" in err
