"""Settings as commands and the server's workers get them: where indexes and the outbox go for
each kind of database, the one value `serve` hands its workers, and no password in sight."""

from __future__ import annotations

import dataclasses
import json
import socket
from pathlib import Path

import pytest

from paperfeed.cli import main
from paperfeed.config import SETTINGS_ENV, Settings, load_settings, redact
from paperfeed.digest.mailer import MailSettings
from paperfeed.errors import InputError
from paperfeed.models import Paper
from paperfeed.store import open_store

PG = "postgresql://ann:s3cret@db.example.org:5432/papers"


@pytest.mark.parametrize(
    ("db", "beside"),
    [
        ("data/papers.db", "data/papers.db"),
        ("sqlite:///data/papers.db", "data/papers.db"),
        ("sqlite:////var/lib/paperfeed/papers.db", "/var/lib/paperfeed/papers.db"),
        (PG, "paperfeed"),  # each node's own, in its working directory
    ],
)
def test_index_and_outbox_default_beside_a_sqlite_file_else_in_the_working_directory(
    db: str, beside: str
) -> None:
    for settings in (load_settings({"PAPERFEED_DB": db}), load_settings({}, db=db)):
        assert settings.db == db
        assert settings.index_dir == beside + "-index"
        assert settings.mail.outbox == beside + "-outbox"


def test_index_and_outbox_set_on_their_own_are_kept() -> None:
    env = {"PAPERFEED_INDEX_DIR": "/srv/index", "PAPERFEED_OUTBOX": "/srv/outbox"}
    settings = load_settings(env, db=PG)
    assert (settings.index_dir, settings.mail.outbox) == ("/srv/index", "/srv/outbox")


def test_the_default_database_is_a_file_in_the_working_directory() -> None:
    settings = load_settings({})
    assert (settings.db, settings.index_dir) == ("paperfeed.db", "paperfeed.db-index")
    assert settings.mail.outbox == "paperfeed.db-outbox"
    assert Settings() == settings


def test_settings_survive_the_trip_to_the_workers_whole() -> None:
    env = {
        "PAPERFEED_SMTP_HOST": "smtp.example.org",
        "PAPERFEED_SMTP_USER": "ann",
        "PAPERFEED_SMTP_PASSWORD": "mail-s3cret",
        "PAPERFEED_SECRET_KEY": "k3y",
        "PAPERFEED_TRUSTED_PROXIES": "127.0.0.1, 10.0.0.0/8",
        "PAPERFEED_FETCH_INTERVAL_S": "5",
        "PAPERFEED_LOG_FORMAT": "json",
        "PAPERFEED_METRICS": "1",
        "PAPERFEED_NODE": "web-2",
        "PAPERFEED_LEASE_S": "30",
    }
    settings = dataclasses.replace(load_settings(env, db=PG), host="0.0.0.0", port=8080,
                                   scheduler=False, log_level="INFO")  # fmt: skip
    assert Settings.from_json(settings.to_json()) == settings
    assert Settings.from_json(Settings().to_json()) == Settings()


@pytest.mark.parametrize("text", ["", "[]", '{"db": "x"}', json.dumps({"unknown": 1})])
def test_settings_not_written_by_serve_are_one_sentence(text: str) -> None:
    with pytest.raises(InputError, match=SETTINGS_ENV) as caught:
        Settings.from_json(text)
    assert str(caught.value).count(".") == 1


def test_a_node_is_named_after_its_host_unless_told_and_leases_keep_their_own_ttls() -> None:
    settings = load_settings({}, db=PG)
    assert (settings.node, settings.lease_s) == (socket.gethostname(), None)
    named = load_settings({"PAPERFEED_NODE": "web-1", "PAPERFEED_LEASE_S": "2.5"}, db=PG)
    assert (named.node, named.lease_s) == ("web-1", 2.5)


def test_the_server_address_is_the_base_url_else_serves_own() -> None:
    assert Settings().public_url == "http://127.0.0.1:8000"
    assert Settings(host="0.0.0.0", port=9000).public_url == "http://0.0.0.0:9000"
    env = {"PAPERFEED_BASE_URL": "https://papers.example.org/"}
    assert dataclasses.replace(load_settings(env), port=9000).public_url == (
        "https://papers.example.org"
    )


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (PG, "postgresql://ann:***@db.example.org:5432/papers"),
        ("postgresql://db.example.org/papers?password=s3cret&sslmode=require",
         "postgresql://db.example.org/papers?password=***&sslmode=require"),
        ("postgresql://ann@db.example.org/papers", "postgresql://ann@db.example.org/papers"),
        ("sqlite:///data/papers.db", "sqlite:///data/papers.db"),
        ("/var/lib/paperfeed/paperfeed.db", "/var/lib/paperfeed/paperfeed.db"),
    ],
)  # fmt: skip
def test_redact_takes_the_password_out_of_a_database_url(url: str, shown: str) -> None:
    assert redact(url) == shown


def test_no_secret_is_in_the_settings_repr() -> None:
    settings = Settings(db=PG, secret_key="k3y",
                        mail=MailSettings(username="ann", password="mail-s3cret"))  # fmt: skip
    shown = repr(settings)
    assert "s3cret" not in shown and "k3y" not in shown
    assert "ann:***@db.example.org" in shown


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"PAPERFEED_LOG_FORMAT": "xml"}, "PAPERFEED_LOG_FORMAT"),
        ({"PAPERFEED_ACCESS_LOG": "yes"}, "PAPERFEED_ACCESS_LOG"),
        ({"PAPERFEED_METRICS": "on"}, "PAPERFEED_METRICS"),
        ({"PAPERFEED_SMTP_PORT": "smtp"}, "PAPERFEED_SMTP_PORT"),
        ({"PAPERFEED_NODE": "web 1"}, "PAPERFEED_NODE"),
        ({"PAPERFEED_LEASE_S": "0"}, "PAPERFEED_LEASE_S"),
        ({"PAPERFEED_LEASE_S": "-5"}, "PAPERFEED_LEASE_S"),
        ({"PAPERFEED_LEASE_S": "soon"}, "PAPERFEED_LEASE_S"),
    ],
)
def test_a_bad_setting_names_its_variable(env: dict[str, str], variable: str) -> None:
    with pytest.raises(InputError, match=variable):
        load_settings(env)


def test_the_demo_refuses_a_postgresql_database_in_one_sentence(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = main(["--db", PG, "demo", "--no-serve"])
    out, err = capsys.readouterr()
    assert code == 1 and out == ""
    assert err == (
        "error: The demo makes a SQLite database of its own: give --db a file path, or leave "
        "--db out.\n"
    )


def test_status_of_a_sqlite_database_names_the_file_and_its_size(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    db = str(tmp_path / "status.db")
    store = open_store(db)
    store.upsert_papers([Paper(id=f"p{n}", title=f"Paper {n}") for n in range(5)])
    store.close()
    for given in (db, f"sqlite:///{db}"):
        assert main(["--db", given, "status", "--json"]) == 0
        status = json.loads(capsys.readouterr().out)
        assert status["database"] == given and status["papers"] == 5
        assert status["sizes"]["database_bytes"] >= Path(db).stat().st_size > 0
    assert main(["--db", db, "status"]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first.startswith(f"database  {db}: 5 papers, ") and " MB (indexes " in first
