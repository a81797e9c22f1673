"""`paperfeed serve` as a user starts it: a real uvicorn process on a free local port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.conftest import SEED


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_answers_pages_and_json(tmp_path: Path) -> None:
    db = str(tmp_path / "serve.db")
    cli = [sys.executable, "-m", "paperfeed", "--db", db]
    subprocess.run([*cli, "ingest", str(SEED)], check=True, capture_output=True)
    port = _free_port()
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
