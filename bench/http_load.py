"""HTTP load: requests/s and p50/p95/p99 latency of the search page and search APIs under load.

Builds (once; cached, see benchlib.cached_folder) a store of N synthetic papers with the keyword
index and a vector index of clustered vectors stored for the real model (bench/stores.py, as
bench/search_speed.py does), then starts a real `paperfeed serve --no-scheduler --workers W`
and, from a separate process, drives it over loopback with C concurrent clients in a closed loop
(each client sends its next request when the previous answer is complete, over one keep-alive
connection).
Every endpoint gets a warm-up, then a fixed measured duration; the queries cycle through the
fixed rare / mid / common / question set of bench/synth.py (hybrid mode, the default), with
`Accept-Encoding: gzip` as browsers and HTTP libraries send it. `--profile` then times each
stage of one request in-process (query embedding, keyword, vector, fetch, rendering).

The open loop (`--rates`, default 50 100 200 300 400 req/s) then drives /api/papers/search with
Poisson arrivals at each fixed rate, whatever the server's speed, and counts latency from each
request's scheduled send time (no coordinated omission; a failed or timed-out request counts
as infinitely slow). Searches are drawn from `--distinct` 3,000 different ones (the shapes of
the fixed set: common and rare words, topic pairs, bigrams, questions) with a Zipf law of
exponent `--zipf` 1.0: the popularity of web search queries follows a power law of exponent
near 1 (lower exponents mean fewer repeats and fewer cache hits: try 0.8). The cache hit rate
is counted from the X-Search-Cache header. `--cache both` (default) measures a server with the
search cache and one with PAPERFEED_SEARCH_CACHE=0, so the tables show what the cache buys.

The load generator is a minimal asyncio HTTP/1.1 client (raw sockets, no httpx) because it
competes with the server for the same cores; its cost is shown by loading /healthz too and by
its CPU use per request. Server CPU is read from /proc for the server's process tree.

(Named http_load.py, not http.py: `python bench/X.py` puts bench/ first on sys.path, where a
file named http.py would shadow the standard library's `http` package for every bench script.)

    cd bench && python http_load.py [--n 1000000] [--workers 1 2] [--clients 32] [--duration 20]
        [--rates 50 100 200 300 400] [--zipf 1.0] [--cache both|on|off] [--no-closed] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

ROOT = Path(__file__).resolve().parent.parent
TARGET_PATH = "/api/papers/search"
TARGET_P95_MS = 100.0
CLK_TCK = os.sysconf("SC_CLK_TCK")
# what browsers and python clients (requests, huggingface_hub) send: answers come gzipped
HEADERS = "Accept-Encoding: gzip, deflate\r\nUser-Agent: paperfeed-bench-http\r\n"


# -- the database -------------------------------------------------------------------------


def build_db(n: int, model: str) -> Path:
    """The store + indexes for n papers, built once into a cache folder (index at DB-index)."""
    from benchlib import INDEX_SOURCES, MIGRATIONS, SRC, SYNTH_SOURCES, cached_folder
    from stores import build_store, load_embedder

    def build(folder: Path) -> dict[str, Any]:
        embedder = load_embedder(model)

        def step(what: str) -> None:
            print(f"[build {n:,}] {what}", file=sys.stderr, flush=True)

        step("synthetic corpus and import (1M: ~10 min in all)")
        db = folder / "papers.db"
        took = build_store(n, db, Path(str(db) + "-index"), embedder, step)
        return {"papers": n, "model": embedder.name, **{k: round(v) for k, v in took.items()}}

    # what builds it: a change to any of these builds a new one (of ingest/, only the modules
    # a file import runs: a change to harvesting does not cost a 20-minute rebuild)
    imports = [SRC / "ingest" / f"{m}.py" for m in ("files", "records", "codelinks", "dates",
                                                   "hf_daily")]  # fmt: skip
    sources = (ROOT / "bench" / "stores.py", *SYNTH_SOURCES, MIGRATIONS, *INDEX_SOURCES,
               *imports)  # fmt: skip
    folder, meta = cached_folder("http", {"n": n, "model": model}, sources, build)
    if meta["cached"]:
        print(f"reusing {folder} ({meta})", file=sys.stderr, flush=True)
    return folder / "papers.db"


# -- the server ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(url: str, timeout: float = 60.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return int(r.status), r.read()
    except urllib.error.HTTPError as e:
        return int(e.code), e.read()


def start_server(
    db: Path, workers: int, port: int, cache: bool = True
) -> tuple[subprocess.Popen[bytes], float]:
    """A `paperfeed serve` subprocess (the search cache on or off) and the seconds until /healthz
    answered. Run as `python -m paperfeed` with this interpreter, so that the code measured is
    the code of this checkout (PYTHONPATH=../src), whichever virtual environment runs it."""
    log = db.parent / f"serve-w{workers}{'' if cache else '-nocache'}.log"
    env = {**os.environ, "PAPERFEED_SEARCH_CACHE": os.environ.get(
        "PAPERFEED_SEARCH_CACHE", "4096") if cache else "0"}  # fmt: skip
    t = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "paperfeed", "--db", str(db), "serve", "--port", str(port),
         "--no-scheduler", "--workers", str(workers)],
        stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True, env=env,
    )  # fmt: skip
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited ({proc.returncode}); see {log}")
        try:
            # every worker opens its engine in the lifespan before it accepts connections
            if get(f"http://127.0.0.1:{port}/healthz", timeout=5)[0] == 200:
                return proc, time.perf_counter() - t
        except OSError:
            pass
        time.sleep(0.5)
    stop_server(proc)
    raise SystemExit(f"server did not answer /healthz in 600 s; see {log}")


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def tree_pids(root: int) -> list[int]:
    """root and its descendants (uvicorn's workers are children of the supervisor)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime + stime
    return total / CLK_TCK


def machine_busy_seconds() -> float:
    """CPU seconds all processes on this machine spent busy (summed over cores)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / CLK_TCK


def rss_mb(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


# -- the load generator (runs in its own process) ------------------------------------------


async def _client(
    port: int, targets: list[str], start: int, stop_at: float, record_from: float,
    lat: list[float], status: dict[int, int],
) -> None:  # fmt: skip
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    i = start
    try:
        while True:
            t = time.perf_counter()
            if t >= stop_at:
                return
            target = targets[i % len(targets)]
            i += 1
            writer.write(
                f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{HEADERS}\r\n".encode(
                    "latin-1"
                )
            )
            head = await reader.readuntil(b"\r\n\r\n")
            code = int(head[9:12])
            length = -1
            for line in head.split(b"\r\n")[1:]:
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            if length < 0:
                raise RuntimeError(f"no Content-Length in answer to {target}")
            await reader.readexactly(length)
            done = time.perf_counter()
            if t >= record_from:
                lat.append(done - t)
                status[code] = status.get(code, 0) + 1
    finally:
        writer.close()


async def _load(
    port: int, targets: list[str], clients: int, warmup: float, duration: float, pids: list[int]
) -> dict[str, Any]:
    import numpy as np

    lat: list[float] = []
    status: dict[int, int] = {}
    now = time.perf_counter()
    record_from, stop_at = now + warmup, now + warmup + duration
    step = max(1, len(targets) // clients)
    tasks = [
        _client(port, targets, c * step, stop_at, record_from, lat, status) for c in range(clients)
    ]
    marks: list[tuple[float, float, float, float]] = []  # wall, generator, server, machine CPU

    def now_mark() -> None:
        marks.append((time.perf_counter(), time.process_time(), cpu_seconds(pids),
                      machine_busy_seconds()))  # fmt: skip

    async def mark() -> None:
        await asyncio.sleep(max(0.0, record_from - time.perf_counter()))
        now_mark()

    results = await asyncio.gather(mark(), *tasks, return_exceptions=True)
    now_mark()
    failed = [repr(r) for r in results if isinstance(r, BaseException)]
    # requests in flight at stop_at finish after it: figures over the real measured window
    window = marks[1][0] - marks[0][0]
    ms = np.array(lat) * 1000 if lat else np.array([np.nan])
    return {
        "requests": len(lat),
        "rps": len(lat) / window,
        "p50": float(np.percentile(ms, 50)),
        "p95": float(np.percentile(ms, 95)),
        "p99": float(np.percentile(ms, 99)),
        "status": status,
        "client_errors": failed[:3],
        "client_failures": len(failed),
        "gen_cpu_pct": (marks[1][1] - marks[0][1]) / window * 100,
        "server_cpu_pct": (marks[1][2] - marks[0][2]) / window * 100,
        "machine_cpu_pct": (marks[1][3] - marks[0][3]) / window * 100,
    }


def load(
    port: int, targets: list[str], clients: int, warmup: float, duration: float, pids: list[int]
) -> None:
    """Entry of the generator process: prints one JSON line of figures."""
    print(json.dumps(asyncio.run(_load(port, targets, clients, warmup, duration, pids))))


def run_load(
    port: int, targets: list[str], clients: int, warmup: float, duration: float, server: int
) -> dict[str, Any]:
    """Run the generator in its own process (no GIL shared with anything) and read its figures."""
    pids = tree_pids(server)
    done = subprocess.run(
        [sys.executable, __file__, "--load", str(port), json.dumps(targets), str(clients),
         str(warmup), str(duration), json.dumps(pids)],
        capture_output=True, text=True,
    )  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"load generator failed:\n{done.stderr}")
    out: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    out["server_rss_mb"] = rss_mb(pids)
    out["server_ms_per_req"] = out["server_cpu_pct"] * 10 / max(out["rps"], 1e-9)
    out["other_cpu_pct"] = max(0.0, out["machine_cpu_pct"] - out["server_cpu_pct"]
                               - out["gen_cpu_pct"])  # fmt: skip
    return out


# -- the open-loop generator (runs in its own process) --------------------------------------


IDLE_S = 2.0  # a connection idle longer is not reused: uvicorn closes idle ones after 5 s


class _Conn:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.used = time.perf_counter()


async def _request(port: int, conn: _Conn, target: str) -> tuple[int, bool]:
    """One GET on a keep-alive connection: its status and whether the answer's ranking came from
    the server's search cache (X-Search-Cache: hit)."""
    conn.writer.write(
        f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{HEADERS}\r\n".encode("latin-1")
    )
    head = await conn.reader.readuntil(b"\r\n\r\n")
    code, length, hit = int(head[9:12]), -1, False
    for line in head.split(b"\r\n")[1:]:
        lower = line.lower()
        if lower.startswith(b"content-length:"):
            length = int(line[15:])
        elif lower.startswith(b"x-search-cache:"):
            hit = lower.endswith(b"hit")
    if length < 0:
        raise RuntimeError(f"no Content-Length in answer to {target}")
    await conn.reader.readexactly(length)
    return code, hit


async def _open_loop(
    port: int, targets: list[str], rate: float, warmup: float, duration: float, timeout: float,
    pids: list[int], seed: int,
) -> dict[str, Any]:  # fmt: skip
    """Poisson arrivals at `rate` for warmup + duration seconds, each request sent at its
    scheduled time on an idle keep-alive connection (a new one when none is idle): latency is
    counted from the scheduled send time, so a slow server (or a late generator) is charged for
    the wait it causes (no coordinated omission). `targets` is the request sequence (already
    drawn from the query mix); only requests scheduled after the warm-up are recorded, and one
    that fails or times out counts as infinitely slow in the percentiles."""
    import numpy as np

    rng = np.random.default_rng(seed)
    offsets = np.cumsum(rng.exponential(1.0 / rate, int(rate * (warmup + duration) * 1.3) + 100))
    offsets = offsets[offsets < warmup + duration]
    idle: list[_Conn] = []
    lat: list[float] = []
    counts = {"ok": 0, "errors": 0, "timeouts": 0, "hits": 0, "late_sends": 0}
    kinds: dict[str, int] = {}  # what the errors were
    marks: list[tuple[float, float, float, float]] = []

    def now_mark() -> None:
        marks.append((time.perf_counter(), time.process_time(), cpu_seconds(pids),
                      machine_busy_seconds()))  # fmt: skip

    async def one(scheduled: float, target: str, record: bool) -> None:
        conn = idle.pop() if idle else None
        while conn is not None and time.perf_counter() - conn.used > IDLE_S:
            conn.writer.close()
            conn = idle.pop() if idle else None
        try:
            if conn is None:
                conn = _Conn(*await asyncio.open_connection("127.0.0.1", port))
            code, hit = await asyncio.wait_for(_request(port, conn, target), timeout)
        except (TimeoutError, OSError, RuntimeError, asyncio.IncompleteReadError) as e:
            if conn is not None:
                conn.writer.close()  # (a late answer may still come on it: never reuse it)
            if record:
                counts["timeouts" if isinstance(e, TimeoutError) else "errors"] += 1
                if not isinstance(e, TimeoutError):
                    kinds[type(e).__name__] = kinds.get(type(e).__name__, 0) + 1
            return
        done = conn.used = time.perf_counter()
        idle.append(conn)
        if record:
            lat.append(done - scheduled)
            counts["ok" if code == 200 else "errors"] += 1
            if code != 200:
                kinds[f"HTTP {code}"] = kinds.get(f"HTTP {code}", 0) + 1
            counts["hits"] += hit and code == 200

    start = time.perf_counter() + 0.2
    tasks = []
    for i, offset in enumerate(offsets.tolist()):
        scheduled, record = start + offset, offset >= warmup
        if record and len(marks) == 0:
            now_mark()
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        elif delay < -0.005 and record:
            counts["late_sends"] += 1  # the generator fell behind (its latency still counts)
        tasks.append(asyncio.ensure_future(one(scheduled, targets[i % len(targets)], record)))
    await asyncio.sleep(max(0.0, start + warmup + duration - time.perf_counter()))
    now_mark()
    await asyncio.gather(*tasks)
    for conn in idle:
        conn.writer.close()
    window = marks[1][0] - marks[0][0]
    recorded = int(np.count_nonzero(offsets >= warmup))
    ms = np.array(lat) * 1000
    ms = np.concatenate([ms, np.full(recorded - len(lat), np.inf)])
    return {
        "offered": recorded / duration,
        "achieved": counts["ok"] / duration,
        # (no interpolation: a failed request's infinity stays infinity)
        **{
            f"p{q}": float(np.percentile(ms, q, method="higher")) if len(ms) else float("nan")
            for q in (50, 95, 99)
        },
        **counts,
        "requests": recorded,
        "error_kinds": kinds,
        "hit_rate": counts["hits"] / max(counts["ok"], 1),
        "gen_cpu_pct": (marks[1][1] - marks[0][1]) / window * 100,
        "server_cpu_pct": (marks[1][2] - marks[0][2]) / window * 100,
        "machine_cpu_pct": (marks[1][3] - marks[0][3]) / window * 100,
    }


def open_load(spec_file: str) -> None:
    """Entry of the open-loop generator process: prints one JSON line of figures."""
    spec = json.loads(Path(spec_file).read_text())
    print(json.dumps(asyncio.run(_open_loop(**spec))))


def run_open_loop(port: int, targets: list[str], rate: float, args: argparse.Namespace,
                  server: int, seed: int) -> dict[str, Any]:  # fmt: skip
    """The open loop at `rate` in its own process (no GIL shared with anything)."""
    pids = tree_pids(server)
    spec = {"port": port, "targets": targets, "rate": rate, "warmup": args.open_warmup,
            "duration": args.open_duration, "timeout": args.timeout, "pids": pids,
            "seed": seed}  # fmt: skip
    with tempfile.NamedTemporaryFile("w", suffix=".json") as f:  # (too long for a command line)
        json.dump(spec, f)
        f.flush()
        done = subprocess.run([sys.executable, __file__, "--open-load", f.name],
                              capture_output=True, text=True)  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"open-loop generator failed:\n{done.stderr}")
    out: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    out["server_rss_mb"] = rss_mb(pids)
    out["other_cpu_pct"] = max(0.0, out["machine_cpu_pct"] - out["server_cpu_pct"]
                               - out["gen_cpu_pct"])  # fmt: skip
    return out


# -- the query mix of the open loop -------------------------------------------------------

QUESTION_FORMS = (
    "how does {a} affect {b}",
    "what is known about {a} and {b}",
    "can {a} improve {b} {c}",
    "why does {a} fail for {b}",
    "how to measure {a} in {b}",
    "which methods combine {a} with {b}",
)


def query_mix(distinct: int, seed: int = 0) -> list[str]:
    """`distinct` different searches over the synthetic corpus's vocabulary, in about the
    proportions of the fixed set (a common word, a rarer word, two words of one topic, a
    frequent bigram, a natural-language question), in a random order: the first is the most
    popular under the Zipf draw (`zipf_sequence`)."""
    import random

    from benchlib import synth

    sy = synth()
    m, topics = sy.model(), sy.topics(0)
    rng = random.Random(f"paperfeed-http-mix-{seed}")
    by_df = sorted((w for w in m.df if len(w) >= 4), key=lambda w: (-m.df[w], w))
    frequent, tail = by_df[:2000], by_df[2000:]
    found: dict[str, None] = dict.fromkeys(sy.QUESTIONS)
    makers = [
        lambda: rng.choice(frequent),
        lambda: rng.choice(tail),
        lambda: " ".join(rng.sample(rng.choice(topics).words, 2)),
        lambda: rng.choice(m.bigrams[:500]),
        lambda: rng.choice(QUESTION_FORMS).format(
            a=rng.choice(frequent), b=rng.choice(rng.choice(topics).words), c=rng.choice(frequent)
        ),
    ]
    while len(found) < distinct:
        found[rng.choice(makers)()] = None
    out = list(found)[:distinct]
    rng.shuffle(out)
    return out


def zipf_sequence(queries: list[str], s: float, n: int, seed: int) -> list[str]:
    """n searches drawn from `queries` with P(rank k) proportional to 1 / k**s."""
    import numpy as np

    weights = 1.0 / np.arange(1, len(queries) + 1) ** s
    ranks = np.random.default_rng(seed).choice(len(queries), size=n, p=weights / weights.sum())
    return [queries[int(r)] for r in ranks]


# -- the benchmark ------------------------------------------------------------------------


def queries() -> list[str]:
    from benchlib import synth

    groups = synth().sample_queries()
    # interleave the groups so every stretch of requests has the same mix
    return [q for row in zip(*groups.values(), strict=True) for q in row]


ENDPOINTS = {
    "/healthz": "/healthz",
    "/search (HTML page)": "/search?q={q}",
    "/search.json": "/search.json?q={q}",
    TARGET_PATH: TARGET_PATH + "?q={q}&limit=20",
}


def measure(
    db: Path, workers: int, cache: bool, args: argparse.Namespace
) -> tuple[dict[str, dict[str, Any]], dict[float, dict[str, Any]]]:
    """One server (`workers`, the search cache on or off): the closed loop on each endpoint
    (with the cache off, on the search API only: what the cache changes), then the open loop
    on the search API at each rate. Returns both sets of figures."""
    port = free_port()
    print(f"[serve] workers={workers} cache={'on' if cache else 'off'} port={port} starting",
          file=sys.stderr, flush=True)  # fmt: skip
    proc, startup_s = start_server(db, workers, port, cache)
    qs = queries()
    results: dict[str, dict[str, Any]] = {"startup": {"seconds": startup_s}}
    opened: dict[float, dict[str, Any]] = {}
    endpoints = ENDPOINTS if cache else {k: v for k, v in ENDPOINTS.items() if k == TARGET_PATH}
    try:
        for label, pattern in (endpoints if args.closed else {}).items():
            targets = [pattern.format(q=quote_plus(q)) for q in qs]
            code, body = get(f"http://127.0.0.1:{port}{targets[0]}")
            if code != 200:
                print(f"[serve] {label}: {code} on a probe, skipped: {body[:200]!r}",
                      file=sys.stderr, flush=True)  # fmt: skip
                results[label] = {"skipped": code}
                continue
            for target in targets:  # every query once: first-touch costs are not measured
                get(f"http://127.0.0.1:{port}{target}")
            print(f"[load] workers={workers} {label}: {args.clients} clients, "
                  f"{args.warmup:.0f} s warm-up + {args.duration:.0f} s",
                  file=sys.stderr, flush=True)  # fmt: skip
            r = run_load(port, targets, args.clients, args.warmup, args.duration, proc.pid)
            print(f"        {r['rps']:.1f} req/s, p50 {r['p50']:.1f} ms, p95 {r['p95']:.1f} ms, "
                  f"server CPU {r['server_cpu_pct']:.0f}%, generator CPU {r['gen_cpu_pct']:.0f}%, "
                  f"other CPU {r['other_cpu_pct']:.0f}%",
                  file=sys.stderr, flush=True)  # fmt: skip
            results[label] = r
        if args.rates:
            mix = query_mix(args.distinct)
            for i, rate in enumerate(args.rates):
                n = int(rate * (args.open_warmup + args.open_duration) * 1.3) + 100
                seq = zipf_sequence(mix, args.zipf, n, seed=i)
                targets = [f"{TARGET_PATH}?q={quote_plus(q)}&limit=20" for q in seq]
                print(f"[open] workers={workers} cache={'on' if cache else 'off'} {rate:g} req/s: "
                      f"{args.open_warmup:.0f} s warm-up + {args.open_duration:.0f} s",
                      file=sys.stderr, flush=True)  # fmt: skip
                r = run_open_loop(port, targets, rate, args, proc.pid, seed=i)
                print(f"        achieved {r['achieved']:.1f} req/s, p50 {r['p50']:.1f} ms, "
                      f"p95 {r['p95']:.1f} ms, p99 {r['p99']:.1f} ms, hits {r['hit_rate']:.0%}, "
                      f"errors {r['errors']} {r['error_kinds'] or ''}, timeouts {r['timeouts']}, "
                      f"server CPU {r['server_cpu_pct']:.0f}%, other CPU {r['other_cpu_pct']:.0f}%",
                      file=sys.stderr, flush=True)  # fmt: skip
                opened[rate] = r
    finally:
        stop_server(proc)
    return results, opened


def print_open_table(n: int, opened: dict[str, dict[float, dict[str, Any]]],
                     args: argparse.Namespace) -> None:  # fmt: skip
    """The open loop: one row per offered rate, one block of columns per server."""
    print(f"\nOpen loop on {TARGET_PATH}, N = {n:,} papers: Poisson arrivals, a Zipf (s = "
          f"{args.zipf:g}) mix of {args.distinct:,} distinct searches, {args.open_warmup:.0f} s "
          f"warm-up + {args.open_duration:.0f} s measured per rate (rates in rising order on one "
          f"server: its cache stays warm from rate to rate), latency from each request's "
          f"scheduled send time, a request failed or over {args.timeout:g} s counted as "
          f"infinitely slow\n")  # fmt: skip
    print(
        "| server | offered (req/s) | achieved (req/s) | p50 (ms) | p95 (ms) | p99 (ms) | "
        "errors | timeouts | cache hits | late sends | server CPU (% of a core) | "
        "generator CPU | other CPU |"
    )
    print("|---|" + "---|" * 12)
    for label, rates in opened.items():
        for r in rates.values():
            print(f"| {label} | {r['offered']:.0f} | {r['achieved']:.0f} | {r['p50']:.1f} | "
                  f"{r['p95']:.1f} | {r['p99']:.1f} | {r['errors']} | {r['timeouts']} | "
                  f"{r['hit_rate']:.0%} | {r['late_sends']} | {r['server_cpu_pct']:.0f} | "
                  f"{r['gen_cpu_pct']:.0f} | {r['other_cpu_pct']:.0f} |")  # fmt: skip
    print("\n| server | highest rate with p95 <= 100 ms | p95 at 200 req/s | target |")
    print("|---|---|---|---|")
    for label, rates in opened.items():
        ok = [rate for rate, r in rates.items() if r["p95"] <= TARGET_P95_MS]
        best = f"{max(ok):g} req/s" if ok else "none measured"
        at200 = f"{rates[200.0]['p95']:.1f} ms" if 200.0 in rates else "not measured"
        print(f"| {label} | {best} | {at200} | >= 400 req/s; p95 <= 50 ms at 200 req/s "
              f"(at 1M, cache on) |")  # fmt: skip


def errors(r: dict[str, Any]) -> int:
    return sum(v for k, v in r["status"].items() if int(k) != 200) + r["client_failures"]


def print_table(n: int, all_results: dict[str, dict[str, dict[str, Any]]], clients: int) -> None:
    workers = list(all_results)
    print(f"\nN = {n:,} papers, {clients} concurrent clients (closed loop, keep-alive, loopback), "
          f"{os.cpu_count()} CPUs, hybrid search, 40 queries cycled (with the cache on, every "
          f"search after the first pass is a cache hit; cache off is the comparison with the "
          f"figures before the cache)\n")  # fmt: skip
    print(f"| figure | {' | '.join(workers)} | target / comparison |")
    print("|---|" + "---|" * (len(workers) + 1))

    def row(figure: str, cells: list[str], target: str = "") -> None:
        print(f"| {figure} | {' | '.join(cells)} | {target} |")

    row("server start-up to first /healthz (s)",
        [f"{all_results[w]['startup']['seconds']:.1f}" for w in workers])  # fmt: skip
    figures = (("requests/s", "rps", "{:,.1f}"), ("p50 (ms)", "p50", "{:,.1f}"),
               ("p95 (ms)", "p95", "{:,.1f}"), ("p99 (ms)", "p99", "{:,.1f}"),
               ("errors", "", "{}"), ("server CPU (% of one core)", "server_cpu_pct", "{:.0f}"),
               ("server CPU per request (ms)", "server_ms_per_req", "{:.1f}"),
               ("load generator CPU (% of one core)", "gen_cpu_pct", "{:.0f}"),
               ("other processes' CPU (% of one core)", "other_cpu_pct", "{:.0f}"))  # fmt: skip
    for label in ENDPOINTS:
        runs = [all_results[w].get(label, {"skipped": "-"}) for w in workers]
        if all("skipped" in r for r in runs):
            row(f"{label}", [f"not served ({r['skipped']})" for r in runs],
                f"p95 <= {TARGET_P95_MS:.0f} ms at 1M" if label == TARGET_PATH else "")  # fmt: skip
            continue
        for name, key, fmt in figures:
            cells = []
            for r in runs:
                if "skipped" in r:
                    cells.append(f"not served ({r['skipped']})")
                elif key == "":
                    cells.append(str(errors(r)))
                else:
                    cells.append(fmt.format(r[key]))
            target = ""
            if label == TARGET_PATH and key == "p95":
                target = f"<= {TARGET_P95_MS:.0f} ms at 1M"
            elif label == "/healthz" and key == "rps":
                target = "ceiling of server HTTP stack + generator"
            elif key == "other_cpu_pct":
                target = "should be ~0: anything else running skews the figures"
            elif label != "/healthz" and key == "rps":
                target = f">= {clients * 1000 / TARGET_P95_MS:.0f} needed for mean <= 100 ms"
            elif label != "/healthz" and key == "p50":
                cells_ll = [f"{clients * 1000 / r['rps']:.0f}" for r in runs if "rps" in r]
                target = f"clients / (req/s) = {' | '.join(cells_ll)} ms (Little's law)"
            row(f"{label} {name}", cells, target)
    rss = [max((r.get("server_rss_mb", 0) for r in all_results[w].values()), default=0)
           for w in workers]  # fmt: skip
    row("server RSS, all processes (MB)", [f"{m:,.0f}" for m in rss])
    verdicts = []
    for w in workers:
        r = all_results[w].get(TARGET_PATH, {})
        if "p95" in r:
            verdicts.append("met" if r["p95"] <= TARGET_P95_MS and not errors(r) else "not met")
            continue
        alt = all_results[w].get("/search.json", {})
        verdicts.append(
            f"n/a; /search.json p95 {alt['p95']:.0f} ms: "
            f"{'met' if alt['p95'] <= TARGET_P95_MS else 'not met'}"
            if "p95" in alt
            else "n/a"
        )
    row(f"target: {TARGET_PATH} p95 <= {TARGET_P95_MS:.0f} ms", verdicts,
        f"counts at N = 1,000,000 (this run: {n:,})")  # fmt: skip


# -- where one request's time goes --------------------------------------------------------


def profile(db: Path, repeats: int = 3) -> None:
    """One request at a time, in this process: each stage of a hybrid /search(.json) timed."""
    import numpy as np
    import orjson
    from starlette.requests import Request

    from paperfeed import services
    from paperfeed.config import load_settings
    from paperfeed.search.engine import CANDIDATES
    from paperfeed.search.query import Filters, parse_query
    from paperfeed.web import views
    from paperfeed.web.app import _templates
    from paperfeed.web.clean import dump_json
    from paperfeed.web.hf_api import search_answer

    settings = load_settings(db=str(db))
    embedder = services.load_model(settings)

    engine = services.search_engine(settings, services.open_db(settings), embedder)
    engine.sync()
    assert engine.vectors is not None
    env = _templates()
    times: dict[str, list[float]] = {}

    def clock(stage: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        t = time.perf_counter()
        out = fn(*args, **kwargs)
        times.setdefault(stage, []).append((time.perf_counter() - t) * 1000)
        return out

    qs = queries()
    page = env.get_template("search.html")
    for i in range(repeats + 1):
        if i == 1:
            times.clear()  # the first pass warms caches
        for q in qs:
            parsed = parse_query(q)
            clock("index catch-up check (engine.sync)", engine.sync)
            text = " ".join(parsed.phrases + parsed.words)
            vec = clock("query embedding (ONNX)", embedder.embed_query, text)
            sem = clock("vector search, k=100 (faiss HNSW)", engine.vectors.search, vec, CANDIDATES)
            kw = clock("keyword search, k=100 (tantivy)", engine.keyword.search, parsed, Filters(),
                       CANDIDATES)  # fmt: skip
            fused = clock("fusion", engine.fuse, kw, sem)[:20]
            clock("fetch 20 papers (SQLite)", engine._hits, fused)
            view = clock("search_view total (the above + building the dict)", views.search_view,
                         engine, {"q": q})  # fmt: skip
            clock("JSON encode (orjson)", orjson.dumps, view)
            if engine.cache is not None:
                engine.cache.rankings.clear()
                engine.cache.embeddings.clear()
            clock(f"{TARGET_PATH} answer total (hf_api.search_answer), not cached",
                  search_answer, engine, {"q": q, "limit": "20"})  # fmt: skip
            clock(f"{TARGET_PATH} answer total, its ranking cached", search_answer, engine,
                  {"q": q, "limit": "20"})  # fmt: skip
            answer, _ = search_answer(engine, {"q": q, "limit": "20"})
            clock(f"{TARGET_PATH} JSON body (clean.dump_json)", dump_json, answer)
            clock(f"{TARGET_PATH} gzip of the body (level 1, as the app)", gzip.compress,
                  dump_json(answer), 1)  # fmt: skip
            scope = {"type": "http", "method": "GET", "scheme": "http", "path": "/search",
                     "root_path": "", "query_string": f"q={quote_plus(q)}".encode(),
                     "headers": [(b"host", b"127.0.0.1")], "server": ("127.0.0.1", 80)}  # fmt: skip
            clock("HTML render (jinja2 search.html)", page.render, view=view,
                  request=Request(scope))  # fmt: skip
    print(f"\nOne request at a time, in-process, N = {engine.store.count_papers():,}, "
          f"{len(qs)} queries x {repeats} (ms)\n")  # fmt: skip
    print("| stage | mean (ms) | p50 (ms) | p95 (ms) |")
    print("|---|---|---|---|")
    for stage, ms in times.items():
        a = np.array(ms)
        print(f"| {stage} | {a.mean():.2f} | {np.percentile(a, 50):.2f} | "
              f"{np.percentile(a, 95):.2f} |")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=1_000_000, help="papers (1,000,000)")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="server workers")
    ap.add_argument("--clients", type=int, default=32, help="concurrent clients (32)")
    ap.add_argument("--duration", type=float, default=20.0, help="seconds measured per endpoint")
    ap.add_argument("--warmup", type=float, default=3.0, help="seconds of warm-up per endpoint")
    ap.add_argument("--build-only", action="store_true", help="build the database and stop")
    ap.add_argument("--profile", action="store_true",
                    help="also time each stage of one search request, in-process")  # fmt: skip
    ap.add_argument(
        "--rates",
        type=float,
        nargs="*",
        default=[50, 100, 200, 300, 400],
        help="open-loop arrival rates, req/s (50 100 200 300 400); none: no open loop",
    )
    ap.add_argument(
        "--zipf",
        type=float,
        default=1.0,
        help="Zipf exponent of the open loop's query mix (1.0: web query logs)",
    )
    ap.add_argument(
        "--distinct", type=int, default=3000, help="distinct searches in the open loop's mix (3000)"
    )
    ap.add_argument(
        "--open-duration", type=float, default=20.0, help="seconds measured per open-loop rate (20)"
    )
    ap.add_argument(
        "--open-warmup", type=float, default=5.0, help="seconds of warm-up per open-loop rate (5)"
    )
    ap.add_argument(
        "--timeout",
        type=float,
        default=5.0,
        help="seconds after which an open-loop request counts as timed out (5)",
    )
    ap.add_argument("--cache", choices=["on", "off", "both"], default="both",
                    help="the server's search cache (PAPERFEED_SEARCH_CACHE): both runs a server "
                         "with it and one without")  # fmt: skip
    ap.add_argument("--no-closed", dest="closed", action="store_false", help="skip the closed loop")
    ap.add_argument("--load", nargs=6, help=argparse.SUPPRESS)
    ap.add_argument("--open-load", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.open_load:
        open_load(args.open_load)
        return
    if args.load:
        port, targets, clients, warmup, duration, pids = args.load
        load(int(port), json.loads(targets), int(clients), float(warmup), float(duration),
             json.loads(pids))  # fmt: skip
        return
    db = build_db(args.n, "")  # the model the server loads: paperfeed's default
    if args.build_only:
        return
    print(f"[machine] load average before: {os.getloadavg()[0]:.2f}, {os.getloadavg()[1]:.2f}, "
          f"{os.getloadavg()[2]:.2f}", file=sys.stderr, flush=True)  # fmt: skip
    before = os.getloadavg()
    closed, opened = {}, {}
    for w in args.workers:
        for cache in {"on": [True], "off": [False], "both": [True, False]}[args.cache]:
            label = f"workers = {w}, cache {'on' if cache else 'off'}"
            closed[label], opened[label] = measure(db, w, cache, args)
    after = os.getloadavg()
    print(
        f"\nLoad average (1, 5, 15 min) before: {before[0]:.2f} {before[1]:.2f} {before[2]:.2f}; "
        f"after: {after[0]:.2f} {after[1]:.2f} {after[2]:.2f} ({os.cpu_count()} CPUs)"
    )
    if args.closed:
        print_table(args.n, closed, args.clients)
    if args.rates:
        print_open_table(args.n, opened, args)
    if args.profile:
        profile(db)


if __name__ == "__main__":
    main()
