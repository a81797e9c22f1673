"""`paperfeed sources` and `paperfeed harvest` as an operator meets them, against a local server
replaying recorded responses; and a harvest killed with SIGKILL mid-run, then restarted."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from paperfeed.cli import main
from paperfeed.ingest.harvest import Endpoints, Fetchers, harvest_source
from paperfeed.ingest.sources import SourceOptions, new_source
from paperfeed.models import Paper
from paperfeed.store import SQLiteStore, open_store
from tests.replay import Replay, Reply, replay_server
from tests.sources import ArxivApi, OaiList, oai_error, oai_fixture_ids, oai_fixture_records


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def replay(monkeypatch: pytest.MonkeyPatch) -> Iterator[Replay]:
    with replay_server() as r:
        monkeypatch.setenv("PAPERFEED_ARXIV_OAI_URL", r.base_url + "/oai")
        monkeypatch.setenv("PAPERFEED_ARXIV_API_URL", r.base_url + "/api/query")
        monkeypatch.setenv("PAPERFEED_ARXIV_RSS_URL", r.base_url)
        monkeypatch.setenv("PAPERFEED_HF_URL", r.base_url)
        monkeypatch.setenv("PAPERFEED_FETCH_INTERVAL_S", "0")
        yield r


@pytest.fixture
def db(tmp_path: Path) -> str:
    return str(tmp_path / "sources.db")


def test_add_list_remove(capsys: pytest.CaptureFixture[str], db: str) -> None:
    code, _, err = run(capsys, "--db", db, "sources", "add", "arxiv", "--set", "cs.LG")
    assert code == 0 and "added source arxiv-cs.LG: OAI-PMH set cs:cs:LG (arXiv), every 6h" in err
    assert run(capsys, "--db", db, "sources", "add", "hf-daily", "--every", "30m")[0] == 0
    code, out, _ = run(capsys, "--db", db, "sources", "list")
    assert code == 0 and "arxiv-cs.LG" in out and "hf-daily" in out and "30m" in out
    assert "never" in out  # not run yet
    code, out, _ = run(capsys, "--db", db, "sources", "list", "--json")
    listed = {s["name"]: s for s in json.loads(out)}
    assert listed["arxiv-cs.LG"]["config"] == {"set": "cs:cs:LG", "format": "arXiv"}
    assert listed["hf-daily"]["interval_s"] == 1800
    assert run(capsys, "--db", db, "sources", "remove", "hf-daily")[0] == 0
    code, _, err = run(capsys, "--db", db, "sources", "remove", "hf-daily")
    assert code == 1 and "There is no source named 'hf-daily'" in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["arxiv"], "An arxiv source needs --set, e.g. --set cs.LG."),
        (["arxiv", "--set", "xx.YY"], "'xx.YY' is not an arXiv archive we know"),
        (["arxiv", "--set", "<script>"], "is not an arXiv category or archive"),
        (["arxiv-api"], "An arxiv-api source needs --query"),
        (["arxiv-listing"], "An arxiv-listing source needs --category"),
        (["hf-daily", "--every", "10s"], "The interval must be at least 60 seconds."),
        (["hf-daily", "--name", "no spaces"], "cannot name a source"),
    ],
)
def test_bad_sources_get_one_sentence(
    capsys: pytest.CaptureFixture[str], db: str, argv: list[str], message: str
) -> None:
    code, out, err = run(capsys, "--db", db, "sources", "add", *argv)
    assert code == 1 and message in err and "Traceback" not in err + out


def test_a_name_cannot_be_taken_twice(capsys: pytest.CaptureFixture[str], db: str) -> None:
    run(capsys, "--db", db, "sources", "add", "hf-daily")
    code, _, err = run(capsys, "--db", db, "sources", "add", "hf-daily")
    assert code == 1 and "A source named 'hf-daily' exists already." in err


def test_harvest_exit_codes_and_a_failing_source_in_the_list(
    capsys: pytest.CaptureFixture[str], db: str, replay: Replay
) -> None:
    replay.handle("/oai", OaiList(oai_fixture_records()))
    replay.add("/rss/cs.CL", sticky=Reply(503, b"down", {"Retry-After": "7200"}))
    assert run(capsys, "--db", db, "sources", "add", "arxiv", "--set", "cs.LG")[0] == 0
    code, _, err = run(capsys, "--db", db, "harvest")
    assert code == 0, err  # new papers came
    assert f"arxiv-cs.LG: {len(oai_fixture_ids())} new, 0 updated" in err
    code, out, _ = run(capsys, "--db", db, "search", "neutrino", "--mode", "keyword", "--json")
    assert code == 0 and json.loads(out)  # the keyword index followed
    code, _, err = run(capsys, "--db", db, "harvest", "arxiv-cs.LG")
    assert code == 4 and "0 new, 0 updated" in err  # nothing new: exit 4 for cron
    run(capsys, "--db", db, "sources", "add", "arxiv-listing", "--category", "cs.CL")
    code, _, err = run(capsys, "--db", db, "harvest")
    assert code == 1 and "arxiv-listing-cs.CL" in err and "come back in 7200 s" in err
    code, out, _ = run(capsys, "--db", db, "sources", "list")
    assert "last error (failed once; next try " in out and "HTTP 503" in out
    code, _, err = run(capsys, "--db", db, "harvest", "--due")
    assert code == 4 and "arxiv-listing" not in err  # backing off: not due yet


def test_harvest_without_sources_says_how_to_add_one(
    capsys: pytest.CaptureFixture[str], db: str
) -> None:
    code, _, err = run(capsys, "--db", db, "harvest")
    assert code == 1 and "paperfeed sources add arxiv --set cs.LG" in err


def test_an_oai_error_is_a_sentence(
    capsys: pytest.CaptureFixture[str], db: str, replay: Replay
) -> None:
    replay.add("/oai", sticky=Reply(200, oai_error("badArgument", "Illegal set")))
    run(capsys, "--db", db, "sources", "add", "arxiv", "--set", "math")
    code, out, err = run(capsys, "--db", db, "harvest")
    assert code == 1 and "error: OAI-PMH error badArgument: Illegal set" in err
    assert "Traceback" not in out + err


def test_fetch_by_id(capsys: pytest.CaptureFixture[str], db: str, replay: Replay) -> None:
    replay.handle("/api/query", ArxivApi())
    code, _, err = run(capsys, "--db", db, "fetch", "1707.08567")
    assert code == 0 and "1 new" in err
    code, out, _ = run(capsys, "--db", db, "show", "1707.08567", "--json")
    assert json.loads(out)["sources"] == ["arxiv-api"]
    code, _, err = run(capsys, "--db", db, "fetch", "abc")
    assert code == 1 and "incorrect id format for abc" in err


# -- killed mid-harvest ------------------------------------------------------------------------


def stored_papers(db: str) -> dict[str, Paper]:
    """Every stored paper by id, of the database at `db` (a path or a URL)."""
    store = open_store(db, readonly=True)
    try:
        return {c.paper.id: c.paper for c in store.iter_changes(0)}
    finally:
        store.close()


def _reference(tmp_path: Path, base: str) -> dict[str, Paper]:
    """The papers an uninterrupted harvest stores."""
    db = str(tmp_path / "reference.db")
    store = SQLiteStore(db)
    fetchers = Fetchers(Endpoints(base + "/oai", base, base, base, min_interval_s=0.0))
    try:
        from datetime import UTC, datetime

        store.add_source(new_source("arxiv", SourceOptions(set="cs.LG"), datetime.now(UTC)))
        assert harvest_source(store, fetchers, "arxiv-cs.LG").error is None
    finally:
        fetchers.close()
        store.close()
    return stored_papers(db)


@pytest.mark.parametrize("seed", range(4))
def test_a_harvest_killed_mid_run_and_restarted_ends_with_the_same_papers(
    tmp_path: Path, replay: Replay, seed: int
) -> None:
    rng = random.Random(seed)
    served = OaiList(oai_fixture_records(), per_page=2)
    replay.handle("/oai", served)
    expected = _reference(tmp_path, replay.base_url)
    assert len(expected) == len(oai_fixture_ids())
    served.seen.clear()
    replay.delay_s = 0.05
    db = str(tmp_path / "killed.db")
    env = {**os.environ, "PAPERFEED_DB": db}
    cli = [sys.executable, "-m", "paperfeed"]
    subprocess.run([*cli, "sources", "add", "arxiv", "--set", "cs.LG"], env=env, check=True)
    harvest = subprocess.Popen([*cli, "harvest"], env=env, stderr=subprocess.DEVNULL)
    kill_after = rng.randrange(1, len(served.pages) - 1)  # pages served before the kill
    deadline = time.monotonic() + 60
    while len(served.seen) < kill_after and time.monotonic() < deadline:
        time.sleep(0.005)
    time.sleep(rng.uniform(0, 0.08))  # mid-fetch, mid-parse or mid-commit
    harvest.send_signal(signal.SIGKILL)
    harvest.wait()
    assert harvest.returncode == -signal.SIGKILL
    before = stored_papers(db)
    assert 0 <= len(before) < len(expected)
    replay.delay_s = 0.0
    restarted = subprocess.run([*cli, "harvest"], env=env, capture_output=True, text=True)
    assert restarted.returncode == 0, restarted.stderr
    assert stored_papers(db) == expected


def test_a_failing_harvest_gives_one_account_that_agrees_with_its_error(
    capsys: pytest.CaptureFixture[str], db: str, replay: Replay
) -> None:
    """Not a terminal (cron, a pipe): no progress lines, one account at the end."""
    replay.add("/oai", sticky=Reply(503, b"down", {"Retry-After": "0"}))
    run(capsys, "--db", db, "sources", "add", "arxiv", "--set", "cs.LG")
    code, _, err = run(capsys, "--db", db, "harvest")
    assert code == 1 and "harvesting..." not in err and "trying again" not in err
    account, error = err.strip().splitlines()
    assert account.startswith("arxiv-cs.LG: 0 new, 0 updated, 0 unchanged; "
                              "5 requests (1 page, 4 of them retries) in ")  # fmt: skip
    assert error.startswith("  arxiv-cs.LG: error: ") and "failed 5 times (last: HTTP 503)" in error
    assert len(replay.requests) == 5


def test_a_harvest_on_a_terminal_shows_each_retry_as_it_happens(db: str, replay: Replay) -> None:
    """stderr a real terminal (a pty): the source, then each failed request and the wait."""
    import pty

    replay.add("/oai", Reply(503, b"down", {"Retry-After": "0"}),
               Reply(503, b"down", {"Retry-After": "0"}), sticky=Reply(200, oai_error(
                   "noRecordsMatch", "none")))  # fmt: skip
    assert main(["--db", db, "sources", "add", "arxiv", "--set", "cs.LG"]) == 0
    leader, follower = pty.openpty()
    with subprocess.Popen([sys.executable, "-m", "paperfeed", "--db", db, "harvest"],
                          stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                          stderr=follower) as process:  # fmt: skip
        os.close(follower)
        shown = b""
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # the other end closed: the command is done
                break
            if not chunk:
                break
            shown += chunk
        assert process.wait(60) == 4  # nothing new
    os.close(leader)
    lines = shown.decode().replace("\r\n", "\n").strip().splitlines()
    assert lines[:3] == [
        "arxiv-cs.LG: harvesting...",
        "  arxiv-cs.LG: request 1 of 5 failed (HTTP 503); trying again in 0 s",
        "  arxiv-cs.LG: request 2 of 5 failed (HTTP 503); trying again in 0 s",
    ], lines
    assert lines[3].startswith("arxiv-cs.LG: 0 new, 0 updated, 0 unchanged; 3 requests (1 page, "
                               "2 of them retries) in ")  # fmt: skip
