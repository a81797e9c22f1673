"""The email digest end to end in a real headless Chromium against a real `paperfeed serve`
process: subscribe in the home page's box, receive the confirmation that the real sender mails
over SMTP to a real server (aiosmtpd), open its link and press Confirm, set the preferences,
unsubscribe with the button; and follow a search by email. No console errors, CSP violations
or failed requests on the way. Screenshots go to artifacts/screenshots/ (digest-preferences,
digest-confirmed, digest-unsubscribed)."""

from __future__ import annotations

import re
from email.message import EmailMessage
from functools import partial

from playwright.sync_api import BrowserContext, Page, expect

from paperfeed.digest.mailer import SMTPMailer
from paperfeed.digest.sender import DigestSender
from paperfeed.store import Preferences, Subscriber, open_store
from tests.web.test_browser_accounts import (
    ChromiumThread,
    Server,
    chromium,
    in_a_watched_page,
    server,
    shoot,
)

__all__ = ["chromium", "server"]  # the fixtures, imported for pytest

READER = "digest-reader@example.org"


def send_confirmation(server: Server) -> str:
    """What the sender thread of `paperfeed serve` does after a subscribe: one pass that mails
    the confirmation (on its own connection, with the site's key). Returns the link mailed."""
    store = open_store(str(server.db))
    try:
        mailer = SMTPMailer(server.smtp.host, server.smtp.port, "none", "", "",
                            "paperfeed <digest@localhost>", timeout_s=5)  # fmt: skip
        sender = DigestSender(store, mailer, secret=store.get_secret("web"),
                              base_url=server.base, rate_per_s=0)  # fmt: skip
        sender.run_pass()  # (busy, if the server's own sender got there first: it mails it)
    finally:
        store.close()
    server.smtp.wait_for(1)
    [message] = [m for m in server.smtp.messages if m["To"] == READER]
    body = message.get_body(("plain",))
    assert isinstance(body, EmailMessage)
    found = re.search(r"http://\S+/confirm\?token=\S+", body.get_content())
    assert found, body.get_content()
    return found.group(0)


def subscriber(server: Server) -> Subscriber:
    store = open_store(str(server.db), readonly=True)
    try:
        sub = store.get_subscriber_by_email(READER)
    finally:
        store.close()
    assert sub is not None
    return sub


def test_subscribe_confirm_choose_and_unsubscribe_in_a_browser(
    chromium: ChromiumThread, server: Server
) -> None:
    assert chromium.browser is not None
    in_tokyo = partial(in_a_watched_page, timezone_id="Asia/Tokyo")  # the browser's zone
    chromium.run(in_tokyo, chromium.browser, server,
                 lambda page, context: digest_session(page, context, server))  # fmt: skip


def digest_session(page: Page, context: BrowserContext, server: Server) -> None:
    # the home page's box
    page.goto("/")
    box = page.locator("aside.subscribe")
    box.get_by_label("Email address").fill(READER)
    with page.expect_navigation():
        box.get_by_role("button", name="Subscribe").click()
    expect(page.locator("h1")).to_have_text("Check your inbox")
    expect(page.get_by_role("status")).to_contain_text(READER)
    assert subscriber(server).state == "pending"

    # the mailed link: opening it changes nothing, the button confirms
    link = send_confirmation(server)
    assert link.startswith(server.base + "/confirm?token=")
    page.goto(link)
    assert subscriber(server).state == "pending"
    with page.expect_navigation():
        page.locator("#confirm-subscription").click()
    expect(page).to_have_url(re.compile(r"/preferences\?token="))
    expect(page.locator("#confirmed")).to_have_text(
        f"You're confirmed: the digest will come to {READER}. Choose below how often and what "
        "it holds."
    )
    expect(page.locator("main")).to_contain_text(f"The digest goes to {READER}")
    expect(page).not_to_have_url(re.compile(r"confirmed=1"))  # a reload says it no more
    assert "token=" in page.url
    expect(page.locator("#schedule")).to_have_text("Daily at 07:00 (UTC)")
    assert subscriber(server).state == "confirmed"
    # nobody chose a time zone yet: the browser's fills the field (saved only by Save)
    expect(page.get_by_label("Time zone")).to_have_value("Asia/Tokyo")
    expect(page.locator("#timezone-note")).to_contain_text("in place of UTC")
    assert subscriber(server).prefs.timezone == "UTC"
    # daily: no day of the week to choose; weekly: there is
    expect(page.get_by_label("Day of the week")).to_be_hidden()
    shoot(page, "digest-confirmed")

    # preferences
    page.get_by_label("How often").select_option("weekly")
    page.get_by_label("Day of the week").select_option(label="Friday")
    page.locator("#hour").fill("18")
    page.get_by_label("Time zone").fill("Europe/Berlin")
    page.get_by_label("Searches to follow").fill("graph neural networks\nunlearning")
    page.get_by_label("arXiv categories").fill("cs.LG stat.ML")
    page.get_by_label("Include trending papers").uncheck()
    page.get_by_label("Send a short notice on days with nothing new").check()
    with page.expect_navigation():
        page.locator("#save-preferences").click()
    expect(page.get_by_role("status")).to_have_text("Saved.")
    expect(page.get_by_label("How often")).to_have_value("weekly")
    expect(page.locator("#schedule")).to_have_text("Weekly on Friday at 18:00 (Europe/Berlin)")
    expect(page.locator("#confirmed")).to_have_count(0)
    expect(page.get_by_label("Time zone")).to_have_value("Europe/Berlin")  # what was saved
    shoot(page, "digest-preferences")
    assert subscriber(server).prefs == Preferences(
        frequency="weekly", weekday=4, hour=18, timezone="Europe/Berlin",
        topics=("graph neural networks", "unlearning"), categories=("cs.LG", "stat.ML"),
        include_trending=False, max_papers=10, empty_notice=True,
    )  # fmt: skip

    # unsubscribe: the button posts what a mail client's one-click unsubscribe posts
    with page.expect_navigation():
        page.locator("#unsubscribe").click()
    expect(page).to_have_url(re.compile(r"/u/[^/?]+$"))
    expect(page.locator("h1")).to_have_text("You are unsubscribed")
    shoot(page, "digest-unsubscribed")
    assert subscriber(server).state == "unsubscribed"

    # a search, followed by email: the subscribe page comes with the query
    page.goto("/search?q=federated+learning")
    with page.expect_navigation():
        page.locator("#search-by-email").click()
    expect(page.get_by_label("A search to follow")).to_have_value("federated learning")
