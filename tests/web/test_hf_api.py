"""The Hugging Face papers API, proven with the real client against a running server."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest
from huggingface_hub import HfApi
from huggingface_hub.errors import HfHubHTTPError

from tests.web.conftest import HF_IDS, HOSTILE


@pytest.fixture(scope="module")
def hf(live_server: str) -> HfApi:
    return HfApi(endpoint=live_server, token=False)


def test_list_papers_searches_by_meaning(hf: HfApi) -> None:
    found = list(hf.list_papers(query="contrastive loss with huge batch sizes", limit=5))
    assert 1 <= len(found) <= 5
    top = found[0]
    assert top.id == "2410.17243" and top.title and top.title.startswith("Breaking the Memory")
    assert top.authors and top.authors[0].name == "Zesen Cheng"
    assert top.upvotes == 64 and top.summary and "Contrastive loss" in top.summary


def test_paper_info_has_the_fields_of_the_hub(hf: HfApi) -> None:
    info = hf.paper_info("2410.17243")
    assert info.id == "2410.17243" and info.upvotes == 64
    assert info.published_at == datetime(2024, 10, 22, 17, 59, 30, tzinfo=UTC)
    assert info.github_repo is None  # the recorded day links no code
    hostile = hf.paper_info(HOSTILE.id)
    assert hostile.title == HOSTILE.title and hostile.summary == HOSTILE.abstract
    assert hostile.github_repo == HOSTILE.code_url and hostile.upvotes == 0
    with pytest.raises(HfHubHTTPError) as missing:
        hf.paper_info("2499.99999")
    assert missing.value.response.status_code == 404


def test_list_daily_papers_by_date_week_and_month(hf: HfApi) -> None:
    day = list(hf.list_daily_papers(date="2024-10-25"))
    assert {p.id for p in day} == set(HF_IDS)
    assert all(p.submitted_at == datetime(2024, 10, 25, tzinfo=UTC) for p in day)
    trending = list(hf.list_daily_papers(date="2024-10-25", sort="trending"))
    assert [p.upvotes for p in trending] == [64, 41, 37, 35]
    latest = list(hf.list_daily_papers())  # no date: the latest day with papers
    assert {p.id for p in latest} == set(HF_IDS)
    week = list(hf.list_daily_papers(week="2024-W43", sort="trending", limit=2))
    assert [p.id for p in week] == ["2410.17243", "2410.16251"]
    page2 = list(hf.list_daily_papers(week="2024-W43", sort="trending", limit=2, p=1))
    assert [p.id for p in page2] == ["2410.18533", "2410.18693"]
    month = {p.id for p in hf.list_daily_papers(month="2024-10", limit=100)}
    assert set(HF_IDS) | {HOSTILE.id} <= month
    assert list(hf.list_daily_papers(date="2023-01-01")) == []


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("date=25.10.2024", "date must be a date like 2024-01-31"),
        ("week=2024-43", "week must look like 2025-W09"),
        ("month=2024-13", "month must look like 2025-02"),
        ("sort=hot", "sort must be one of publishedAt, trending."),
        ("limit=1000", "limit must be between 1 and 100."),
    ],
)
def test_bad_parameters_get_one_sentence(live_server: str, query: str, message: str) -> None:
    answer = httpx.get(f"{live_server}/api/daily_papers?{query}")
    assert answer.status_code == 400
    assert answer.json()["error"]["message"].startswith(message)
