"""The web UI end to end in a real headless Chromium (Debian's, at /usr/bin/chromium; `make
setup` installs it) against a real `paperfeed serve` process. Full-page screenshots of what the
tests saw go to artifacts/screenshots/ at the repo root."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Dialog, Page, expect

from tests.conftest import REPO_ROOT
from tests.web.conftest import CHROMIUM, CHROMIUM_ARGS, HOSTILE

__all__ = ["CHROMIUM", "CHROMIUM_ARGS"]  # (imported from here by other browser tests)

SCREENSHOTS = REPO_ROOT / "artifacts" / "screenshots"
PHONE = {"width": 390, "height": 844}
LEAKAGE = "Dropout is NOT All You Need to Prevent Gradient Leakage"
QUESTION = "how can I protect training data from gradient inversion attacks in federated learning"
PAPER_PATH = re.compile(r"/paper/[^/?#]+$")
TIMEOUT_MS = 5_000


@pytest.fixture
def page(browser: Browser, live_server: str) -> Iterator[Page]:
    """A fresh context per test; fails the test on any script error or dialog in the page."""
    context = browser.new_context(base_url=live_server)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(f"script error: {error}"))
    page.on("dialog", lambda dialog: _refuse(dialog, problems))
    yield page
    context.close()
    assert not problems, problems


def _refuse(dialog: Dialog, problems: list[str]) -> None:
    problems.append(f"{dialog.type} dialog: {dialog.message}")
    dialog.dismiss()


def shoot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def visit(page: Page, path: str) -> None:
    """Goes to `path` and fails at once, with the page's own words, unless it answers 200."""
    answer = page.goto(path)
    assert answer is not None, path
    assert answer.status == 200, f"{path} answered {answer.status}: {page.inner_text('main')}"


def titles(page: Page) -> list[str]:
    return page.locator("article.paper h2 a").all_inner_texts()


def search_from_header(page: Page, query: str) -> None:
    box = page.locator("header form.searchbox input[name=q]")
    box.fill(query)
    with page.expect_navigation() as navigation:
        box.press("Enter")
    answer = navigation.value
    assert answer is not None and answer.status == 200, answer and answer.status
    expect(page).to_have_url(re.compile(r"/search\?"))
    expect(page.locator("article.paper").first).to_be_visible()


def test_home_page_renders_with_the_search_box(page: Page) -> None:
    try:
        visit(page, "/")
    finally:
        shoot(page, "home")
    expect(page.locator("header form.searchbox input[name=q]")).to_be_visible()
    expect(page.locator("header a.brand")).to_have_attribute("href", "/")


def test_header_search_finds_and_highlights_dropout(page: Page) -> None:
    visit(page, "/search")
    search_from_header(page, "dropout")
    assert "q=dropout" in page.url
    found = titles(page)
    assert len(found) >= 5, found
    assert "dropout" in found[0].lower(), found
    assert sum("dropout" in t.lower() for t in found) >= 3, found
    marks = page.locator("article.paper mark")
    assert marks.count() >= 3
    assert {m.lower() for m in marks.all_inner_texts()} >= {"dropout"}
    expect(page.locator("header input[name=q]")).to_have_value("dropout")
    shoot(page, "search-dropout")


def test_a_question_in_plain_language_finds_the_paper_by_meaning(page: Page) -> None:
    visit(page, "/search")
    search_from_header(page, QUESTION)
    expect(page.locator("input[name=mode][value=hybrid]")).to_be_checked()
    top = titles(page)[:5]
    assert LEAKAGE in top, top
    shoot(page, "search-question")


def test_paper_page_shows_the_abstract_and_related_papers_lead_on(page: Page) -> None:
    visit(page, "/search?q=" + "gradient leakage federated learning")
    first = page.locator("article.paper h2 a").first
    title = first.inner_text()
    with page.expect_navigation():
        first.click()
    expect(page).to_have_url(PAPER_PATH)
    paper_url = page.url
    expect(page.locator("article.paper.full h1")).to_have_text(title)
    abstract = page.locator("article.paper.full p.abstract")
    expect(abstract).to_be_visible()
    assert len(abstract.inner_text().split()) >= 30
    expect(page).to_have_title(re.compile(re.escape(title)))
    related = page.locator("section.related article.paper h2 a")
    expect(related.first).to_be_visible()
    assert related.count() >= 3
    shoot(page, "paper")
    next_title = related.first.inner_text()
    assert next_title != title
    with page.expect_navigation():
        related.first.click()
    expect(page).to_have_url(PAPER_PATH)
    assert page.url != paper_url
    expect(page.locator("article.paper.full h1")).to_have_text(next_title)
    expect(page.locator("article.paper.full p.abstract")).to_be_visible()


def test_switching_to_keyword_mode_with_apply(page: Page) -> None:
    visit(page, "/search?q=dropout")
    expect(page.locator("input[name=mode][value=hybrid]")).to_be_checked()
    page.locator("form.filters input[name=mode][value=keyword]").check()
    with page.expect_navigation():
        page.locator("form.filters button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"[?&]mode=keyword(&|$)"))
    expect(page).to_have_url(re.compile(r"[?&]q=dropout(&|$)"))
    expect(page.locator("input[name=mode][value=keyword]")).to_be_checked()
    found = titles(page)
    assert found and "dropout" in found[0].lower(), found
    expect(page.locator("article.paper mark").first).to_be_visible()


def test_hostile_paper_text_stays_text(page: Page) -> None:
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: dialogs.append(dialog.message))
    visit(page, f"/paper/{HOSTILE.id}")
    heading = page.locator("article.paper.full h1")
    expect(heading).to_have_text(HOSTILE.title)
    body = page.locator("body").inner_text()
    assert "<script>alert(1)</script>" in body
    assert "<img src=x onerror=alert(2)>" in body
    paper = page.locator("article.paper.full")
    assert "<iframe src=//evil></iframe>" in paper.locator("p.abstract").inner_text()
    assert "<b>Mallory</b>" in paper.locator("p.authors").inner_text()
    assert page.locator("img[src=x]").count() == 0
    assert page.locator("iframe").count() == 0
    assert page.locator("main script, main b").count() == 0
    assert page.locator("a[href^='javascript:' i]").count() == 0
    assert page.title().startswith(HOSTILE.title)
    shoot(page, "paper-hostile")
    visit(page, "/search?q=alert&mode=keyword")
    expect(page.locator("article.paper h2 a").first).to_have_text(HOSTILE.title)
    assert page.locator("img[src=x], iframe").count() == 0
    page.wait_for_load_state("load")
    assert dialogs == []


@pytest.mark.parametrize("path", ["/", "/search?q=dropout"])
def test_phone_width_has_no_horizontal_overflow(
    browser: Browser, live_server: str, path: str
) -> None:
    context = browser.new_context(
        base_url=live_server, viewport=PHONE, is_mobile=True, has_touch=True
    )
    try:
        page = context.new_page()
        visit(page, path)
        expect(page.locator("header input[name=q]")).to_be_visible()
        expect(page.locator("article.paper").first).to_be_visible()
        shoot(page, "phone-home" if path == "/" else "phone-search-dropout")
        width = page.evaluate("document.documentElement.clientWidth")
        scroll = page.evaluate("document.documentElement.scrollWidth")
        assert width == PHONE["width"], width
        wide = page.evaluate(
            "() => [...document.querySelectorAll('body *')].filter(e =>"
            " e.getBoundingClientRect().right > document.documentElement.clientWidth + 1)"
            ".map(e => e.tagName.toLowerCase() + (e.className ? '.' + e.className : ''))"
        )
        assert scroll <= width + 1, f"{path} is {scroll}px wide on a {width}px phone: {wide}"
    finally:
        context.close()
