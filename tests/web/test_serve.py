"""`paperfeed serve` as a user starts it: a real uvicorn process on a free local port."""

from __future__ import annotations

import email.parser
import email.policy
import json
import os
import re
import subprocess
import sys
import time
from email.message import EmailMessage
from pathlib import Path
from typing import cast

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
        assert httpx.get(base + "/healthz").json() == {"status": "ok", "papers": 731}
        question = "removing the influence of specific training examples from a trained model"
        found = httpx.get(base + "/search.json", params={"q": question}).json()
        top = [p["title"].lower() for p in found["papers"][:5]]
        assert found["mode"] == "hybrid" and sum("unlearning" in t for t in top) >= 2, top
        home = httpx.get(base + "/")
        log = (tmp_path / "stderr").read_text()
        assert home.status_code == 200 and "These papers carry no dates" not in home.text, log
        looks_like_the_real_service(base, home.text)
        digest_by_mail(base, tmp_path / "demo.db")
    finally:
        demo.terminate()
        out, _ = demo.communicate(timeout=20)
    assert f"Open http://127.0.0.1:{port}/" in out.decode()
    assert "export PAPERFEED_DB=" in out.decode()


def looks_like_the_real_service(base: str, home: str) -> None:
    """The demo has a today (the recorded Hugging Face day), trending scores made of real
    Hugging Face upvotes, and papers with authors, categories and arXiv links."""
    today = httpx.get(base + "/index.json").json()["today"]
    assert today["date"] == "2024-10-25" and len(today["papers"]) == 4
    assert "Papers of 2024-10-25" in home and "Breaking the Memory Barrier" in home
    ranked = httpx.get(base + "/trending.json", params={"window": "week"}).json()["papers"]
    assert [p["id"] for p in ranked] == ["2410.17243", "2410.16251", "2410.18533", "2410.18693"]
    assert [p["trending"]["parts"]["hf_upvotes"] for p in ranked] == [64.0, 41.0, 37.0, 35.0]
    assert "score 65.00" in home and "score 0.00" not in home
    page = httpx.get(base + "/paper/2603.02873")
    assert page.status_code == 200 and "Tianyou Liu" in page.text and "cs.CL" in page.text
    assert 'href="https://arxiv.org/abs/2603.02873"' in page.text
    hf_paper = httpx.get(base + "/paper/2410.17243").text
    assert "Zesen Cheng" in hf_paper and 'href="https://arxiv.org/abs/2410.17243"' in hf_paper


def _field(html: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert found, html
    return found.group(1)


def _mails(outbox: Path, count: int, timeout_s: float = 30) -> list[EmailMessage]:
    """The messages in the demo's local Maildir once there are `count` of them, oldest first."""
    deadline = time.monotonic() + timeout_s
    while True:
        files = sorted((outbox / "new").glob("*"), key=lambda f: f.stat().st_mtime_ns)
        if len(files) >= count:
            parse = email.parser.BytesParser(policy=email.policy.default)
            return [cast(EmailMessage, parse.parsebytes(f.read_bytes())) for f in files]
        assert time.monotonic() < deadline, f"{len(files)} mails in {outbox}, wanted {count}"
        time.sleep(0.1)


def digest_by_mail(base: str, db: Path) -> None:
    """The demo's digest story: subscribe on the home page, the confirmation lands in the local
    mailbox, confirm it, `paperfeed digest run` puts a digest there, its one-click unsubscribe
    (RFC 8058: a POST with no cookie) works."""
    outbox = Path(str(db) + "-outbox")
    with httpx.Client(base_url=base) as browser:
        token = _field(browser.get("/").text, "csrf_token")
        sent = browser.post("/subscribe", data={"email": "reader@example.org",
                                                "csrf_token": token})  # fmt: skip
        assert sent.status_code == 200 and "inbox" in sent.text
        [confirmation] = _mails(outbox, 1)
        body = confirmation.get_body(("plain",))
        assert body is not None
        link = re.search(r"http://\S+/confirm\?token=\S+", body.get_content())
        assert link and confirmation["To"] == "reader@example.org"
        page = browser.get(link.group(0))
        form = {"token": _field(page.text, "token"), "csrf_token": _field(page.text, "csrf_token")}
        done = browser.post("/confirm", data=form)
        assert done.status_code == 303 and "/preferences?token=" in done.headers["location"]
    cli = [sys.executable, "-m", "paperfeed", "--db", str(db)]
    # (the demo serves on the default address; this test's server is on another port)
    env = {**os.environ, "PAPERFEED_BASE_URL": base}
    ran = subprocess.run([*cli, "digest", "run"], capture_output=True, text=True, timeout=120,
                         env=env)  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    digest = next(m for m in _mails(outbox, 2) if m["Message-ID"].startswith("<digest."))
    assert digest["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    unsubscribe = digest["List-Unsubscribe"].strip("<>")
    answer = httpx.post(unsubscribe, data={"List-Unsubscribe": "One-Click"})
    assert answer.status_code == 200
    status = subprocess.run([*cli, "digest", "status", "--json"], capture_output=True, text=True)
    assert json.loads(status.stdout)["subscribers"] == {"unsubscribed": 1}
