"""Author pages, citing, dark mode and the phone layout in a real headless Chromium against a
real `paperfeed serve`. Screenshots go to artifacts/screenshots/: author-{light,dark}-{desktop,
phone}, paper-cite-{light,dark}-desktop, search-filters-{light,dark}-phone."""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import unquote

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.web.conftest import HF_IDS
from tests.web.test_browser import PHONE, SCREENSHOTS, TIMEOUT_MS, visit

DESKTOP = {"width": 1280, "height": 900}
SIZES = {"desktop": DESKTOP, "phone": PHONE}
BACKGROUND = {"light": "rgb(255, 255, 255)", "dark": "rgb(19, 20, 23)"}


@pytest.fixture(params=[(s, z) for s in ("light", "dark") for z in ("desktop", "phone")],
                ids=lambda p: "-".join(p))  # fmt: skip
def look(request: pytest.FixtureRequest) -> tuple[str, str]:
    return tuple(request.param)  # type: ignore[return-value]


def open_context(browser: Browser, base: str, scheme: str, size: str) -> BrowserContext:
    phone = size == "phone"
    context = browser.new_context(base_url=base, viewport=SIZES[size], color_scheme=scheme,  # type: ignore[arg-type]
                                  is_mobile=phone, has_touch=phone)  # fmt: skip
    context.set_default_timeout(TIMEOUT_MS)
    return context


@pytest.fixture
def contexts(browser: Browser, live_server: str) -> Iterator[list[BrowserContext]]:
    made: list[BrowserContext] = []
    yield made
    for context in made:
        context.close()


def new_page(made: list[BrowserContext], browser: Browser, base: str, scheme: str, size: str
             ) -> Page:  # fmt: skip
    context = open_context(browser, base, scheme, size)
    made.append(context)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.errors = errors  # type: ignore[attr-defined]
    return page


def shoot(page: Page, name: str, *, full_page: bool = True) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=full_page)


def no_overflow(page: Page) -> None:
    width = page.evaluate("document.documentElement.clientWidth")
    scroll = page.evaluate("document.documentElement.scrollWidth")
    assert scroll <= width + 1, f"{page.url} is {scroll}px wide in a {width}px window"


def test_author_page_from_a_card_in_light_and_dark(
    browser: Browser, live_server: str, contexts: list[BrowserContext], look: tuple[str, str]
) -> None:
    scheme, size = look
    page = new_page(contexts, browser, live_server, scheme, size)
    visit(page, "/today")  # (the recorded Hugging Face day: papers with many authors)
    first = page.locator("article.paper .meta a.author").first
    name = first.inner_text()
    first.click()
    expect(page).to_have_url(re.compile(r"/author/"))
    assert unquote(page.url.rsplit("/author/", 1)[1]) == name
    expect(page.locator("main h1")).to_have_text(name)
    expect(page.locator("article.paper").first).to_be_visible()
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") == BACKGROUND[scheme]
    assert page.locator("link[rel=alternate][type='application/atom+xml']").count() == 1
    no_overflow(page)
    shoot(page, f"author-{scheme}-{size}")
    co_authors = page.locator(".co-authors a.author")
    if size == "desktop" and scheme == "light":
        assert co_authors.count() > 0, "the papers of that day have several authors"
        other = co_authors.first.inner_text()
        co_authors.first.click()
        expect(page.locator("main h1")).to_have_text(other)
        expect(page.locator(".co-authors a.author", has_text=name).first).to_be_visible()
    assert page.errors == []  # type: ignore[attr-defined]


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_copy_bibtex_and_read_it_without_javascript(
    browser: Browser, live_server: str, contexts: list[BrowserContext], scheme: str
) -> None:
    page = new_page(contexts, browser, live_server, scheme, "desktop")
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    visit(page, f"/paper/{HF_IDS[0]}")  # (an arXiv paper of the recorded Hugging Face day)
    expect(page.locator("section.cite")).to_be_visible()
    page.locator("details.bibtex summary").click()
    bibtex = page.locator("#bibtex").inner_text()
    assert bibtex.startswith("@") and "title = {{" in bibtex
    page.get_by_role("button", name="Copy BibTeX").click()
    expect(page.locator(".cite .copied")).to_have_text("BibTeX copied.")
    assert page.evaluate("navigator.clipboard.readText()") == page.locator("#bibtex").text_content()
    links = page.locator("p.links a").all_inner_texts()
    assert links[:2] == ["arXiv", "PDF"], links
    href = page.get_by_role("link", name="arXiv").get_attribute("href")
    assert href == f"https://arxiv.org/abs/{HF_IDS[0]}"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)  # the paper itself, without related papers
    path = SCREENSHOTS / f"paper-cite-{scheme}-desktop.png"
    page.locator("article.paper.full").screenshot(path=str(path))
    assert page.errors == []  # type: ignore[attr-defined]
    # Without JavaScript the BibTeX is still there as text, the copy buttons are not.
    bare = browser.new_context(base_url=live_server, java_script_enabled=False)
    contexts.append(bare)
    plain = bare.new_page()
    visit(plain, page.url.replace(live_server, ""))
    assert (plain.locator("#bibtex").text_content() or "").startswith("@")
    assert plain.locator("button.copy:visible").count() == 0


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_phone_search_placeholder_fits_and_filters_wrap(
    browser: Browser, live_server: str, contexts: list[BrowserContext], scheme: str
) -> None:
    page = new_page(contexts, browser, live_server, scheme, "phone")
    visit(page, "/search?q=dropout")
    box = page.locator("header input[name=q]")
    # the placeholder's width in the box's own font, against the room inside the box
    room, needed = page.evaluate("""() => {
        const box = document.querySelector('header input[name=q]');
        const s = getComputedStyle(box);
        const ctx = document.createElement('canvas').getContext('2d');
        ctx.font = s.font;
        const inner = box.clientWidth - parseFloat(s.paddingLeft) - parseFloat(s.paddingRight);
        return [inner, ctx.measureText(box.placeholder).width];
    }""")
    assert needed <= room, f"placeholder needs {needed:.0f}px, the box has {room:.0f}px"
    expect(box).to_be_visible()
    form = page.locator("form.filters").bounding_box()
    assert form is not None
    for control in page.locator("form.filters label, form.filters button").all():
        rect = control.bounding_box()
        assert rect is not None
        assert (
            rect["x"] >= form["x"] - 1
            and rect["x"] + rect["width"] <= form["x"] + form["width"] + 1
        )
    # every text field of the filter row is a full grid cell (not squeezed beside its label)
    widths = page.evaluate(
        "[...document.querySelectorAll('form.filters input[name=category], form.filters"
        " input[name=author], form.filters input[type=date]')].map(e => e.offsetWidth)"
    )
    assert min(widths) >= 140, widths
    no_overflow(page)
    shoot(page, f"search-filters-{scheme}-phone", full_page=False)
    assert page.errors == []  # type: ignore[attr-defined]


def test_keyboard_shortcuts_move_open_and_stay_out_of_text_fields(
    browser: Browser, live_server: str, contexts: list[BrowserContext]
) -> None:
    page = new_page(contexts, browser, live_server, "light", "desktop")
    visit(page, "/search?q=dropout&mode=keyword")
    expect(page.locator("#keys-hint")).to_be_visible()  # (hidden without JavaScript)
    papers = page.locator("main article.paper")
    assert papers.count() >= 3
    page.keyboard.press("j")
    expect(papers.nth(0)).to_have_class(re.compile(r"\bcurrent\b"))
    page.keyboard.press("j")
    page.keyboard.press("j")
    expect(papers.nth(2)).to_have_class(re.compile(r"\bcurrent\b"))
    page.keyboard.press("k")
    expect(papers.nth(1)).to_have_class(re.compile(r"\bcurrent\b"))
    assert page.locator("main article.paper.current").count() == 1
    second = papers.nth(1).locator("h2 a").get_attribute("href")
    page.keyboard.press("?")
    help_list = page.get_by_role("dialog", name="Keyboard shortcuts")
    expect(help_list).to_be_visible()
    assert "open the paper" in help_list.inner_text()
    shoot(page, "keys-help-light-desktop", full_page=False)
    page.keyboard.press("Escape")
    expect(help_list).to_be_hidden()
    # "/" goes to the search box; letters typed there are text, not shortcuts
    page.keyboard.press("/")
    box = page.locator("form.searchbox input[name=q]")
    expect(box).to_be_focused()
    page.keyboard.type("jko")
    assert box.input_value() == "jko"
    expect(papers.nth(1)).to_have_class(re.compile(r"\bcurrent\b"))
    page.locator("#result-count").click()  # out of the box again
    page.keyboard.press("o")
    expect(page).to_have_url(re.compile(re.escape(str(second)) + "$"))
    assert page.errors == []  # type: ignore[attr-defined]
