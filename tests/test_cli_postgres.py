"""The CLI on PostgreSQL as an operator meets it: moving an install over with `copy-store`, then
every command on the URL; and each bad URL or database refused in one sentence, nothing written."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from paperfeed.cli import main
from paperfeed.models import Paper
from paperfeed.store import open_store
from paperfeed.store.postgres.base import MIGRATIONS_TABLE
from tests import pg
from tests.conftest import SEED


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def pg_url() -> Iterator[str]:
    url = pg.fresh_database()
    yield url
    pg.drop_database(url)


def _tables(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT table_name FROM information_schema.tables"
                            " WHERE table_schema = current_schema()")  # fmt: skip
        return {r[0] for r in rows}


def test_an_install_moves_to_postgresql_and_every_command_works_there(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    pg_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PAPERFEED_INDEX_DIR", str(tmp_path / "node-index"))  # this node's own
    db = str(tmp_path / "old.db")
    assert run(capsys, "--db", db, "ingest", str(SEED))[0] == 0
    code, _, err = run(capsys, "copy-store", db, pg_url)
    assert code == 0, err
    said = (
        r"copied .+: [\d,]+ rows \(227 papers\) in \d+\.\d s; checked row counts of "
        r"every table and 200 papers with their vectors\n"
    )
    assert re.fullmatch(said, err), err
    # the copy again: nothing is left to copy, and it says it resumed
    code, _, err = run(capsys, "copy-store", db, pg_url)
    assert code == 0 and "resumed: 1 rows (0 papers)" in err, err  # the meta row, again
    code, out, err = run(capsys, "--db", pg_url, "search", "gradient leakage", "--json")
    assert code == 0, err
    found = json.loads(out)
    first = found[0] if isinstance(found, list) else found["results"][0]
    assert first["title"] == "Dropout is NOT All You Need to Prevent Gradient Leakage"
    code, out, err = run(capsys, "--db", pg_url, "show", first["id"])
    assert code == 0 and "Dropout is NOT All You Need" in out, err
    assert (tmp_path / "node-index").is_dir()


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("mysql://u@localhost/db", "Unknown database URL scheme 'mysql'"),
        ("postgresql://nobody@127.0.0.1:1/paperfeed", "check that the server runs"),
    ],
)
def test_a_wrong_url_or_an_unreachable_server_is_one_sentence(
    capsys: pytest.CaptureFixture[str], url: str, says: str
) -> None:
    code, out, err = run(capsys, "--db", url, "status")
    assert code != 0 and says in err and err.count("\n") == 1, err
    assert "Traceback" not in out + err


def test_wrong_credentials_and_a_missing_database_are_one_sentence(
    capsys: pytest.CaptureFixture[str], pg_url: str
) -> None:
    wrong_db = pg.server_url("no_such_db")
    code, _, err = run(capsys, "--db", wrong_db, "status")
    assert code != 0 and "createdb" in err and err.count("\n") == 1, err
    wrong_user = pg_url.replace("postgres:", "no_such_role:", 1).replace(
        "postgres@", "no_such_role@", 1
    )
    code, _, err = run(capsys, "--db", wrong_user, "status")
    assert code != 0 and "no_such_role" in err and err.count("\n") == 1, err


def test_another_applications_database_is_refused_and_left_alone(
    capsys: pytest.CaptureFixture[str], pg_url: str
) -> None:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE schema_migrations (version TEXT PRIMARY KEY)")
        conn.execute("CREATE TABLE orders (id INT)")
    code, _, err = run(capsys, "--db", pg_url, "ingest", str(SEED))
    assert code != 0 and "another application's tables (orders, schema_migrations)" in err, err
    assert err.count("\n") == 1
    assert _tables(pg_url) == {"orders", "schema_migrations"}


def test_a_newer_schema_is_refused_before_anything_is_written(
    capsys: pytest.CaptureFixture[str], pg_url: str
) -> None:
    open_store(pg_url).close()
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f"INSERT INTO {MIGRATIONS_TABLE} VALUES (999, '0999_future.sql', 'x')")
    code, _, err = run(capsys, "--db", pg_url, "ingest", str(SEED))
    assert code != 0 and "written by a newer paperfeed (schema 999" in err, err
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT count(*) FROM papers").fetchone() == (0,)


def test_copy_into_a_foreign_install_is_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, pg_url: str
) -> None:
    db = str(tmp_path / "old.db")
    open_store(db).upsert_papers([Paper(id="a1", title="Ours")])
    other = open_store(pg_url)
    other.upsert_papers([Paper(id="b1", title="Theirs")])
    other.close()
    code, _, err = run(capsys, "copy-store", db, pg_url)
    assert code != 0 and "another paperfeed install" in err and err.count("\n") == 1, err
    code, _, err = run(capsys, "copy-store", db, db)
    assert code != 0 and "the same database" in err
