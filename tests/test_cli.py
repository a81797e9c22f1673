"""The command line as a user meets it: exit codes, stdout/stderr, help on every command."""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from paperfeed.cli import build_parser, main
from tests.conftest import SEED, SNAPSHOT


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def db(tmp_path: Path) -> str:
    return str(tmp_path / "cli.db")


def test_ingest_twice_leaves_227_and_dropout_comes_first(
    capsys: pytest.CaptureFixture[str], db: str
) -> None:
    assert run(capsys, "--db", db, "ingest", str(SEED))[0] == 0
    code, _, err = run(capsys, "--db", db, "ingest", str(SEED))
    assert code == 0 and "0 new" in err and "227 papers in" in err
    code, out, _ = run(capsys, "--db", db, "search", "dropout", "--json")
    rows = json.loads(out)
    assert code == 0 and isinstance(rows, list) and len(rows) == 10
    assert {"id", "title", "score"} <= set(rows[0])
    assert "dropout" in rows[0]["title"].lower()
    assert rows[0]["score"] >= rows[-1]["score"]


def test_skipped_lines_are_named_and_set_exit_code_3(
    capsys: pytest.CaptureFixture[str], db: str, tmp_path: Path
) -> None:
    lines = SNAPSHOT.read_bytes().splitlines(keepends=True)[:10]
    lines.insert(3, b"{not json\n")
    lines.insert(7, b'{"id": "0704.9999", "title": ""}\n')
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b"".join(lines))
    code, _, err = run(capsys, "--db", db, "ingest", str(bad))
    assert code == 3
    assert "line 4: not valid JSON" in err and "line 8: no title" in err
    assert "10 papers in" in err


def test_a_missing_file_is_one_sentence_and_the_other_files_still_go_in(
    capsys: pytest.CaptureFixture[str], db: str, tmp_path: Path
) -> None:
    code, _, err = run(capsys, "--db", db, "ingest", str(tmp_path / "nope.jsonl"), str(SEED))
    assert code == 1
    assert "error: No such file" in err and "Traceback" not in err
    assert "227 papers in" in err


def test_show_prints_a_paper_and_unknown_ids_are_an_error(
    capsys: pytest.CaptureFixture[str], db: str
) -> None:
    run(capsys, "--db", db, "ingest", str(SNAPSHOT))
    code, out, _ = run(capsys, "--db", db, "show", "0704.0002v1")
    assert code == 0 and "Sparsity-certifying Graph Decompositions" in out
    assert "Ileana Streinu, Louis Theran" in out and "math.CO" in out
    code, out, _ = run(capsys, "--db", db, "show", "0704.0002", "--json")
    assert json.loads(out)["published"].startswith("2007-03-31")
    code, _, err = run(capsys, "--db", db, "show", "9999.99999")
    assert code == 1 and err.startswith("error: No paper with id")


def test_search_without_a_database_says_how_to_make_one(
    capsys: pytest.CaptureFixture[str], db: str
) -> None:
    code, _, err = run(capsys, "--db", db, "search", "x")
    assert code == 1 and "paperfeed ingest" in err
    assert not Path(db).exists()


def test_search_filters_and_no_results_message(capsys: pytest.CaptureFixture[str], db: str) -> None:
    run(capsys, "--db", db, "ingest", str(SNAPSHOT))
    code, out, _ = run(
        capsys, "--db", db, "search", "graph", "--category", "math.CO", "--json", "--limit", "50"
    )
    rows = json.loads(out)
    assert rows and all("math.CO" in r["categories"] for r in rows)
    code, out, err = run(capsys, "--db", db, "search", "zzzyzzx")
    assert code == 0 and out == "" and "No papers match" in err
    code, _, err = run(capsys, "--db", db, "search", "x", "--limit", "0")
    assert code == 1 and "limit" in err


@pytest.mark.parametrize("day", ["0001-01-01", "9999-12-31"])
def test_a_day_outside_the_supported_range_is_one_sentence(
    capsys: pytest.CaptureFixture[str], db: str, day: str
) -> None:
    run(capsys, "--db", db, "ingest", str(SEED))
    for flag in ("--since", "--until"):
        with pytest.raises(SystemExit) as exited:
            main(["--db", db, "search", "dropout", flag, day])
        err = capsys.readouterr().err
        assert exited.value.code == 2 and "is not a day from 1700-01-01 to 2199-12-31" in err


def test_db_defaults_to_env_then_cwd(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PAPERFEED_DB", str(tmp_path / "env.db"))
    run(capsys, "ingest", str(SEED))
    assert (tmp_path / "env.db").exists()
    monkeypatch.delenv("PAPERFEED_DB")
    run(capsys, "ingest", str(SEED))
    assert (tmp_path / "paperfeed.db").exists()


def test_every_command_has_help_text() -> None:
    parser = build_parser()
    subparsers = next(a for a in parser._actions if a.dest == "command")
    choices = subparsers.choices  # type: ignore[attr-defined]
    helps = {c.dest: c.help for c in subparsers._choices_actions}  # type: ignore[attr-defined]
    assert set(choices) == set(helps)
    for name, sub in choices.items():
        assert helps[name] and sub.description, name
        for action in sub._actions:
            assert action.help, f"{name} {action.dest} has no help"


def test_demo_imports_the_bundled_papers_and_searches(
    capsys: pytest.CaptureFixture[str], db: str
) -> None:
    code, out, err = run(capsys, "--db", db, "demo", "--no-serve")
    assert code == 0 and "227 papers in" in err
    assert "paperfeed search 'dropout'" in out and "Dropout" in out


def test_python_dash_m_and_version() -> None:
    env = {**os.environ, "PYTHONWARNINGS": "error"}
    done = subprocess.run(
        [sys.executable, "-m", "paperfeed", "--version"], capture_output=True, text=True, env=env
    )
    assert done.returncode == 0 and done.stdout.startswith("paperfeed 0.")
    bad = subprocess.run(
        [sys.executable, "-m", "paperfeed", "nonsense"], capture_output=True, text=True, env=env
    )
    assert bad.returncode == 2 and "invalid choice" in bad.stderr


def test_ingest_while_another_process_holds_the_index_still_imports(
    capsys: pytest.CaptureFixture[str], db: str
) -> None:
    from paperfeed.search.keyword import KeywordIndex

    holder = KeywordIndex(db + "-index/keyword")
    writer = holder.index.writer()  # as a running `paperfeed serve` or ingest would
    code, _, err = run(capsys, "--db", db, "ingest", str(SEED))
    assert code == 0 and "227 papers in" in err
    code, out, _ = run(capsys, "--db", db, "search", "dropout", "--json")
    assert code == 0 and json.loads(out) == []  # not indexed yet, and not an error
    del writer, holder  # the other process ends and lets go of the index
    gc.collect()
    code, out, _ = run(capsys, "--db", db, "search", "dropout", "--json")
    assert code == 0 and "dropout" in json.loads(out)[0]["title"].lower()
