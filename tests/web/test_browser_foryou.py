"""For you end to end in a real headless Chromium against a real `paperfeed serve` (the served
database: the seed papers, the hostile paper and the recorded Hugging Face day, embedded with
the real model): sign in through the mailed link, save two papers of the newest day, open For
you from the header, see each paper's reason, press "Not interested" on one, and it is gone.
Saving on a list acts in place (act.js): the page keeps its place. For you's own buttons post
and rank again.
No console errors, CSP violations or failed requests on the way (`in_a_watched_page`).
Screenshot: artifacts/screenshots/for-you.png."""

from __future__ import annotations

import re

from playwright.sync_api import BrowserContext, Page, expect

from tests.web.test_browser_accounts import (
    ChromiumThread,
    Server,
    chromium,
    in_a_watched_page,
    server,
    shoot,
    sign_in_on_the_form,
)

__all__ = ["chromium", "server"]  # the fixtures, imported for pytest

READER = "foryou@example.org"


def test_save_two_papers_see_why_and_hide_one_in_for_you(
    chromium: ChromiumThread, server: Server
) -> None:
    assert chromium.browser is not None
    chromium.run(in_a_watched_page, chromium.browser, server,
                 lambda page, context: for_you_session(page, context, server))  # fmt: skip


def for_you_session(page: Page, context: BrowserContext, server: Server) -> None:
    page.goto("/signin")
    sign_in_on_the_form(page, server, READER)
    expect(page.locator("header a.who")).to_have_text(READER)

    # save the first two papers of the newest day: in place (act.js), the list keeps its place
    page.goto("/today")
    saved = []
    for n in range(2):
        article = page.locator("article.paper").nth(n)
        saved.append(article.locator("h2 a").inner_text())
        article.scroll_into_view_if_needed()
        url, scrolled = page.url, page.evaluate("window.scrollY")
        article.locator("form[data-kind=save] button").click()
        button = article.locator("form[data-kind=save] button")
        expect(button).to_have_attribute("aria-pressed", "true")
        expect(button).to_have_text("★ Saved")
        expect(article.locator(".counts .saves")).to_contain_text("1 save")
        assert page.url == url and page.evaluate("window.scrollY") == scrolled
    page.reload()  # the server has them
    for n in range(2):
        expect(page.locator("article.paper").nth(n).locator("form[data-kind=save] button")
               ).to_have_attribute("aria-pressed", "true")  # fmt: skip

    # For you: new papers, each with its reason naming one of the saves
    with page.expect_navigation():
        page.locator("header nav a", has_text="For you").click()
    expect(page).to_have_url(server.base + "/for-you")
    expect(page.locator("h1")).to_have_text("For you")
    papers = page.locator("article.paper.recommended")
    assert papers.count() >= 2
    reasons = papers.locator("p.why-line").all_inner_texts()
    assert len(reasons) == papers.count()
    for reason in reasons:
        assert any(reason == f"Like “{title}” in your library" for title in saved), reason
    shown = papers.locator("h2 a").all_inner_texts()
    assert not set(shown) & set(saved)  # never a saved paper
    shoot(page, "for-you")

    # "Not interested" on the first: back on For you, and it is gone
    first = shown[0]
    with page.expect_navigation():
        papers.first.get_by_role("button", name="Not interested").click()
    expect(page).to_have_url(server.base + "/for-you")
    expect(page.locator("article.paper.recommended h2 a", has_text=re.compile(
        "^" + re.escape(first) + "$"))).to_have_count(0)  # fmt: skip
    expect(page.locator("article.paper.recommended")).to_have_count(len(shown) - 1)
