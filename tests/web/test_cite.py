"""Citing and sharing a paper: its BibTeX as text on the page (and as /paper/ID.bib), the same
text the library export writes, links to arXiv, the PDF, the code and the DOI, and the
canonical address to share."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from paperfeed.models import Paper
from paperfeed.search.engine import SearchEngine
from paperfeed.store import open_store
from paperfeed.users.bibtex import format_bibtex
from paperfeed.web.app import create_app
from tests.web.conftest import HOSTILE

PUBLISHED = Paper(id="2401.00001", arxiv_id="2401.00001v2", title="Attention & {Braces}",
                  authors=("Ada Lovelace", "Alan Turing"), doi="10.1000/j.x(2024)<1>",
                  code_url="https://github.com/a/b", categories=("cs.LG",))  # fmt: skip
BARE = Paper(id="x2", title="No links at all", url="javascript:alert(1)")


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    db: Path = tmp_path_factory.mktemp("cite") / "cite.db"
    store = open_store(str(db))
    store.upsert_papers([PUBLISHED, BARE, HOSTILE])
    app = create_app(lambda: SearchEngine(store, str(db) + "-index"),
                     base_url="https://papers.example.org/")  # fmt: skip
    with TestClient(app) as c:
        yield c
    store.close()


def test_paper_page_has_bibtex_as_text_and_a_copy_button(client: TestClient) -> None:
    stored = client.get("/paper/2401.00001.json").json()
    assert stored["bibtex"].startswith("@article{lovelace")
    page = client.get("/paper/2401.00001").text
    assert '<pre id="bibtex">@article{lovelace' in page and "Attention \\&amp; {Braces}" in page
    assert (
        '<button type="button" class="copy" data-copy="bibtex" hidden>Copy BibTeX</button>' in page
    )
    assert '<script src="/static/cite.js" defer></script>' in page
    bib = client.get("/paper/2401.00001.bib")
    assert bib.status_code == 200 and bib.headers["content-type"].startswith("text/plain")
    assert bib.text == stored["bibtex"] and "eprint = {2401.00001}" in bib.text
    missing = client.get("/paper/nope.bib")
    assert missing.status_code == 404 and "No paper" in missing.json()["error"]["message"]


def test_bibtex_is_what_the_library_export_writes(client: TestClient) -> None:
    page = client.get("/paper/2401.00001.bib").text
    stored = client.get("/paper/2401.00001.json").json()["paper"]
    assert stored["title"] == PUBLISHED.title
    assert page == format_bibtex([PUBLISHED])


def test_links_to_arxiv_pdf_code_doi_and_a_share_link(client: TestClient) -> None:
    links = {x["label"]: x["url"] for x in client.get("/paper/2401.00001.json").json()["links"]}
    assert links == {
        "arXiv": "https://arxiv.org/abs/2401.00001",
        "PDF": "https://arxiv.org/pdf/2401.00001",
        "code": "https://github.com/a/b",
        "DOI": "https://doi.org/10.1000/j.x%282024%29%3C1%3E",
    }
    page = client.get("/paper/2401.00001").text
    assert '<a href="https://doi.org/10.1000/j.x%282024%29%3C1%3E" rel="noopener">DOI</a>' in page
    assert '<link rel="canonical" href="https://papers.example.org/paper/2401.00001">' in page
    assert 'value="https://papers.example.org/paper/2401.00001" readonly' in page


def test_no_link_where_none_is_known_or_safe(client: TestClient) -> None:
    assert client.get("/paper/x2.json").json()["links"] == []
    page = client.get("/paper/x2").text
    assert "javascript:" not in page and '<p class="links">\n  </p>' in page


def test_hostile_text_in_bibtex_stays_text(client: TestClient) -> None:
    page = client.get("/paper/" + HOSTILE.id).text
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)" in page
