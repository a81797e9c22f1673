"""Every journey works without JavaScript: a real headless Chromium with scripts off against a
real `paperfeed serve` mailing over SMTP to a real server (aiosmtpd). Sign in from a card
and come back to it, upvote on a list and land on the same card, search with a filter, save
with tags and change them, subscribe, confirm, choose weekly and unsubscribe. Plain forms and
links only; no console error, failed request or dialog on the way. Screenshots go to
artifacts/screenshots/ (nojs-*)."""

from __future__ import annotations

import re
from functools import partial
from urllib.parse import quote

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
from tests.web.test_browser_digest import READER as SUBSCRIBER
from tests.web.test_browser_digest import send_confirmation, subscriber

__all__ = ["chromium", "server"]  # the fixtures, imported for pytest

READER = "no-script-reader@example.org"


def test_every_journey_works_without_javascript(chromium: ChromiumThread, server: Server
                                                ) -> None:  # fmt: skip
    assert chromium.browser is not None
    no_scripts = partial(in_a_watched_page, java_script_enabled=False)
    chromium.run(no_scripts, chromium.browser, server,
                 lambda page, context: without_scripts(page, context, server))  # fmt: skip


def card_top(page: Page, paper_id: str) -> float:
    box = page.locator(f'article[id="p-{paper_id}"]').bounding_box()
    assert box is not None
    return box["y"]


def without_scripts(page: Page, context: BrowserContext, server: Server) -> None:
    assert page.evaluate("1") == 1  # (Playwright's own evaluate runs; the page's scripts do not)
    page.goto("/today")
    expect(page.locator("#keys-hint")).to_be_hidden()  # no shortcut to offer without scripts
    cards = page.locator("article.paper")
    assert cards.count() >= 3
    third = (cards.nth(2).get_attribute("id") or "").removeprefix("p-")
    assert third

    # sign in from the third card: the mailed link brings the reader back to that card
    with page.expect_navigation():
        cards.nth(2).locator("a.signin-to-act").click()
    expect(page).to_have_url(f"{server.base}/signin?next={quote('/today#p-' + third, safe='/')}")
    sign_in_on_the_form(page, server, READER)
    expect(page).to_have_url(f"{server.base}/today#p-{third}")
    expect(page.locator("header a.who")).to_have_text(READER)

    # upvote on the list: the reload lands on the same card, scrolled to it
    button = page.locator(f'article[id="p-{third}"] form[data-kind=upvote] button')
    expect(button).to_have_attribute("aria-pressed", "false")
    with page.expect_navigation():
        button.click()
    expect(page).to_have_url(f"{server.base}/today#p-{third}")
    expect(button).to_have_attribute("aria-pressed", "true")
    assert page.evaluate("window.scrollY") > 0 and abs(card_top(page, third)) < 50
    shoot(page, "nojs-upvoted-on-a-list")

    # search from the header, then narrow it with the filter form
    page.locator("header input[name=q]").fill("dropout")
    with page.expect_navigation():
        page.locator("header form.searchbox button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"/search\?q=dropout"))
    found = page.locator("article.paper").count()
    assert found > 0
    page.locator("form.filters input[name=mode][value=keyword]").check()
    with page.expect_navigation():
        page.locator("form.filters button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"mode=keyword"))
    expect(page.locator("article.paper").first).to_be_visible()

    # a paper: save it with tags, then change them where they are shown
    paper = page.locator("article.paper h2 a").first.get_attribute("href") or ""
    page.goto(paper)
    page.locator("article.paper.full form[data-kind=save] input[name=tags]").fill("to read")
    with page.expect_navigation():
        page.locator("article.paper.full form[data-kind=save] button").click()
    expect(page.locator("article.paper.full form[data-kind=save] button")).to_have_text("★ Saved")
    expect(page.locator("article.paper.full p.tags a")).to_have_text(["to read"])
    page.get_by_label("Change them").fill("dropout, reread")
    with page.expect_navigation():
        page.get_by_role("button", name="Save tags").click()
    expect(page.locator("article.paper.full p.tags a")).to_have_text(["dropout", "reread"])
    shoot(page, "nojs-paper-tags")

    # the digest: subscribe, confirm by the mailed link's button, choose weekly, unsubscribe
    page.goto("/subscribe")
    page.locator("#email").fill(SUBSCRIBER)
    with page.expect_navigation():
        page.locator("#subscribe").click()
    expect(page.locator("h1")).to_have_text("Check your inbox")
    page.goto(send_confirmation(server))
    with page.expect_navigation():
        page.locator("#confirm-subscription").click()
    expect(page.locator("#confirmed")).to_contain_text("You're confirmed")
    expect(page.get_by_label("Time zone")).to_have_value("UTC")  # (no script offers another)
    page.get_by_label("How often").select_option("weekly")
    expect(page.get_by_label("Day of the week")).to_be_visible()  # shown, without the script
    page.get_by_label("Day of the week").select_option(label="Friday")
    with page.expect_navigation():
        page.locator("#save-preferences").click()
    expect(page.locator("#schedule")).to_have_text("Weekly on Friday at 07:00 (UTC)")
    shoot(page, "nojs-preferences")
    with page.expect_navigation():
        page.locator("#unsubscribe").click()
    expect(page.locator("h1")).to_have_text("You are unsubscribed")
    assert subscriber(server).state == "unsubscribed"
