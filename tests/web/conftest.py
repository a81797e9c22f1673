"""Fixtures of the web tests: a hostile paper, a corpus with dates and signals, and a real
`paperfeed serve` process on a free local port (what the Hugging Face client, feedparser and
Chromium talk to)."""

from __future__ import annotations

import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import closing, contextmanager
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Playwright, sync_playwright

from paperfeed.ingest.hf_daily import parse_daily_page
from paperfeed.models import Paper
from paperfeed.store import Announcement, Signal, Store, open_store
from tests.conftest import SEED
from tests.sources import HF_DAY

HOSTILE = Paper(
    id="2401.66666",
    arxiv_id="2401.66666",
    title="<script>alert(1)</script> & <img src=x onerror=alert(2)> x<y & z>w",
    abstract=r"We bound $\mathcal{O}(n^2)$ \href{javascript:alert(3)}{x} and $unbalanced "
    "<iframe src=//evil></iframe> dropout &amp; friends",
    authors=("<b>Mallory</b>", "Eve & Co"),
    categories=("cs.LG",),
    code_url="https://github.com/x/y",
    published=datetime(2024, 10, 24, 12, tzinfo=UTC),
)
HF_OBSERVED = datetime(2024, 10, 25, 18, tzinfo=UTC)
HF_IDS = ("2410.17243", "2410.16251", "2410.18533", "2410.18693")  # in the recorded day


def add_hf_day(store: Store) -> list[str]:
    """The recorded Hugging Face day (2024-10-25, 4 papers with upvotes and GitHub links) put
    into `store` the way the hf-daily harvester does; returns the paper ids."""
    page = parse_daily_page(HF_DAY.read_bytes())
    with store.transaction():
        store.upsert_papers([item.paper for item in page.papers])
        store.add_announcements(
            [Announcement(i.paper.id, "hf-daily", i.featured_on, "featured") for i in page.papers]
        )
        store.record_signals(
            [Signal(i.paper.id, "hf_upvotes", float(i.upvotes or 0)) for i in page.papers],
            HF_OBSERVED,
            "hf-daily",
        )
    return [item.paper.id for item in page.papers]


def copy_database(source: Path, target: Path) -> None:
    """A consistent copy of a database another server may have open, and its indexes."""
    with closing(sqlite3.connect(source)) as src, closing(sqlite3.connect(target)) as dst:
        src.backup(dst)
    index = Path(str(source) + "-index")
    if index.exists():
        shutil.copytree(index, Path(str(target) + "-index"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until_up(base: str, process: subprocess.Popen[bytes], timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"paperfeed serve exited with {process.returncode}")
        try:
            if httpx.get(base + "/healthz").status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.2)
    raise RuntimeError("paperfeed serve did not answer within a minute")


@pytest.fixture(scope="session")
def served_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_served_db(tmp_path_factory.mktemp("served") / "served.db")


def build_served_db(db: Path) -> Path:
    """The seed papers, the hostile paper and the recorded Hugging Face day, embedded with the
    real model (also bench/contract.py's)."""
    from paperfeed.cli import main

    assert main(["--db", str(db), "ingest", str(SEED)]) == 0
    store = open_store(str(db))
    store.upsert_papers([HOSTILE])
    add_hf_day(store)
    store.close()
    assert main(["--db", str(db), "embed"]) == 0
    return db


@contextmanager
def serving(db: Path, *flags: str, env: Mapping[str, str] | None = None) -> Iterator[str]:
    """A real `paperfeed serve` (uvicorn, one worker, no scheduler) on a free port, with more
    `flags`; yields its base URL."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "paperfeed", "--db", str(db), "serve",
         "--port", str(port), "--no-scheduler", *flags],
        stderr=subprocess.DEVNULL, env={**(os.environ if env is None else env)},
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(base, server)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=20)


@pytest.fixture(scope="session")
def live_server(served_db: Path) -> Iterator[str]:
    """A real `paperfeed serve` on the served database; yields its base URL."""
    with serving(served_db) as base:
        yield base


# -- Chromium: one Playwright and one browser for the session, shared by the browser tests ----
# (a second Playwright sync instance on the main thread fails: "Sync API inside the asyncio loop")

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    p = sync_playwright().start()
    yield p
    p.stop()


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: run `make setup`, which installs Debian's chromium package "
            "(the browser tests never download a browser)",
            pytrace=False,
        )
    b = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    yield b
    b.close()
