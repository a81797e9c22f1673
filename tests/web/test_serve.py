"""`paperfeed serve` as a user starts it: a real uvicorn process on a free local port."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.conftest import SEED
from tests.web.conftest import free_port, wait_until_up


def test_serve_answers_pages_and_json(tmp_path: Path) -> None:
    db = str(tmp_path / "serve.db")
    cli = [sys.executable, "-m", "paperfeed", "--db", db]
    subprocess.run([*cli, "ingest", str(SEED)], check=True, capture_output=True)
    port = free_port()
    server = subprocess.Popen([*cli, "serve", "--port", str(port), "--no-scheduler"],
                              stderr=subprocess.DEVNULL, env={**os.environ})  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                health = httpx.get(base + "/healthz")
                break
            except httpx.TransportError:
                time.sleep(0.2)
        assert health.json() == {"status": "ok", "papers": 227}
        found = httpx.get(base + "/search.json", params={"q": "dropout"}).json()
        assert "dropout" in found["papers"][0]["title"].lower()
        assert httpx.get(base + "/").status_code == 200
    finally:
        server.terminate()
        server.wait(timeout=20)


def test_demo_serves_the_ui_on_the_bundled_papers(tmp_path: Path) -> None:
    """What `make demo` runs: import, embed, example searches, then the web UI."""
    port = free_port()
    with (tmp_path / "stderr").open("wb") as stderr:
        demo = subprocess.Popen(
            [sys.executable, "-m", "paperfeed", "--db", str(tmp_path / "demo.db"), "demo",
             "--port", str(port)],
            stdout=subprocess.PIPE, stderr=stderr, env={**os.environ},
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(base, demo, timeout_s=120)
        assert httpx.get(base + "/healthz").json() == {"status": "ok", "papers": 227}
        question = "removing the influence of specific training examples from a trained model"
        found = httpx.get(base + "/search.json", params={"q": question}).json()
        top = [p["title"].lower() for p in found["papers"][:5]]
        assert found["mode"] == "hybrid" and sum("unlearning" in t for t in top) >= 2, top
        home = httpx.get(base + "/")
        log = (tmp_path / "stderr").read_text()
        assert home.status_code == 200 and "These papers carry no dates" in home.text, log
    finally:
        demo.terminate()
        out, _ = demo.communicate(timeout=20)
    assert f"Open http://127.0.0.1:{port}/" in out.decode()
