"""What an operator sees of the web app: an access log and Prometheus metrics.

`Observe` (ASGI middleware) times every request and, when switched on, writes one access-log
line (logger `paperfeed.access`: client, method, path, status, milliseconds) and counts it by
route template (`/paper/{ref:path}`, never the raw path: one time series per route, not per
paper) for `/metrics`. `/metrics` (off unless PAPERFEED_METRICS=1) answers in the Prometheus
text format: those request counts and latencies, and the figures of `paperfeed status` read
from the store at scrape time. Several worker processes share their counts through
PROMETHEUS_MULTIPROC_DIR, which `paperfeed serve` sets for them.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

access = logging.getLogger("paperfeed.access")
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    """The request counters of this process and the registry `/metrics` renders; `status` is
    called at each scrape for the store's figures (status.gather)."""

    def __init__(self, status: Callable[[], Mapping[str, Any]]) -> None:
        self.requests = Counter("paperfeed_http_requests", "HTTP requests answered",
                                ["method", "route", "status"], registry=None)  # fmt: skip
        self.latency = Histogram("paperfeed_http_request_duration_seconds",
                                 "Time to answer a request", ["route"], buckets=_BUCKETS,
                                 registry=None)  # fmt: skip
        self.registry = CollectorRegistry()
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):  # every worker's counts, summed
            MultiProcessCollector(self.registry)  # type: ignore[no-untyped-call]
        else:
            self.registry.register(self.requests)
            self.registry.register(self.latency)
        self.registry.register(_StoreFigures(status))

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(route).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _StoreFigures(Collector):
    def __init__(self, status: Callable[[], Mapping[str, Any]]) -> None:
        self.status = status

    def collect(self) -> Iterator[Metric]:
        s = self.status()
        yield _gauge("paperfeed_papers", "Papers in the database", s["papers"])
        yield _gauge("paperfeed_keyword_index_lag", "Paper changes the keyword index has not "
                     "caught up with", s["keyword_index_lag"])  # fmt: skip
        for name, doc, key in (
            ("paperfeed_embedded_papers", "Papers with a vector", "embedded"),
            ("paperfeed_embedding_backlog", "Papers waiting to be embedded", "backlog"),
            ("paperfeed_vector_index_lag", "Vectors the vector index has not caught up with",
             "index_lag"),
        ):  # fmt: skip
            yield _gauge(name, doc, {m: e[key] for m, e in s["embeddings"].items()}, "model")
        yield _gauge("paperfeed_subscribers", "Digest subscribers by state", s["subscribers"],
                     "state")  # fmt: skip
        channels = GaugeMetricFamily(
            "paperfeed_channels",
            "Webhook, Slack and Discord channels by kind and state",
            labels=["kind", "state"],
        )
        for kind, states in sorted(s["channels"].items()):
            for state, n in sorted(states.items()):
                channels.add_metric([kind, state], n)
        yield channels
        yield _gauge("paperfeed_deliveries", "Mails in the delivery ledger by state",
                     s["deliveries"], "state")  # fmt: skip
        sources = s["sources"]
        yield _gauge("paperfeed_source_failures", "Failed runs in a row",
                     {x["name"]: x["failures"] for x in sources}, "source")  # fmt: skip
        yield _gauge("paperfeed_source_last_ok_timestamp_seconds", "When a run last succeeded",
                     {x["name"]: _stamp(x["last_ok_at"]) for x in sources}, "source")  # fmt: skip
        yield _gauge("paperfeed_source_next_run_timestamp_seconds", "When it runs next",
                     {x["name"]: _stamp(x["next_run_at"]) for x in sources}, "source")  # fmt: skip
        yield _gauge("paperfeed_source_papers_added", "Papers a source has added in all",
                     {x["name"]: x["papers_added"] for x in sources}, "source")  # fmt: skip
        sizes = s["sizes"]
        if sizes["database_bytes"] is not None:  # (a SQLite file's; PostgreSQL's is not known)
            yield _gauge("paperfeed_database_bytes", "Database files", sizes["database_bytes"])
        yield _gauge("paperfeed_index_bytes", "Search index files", sizes["index_bytes"])


def _gauge(name: str, doc: str, value: float | Mapping[str, float], label: str = ""
           ) -> GaugeMetricFamily:  # fmt: skip
    if not isinstance(value, Mapping):
        return GaugeMetricFamily(name, doc, value=value)
    family = GaugeMetricFamily(name, doc, labels=[label])
    for key, v in sorted(value.items()):
        family.add_metric([key], v)
    return family


def _stamp(iso: str | None) -> float:
    return datetime.fromisoformat(iso).timestamp() if iso else 0.0


class Observe:
    """ASGI middleware: the access log and the request metrics (either may be off)."""

    def __init__(self, app: ASGIApp, *, access_log: bool = False,
                 metrics: Metrics | None = None) -> None:  # fmt: skip
        self.app, self.access_log, self.metrics = app, access_log, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not (self.access_log or self.metrics):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what a crash before any answer amounts to

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            seconds = time.perf_counter() - started
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            if self.metrics is not None:
                self.metrics.observe(scope["method"], route, status, seconds)
            if self.access_log:
                client = scope.get("client")
                path = scope["path"] + (f"?{scope['query_string'].decode('latin-1')}"
                                        if scope.get("query_string") else "")  # fmt: skip
                access.info('%s "%s %s" %d %.1fms', client[0] if client else "-",
                            scope["method"], path, status, seconds * 1000,
                            extra={"client": client[0] if client else None,
                                   "method": scope["method"], "path": path, "route": route,
                                   "status": status, "ms": round(seconds * 1000, 1)})  # fmt: skip
