"""Pages and their JSON twins, in process, over the real store and search indexes."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from paperfeed.models import Paper
from paperfeed.search.engine import SearchEngine
from paperfeed.store import open_store
from paperfeed.web.app import create_app
from tests.conftest import SEED
from tests.web.conftest import HF_IDS, HOSTILE, add_hf_day


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    from paperfeed.ingest.files import import_file

    db = tmp_path_factory.mktemp("web") / "web.db"
    store = open_store(str(db))
    import_file(store, SEED)
    store.upsert_papers([HOSTILE])
    add_hf_day(store)
    app = create_app(lambda: SearchEngine(store, str(db) + "-index"))
    with TestClient(app) as c:
        yield c
    store.close()


def test_home_shows_the_latest_day_and_trending_with_a_json_twin(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert 'name="viewport"' in page.text and "Papers of 2024-10-25" in page.text
    data = client.get("/index.json").json()
    assert data["undated"] is False
    assert data["today"]["date"] == "2024-10-25" and not data["today"]["more"]
    assert {p["id"] for p in data["today"]["papers"]} == set(HF_IDS)
    trending = data["trending"]
    assert (trending["window"], trending["since"], trending["until"]) == (
        "week",
        "2024-10-19",
        "2024-10-25",
    )
    votes = [p["signals"].get("hf_upvotes", 0) for p in trending["papers"]]
    assert votes == sorted(votes, reverse=True) and votes[0] > 0
    # the hostile paper, published on the 24th with no votes, comes after the voted ones
    assert [p["id"] for p in trending["papers"]][-1] == HOSTILE.id
    assert f"▲ {int(votes[0])}" in page.text


def test_trending_windows_and_days(client: TestClient) -> None:
    day = client.get("/trending.json", params={"window": "day"}).json()
    assert {p["id"] for p in day["papers"]} == set(HF_IDS) and day["since"] == "2024-10-25"
    month = client.get("/trending.json", params={"window": "month"}).json()
    assert month["since"] == "2024-09-26" and len(month["papers"]) == len(HF_IDS) + 1
    assert client.get("/trending.json", params={"window": "year"}).status_code == 400
    today = client.get("/today.json").json()
    assert today["date"] == "2024-10-25" and today["earlier"] == "2024-10-24"
    earlier = client.get("/today.json", params={"date": "2024-10-24"}).json()
    # published that day: the hostile paper and two of the HF papers (featured a day later)
    assert {p["id"] for p in earlier["papers"]} == {HOSTILE.id, "2410.18533", "2410.18693"}
    assert "Papers of 2024-10-24" in client.get("/today", params={"date": "2024-10-24"}).text


def test_a_store_of_undated_papers_ranks_them_all(tmp_path: Path) -> None:
    from paperfeed.ingest.files import import_file

    store = open_store(str(tmp_path / "undated.db"))
    import_file(store, SEED)
    with TestClient(create_app(lambda: SearchEngine(store, str(tmp_path / "ix")))) as c:
        data = c.get("/index.json").json()
        assert data["undated"] and data["today"] is None
        papers = data["trending"]["papers"]
        assert len(papers) == 20 and data["trending"]["since"] is None
        # nobody engaged yet: every score is 0 and the newest stored paper comes first
        assert {p["trending"]["score"] for p in papers} == {0.0}
        page = c.get("/").text
        assert "These papers carry no dates" in page
        assert papers[-1]["title"] in html.unescape(page)
    store.close()


def test_search_page_and_json_come_from_one_view(client: TestClient) -> None:
    data = client.get("/search.json", params={"q": "dropout", "mode": "keyword"}).json()
    assert data["mode"] == "keyword" and data["papers"]
    assert "dropout" in data["papers"][0]["title"].lower()
    page = client.get("/search", params={"q": "dropout", "mode": "keyword"})
    assert page.status_code == 200
    assert "<mark>" in page.text and data["papers"][1]["id"] in page.text


def test_without_the_model_hybrid_falls_back_to_keyword(client: TestClient) -> None:
    data = client.get("/search.json", params={"q": "dropout"}).json()
    assert data["mode"] == "keyword" and data["papers"]


def test_filters_and_paging(client: TestClient) -> None:
    first = client.get("/search.json", params={"q": "learning", "limit": 5}).json()
    second = client.get("/search.json", params={"q": "learning", "limit": 5, "page": 2}).json()
    assert first["next_page"] == 2
    assert not {r["id"] for r in first["papers"]} & {r["id"] for r in second["papers"]}
    coded = client.get("/search.json", params={"q": "dropout", "has_code": "1"}).json()
    assert [r["id"] for r in coded["papers"]] == ["2401.66666"]


def test_paper_page_and_twin(client: TestClient) -> None:
    data = client.get("/paper/2401.66666.json").json()
    assert data["paper"]["title"] == HOSTILE.title and data["related"] == []
    page = client.get("/paper/2401.66666v1")
    assert page.status_code == 200  # no pdf_url: the PDF link is arXiv's, from its id
    assert '<a href="https://arxiv.org/pdf/2401.66666" rel="noopener">PDF</a>' in page.text
    assert 'href="https://github.com/x/y"' in page.text


@pytest.mark.parametrize("path", ["/", "/search?q=dropout", "/search?q=alert", "/paper/2401.66666",
                                  "/search?q=%3Cscript%3E"])  # fmt: skip
def test_hostile_paper_text_is_inert_everywhere(client: TestClient, path: str) -> None:
    html = client.get(path).text
    for raw in ("<script>alert", "<img src=x", "<iframe", "<b>Mallory", 'href="javascript:'):
        assert raw not in html
    assert "default-src 'self'" in client.get(path).headers["content-security-policy"]


def test_hostile_text_reads_back_exactly_in_json(client: TestClient) -> None:
    data = client.get("/search.json", params={"q": "alert", "mode": "keyword"}).json()
    assert data["papers"][0]["title"] == HOSTILE.title
    assert data["papers"][0]["abstract"] == HOSTILE.abstract


@pytest.mark.parametrize(
    ("path", "status", "message"),
    [
        ("/paper/9999.99999.json", 404, "No paper with id '9999.99999'."),
        ("/search.json?q=x&page=0", 400, "page must be between 1 and 50."),
        ("/search.json?q=x&mode=magic", 400, "mode must be one of keyword, semantic, hybrid."),
        ("/search.json?q=x&since=yesterday", 400, "since must be a date like 2024-01-31"),
        ("/search.json?q=x&since=2024-02-01&until=2024-01-01", 400, "The start date is after"),
        ("/search.json?q=x&since=20240201", 400, "since must be a date like 2024-01-31"),
        ("/search.json?q=x&has_code=maybe", 400, "has_code must be 1 or 0, not 'maybe'."),
        ("/api/daily_papers?date=2024-10-25&month=false", 400, "month must look like 2025-02"),
        ("/nowhere.json", 404, "Not Found"),
    ],
)
def test_errors_have_one_json_shape(
    client: TestClient, path: str, status: int, message: str
) -> None:
    answer = client.get(path)
    assert answer.status_code == status
    error = answer.json()["error"]
    assert error["status"] == status and error["message"].startswith(message)


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [("TRACE", "/index.json", "GET, HEAD"), ("DELETE", "/api/subscribe", "POST"),
     ("PUT", "/subscribe", "GET, HEAD, POST"), ("OPTIONS", "/u/token", "GET, HEAD, POST")],
)  # fmt: skip
def test_a_method_not_taken_is_a_405_that_names_every_method_taken(
    client: TestClient, method: str, path: str, allowed: str
) -> None:
    """A page's GET and its form's POST are two routes; Allow names the methods of both."""
    answer = client.request(method, path, headers={"Accept": "application/json"})
    assert answer.status_code == 405 and answer.headers["allow"] == allowed
    assert answer.json()["error"]["status"] == 405


def test_errors_on_pages_are_pages(client: TestClient) -> None:
    answer = client.get("/paper/9999.99999")
    assert answer.status_code == 404 and "text/html" in answer.headers["content-type"]
    assert "No paper with id" in answer.text


def _with_twins(*urls: str) -> list[str]:
    """Each page's URL and those of its JSON twin and feeds."""
    out = []
    for url in urls:
        path, _, query = url.partition("?")
        out += [url, *(f"{path}.{kind}?{query}" for kind in ("json", "atom", "rss"))]
    return out


EDGE_DAYS = [
    *_with_twins("/today?date=0001-01-01", "/today?date=9999-12-31",
                 "/search?since=0001-01-01", "/search?until=9999-12-31",
                 "/search?q=dropout&until=0001-01-01", "/search?since=9999-12-31"),
    "/api/daily_papers?week=9999-W52", "/api/daily_papers?week=0001-W01",
    "/api/daily_papers?month=9999-12", "/api/daily_papers?month=0000-01",
    "/api/daily_papers?date=9999-12-31", "/api/daily_papers?date=0001-01-01",
]  # fmt: skip


@pytest.mark.parametrize("url", EDGE_DAYS)
def test_a_day_outside_the_supported_range_is_a_400_with_one_sentence(
    client: TestClient, url: str
) -> None:
    answer = client.get(url)
    assert answer.status_code == 400, answer.text[:200]
    if "text/html" in answer.headers["content-type"]:
        assert "from 1700-01-01 to 2199-12-31" in html.unescape(answer.text)
        return
    message = answer.json()["error"]["message"]
    assert message.endswith("."), message
    assert "from 1700-01-01 to 2199-12-31" in message or "in the years 1700 to 2199" in message


@pytest.mark.parametrize(
    "url",
    [
        *_with_twins("/today?date=1700-01-01", "/today?date=2199-12-31",
                     "/search?since=1700-01-01&until=2199-12-31"),
        "/api/daily_papers?week=1700-W01", "/api/daily_papers?week=2199-W52",
        "/api/daily_papers?month=1700-01", "/api/daily_papers?month=2199-12",
    ],
)  # fmt: skip
def test_the_first_and_last_supported_days_answer(client: TestClient, url: str) -> None:
    answer = client.get(url)
    assert answer.status_code == 200
    if url.startswith(("/api/", "/today.json")):  # no papers on those days: an empty list
        data = answer.json()
        assert (data if isinstance(data, list) else data["papers"]) == []
    if url.startswith("/search.json"):  # the dated papers
        assert answer.json()["papers"]


@pytest.mark.parametrize("q", ["((((", '"unclosed', "-", "a:b OR NOT", "\x00", "😀" * 50])
def test_symbol_queries_never_fail(client: TestClient, q: str) -> None:
    assert client.get("/search", params={"q": q}).status_code == 200
    assert client.get("/search.json", params={"q": q}).status_code == 200


def test_with_the_model_search_is_hybrid_and_papers_have_related(
    embedded_seed_db: Path,
) -> None:
    from paperfeed.search.models import load_embedder

    store = open_store(str(embedded_seed_db), readonly=True)
    engine = SearchEngine(store, str(embedded_seed_db) + "-index", load_embedder())
    with TestClient(create_app(lambda: engine)) as c:
        question = "removing the influence of specific training examples from a trained model"
        data = c.get("/search.json", params={"q": question}).json()
        top = [r["title"].lower() for r in data["papers"][:5]]
        assert data["mode"] == "hybrid" and sum("unlearning" in t for t in top) >= 2, top
        first = data["papers"][0]["id"]
        paper = c.get(f"/paper/{first}.json").json()
        assert len(paper["related"]) == 8 and first not in {r["id"] for r in paper["related"]}
        assert "Related papers" in c.get(f"/paper/{first}").text
    store.close()


def test_math_is_rendered_on_pages_and_links_are_dropped(client: TestClient) -> None:
    page = client.get(f"/paper/{HOSTILE.id}").text
    # (the BibTeX block keeps the abstract's LaTeX as text, \href and all: not a link)
    rendered = re.sub(r'<pre id="bibtex">.*?</pre>', "", page, flags=re.S)
    assert "<math" in page and "<mi>n</mi>" in page and "javascript" not in rendered


def test_conditional_get_and_gzip(client: TestClient) -> None:
    for path in ("/", "/search.json?q=dropout", f"/paper/{HOSTILE.id}", "/trending.atom"):
        first = client.get(path)
        etag = first.headers["etag"]
        assert etag.startswith('W/"') and first.headers["cache-control"] == "no-cache"
        again = client.get(path, headers={"If-None-Match": etag})
        assert again.status_code == 304 and again.content == b""
        assert client.get(path, headers={"If-None-Match": 'W/"other"'}).status_code == 200
    paper = client.get(f"/paper/{HOSTILE.id}")
    assert paper.headers["last-modified"] == "Thu, 24 Oct 2024 12:00:00 GMT"
    since = {"If-Modified-Since": paper.headers["last-modified"]}
    assert client.get(f"/paper/{HOSTILE.id}", headers=since).status_code == 304
    feed = client.get("/trending.atom")
    assert feed.headers["last-modified"] == "Thu, 24 Oct 2024 12:42:04 GMT"  # newest entry
    zipped = client.get("/", headers={"Accept-Encoding": "gzip"})
    assert zipped.headers["content-encoding"] == "gzip" and "Trending" in zipped.text
    assert "etag" not in client.get("/nowhere").headers  # errors are not cached


def test_openapi_describes_every_json_route(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert spec["openapi"].startswith("3.1")
    paths = set(spec["paths"])
    app: Starlette = client.app  # type: ignore[assignment]
    routes = {re.sub(r"\{(\w+):path\}", lambda m: "{id}" if m[1] == "ref" else f"{{{m[1]}}}",
                     getattr(r, "path", "")) for r in app.routes}  # fmt: skip
    wanted = {p for p in routes if p.endswith((".json", ".atom")) or p.startswith("/api/")}
    assert wanted - {"/openapi.json"} <= paths
    assert paths <= routes


def test_links_from_sources_must_be_http(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "links.db"))
    linked = Paper(id="x1", title="Linked", code_url="javascript:alert(1)",
                   url="data:text/html,hi", pdf_url="https://arxiv.org/pdf/1")  # fmt: skip
    store.upsert_papers([linked])
    with TestClient(create_app(lambda: SearchEngine(store, str(tmp_path / "ix")))) as c:
        page = c.get("/paper/x1").text
        assert "javascript:" not in page and "data:text" not in page
        assert '<a href="https://arxiv.org/pdf/1" rel="noopener">PDF</a>' in page
        assert "javascript:" not in c.get("/search", params={"q": "linked"}).text
    store.close()


CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f]")


def test_control_characters_in_paper_text_reach_neither_pages_nor_json(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "nul.db"))
    odd = Paper(id="c1", title="Nul\x00 bell\x07 escape\x1b[31m title\x7f",
                abstract="tab\there\nnew line\r\nvertical\x0btab\x0cfeed",
                authors=("Ann\x00 Example",), categories=("cs.LG",),
                extra={"note\x01": "x\x02y"})  # fmt: skip
    store.upsert_papers([odd])
    with TestClient(create_app(lambda: SearchEngine(store, str(tmp_path / "ix")))) as c:
        for path in ("/paper/c1", "/search?q=bell&mode=keyword", "/", "/trending"):
            page = c.get(path)
            assert page.status_code == 200 and "bell" in page.text, path
            assert not CONTROL.search(page.text), (path, CONTROL.findall(page.text))
        for path in ("/paper/c1.json", "/search.json?q=bell&mode=keyword", "/index.json",
                     "/api/papers/c1", "/api/papers/search?q=bell"):  # fmt: skip
            raw = c.get(path).text
            assert "\\u00" not in raw and "\\b" not in raw and not CONTROL.search(raw), path
        paper = c.get("/paper/c1.json").json()["paper"]
    assert paper["title"] == "Nul bell escape[31m title"
    assert paper["abstract"] == "tab\there\nnew line\nverticaltabfeed"  # tab and newline stay
    assert paper["authors"] == ["Ann Example"] and paper["extra"] == {"note": "xy"}
    store.close()
