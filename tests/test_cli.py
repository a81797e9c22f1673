"""The command line as a user meets it: exit codes, stdout/stderr, help on every command."""

from __future__ import annotations

import gc
import gzip
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from paperfeed.cli import build_parser, main
from tests.conftest import SEED, SNAPSHOT
from tests.mail import SMTPCatcher, login_forms


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


def test_search_says_how_many_and_which_filters_emptied_it(
    capsys: pytest.CaptureFixture[str], db: str
) -> None:
    run(capsys, "--db", db, "ingest", str(SEED))
    code, out, err = run(capsys, "--db", db, "search", "dropout", "--mode", "keyword",
                         "--limit", "3")  # fmt: skip
    assert code == 0 and out.count("\n     ") == 3
    shown, _, total = err.strip().splitlines()[-1].partition(" of ")
    assert shown == "1-3" and total.endswith(" results") and int(total.split()[0]) > 3
    code, out, err = run(capsys, "--db", db, "search", "dropout", "--mode", "keyword",
                         "--category", "math.AG", "--since", "2024-01-01")  # fmt: skip
    assert code == 0 and out == ""
    assert err.strip() == (f"No papers in math.AG since 2024-01-01 match “dropout”; "
                           f"without the filters, {total.split()[0]} papers match.")  # fmt: skip


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
    capsys: pytest.CaptureFixture[str], db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, err = run(capsys, "--db", db, "demo", "--no-serve")
    assert code == 0 and "731 papers in" in err
    assert "731 all-MiniLM-L6-v2-int8 vectors imported; 0 papers still need" in err
    assert "4 Hugging Face features and 8 upvote, comment or star counts stored" in err
    assert "paperfeed search 'dropout'" in out and "Dropout" in out
    assert "65.00  2410.17243" in out and "= prior 1.00 + hf upvotes 64.00" in out
    assert f"export PAPERFEED_DB={Path(db).resolve()}" in out
    # the commands it prints for another terminal work as printed
    printed = [line.split(" -m paperfeed ", 1)[1] for line in out.splitlines()
               if " -m paperfeed " in line]  # fmt: skip
    assert len(printed) == 4
    monkeypatch.setenv("PAPERFEED_DB", str(Path(db).resolve()))
    for command in printed:
        code, shown, _ = run(capsys, *shlex.split(command))
        assert code == 0 and shown.strip(), command
    code, _, err = run(capsys, "--db", db, "demo", "--no-serve")  # again: nothing changes
    assert code == 0 and "0 new" in err and "Hugging Face features" not in err


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


# -- digest subscribe: addresses and the mail server's secrets --------------------------------


def test_digest_subscribe_refuses_an_address_that_reaches_another_inbox(
    capsys: pytest.CaptureFixture[str], db: str
) -> None:
    code, out, err = run(capsys, "--db", db, "digest", "subscribe", "g0:victim@example.org")
    assert code == 1 and out == ""
    assert err == "error: That does not look like an email address; check it and try again.\n"


def test_digest_subscribe_shows_the_operator_why_but_never_the_login(
    capsys: pytest.CaptureFixture[str], db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A mail server that echoes what AUTH sent: stderr names the server and the reply, with
    the login and every base64 form of it left out."""
    user, password = "mailer-7f3k@relay.example.net", "s3cret-Pa55"
    with SMTPCatcher(logins={user: password}) as smtp:
        smtp.fail_next(535, stage="auth", text="5.7.8 {auth} refused ({user64} {password64})")
        env = {"PAPERFEED_SMTP_HOST": smtp.host, "PAPERFEED_SMTP_PORT": str(smtp.port),
               "PAPERFEED_SMTP_SECURITY": "none", "PAPERFEED_SMTP_USER": user,
               "PAPERFEED_SMTP_PASSWORD": password}  # fmt: skip
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        code, out, err = run(capsys, "--db", db, "digest", "subscribe", "reader@example.org")
    assert code == 1
    assert f"{smtp.host}:{smtp.port}" in err and "535" in err and "PAPERFEED_SMTP_PASSWORD" in err
    assert [form for form in login_forms(user, password) if form in out + err] == []


def test_a_gz_cut_short_exits_1_and_says_what_was_kept(
    capsys: pytest.CaptureFixture[str], db: str, tmp_path: Path
) -> None:
    cut = tmp_path / "cut.jsonl.gz"
    cut.write_bytes(gzip.compress(SNAPSHOT.read_bytes(), mtime=0)[:-20])
    code, _, err = run(capsys, "--db", db, "ingest", str(cut), str(SEED))
    assert code == 1 and "Traceback" not in err
    kept = int(err.split(f"{cut}: ")[1].split(" papers read")[0])
    assert 990 < kept < 1000
    assert (f"error: {cut}: the file ends early (truncated .gz) after line {kept}; the "
            f"{kept} papers before it are imported: import a whole copy of the file to get the "
            "rest (re-importing is safe).") in err  # fmt: skip
    assert f"{kept + 227} papers in" in err


def test_the_maximum_line_size_is_a_setting(
    capsys: pytest.CaptureFixture[str], db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PAPERFEED_MAX_LINE_BYTES", "2000")
    lines = SNAPSHOT.read_bytes().splitlines(keepends=True)[:10]
    long = [n for n, line in enumerate(lines, start=1) if len(line) > 2000]
    path = tmp_path / "some-long.jsonl"
    path.write_bytes(b"".join(lines))
    code, _, err = run(capsys, "--db", db, "ingest", str(path))
    assert long and code == 3
    for n in long:
        assert f"line {n}: the line is longer than 2,000 bytes" in err
    assert f"{10 - len(long)} papers in" in err
    monkeypatch.setenv("PAPERFEED_MAX_LINE_BYTES", "lots")
    code, _, err = run(capsys, "--db", db, "ingest", str(path))
    assert (code, err) == (1, "error: PAPERFEED_MAX_LINE_BYTES='lots' is not a whole number "
                              "of bytes, such as 16777216.\n")  # fmt: skip


def test_help_says_what_paperfeed_does_now(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert done.value.code == 0
    assert "(soon)" not in out and "by keywords" not in out
    assert "mail digests" in out and "search papers by words and by meaning" in out
    assert "outbox print the latest mail of the local outbox, decoded" in out
