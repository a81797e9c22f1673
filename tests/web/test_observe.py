"""What an operator sees: /metrics in the Prometheus text format (off unless switched on), the
access log, and log lines as JSON; in process, over a real store."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from paperfeed.config import Settings
from paperfeed.ingest.files import import_file
from paperfeed.logs import JSONFormatter
from paperfeed.search.engine import SearchEngine
from paperfeed.status import gather
from paperfeed.store import Preferences, Store, open_store
from paperfeed.web.app import create_app
from tests.conftest import SEED
from tests.web.conftest import add_hf_day


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = open_store(str(tmp_path / "web.db"))
    import_file(s, SEED)
    add_hf_day(s)
    yield s
    s.close()


def client(store: Store, tmp_path: Path, **options: object) -> TestClient:
    engine = SearchEngine(store, str(tmp_path / "web.db-index"))
    return TestClient(create_app(lambda: engine, **options))  # type: ignore[arg-type]


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a Prometheus text page (parsed by prometheus_client's own parser)."""
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}  # fmt: skip


def test_metrics_are_off_unless_switched_on(store: Store, tmp_path: Path) -> None:
    with client(store, tmp_path) as c:
        assert c.get("/metrics").status_code == 404


def test_metrics_count_requests_by_route_and_export_the_status_figures(
    store: Store, tmp_path: Path
) -> None:
    settings = Settings(db=str(tmp_path / "web.db"))
    owner = store.get_or_add_user("ada@example.org", datetime(2026, 1, 1, tzinfo=UTC))
    store.add_channel(owner.id, "slack", "https://hooks.slack.com/services/T/B/x", None,
                      Preferences(), 0.0)  # fmt: skip
    store.add_subscriber("bob@example.org", 0.0, "web")
    with client(store, tmp_path, status=lambda s: gather(settings, s)) as c:
        assert c.get("/search.json", params={"q": "dropout"}).status_code == 200
        assert c.get("/paper/2410.17243").status_code == 200
        assert c.get("/paper/2410.16251").status_code == 200
        assert c.get("/paper/nope").status_code == 404
        page = c.get("/metrics")
    assert page.headers["content-type"].startswith("text/plain; version=0.0.4")
    got = samples(page.text)
    requests = "paperfeed_http_requests_total"
    route = (("method", "GET"), ("route", "/paper/{ref:path}"))
    assert got[(requests, (*route, ("status", "200")))] == 2  # one series per route, not paper
    assert got[(requests, (*route, ("status", "404")))] == 1
    assert got[(requests, (("method", "GET"), ("route", "/search.json"), ("status", "200")))] == 1
    assert got[("paperfeed_papers", ())] == 231
    model = (("model", "all-MiniLM-L6-v2-int8"),)
    assert got[("paperfeed_embedding_backlog", model)] == 231  # nothing embedded here
    assert got[("paperfeed_keyword_index_lag", ())] == 0  # the search caught it up
    assert got[("paperfeed_database_bytes", ())] > 0
    assert got[("paperfeed_subscribers", (("state", "pending"),))] == 1  # the address only
    assert got[("paperfeed_channels", (("kind", "slack"), ("state", "confirmed")))] == 1
    count = "paperfeed_http_request_duration_seconds_count"
    assert got[(count, (("route", "/paper/{ref:path}"),))] == 3


def test_the_access_log_has_a_line_per_request(
    store: Store, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with (
        caplog.at_level(logging.INFO, "paperfeed.access"),
        client(store, tmp_path, access_log=True) as c,
    ):
        c.get("/search", params={"q": "dropout"})
    lines = [r for r in caplog.records if r.name == "paperfeed.access"]
    assert len(lines) == 1
    line = lines[0]
    assert line.getMessage().startswith('testclient "GET /search?q=dropout" 200 ')
    assert (line.status, line.route, line.method) == (200, "/search", "GET")  # type: ignore[attr-defined]
    formatted = json.loads(JSONFormatter().format(line))
    assert formatted["path"] == "/search?q=dropout" and formatted["level"] == "INFO"
    assert formatted["time"].endswith("Z") and formatted["ms"] >= 0
