"""Several `paperfeed serve` nodes on one PostgreSQL database, as an operator runs them: two
real servers (node-a, node-b), each with its own name, port, search indexes and outbox, sharing
a fresh database on the test run's own PostgreSQL server (tests/pg.py), with the sources
replayed on 127.0.0.1 (tests/replay.py).

What one node does, the other sees: a reader's vote on one moves the other's trending ranking,
a paper one harvested and embedded is found on the other by words and by meaning. A node killed
mid-harvest is taken over by the other once its lease runs out (distinct node names: as across
machines), with the same papers as a harvest never interrupted; two nodes whose digest senders
run at once send each digest once. And the leases themselves, in process: another node's is
taken over only when it runs out, a dead process of this node's at once.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from paperfeed.cli import main
from paperfeed.owners import Lease
from paperfeed.store import Store, open_store
from tests import pg
from tests.digest.test_sender import add_day, confirmed_subscribers
from tests.mail import SMTPCatcher
from tests.replay import Replay, replay_server
from tests.sources import OaiList, oai_fixture_records
from tests.test_cli_sources import _reference, stored_papers
from tests.test_pipeline import HARVESTED, PARAPHRASE, replay_sources
from tests.web.conftest import free_port, wait_until_up
from tests.web.test_limits import Server, _field, sign_in

SECRET = "nodes-test-secret"
LISTED = "2401.04088"  # Mixtral, in the replayed arXiv cs.LG listing


@dataclass
class Node:
    name: str
    process: subprocess.Popen[bytes]
    base: str
    folder: Path

    @property
    def log(self) -> str:
        return (self.folder / "serve.log").read_text()

    def logged(self) -> list[dict[str, Any]]:
        """The node's JSON log lines (the `serving ...` line aside)."""
        return [json.loads(line) for line in self.log.splitlines() if line.startswith("{")]

    def server(self) -> Server:
        """As tests/web/test_limits.py's `sign_in` reads the mailed link from the outbox."""
        return Server(self.base, self.process.pid, self.folder / "outbox")


def node_env(url: str, name: str, folder: Path, extra: Mapping[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAPERFEED_")}
    return {**env, "PAPERFEED_DB": url, "PAPERFEED_NODE": name,
            "PAPERFEED_INDEX_DIR": str(folder / "index"),
            "PAPERFEED_OUTBOX": str(folder / "outbox"), **extra}  # fmt: skip


@contextmanager
def nodes(url: str, folder: Path, extra: Mapping[str, str]) -> Iterator[list[Node]]:
    """node-a and node-b, started together and each answering; stopped (or found killed) at
    the end. `extra`: more settings, the same for both."""
    started: list[Node] = []
    try:
        for name in ("node-a", "node-b"):
            home = folder / name
            home.mkdir(parents=True)
            port = free_port()
            with (home / "serve.log").open("wb") as log:
                process = subprocess.Popen(
                    [sys.executable, "-m", "paperfeed", "-v", "--log-format", "json", "serve",
                     "--port", str(port)],
                    stderr=log, cwd=home, env=node_env(url, name, home, extra),
                )  # fmt: skip
            started.append(Node(name, process, f"http://127.0.0.1:{port}", home))
        for node in started:
            wait_until_up(node.base, node.process)
        yield started
    finally:
        for node in started:
            if node.process.poll() is None:
                node.process.terminate()
        for node in started:
            try:
                node.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                node.process.kill()
                node.process.wait()


@contextmanager
def database() -> Iterator[str]:
    url = pg.fresh_database()
    try:
        yield url
    finally:
        pg.drop_database(url)


def source_env(replay: Replay) -> dict[str, str]:
    return {
        "PAPERFEED_ARXIV_OAI_URL": replay.base_url + "/oai",
        "PAPERFEED_ARXIV_RSS_URL": replay.base_url,
        "PAPERFEED_HF_URL": replay.base_url,
        "PAPERFEED_FETCH_INTERVAL_S": "0",
    }


def ids(answer: httpx.Response) -> list[str]:
    assert answer.status_code == 200, answer.text
    return [p["id"] for p in answer.json()["papers"]]


def wait_for(what: str, check: Callable[[], Any], timeout_s: float = 60, every_s: float = 0.2
             ) -> Any:  # fmt: skip
    """check()'s first true answer within `timeout_s`; fails the test naming `what`."""
    deadline = time.monotonic() + timeout_s
    while not (found := check()):
        assert time.monotonic() < deadline, f"{what}: not within {timeout_s:g} s"
        time.sleep(every_s)
    return found


# -- one database, two nodes: what one does, the other shows ------------------------------------


@dataclass
class Cluster:
    url: str
    nodes: list[Node]
    harvested_by: dict[str, Node]  # source name -> the node that harvested it

    def other(self, node: Node) -> Node:
        return next(n for n in self.nodes if n is not node)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """Two nodes that harvest the recorded cs.LG listing and Hugging Face day between them (the
    sources' leases decide which node runs which) and embed what came, once."""
    folder = tmp_path_factory.mktemp("cluster")
    with ExitStack() as stack:
        url = stack.enter_context(database())
        replay = stack.enter_context(replay_server())
        replay_sources(replay)
        for source in (["arxiv-listing", "--category", "cs.LG"], ["hf-daily"]):
            assert main(["--db", url, "sources", "add", *source]) == 0
        running = stack.enter_context(nodes(url, folder, source_env(replay)))

        def harvesters() -> dict[str, Node]:
            found = {}
            for node in running:
                for line in node.logged():
                    words = dict(re.findall(r"(\w+)=(\S+)", line["message"]))
                    if line["message"].startswith("harvested ") and "source" in words:
                        found[words["source"]] = node
            return found if len(found) == 2 else {}

        yield Cluster(url, running, wait_for("both sources harvested", harvesters))


@pytest.mark.slow
def test_a_paper_harvested_by_one_node_is_found_on_the_other_by_words_and_meaning(
    cluster: Cluster,
) -> None:
    hf_node = cluster.other(cluster.harvested_by["hf-daily"])  # it did not harvest that day
    listing_node = cluster.other(cluster.harvested_by["arxiv-listing-cs.LG"])

    def found_by_meaning() -> bool:
        answer = httpx.get(hf_node.base + "/search.json",
                           params={"q": PARAPHRASE, "mode": "semantic"})  # fmt: skip
        return answer.status_code == 200 and ids(answer)[:1] == [HARVESTED]

    wait_for("the paraphrase found by meaning", found_by_meaning, timeout_s=90, every_s=0.5)
    title = httpx.get(hf_node.base + "/search.json",
                      params={"q": "memory barrier contrastive", "mode": "keyword"})  # fmt: skip
    assert ids(title)[:1] == [HARVESTED]
    words = httpx.get(listing_node.base + "/search.json",
                      params={"q": "Mixtral", "mode": "keyword"})  # fmt: skip
    assert ids(words)[:1] == [LISTED]
    meaning = httpx.get(listing_node.base + "/search.json",
                        params={"q": "a sparse mixture of experts language model",
                                "mode": "semantic"})  # fmt: skip
    assert LISTED in ids(meaning)[:2]
    for node in cluster.nodes:
        assert httpx.get(node.base + "/healthz").json()["papers"] == 8


def ranking(node: Node) -> list[dict[str, Any]]:
    answer = httpx.get(node.base + "/trending.json", params={"window": "week"})
    assert answer.status_code == 200, answer.text
    papers: list[dict[str, Any]] = answer.json()["papers"]
    return papers


@pytest.mark.slow
def test_a_vote_on_one_node_moves_the_trending_ranking_of_the_other(cluster: Cluster) -> None:
    a, b = cluster.nodes
    before = ranking(b)  # the recorded Hugging Face day: 65, 42, 38 and 36 points
    assert ranking(a) == before  # one ranking, in the shared database
    last = before[-1]
    assert "upvote" not in last["trending"]["parts"]
    reader = sign_in(a.server(), "reader@example.org")  # the link is mailed to a's outbox
    try:
        token = _field(reader.get("/account").text, "csrf_token")
        voted = reader.post(f"/paper/{last['id']}/upvote", data={"csrf_token": token},
                            follow_redirects=False)  # fmt: skip
        assert voted.status_code == 303, voted.text
        after = ranking(b)
        now = {p["id"]: p["trending"] for p in after}[last["id"]]
        assert now["parts"]["upvote"] == 3.0  # a fresh vote's weight
        assert now["score"] == last["trending"]["score"] + 3.0
        order = [p["id"] for p in before]
        assert [p["id"] for p in after] == [*order[:-2], order[-1], order[-2]]  # 39 over 38
        # behind a load balancer the reader's next request may reach the other node: the
        # session is the database's, and the form token is signed with the database's key
        saved = reader.post(f"{b.base}/paper/{last['id']}/save", json={"undo": False},
                            headers={"X-CSRF-Token": token})  # fmt: skip
        assert saved.status_code == 200, saved.text
        assert saved.json()["mine"] == ["save", "upvote"]
    finally:
        reader.close()


# -- a node killed mid-harvest ---------------------------------------------------------------------


def source_row(url: str, name: str) -> Any:
    store = open_store(url, readonly=True)
    try:
        return store.get_source(name)
    finally:
        store.close()


@pytest.mark.slow
def test_a_node_killed_mid_harvest_is_taken_over_by_the_other_when_its_lease_runs_out(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with replay_server() as replay, database() as url:
        served = OaiList(oai_fixture_records(), per_page=2)
        replay.handle("/oai", served)
        expected = _reference(tmp_path, replay.base_url)  # an uninterrupted harvest's papers
        served.seen.clear()
        assert main(["--db", url, "sources", "add", "arxiv", "--set", "cs.LG"]) == 0
        capsys.readouterr()
        both_up = threading.Event()
        asked_at: list[float] = []

        def on_request(query: dict[str, str]) -> None:
            both_up.wait(60)  # the harvest goes on once both nodes answer
            asked_at.append(time.time())

        served.on_request = on_request
        replay.delay_s = 0.25  # ~4 s for the 15 pages
        env = {**source_env(replay), "PAPERFEED_LEASE_S": "3"}
        with nodes(url, tmp_path, env) as running:
            both_up.set()
            wait_for("five pages served", lambda: len(asked_at) >= 5, every_s=0.01)
            source = source_row(url, "arxiv-cs.LG")
            holder = next(n for n in running if source.lease_owner.startswith(n.name + ":"))
            assert source.lease_owner == f"{holder.name}:{holder.process.pid}"
            assert main(["--db", url, "status", "--json"]) == 0
            shown = json.loads(capsys.readouterr().out)["sources"][0]["harvesting_now"]
            assert shown == source.lease_owner  # the operator sees which node harvests
            holder.process.send_signal(signal.SIGKILL)
            holder.process.wait()
            killed_at, lease_until = time.time(), source_row(url, "arxiv-cs.LG").lease_until
            assert len(served.seen) < len(served.pages), "the harvest ended before the kill"
            taker = next(n for n in running if n is not holder)

            def finished() -> bool:
                row = source_row(url, "arxiv-cs.LG")
                return row.last_ok_at is not None and row.lease_owner is None

            wait_for("the harvest finished", finished, timeout_s=60)
            assert stored_papers(url) == expected
            resumed = [t for t in asked_at if t > killed_at]
            # by expiry, not at once; and then without waiting for a poll (every 30 s)
            assert resumed and 0 <= resumed[0] - lease_until.timestamp() < 5
            first = served.seen[len(asked_at) - len(resumed)]
            assert "resumptionToken" in first  # from the last committed page, not from scratch
            said = [x["message"] for x in taker.logged()]
            assert any(m.startswith("harvested source=arxiv-cs.LG") for m in said)
            answer = httpx.get(taker.base + "/search.json",
                               params={"q": "neutrino", "mode": "keyword"})  # fmt: skip
            assert ids(answer)
            assert source_row(url, "arxiv-cs.LG").failures == 0


# -- two digest senders at once ------------------------------------------------------------------

SUBSCRIBERS = 30


@pytest.mark.slow
def test_two_nodes_sending_digests_at_once_send_each_once(tmp_path: Path) -> None:
    with database() as url, SMTPCatcher() as smtp:
        store = open_store(url)
        try:
            add_day(store, datetime.now(UTC))
            confirmed_subscribers(store, SECRET.encode(), SUBSCRIBERS, time.time())
        finally:
            store.close()
        env = {
            "PAPERFEED_SMTP_HOST": smtp.host, "PAPERFEED_SMTP_PORT": str(smtp.port),
            "PAPERFEED_SMTP_SECURITY": "none", "PAPERFEED_SECRET_KEY": SECRET,
            "PAPERFEED_DIGEST_EVERY_S": "1", "PAPERFEED_LEASE_S": "3",
            "PAPERFEED_MAIL_RATE": "6",  # 5 s of sending: longer than the lease lasts
        }  # fmt: skip
        with nodes(url, tmp_path, env) as running:

            def all_sent() -> bool:
                store = open_store(url, readonly=True)
                try:
                    return store.count_deliveries().get("sent") == SUBSCRIBERS
                finally:
                    store.close()

            wait_for("a first digest", lambda: smtp.received, every_s=0.05)
            first_at = time.monotonic()
            wait_for("every digest sent", all_sent, timeout_s=90, every_s=0.1)
            assert time.monotonic() - first_at > 3  # the lease was renewed, or it ran out
            assert all(node.process.poll() is None for node in running)  # both polled all along
        received = smtp.received  # both nodes stopped: nothing more is on its way
        store = open_store(url, readonly=True)
        try:
            assert store.count_deliveries() == {"sent": SUBSCRIBERS, "cancelled": SUBSCRIBERS}
        finally:
            store.close()
    by_person = Counter(r.rcpt_tos[0] for r in received)
    assert by_person == Counter({f"p{i:02d}@example.org": 1 for i in range(SUBSCRIBERS)})
    assert len({r.message["Message-ID"] for r in received}) == SUBSCRIBERS


# -- the leases, in process ---------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def pg_store() -> Iterator[Store]:
    with database() as url:
        store = open_store(url)
        yield store
        store.close()


def dead_pid() -> int:
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()
    return ended.pid


def test_another_nodes_lease_runs_out_a_dead_process_of_this_node_is_taken_over_at_once(
    pg_store: Store,
) -> None:
    clock = Clock()
    dead = dead_pid()
    held = Lease("embedder", 60, owner=f"node-a:{dead}", clock=clock)
    assert held.take(pg_store)
    other_node = Lease("embedder", 60, owner=f"node-b:{os.getpid()}", clock=clock)
    assert not other_node.take(pg_store)  # node-a's process may run on another machine
    clock.now += 59
    assert not other_node.take(pg_store)
    clock.now += 2
    assert other_node.take(pg_store)  # it ran out
    assert pg_store.lease_owner("embedder", clock.now) == f"node-b:{os.getpid()}"

    me = Lease("digest-sender", 60, owner=f"node-a:{os.getpid()}", clock=clock)
    live = Lease("digest-sender", 60, owner=f"node-a:{os.getppid()}", clock=clock)
    assert live.take(pg_store)
    assert not me.take(pg_store)  # a live process of this node holds it
    live.drop(pg_store)
    assert Lease("digest-sender", 60, owner=f"node-a:{dead}", clock=clock).take(pg_store)
    assert me.take(pg_store)  # its holder, of this node, is dead: at once
    assert pg_store.lease_owner("digest-sender", clock.now) == f"node-a:{os.getpid()}"
