"""Pages and their JSON twins, in process, over the real store and search indexes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from paperfeed.search.engine import SearchEngine
from paperfeed.store import open_store
from paperfeed.web.app import create_app
from tests.conftest import SEED
from tests.web.conftest import HOSTILE


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    from paperfeed.ingest.files import import_file

    db = tmp_path_factory.mktemp("web") / "web.db"
    store = open_store(str(db))
    import_file(store, SEED)
    store.upsert_papers([HOSTILE])
    app = create_app(lambda: SearchEngine(store, str(db) + "-index"))
    with TestClient(app) as c:
        yield c
    store.close()


def test_home_lists_the_newest_papers_with_a_json_twin(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "Newest papers" in page.text and 'name="viewport"' in page.text
    data = client.get("/index.json").json()
    assert len(data["newest"]) == 20 and data["next_page"] == 2
    assert data["newest"][-1]["title"] in page.text.replace("&amp;", "&").replace("&#39;", "'")


def test_search_page_and_json_come_from_one_view(client: TestClient) -> None:
    data = client.get("/search.json", params={"q": "dropout", "mode": "keyword"}).json()
    assert data["mode"] == "keyword" and data["results"]
    assert "dropout" in data["results"][0]["title"].lower()
    page = client.get("/search", params={"q": "dropout", "mode": "keyword"})
    assert page.status_code == 200
    assert "<mark>" in page.text and data["results"][1]["id"] in page.text


def test_without_the_model_hybrid_falls_back_to_keyword(client: TestClient) -> None:
    data = client.get("/search.json", params={"q": "dropout"}).json()
    assert data["mode"] == "keyword" and data["results"]


def test_filters_and_paging(client: TestClient) -> None:
    first = client.get("/search.json", params={"q": "learning", "limit": 5}).json()
    second = client.get("/search.json", params={"q": "learning", "limit": 5, "page": 2}).json()
    assert first["next_page"] == 2
    assert not {r["id"] for r in first["results"]} & {r["id"] for r in second["results"]}
    coded = client.get("/search.json", params={"q": "dropout", "has_code": "1"}).json()
    assert [r["id"] for r in coded["results"]] == ["2401.66666"]


def test_paper_page_and_twin(client: TestClient) -> None:
    data = client.get("/paper/2401.66666.json").json()
    assert data["paper"]["title"] == HOSTILE.title and data["related"] == []
    page = client.get("/paper/2401.66666v1")
    assert page.status_code == 200 and "https://arxiv.org/pdf/" not in page.text  # no pdf_url
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
    assert data["results"][0]["title"] == HOSTILE.title
    assert data["results"][0]["abstract"] == HOSTILE.abstract


@pytest.mark.parametrize(
    ("path", "status", "message"),
    [
        ("/paper/9999.99999.json", 404, "No paper with id '9999.99999'."),
        ("/search.json?q=x&page=0", 400, "page must be between 1 and 50."),
        ("/search.json?q=x&mode=magic", 400, "mode must be one of keyword, semantic, hybrid."),
        ("/search.json?q=x&since=yesterday", 400, "since must be a date like 2024-01-31"),
        ("/search.json?q=x&since=2024-02-01&until=2024-01-01", 400, "The start date is after"),
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


def test_errors_on_pages_are_pages(client: TestClient) -> None:
    answer = client.get("/paper/9999.99999")
    assert answer.status_code == 404 and "text/html" in answer.headers["content-type"]
    assert "No paper with id" in answer.text


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
        top = [r["title"].lower() for r in data["results"][:5]]
        assert data["mode"] == "hybrid" and sum("unlearning" in t for t in top) >= 2, top
        first = data["results"][0]["id"]
        paper = c.get(f"/paper/{first}.json").json()
        assert len(paper["related"]) == 8 and first not in {r["id"] for r in paper["related"]}
        assert "Related papers" in c.get(f"/paper/{first}").text
    store.close()
