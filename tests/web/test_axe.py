"""Accessibility: axe-core (the engine browsers' audits use, from the PyPI package
axe-playwright-python, which ships axe.min.js) finds no serious or critical violation on any
page, in light and dark, on a desktop and a 390 px phone, in a real headless Chromium against a
real `paperfeed serve` (the served database: seed papers, the hostile paper, the recorded
Hugging Face day).

The public pages are audited against `live_server`; the signed-in ones (the library with a
saved, tagged and upvoted paper, For you, the account, the home page and a paper page signed
in) and the digest's preferences and unsubscribe pages against the `server` of
tests/web/test_browser_accounts.py, which mails to a real SMTP server: the reader signs in
once through the mailed link, and that browser state (its session cookie) is reused for the
four looks. The two sets run at the same time, one per core: the public pages in the session's
Chromium, the signed-in ones in a second Chromium on a thread of its own (`ChromiumThread`:
one Playwright sync instance per thread). Each page in each look is also shot, full page, to
artifacts/screenshots/page-<slug>-<scheme>-<size>.png."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, BrowserContext, StorageState, ViewportSize, expect

from tests.web.conftest import HF_IDS
from tests.web.test_browser import PHONE, SCREENSHOTS, TIMEOUT_MS, visit
from tests.web.test_browser_accounts import (
    ChromiumThread,
    Server,
    chromium,
    server,
    sign_in_on_the_form,
)
from tests.web.test_browser_digest import READER as SUBSCRIBER
from tests.web.test_browser_digest import send_confirmation

__all__ = ["chromium", "server"]  # the fixtures, imported for pytest

PAGES = {
    "home": "/",
    "trending": "/trending?window=week",
    "today": "/today",
    "search": "/search?q=dropout",
    "search-empty": "/search?q=zqxjvw&category=math.AG",
    "paper": f"/paper/{HF_IDS[0]}",
    "author": "/author/Zesen%20Cheng",  # of the recorded day, with co-authors
    "category": "/category/cs.LG",
    "signin": "/signin",
    "subscribe": "/subscribe",
}
READER = "axe-reader@example.org"
SAVED = HF_IDS[0]  # saved with tags and upvoted by the reader
SIGNED_IN_PAGES = {
    "home-signed-in": "/",
    "library": "/library",
    "library-tag": "/library?tag=reading",
    "for-you": "/for-you",
    "account": "/account",
    "paper-signed-in": f"/paper/{SAVED}",
}
# What shows that a page is the one meant (and, signed in, filled by the reader's library).
MARKS = {
    "author": "article.paper",
    "home-signed-in": "#for-you-title",
    "library": "article.paper p.tags a",
    "library-tag": "section.recommended-for-tag article.recommended",
    "for-you": "article.paper.recommended p.why-line",
    "account": "#digest-subscribe",
    "paper-signed-in": "form.tags-edit p.tags a",
    "preferences": "#schedule",
    "unsubscribe": "#unsubscribe",
}
SIZES: dict[str, ViewportSize] = {
    "desktop": {"width": 1280, "height": 900},
    "phone": {"width": PHONE["width"], "height": PHONE["height"]},
}
LOOKS = [(scheme, size) for scheme in ("light", "dark") for size in SIZES]
SERIOUS = ("serious", "critical")


@pytest.fixture(scope="module")
def axe() -> Axe:
    return Axe()


@contextmanager
def in_look(browser: Browser, base: str, look: tuple[str, str],
            state: StorageState | None = None) -> Iterator[BrowserContext]:  # fmt: skip
    """A context with the look's color scheme and viewport (a phone: touch, mobile), and the
    browser `state` of a signed-in reader if given."""
    scheme, size = look
    phone = size == "phone"
    made = browser.new_context(
        base_url=base,
        viewport=SIZES[size],
        color_scheme="dark" if scheme == "dark" else "light",
        is_mobile=phone,
        has_touch=phone,
        storage_state=state,
    )
    made.set_default_timeout(TIMEOUT_MS)
    try:
        yield made
    finally:
        made.close()


def _serious(results: Any) -> list[str]:
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at "
        + ", ".join(str(node["target"]) for node in v["nodes"][:3])
        for v in results.response["violations"]
        if v["impact"] in SERIOUS
    ]


def audit(context: BrowserContext, axe: Axe, pages: Mapping[str, str], look: tuple[str, str],
          who: str | None = None) -> dict[str, list[str]]:  # fmt: skip
    """Visits each page (failing unless it answers 200, and, with `who`, unless it is shown to
    that reader signed in), shoots it, and returns axe's serious and critical violations, and
    a page wider than the window (sideways scrolling), by page."""
    page = context.new_page()
    found = {}
    for slug, path in pages.items():
        visit(page, path)
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"page-{slug}-{'-'.join(look)}.png"),
                        full_page=True)  # fmt: skip
        if who is not None:
            expect(page.locator("header a.who")).to_have_text(who)
        if slug in MARKS:
            expect(page.locator(MARKS[slug]).first).to_be_visible()
        problems = _serious(axe.run(page))
        # (against the screen's width: a phone's window zooms out to fit a page wider than it)
        wide, room = page.evaluate("document.documentElement.scrollWidth"), SIZES[look[1]]["width"]
        if wide > room:
            problems.append(f"overflow: {wide} px wide on a {room} px screen")
        if problems:
            found[f"{slug} ({path})"] = problems
    return found


@dataclass(frozen=True)
class SignedIn:
    state: StorageState  # the reader's browser state: the session cookie
    digest_pages: dict[str, str]  # the subscriber's preferences and unsubscribe pages


@pytest.fixture(scope="module")
def signed_in(chromium: ChromiumThread, server: Server) -> SignedIn:
    assert chromium.browser is not None
    return chromium.run(sign_in, chromium.browser, server)


def sign_in(browser: Browser, server: Server) -> SignedIn:
    """On `server`: a subscriber confirmed through the mailed link (their preferences and
    unsubscribe pages), then a reader signed in through the mailed link who upvoted a paper and
    saved it with two tags."""
    context = browser.new_context(base_url=server.base)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    try:
        # the digest first: send_confirmation expects the confirmation as the first mail
        page.goto("/subscribe")
        page.locator("#email").fill(SUBSCRIBER)
        with page.expect_navigation():
            page.locator("#subscribe").click()
        page.goto(send_confirmation(server))
        with page.expect_navigation():
            page.locator("#confirm-subscription").click()
        expect(page.locator("#confirmed")).to_be_visible()
        preferences = urlsplit(page.url)
        unsubscribe = page.locator("form:has(#unsubscribe)").get_attribute("action")
        assert unsubscribe is not None and unsubscribe.startswith("/u/"), unsubscribe
        digest_pages = {"preferences": f"{preferences.path}?{preferences.query}",
                        "unsubscribe": unsubscribe}  # fmt: skip

        # the reader: signs in, upvotes, saves with tags
        page.goto("/signin")
        sign_in_on_the_form(page, server, READER)
        page.goto(f"/paper/{SAVED}")
        with page.expect_navigation():
            page.locator("article.paper.full form[data-kind=upvote] button").click()
        page.locator("article.paper.full form[data-kind=save] input[name=tags]").fill(
            "Graph Neural Nets, reading"
        )
        with page.expect_navigation():
            page.locator("article.paper.full form[data-kind=save] button").click()
        for kind in ("upvote", "save"):
            expect(page.locator(f"article.paper.full form[data-kind={kind}] button")
                   ).to_have_attribute("aria-pressed", "true")  # fmt: skip
        expect(page.locator("form.tags-edit p.tags a")).to_have_text(["graph neural nets",
                                                                      "reading"])  # fmt: skip
        return SignedIn(context.storage_state(), digest_pages)
    finally:
        context.close()


def audit_signed_in(browser: Browser, server: Server, signed_in: SignedIn, axe: Axe,
                    look: tuple[str, str]) -> dict[str, list[str]]:  # fmt: skip
    with in_look(browser, server.base, look, signed_in.state) as context:
        found = audit(context, axe, SIGNED_IN_PAGES, look, who=READER)
        return found | audit(context, axe, signed_in.digest_pages, look)


@pytest.mark.parametrize("look", LOOKS, ids="-".join)
def test_no_serious_accessibility_violation_on_any_page(
    browser: Browser, live_server: str, chromium: ChromiumThread, server: Server,
    signed_in: SignedIn, axe: Axe, look: tuple[str, str],
) -> None:  # fmt: skip
    """The public pages in this thread's Chromium and, at the same time (two cores, two
    servers), the signed-in ones in the other Chromium, on its own thread."""
    assert chromium.browser is not None
    with ThreadPoolExecutor(1) as waiter:
        signed = waiter.submit(chromium.run, audit_signed_in, chromium.browser, server,
                               signed_in, axe, look)  # fmt: skip
        with in_look(browser, live_server, look) as context:
            found = audit(context, axe, PAGES, look)
        found |= signed.result()
    assert found == {}


def test_the_check_finds_what_it_should(browser: Browser, axe: Axe) -> None:
    """The same check on a page with known faults (a form field without a label, grey on
    white text): it is not blind."""
    page = browser.new_page()
    page.set_content('<html lang="en"><title>t</title><main><input type="text">'
                     '<p style="color:#bbb;background:#fff">faint</p></main></html>')  # fmt: skip
    problems = _serious(axe.run(page))
    page.close()
    assert any(p.startswith("label ") for p in problems), problems
    assert any(p.startswith("color-contrast ") for p in problems), problems
