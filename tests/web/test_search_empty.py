"""An empty search says why: the filters that removed everything (with links that drop each),
or the words themselves. Page and JSON twin, over the real store and keyword index."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

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

    db = tmp_path_factory.mktemp("empty") / "web.db"
    store = open_store(str(db))
    import_file(store, SEED)
    store.upsert_papers([HOSTILE])
    with TestClient(create_app(lambda: SearchEngine(store, str(db) + "-index"))) as c:
        yield c
    store.close()


FILTERED = {"q": "dropout", "mode": "keyword", "category": "math.AG", "since": "2024-01-01"}


def test_filters_that_remove_everything_are_named_with_links_without_each(
    client: TestClient,
) -> None:
    data = client.get("/search.json", params=FILTERED).json()
    assert data["papers"] == []
    why = data["empty_reason"]
    assert why["message"].startswith("No papers in math.AG since 2024-01-01 match “dropout”; "
                                     "without the filters, ")  # fmt: skip
    assert why["without_filters"] >= 1
    assert [f["filter"] for f in why["filters"]] == ["category", "since"]
    for f in why["filters"]:
        params = parse_qs(urlsplit(f["search_without"]).query)
        assert f["filter"] not in params and params["q"] == ["dropout"]
        assert (
            client.get("/search.json", params={k: v[0] for k, v in params.items()}).json()["papers"]
            or f["filter"] == "since"
        )  # dropping the category alone finds dropout papers
    assert "category" not in parse_qs(urlsplit(why["search_without_filters"]).query)
    page = client.get("/search", params=FILTERED).text
    assert "No papers in math.AG since 2024-01-01 match “dropout”" in page
    links = re.findall(r'<a href="([^"]+)" rel="nofollow">', page)
    assert [html.unescape(u) for u in links] == [
        *(f["search_without"] for f in why["filters"]),
        why["search_without_filters"],
    ]


def test_words_that_match_nothing_anywhere_are_blamed(client: TestClient) -> None:
    params = {**FILTERED, "q": "zqxjvw"}
    why = client.get("/search.json", params=params).json()["empty_reason"]
    assert why["without_filters"] == 0
    assert "none match without the filters either" in why["message"]
    page = client.get("/search", params=params).text
    assert "none match without the filters either" in page and "Search again without" not in page
    plain = client.get("/search.json", params={"q": "zqxjvw"}).json()["empty_reason"]
    assert plain["message"] == "No papers match “zqxjvw”; try fewer or different words."
    assert (plain["filters"], plain["without_filters"]) == ([], None)


def test_has_code_is_a_filter_and_filters_alone_are_named(client: TestClient) -> None:
    why = client.get("/search.json", params={"q": "unlearning", "mode": "keyword",
                                             "has_code": "1"}).json()["empty_reason"]  # fmt: skip
    assert why["filters"][0]["filter"] == "has_code" and why["without_filters"] >= 1
    assert "No papers with code match “unlearning”; without the filters" in why["message"]
    why = client.get("/search.json", params={"category": "math.AG"}).json()["empty_reason"]
    assert why["message"] == "No papers in math.AG; try removing a filter."


def test_results_carry_no_reason(client: TestClient) -> None:
    data = client.get("/search.json", params={"q": "dropout", "mode": "keyword"}).json()
    assert data["papers"] and data["empty_reason"] is None


def test_the_query_is_escaped_in_the_message(client: TestClient) -> None:
    params = {**FILTERED, "q": 'dropout <script>alert("x")</script>'}
    page = client.get("/search", params=params).text
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page
    assert "No papers in math.AG since 2024-01-01 match" in page


def test_a_question_on_the_page_marks_no_stop_words(client: TestClient) -> None:
    question = "how do I stop a language model from memorizing private data"
    page = client.get("/search", params={"q": question, "mode": "keyword"}).text
    marks = {m.lower() for m in re.findall(r"<mark>([^<]*)</mark>", page)}
    assert marks and not marks & {"a", "i", "do", "how", "from", "an", "in", "is"}
    assert not [m for m in marks if m[0] in "ai"], marks  # no query word starts with a or i
    data = client.get("/search.json", params={"q": question, "mode": "keyword"}).json()
    assert data["papers"][0]["highlight"] == ["stop", "language", "model", "memorizing",
                                              "private", "data"]  # fmt: skip


def _papers_with_word(word: str) -> int:
    """How many of the fixture's papers contain `word` or its plural, counted from the papers."""
    pattern = re.compile(rf"\b{word}s?\b", re.IGNORECASE)
    papers = [json.loads(line) for line in SEED.read_text().splitlines() if line.strip()]
    texts = [f"{p['title']} {p['abstract']}" for p in papers]
    return sum(bool(pattern.search(t)) for t in [*texts, f"{HOSTILE.title} {HOSTILE.abstract}"])


def test_keyword_results_say_how_many_and_stop_paging_there(client: TestClient) -> None:
    data = client.get("/search.json", params={"q": "dropout", "mode": "keyword",
                                              "limit": "3"}).json()  # fmt: skip
    total = data["total"]
    assert data["total_exact"] and total == _papers_with_word("dropout") > 3
    assert data["total_text"] == f"{total} results"
    assert f'id="result-count">{total} results<' in client.get(
        "/search", params={"q": "dropout", "mode": "keyword", "limit": "3"}).text  # fmt: skip
    last = -(-total // 3)
    tail = client.get("/search.json", params={"q": "dropout", "mode": "keyword", "limit": "3",
                                              "page": str(last)}).json()  # fmt: skip
    assert 1 <= len(tail["papers"]) <= 3 and tail["next_page"] is None
    if total % 3 == 0:  # a full last page still ends the paging
        assert len(tail["papers"]) == 3
    assert client.get("/search.json", params={"q": "zqxjvw"}).json()["total"] == 0


def test_with_has_code_the_size_of_the_whole_result_is_not_claimed(client: TestClient) -> None:
    data = client.get("/search.json", params={"q": "dropout", "mode": "keyword",
                                              "has_code": "1"}).json()  # fmt: skip
    assert data["total"] is None and data["total_text"] == ""
