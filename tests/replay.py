"""A local HTTP server that replays recorded responses and injects faults.

The sources' real clients talk real HTTP to it on 127.0.0.1; nothing here fakes our own code.
Each route is a path (with or without query string) and a queue of replies, or a handler
that computes the reply from the query; a reply is a status, headers and body, or one of the
faults: RESET (close the connection before any answer) and CUT (promise a Content-Length, send
half the body, close). `delay_s` slows every answer, for tests that kill a client mid-run.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

RESET = "reset"
CUT = "cut"


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    fault: str | None = None


@dataclass
class Replay:
    base_url: str = ""
    routes: dict[str, deque[Reply]] = field(default_factory=lambda: defaultdict(deque))
    sticky: dict[str, Reply] = field(default_factory=dict)
    handlers: dict[str, Callable[[dict[str, str]], Reply]] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)
    delay_s: float = 0.0

    def add(self, path: str, *replies: Reply, sticky: Reply | None = None) -> None:
        """Queue replies for `path` ('/api/x' or '/api/x?a=1'); `sticky` answers once the
        queue is empty."""
        self.routes[path].extend(replies)
        if sticky is not None:
            self.sticky[path] = sticky

    def handle(self, path: str, handler: Callable[[dict[str, str]], Reply]) -> None:
        """Answer `path` with handler(query parameters) once its queue (if any) is empty."""
        self.handlers[path] = handler

    def take(self, target: str) -> Reply:
        parts = urlsplit(target)
        path = parts.path
        for key in (target, path):
            if self.routes.get(key):
                return self.routes[key].popleft()
            if key in self.sticky:
                return self.sticky[key]
        if path in self.handlers:
            return self.handlers[path](dict(parse_qsl(parts.query, keep_blank_values=True)))
        return Reply(404, b"no recorded response for " + target.encode())


def _handler(replay: Replay) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            replay.requests.append(self.path)
            reply = replay.take(self.path)
            if replay.delay_s:
                time.sleep(replay.delay_s)
            if reply.fault == RESET:
                self.close_connection = True
                self.connection.close()
                return
            self.send_response(reply.status)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(reply.body)))
            if reply.fault == CUT:
                self.send_header("Connection", "close")
            self.end_headers()
            if reply.fault == CUT:
                self.wfile.write(reply.body[: len(reply.body) // 2])
                self.wfile.flush()
                self.close_connection = True
                return
            self.wfile.write(reply.body)

        def log_message(self, format: str, *args: object) -> None:
            return

    return Handler


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client killed mid-answer (the SIGKILL tests) is expected, not news


@contextmanager
def replay_server() -> Iterator[Replay]:
    replay = Replay()
    server = _QuietServer(("127.0.0.1", 0), _handler(replay))
    server.daemon_threads = True
    replay.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield replay
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


class FakeClock:
    """Injected time for the polite client: sleeping advances it instantly."""

    def __init__(self) -> None:
        self.t = 1_700_000_000.0
        self.sleeps: list[float] = []

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 3))
        self.t += seconds
