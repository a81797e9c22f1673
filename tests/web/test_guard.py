"""What web/guard.py decides for every request: which origin a form may come from (the
configured base URL, never the request's own Host header), the site's address in links, and
the security headers on every response.

The DNS-rebinding checks run against a real `paperfeed serve` (it sets PAPERFEED_BASE_URL to
its own address); the rest in process.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from starlette.testclient import TestClient

from paperfeed.ingest.files import import_file
from paperfeed.search.engine import SearchEngine
from paperfeed.store import open_store
from paperfeed.web.app import create_app
from paperfeed.web.guard import SECURITY_HEADERS
from tests.conftest import SEED

EVIL_HOST = "evil.example"
REBOUND = {"Host": EVIL_HOST, "Origin": f"http://{EVIL_HOST}"}  # a rebinding page posting
BASE = "https://papers.example.org"


def csrf_in(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "the page has no csrf_token field"
    return found.group(1)


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    db = tmp_path_factory.mktemp("guard") / "guard.db"
    store = open_store(str(db))
    import_file(store, SEED)
    app = create_app(lambda: SearchEngine(store, str(db) + "-index"), base_url=BASE)
    with TestClient(app, base_url=BASE) as c:  # (its cookies are Secure)
        yield c
    store.close()


# -- the Host header is not trusted ---------------------------------------------------------


def test_a_rebinding_page_cannot_post_to_a_real_server(live_server: str) -> None:
    with httpx.Client(base_url=live_server, headers={"Host": EVIL_HOST}) as rebound:
        token = csrf_in(rebound.get("/signin").text)  # the page reads its own form token
        answer = rebound.post("/signin", data={"email": "victim@example.org",
                                               "csrf_token": token}, headers=REBOUND)  # fmt: skip
    assert answer.status_code == 403, answer.text
    assert "This form was sent from another site" in answer.text
    assert live_server in answer.text  # where to open paperfeed instead
    # the same form from the server's own address goes through to the next check
    with httpx.Client(base_url=live_server) as own:
        token = csrf_in(own.get("/signin").text)
        answer = own.post("/signin", data={"email": "", "csrf_token": token},
                          headers={"Origin": live_server})  # fmt: skip
    assert answer.status_code == 400, answer.text


@pytest.mark.parametrize("kind", ["atom", "rss"])
def test_feeds_and_pages_of_a_real_server_never_echo_the_host(live_server: str, kind: str) -> None:
    with httpx.Client(base_url=live_server, headers={"Host": EVIL_HOST}) as rebound:
        for path in (f"/trending.{kind}?window=month", f"/search.{kind}?q=dropout", "/",
                     "/search?q=dropout", "/paper/2410.17243"):  # fmt: skip
            answer = rebound.get(path)
            assert answer.status_code == 200, (path, answer.text)
            assert EVIL_HOST not in answer.text, path
        feed = rebound.get(f"/search.{kind}?q=dropout").text
        assert f"{live_server}/search.{kind}?q=dropout" in feed
        assert f"{live_server}/paper/" in feed


def test_only_the_base_url_is_our_origin(client: TestClient) -> None:
    token = csrf_in(client.get("/signin").text)

    def post(**headers: str) -> int:
        answer = client.post("/signin", data={"email": "", "csrf_token": token}, headers=headers)
        return answer.status_code

    assert post(**REBOUND) == 403
    assert post(Host=EVIL_HOST, Origin=f"https://{EVIL_HOST}") == 403
    assert post(Host="papers.example.org", Origin="http://papers.example.org:8443") == 403
    assert post(Origin="http://127.0.0.1:8000") == 403  # the address it listens on is not ours
    assert post(Origin=BASE) == 400  # ours: on to the next check (no address given)
    assert post(Host=EVIL_HOST, Origin=BASE) == 400


def test_a_loopback_base_url_accepts_its_other_loopback_names(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "loop.db"))
    app = create_app(lambda: SearchEngine(store, str(tmp_path / "ix")),
                     base_url="http://127.0.0.1:8000")  # fmt: skip
    with TestClient(app, base_url="http://localhost:8000") as c:
        token = csrf_in(c.get("/signin").text)
        for origin, status in [("http://localhost:8000", 400), ("http://[::1]:8000", 400),
                               ("http://127.0.0.1:8000", 400), ("http://localhost:8001", 403),
                               ("https://localhost:8000", 403), (f"http://{EVIL_HOST}", 403),
                               ("http://localhost.evil.example:8000", 403)]:  # fmt: skip
            answer = c.post("/signin", data={"email": "", "csrf_token": token},
                            headers={"Origin": origin})  # fmt: skip
            assert answer.status_code == status, (origin, answer.text)
    store.close()


def test_redirects_point_at_the_base_url(client: TestClient) -> None:
    answer = client.get("/trending/", headers={"Host": EVIL_HOST}, follow_redirects=False)
    assert answer.status_code in (307, 308)
    assert answer.headers["location"] == f"{BASE}/trending"
    feed = client.get("/trending.atom", headers={"Host": EVIL_HOST}).text
    assert EVIL_HOST not in feed and f'href="{BASE}/trending.atom"' in feed


# -- every response carries the security headers ----------------------------------------------

EVERY_KIND = ["/static/style.css", "/static/favicon.svg", "/static/nothing.css", "/healthz",
              "/r/2401.00001", "/openapi.json", "/trending/"]  # fmt: skip


@pytest.mark.parametrize("path", EVERY_KIND)
def test_every_response_carries_the_security_headers(client: TestClient, path: str) -> None:
    answer = client.get(path, follow_redirects=False)
    assert answer.status_code < 500
    for name, value in SECURITY_HEADERS.items():
        assert answer.headers.get(name) == value, (path, name)
