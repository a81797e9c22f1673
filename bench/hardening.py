"""What an attacker's requests cost a running server: its memory during a 500 MB POST, and how
long a reader's paper view waits while the largest allowed library import runs.

Starts a real `paperfeed serve --no-scheduler` (a fresh one per case, so that a case that
hangs one cannot slow the next) on a store of the bundled seed papers, with sign-in links
written to a local outbox.

- Memory: the server's VmRSS is sampled every 20 ms from /proc while a client streams 500 MB
  of JSON-looking bytes from a generator to /api/subscribe (so the client never holds them):
  once chunked (no length given) and once with a Content-Length header. VmHWM after the
  request is the peak.
- Import: a signed-in reader posts a 2 MB text (each worst case the parser knows of), once
  and three times at once, to /library/import while another client opens a paper page over
  and over as a browser would (a counted view, which writes) until every import is answered;
  the slowest view is shown beside a view with no import running.

    .venv/bin/python bench/hardening.py [--mb 500] [--import-timeout 60]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "src" / "paperfeed" / "data" / "seed_papers.jsonl"
BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/126.0 Safari/537.36"
IMPORT_BYTES = 2_000_000
# 2 MB texts, each the worst case of one path through the import's parser
PAYLOADS = {
    "@\\n": "@\n",
    "@comment{ (unclosed)": "@comment{\n",
    "@comment{ + {}{}{}...": "@comment{" + "{}" * IMPORT_BYTES,
    "ids": "2401.00001\n",
    "entries": "@misc{k, eprint={2401.00001}}\n",
    "tokens": "x\n",
}


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def memory_kb(pid: int) -> dict[str, int]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0])
    return fields


@contextmanager
def serving(db: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    port = free_port()
    env = {**os.environ, "PAPERFEED_OUTBOX": str(db) + "-outbox"}
    server = subprocess.Popen(
        [sys.executable, "-m", "paperfeed", "--db", str(db), "serve", "--port", str(port),
         "--no-scheduler"],
        stderr=subprocess.DEVNULL, env=env,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(base + "/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        yield base, server
    finally:
        server.kill()
        server.wait()


HEAD, TAIL = b'{"email": "a@example.org", "topic": "', b'"}'


def stream(total: int, chunk: int = 1 << 20) -> Iterator[bytes]:
    """`total` bytes of one JSON object (plus its head and tail), a chunk at a time."""
    yield HEAD
    block = b"x" * chunk
    for _ in range(total // chunk):
        yield block
    yield block[: total % chunk]
    yield TAIL


def post_big(base: str, pid: int, total: int, *, with_length: bool) -> dict[str, object]:
    peak = [0]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], memory_kb(pid).get("VmRSS", 0))  # (0 once it is gone)
            time.sleep(0.02)

    before = memory_kb(pid)
    sampler = threading.Thread(target=sample)
    sampler.start()
    headers = {"Content-Type": "application/json"}
    if with_length:
        headers["Content-Length"] = str(len(HEAD) + total + len(TAIL))
    started = time.perf_counter()
    try:
        answer = httpx.post(base + "/api/subscribe", content=stream(total), headers=headers,
                            timeout=300)  # fmt: skip
        outcome = f"{answer.status_code} {answer.text[:70]}"
    except httpx.HTTPError as e:
        outcome = f"{type(e).__name__} (the server closed the connection)"
    took = time.perf_counter() - started
    time.sleep(0.3)
    done.set()
    sampler.join()
    after = memory_kb(pid)
    return {"rss_before_mb": before["VmRSS"] / 1024, "rss_peak_mb": peak[0] / 1024,
            "hwm_mb": after.get("VmHWM", 0) / 1024, "took_s": took, "answer": outcome}  # fmt: skip


def field(html: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert found, html[:500]
    return found.group(1)


def sign_in(base: str, outbox: Path, email: str) -> httpx.Client:
    """A browser signed in as `email` through the mailed link, read from the outbox."""
    client = httpx.Client(base_url=base, timeout=600)
    token = field(client.get("/signin").text, "csrf_token")
    client.post("/signin", data={"email": email, "csrf_token": token})
    deadline = time.monotonic() + 30
    while True:
        for path in (outbox / "new").glob("*"):
            mail = BytesParser(policy=policy.default).parsebytes(path.read_bytes())
            body = mail.get_body(("plain",))
            if mail["To"] == email and isinstance(body, EmailMessage):
                link = re.search(r"/signin/link\?token=\S+", body.get_content())
                assert link
                page = client.get(link.group(0))
                form = {"token": field(page.text, "token"),
                        "csrf_token": field(page.text, "csrf_token")}  # fmt: skip
                client.post("/signin/link", data=form)
                return client
        assert time.monotonic() < deadline, "no sign-in mail"
        time.sleep(0.1)


def import_wait(base: str, db: Path, text: str, email: str, uploads: int, timeout_s: float
                ) -> dict[str, object]:  # fmt: skip
    """`uploads` imports of `text` at once, and a browser opening a paper page over and over
    until they are all answered: the slowest view, and the typical one with no import."""
    reader = sign_in(base, Path(str(db) + "-outbox"), email)
    token = field(reader.get("/library").text, "csrf_token")
    paper = reader.get("/search.json", params={"q": "dropout"}).json()["papers"][0]["id"]
    answers: list[str] = []
    took: list[float] = []

    def upload() -> None:
        started = time.perf_counter()
        try:
            answer = reader.post("/library/import", data={"csrf_token": token},
                                 files={"file": ("big.bib", text.encode(), "text/x-bibtex")},
                                 headers={"Accept": "application/json"},
                                 timeout=timeout_s)  # fmt: skip
            answers.append(f"{answer.status_code} {answer.text[:60]}")
        except httpx.TimeoutException:
            answers.append(f"still running after {timeout_s:.0f} s")
        took.append(time.perf_counter() - started)

    with httpx.Client(base_url=base, headers={"User-Agent": BROWSER}) as browser:
        idle = [view_time(browser, "/paper/" + paper, timeout_s) for _ in range(5)]
        workers = [threading.Thread(target=upload) for _ in range(uploads)]
        for worker in workers:
            worker.start()
        waits = []
        while any(w.is_alive() for w in workers) or not waits:
            waits.append(view_time(browser, "/paper/" + paper, timeout_s))
            if waits[-1] == float("inf"):
                break
    for worker in workers:
        worker.join()
    return {"import_s": max(took), "import": answers[0], "views": len(waits),
            "view_max_s": max(waits), "view_idle_s": sorted(idle)[2]}  # fmt: skip


def view_time(browser: httpx.Client, path: str, timeout_s: float) -> float:
    """Seconds to open a paper page as a browser (a counted view: it writes)."""
    started = time.perf_counter()
    try:
        assert browser.get(path, timeout=timeout_s).status_code == 200
    except httpx.TimeoutException:
        return float("inf")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mb", type=int, default=500, help="size of the big POST (500)")
    parser.add_argument("--import-timeout", type=float, default=60.0)
    parser.add_argument("--only", choices=["memory", "import"], help="one of the two parts")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="paperfeed-hardening-"))
    db = workdir / "bench.db"
    subprocess.run([sys.executable, "-m", "paperfeed", "--db", str(db), "ingest", str(SEED)],
                   check=True, capture_output=True)  # fmt: skip
    if args.only != "import":
        post_cases(db, args.mb)
    if args.only != "memory":
        import_cases(db, args.import_timeout)


def post_cases(db: Path, mb: int) -> None:
    print(f"POST {mb} MB to /api/subscribe, body streamed from a generator")
    print(f"{'how':<16} {'RSS before':>11} {'RSS peak':>9} {'VmHWM':>7} {'took':>7}  answer")
    for how, with_length in (("chunked", False), ("Content-Length", True)):
        with serving(db) as (base, server):
            m = post_big(base, server.pid, mb * 1_000_000, with_length=with_length)
        print(f"{how:<16} {m['rss_before_mb']:>8.0f} MB {m['rss_peak_mb']:>6.0f} MB "
              f"{m['hwm_mb']:>4.0f} MB {m['took_s']:>6.2f}s  {m['answer']}")  # fmt: skip


def import_cases(db: Path, timeout_s: float) -> None:
    print(f"\nA paper view (a counted browser view) during {IMPORT_BYTES / 1e6:.0f} MB imports")
    print(f"{'import text':<24} {'at once':>7} {'import took':>11} {'views':>5} "
          f"{'view idle':>9} {'view max':>9}  first answer")  # fmt: skip
    n = 0
    for name, unit in PAYLOADS.items():
        text = (unit * (IMPORT_BYTES // len(unit) + 1))[:IMPORT_BYTES]
        for uploads in (1, 3):
            n += 1
            with serving(db) as (base, _):
                r = import_wait(base, db, text, f"reader{n}@example.org", uploads, timeout_s)
            print(f"{name:<24} {uploads:>7} {r['import_s']:>10.2f}s {r['views']:>5} "
                  f"{r['view_idle_s']:>8.3f}s {r['view_max_s']:>8.3f}s  {r['import']}")  # fmt: skip


if __name__ == "__main__":
    main()
