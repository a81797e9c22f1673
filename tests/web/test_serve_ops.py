"""`paperfeed serve` started as an operator starts it: a busy port, proxies it may trust."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from paperfeed.config import SETTINGS_ENV
from tests.web.conftest import serving


def test_a_port_in_use_is_named_in_one_sentence_with_exit_code_5(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        ran = subprocess.run(
            [sys.executable, "-m", "paperfeed", "--db", str(tmp_path / "a.db"), "serve",
             "--port", str(port), "--no-scheduler"],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    assert ran.returncode == 5
    assert ran.stderr == (
        f"error: port {port} on 127.0.0.1 is already in use; stop what uses it or choose "
        f"another with --port (make demo: make demo PORT={port + 1}).\n"
    )


def _subscribe(client: httpx.Client, n: int, forwarded_for: str | None) -> int:
    """A subscribe request: 20 an hour per client address, so a 429 shows whose address the
    server saw."""
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    answer = client.post("/api/subscribe", json={"email": f"r{n}@example.org"}, headers=headers)
    return answer.status_code


def test_forwarded_for_is_ignored_unless_its_sender_is_trusted(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PAPERFEED_TRUSTED_PROXIES"}
    with serving(tmp_path / "a.db", env=env) as base, httpx.Client(base_url=base) as client:
        assert {_subscribe(client, n, "1.2.3.4") for n in range(20)} == {200}
        assert _subscribe(client, 20, "5.6.7.8") == 429  # all of them came from 127.0.0.1

    with (
        serving(tmp_path / "b.db", "--trusted-proxies", "127.0.0.1", env=env) as base,
        httpx.Client(base_url=base) as client,
    ):
        assert {_subscribe(client, n, "1.2.3.4") for n in range(20)} == {200}
        assert _subscribe(client, 20, "5.6.7.8") == 200  # another client behind the proxy
        assert _subscribe(client, 21, "1.2.3.4") == 429  # 1.2.3.4 used up its 20
        assert _subscribe(client, 22, None) == 200  # the proxy's own address is apart


@pytest.mark.slow
def test_every_worker_runs_with_the_settings_serve_decided(tmp_path: Path) -> None:
    """`--workers 2`: uvicorn imports the app again in new processes, which get serve's
    settings (its port in the site address, --metrics) as the one PAPERFEED_SETTINGS value."""
    unset = ("PAPERFEED_BASE_URL", "PAPERFEED_METRICS", SETTINGS_ENV)
    env = {k: v for k, v in os.environ.items() if k not in unset}
    with serving(tmp_path / "a.db", "--workers", "2", "--metrics", env=env) as base:
        for _ in range(6):  # a connection each: both workers answer some
            assert httpx.get(base + "/metrics").status_code == 200
            feed = httpx.get(base + "/trending.atom").text
            assert f'href="{base}/trending.atom"' in feed
