"""A reader's account end to end in a real headless Chromium against a real `paperfeed serve`
process that mails its sign-in links over SMTP to a real server (aiosmtpd) run by the test:
sign in through the mailed link, upvote, save with tags, see the library, export BibTeX, see
the vote in the trending ranking, sign out. No console errors and no CSP violations on the way.
Screenshots go to artifacts/screenshots/ (signin, library, paper-upvoted)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Dialog,
    Page,
    Playwright,
    Response,
    expect,
    sync_playwright,
)

from tests.mail import SMTPCatcher
from tests.web.conftest import HF_IDS, copy_database, free_port, wait_until_up
from tests.web.test_browser import CHROMIUM, CHROMIUM_ARGS, SCREENSHOTS

PAPER = HF_IDS[0]  # 2410.17243, featured on the recorded Hugging Face day
READER = "reader@example.org"
T = TypeVar("T")
TIMEOUT_MS = 5_000
# Reported by the page itself whenever its Content-Security-Policy blocks something.
CSP_WATCH = (
    "document.addEventListener('securitypolicyviolation', e => console.error("
    "'CSP violation: ' + e.violatedDirective + ' blocked ' + e.blockedURI));"
)


@dataclass(frozen=True)
class Server:
    base: str
    smtp: SMTPCatcher
    db: Path  # the served copy (for the digest sender of tests/web/test_browser_digest.py)


@pytest.fixture(scope="module")
def server(served_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """`paperfeed serve` over a copy of the served database, mailing to our SMTP server."""
    folder = tmp_path_factory.mktemp("accounts-served")
    db = folder / "accounts.db"
    copy_database(served_db, db)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with SMTPCatcher() as smtp, open(folder / "serve.log", "wb") as log:
        env = {**os.environ, "PAPERFEED_SMTP_HOST": smtp.host,
               "PAPERFEED_SMTP_PORT": str(smtp.port), "PAPERFEED_SMTP_SECURITY": "none",
               "PAPERFEED_BASE_URL": base, "PAPERFEED_SCHEDULER": "0"}  # fmt: skip
        for name in ("PAPERFEED_SMTP_USER", "PAPERFEED_SMTP_PASSWORD", "PAPERFEED_DB"):
            env.pop(name, None)
        process = subprocess.Popen(
            [sys.executable, "-m", "paperfeed", "--db", str(db), "serve", "--port", str(port),
             "--no-scheduler"],
            stdout=log, stderr=log, env=env,
        )  # fmt: skip
        try:
            wait_until_up(base, process)
            yield Server(base, smtp, db)
        finally:
            process.terminate()
            process.wait(timeout=20)


class ChromiumThread:
    """Chromium driven from a thread of its own. The Playwright sync API runs one instance per
    thread, and tests/web/test_browser.py keeps one open in the main thread for the whole
    session; a second one started there fails ("Sync API inside the asyncio loop"). Every
    Playwright call of this module runs on this thread, through `run`."""

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="chromium")
        self._playwright: Playwright | None = None
        self.browser: Browser | None = None

    def start(self) -> None:
        self.run(self._start)

    def _start(self) -> None:
        self._playwright = sync_playwright().start()
        self.browser = self._playwright.chromium.launch(executable_path=str(CHROMIUM),
                                                        args=CHROMIUM_ARGS)  # fmt: skip

    def run(self, fn: Callable[..., T], *args: Any) -> T:
        return self._pool.submit(fn, *args).result(timeout=300)

    def close(self) -> None:
        def stop() -> None:
            if self.browser is not None:
                self.browser.close()
            if self._playwright is not None:
                self._playwright.stop()

        try:
            self.run(stop)
        finally:
            self._pool.shutdown()


@pytest.fixture(scope="module")
def chromium() -> Iterator[ChromiumThread]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make setup`", pytrace=False)
    thread = ChromiumThread()
    try:
        thread.start()
        yield thread
    finally:
        thread.close()


def in_a_watched_page(browser: Browser, server: Server,
                      flow: Callable[[Page, BrowserContext], None],
                      **options: Any) -> None:  # fmt: skip
    """Runs `flow` in a fresh context's page (more context `options`: a time zone, javascript
    off), then fails on any console error (CSP violations included), script error, dialog or
    failed request the page saw."""
    context = browser.new_context(base_url=server.base, accept_downloads=True, **options)
    context.set_default_timeout(TIMEOUT_MS)
    context.add_init_script(CSP_WATCH)
    page = context.new_page()
    problems: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            where = message.location.get("url") or page.url
            problems.append(f"console error on {page.url} ({where}): {message.text}")

    def on_response(response: Response) -> None:
        if response.status >= 400:
            problems.append(f"{response.status} for {response.url} (on {page.url})")

    def on_dialog(dialog: Dialog) -> None:
        problems.append(f"{dialog.type} dialog on {page.url}: {dialog.message}")
        dialog.dismiss()

    page.on("console", on_console)
    page.on("pageerror", lambda error: problems.append(f"script error on {page.url}: {error}"))
    page.on("dialog", on_dialog)
    page.on("response", on_response)
    try:
        flow(page, context)
    finally:
        context.close()
    assert not problems, problems


def shoot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def mailed_link(smtp: SMTPCatcher, to: str) -> str:
    smtp.wait_for(1)
    [message] = [m for m in smtp.messages if m["To"] == to]
    body = message.get_body(("plain",))
    assert isinstance(body, EmailMessage)
    found = re.search(r"http://\S+/signin/link\?token=\S+", body.get_content())
    assert found, body.get_content()
    return found.group(0)


def action(page: Page, kind: str) -> tuple[str, str]:
    """The full paper's button for `kind`: its (aria-pressed, label)."""
    button = page.locator(f"article.paper.full form[data-kind={kind}] button")
    return button.get_attribute("aria-pressed") or "", button.inner_text()


def test_sign_in_by_mail_upvote_save_see_the_library_and_export_bibtex(
    chromium: ChromiumThread, server: Server
) -> None:
    assert chromium.browser is not None
    chromium.run(in_a_watched_page, chromium.browser, server,
                 lambda page, context: reader_session(page, context, server))  # fmt: skip


def reader_session(page: Page, context: BrowserContext, server: Server) -> None:
    # sign in: the header link, the form, the mailed link, the button
    page.goto("/")
    with page.expect_navigation():
        page.locator("header nav a", has_text="Sign in").click()
    expect(page).to_have_url(re.compile(r"/signin(\?|$)"))
    page.locator("#email").fill(READER)
    shoot(page, "signin")
    with page.expect_navigation():
        page.get_by_role("button", name="Mail me a sign-in link").click()
    expect(page.locator("h1")).to_have_text("Check your inbox")
    expect(page.get_by_role("status")).to_contain_text(READER)
    link = mailed_link(server.smtp, READER)
    assert link.startswith(server.base + "/signin/link?token=")
    page.goto(link)
    assert not [c for c in context.cookies() if c["name"] == "pf_session"]  # opening is not enough
    with page.expect_navigation():
        page.locator("#confirm-signin").click()
    expect(page).to_have_url(server.base + "/library")
    expect(page.locator("h1")).to_have_text("Your library")
    expect(page.locator("header a.who")).to_have_text(READER)
    [session] = [c for c in context.cookies() if c["name"] == "pf_session"]
    assert session["httpOnly"] and session["sameSite"] == "Lax" and not session["secure"]

    # a paper from the trending list: upvote it, then save it with tags
    page.goto("/trending?window=week")
    with page.expect_navigation():
        page.locator(f'article.paper h2 a[href="/paper/{PAPER}"]').click()
    expect(page).to_have_url(re.compile(rf"/paper/{re.escape(PAPER)}$"))
    title = page.locator("article.paper.full h1").inner_text()
    assert action(page, "upvote") == ("false", "▲ Upvote")
    with page.expect_navigation():
        page.locator("article.paper.full form[data-kind=upvote] button").click()
    expect(page).to_have_url(re.compile(rf"/paper/{re.escape(PAPER)}$"))
    assert action(page, "upvote") == ("true", "▲ Upvoted")
    page.reload()
    assert action(page, "upvote") == ("true", "▲ Upvoted")
    shoot(page, "paper-upvoted")
    page.locator("article.paper.full form[data-kind=save] input[name=tags]").fill(
        "Graph Neural Nets, reading"
    )
    with page.expect_navigation():
        page.locator("article.paper.full form[data-kind=save] button").click()
    assert action(page, "save") == ("true", "★ Saved")
    assert action(page, "upvote") == ("true", "▲ Upvoted")

    # the library shows it with its tags
    with page.expect_navigation():
        page.locator("header nav a", has_text="Library").click()
    expect(page).to_have_url(server.base + "/library")
    saved = page.locator("article.paper", has=page.locator(f'a[href="/paper/{PAPER}"]'))
    expect(saved).to_have_count(1)
    expect(saved.locator("h2")).to_have_text(title)
    expect(saved.locator("p.tags a")).to_have_text(["graph neural nets", "reading"])
    expect(saved.locator("form[data-kind=save] button")).to_have_attribute("aria-pressed", "true")
    shoot(page, "library")
    with page.expect_navigation():
        page.locator("p.tags a", has_text="reading").first.click()
    expect(page).to_have_url(re.compile(r"/library\?tag=reading$"))
    expect(page.locator("article.paper")).to_have_count(1)

    # BibTeX export, downloaded by the browser
    with page.expect_download() as download_info:
        page.get_by_role("link", name="BibTeX").click()
    download = download_info.value
    assert download.suggested_filename == "library.bib"
    bibtex = Path(download.path()).read_text(encoding="utf-8")
    assert bibtex.lstrip().startswith("@") and f"eprint = {{{PAPER}}}" in bibtex

    # the vote and the save are in the ranking at once, by the formula's weights
    cookies = {c["name"]: c["value"] for c in context.cookies()}
    with httpx.Client(base_url=server.base, cookies=cookies) as client:
        ranked = client.get("/trending.json", params={"window": "week"}).json()["papers"]
        parts = {p["id"]: p["trending"]["parts"] for p in ranked}[PAPER]
        assert parts["upvote"] == 3.0 and parts["save"] == 4.0, parts
        mine = client.get("/library.json").json()["papers"]
        assert [(p["id"], p["tags"]) for p in mine] == [(PAPER, ["graph neural nets", "reading"])]

    # sign out: the header button; the library is closed again
    page.goto("/library")
    with page.expect_navigation():
        page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(server.base + "/")
    expect(page.locator("header nav a", has_text="Sign in")).to_be_visible()
    assert not [c for c in context.cookies() if c["name"] == "pf_session"]
    page.goto("/library")
    expect(page).to_have_url(server.base + "/signin?next=/library")


def test_signing_in_from_a_paper_comes_back_to_it(chromium: ChromiumThread, server: Server
                                                  ) -> None:  # fmt: skip
    assert chromium.browser is not None
    chromium.run(in_a_watched_page, chromium.browser, server,
                 lambda page, context: back_to_the_paper(page, server))  # fmt: skip


def sign_in_on_the_form(page: Page, server: Server, reader: str) -> None:
    """From the sign-in form: ask for the link, open the mailed link, press its button."""
    page.locator("#email").fill(reader)
    with page.expect_navigation():
        page.get_by_role("button", name="Mail me a sign-in link").click()
    expect(page.locator("h1")).to_have_text("Check your inbox")
    page.goto(mailed_link(server.smtp, reader))
    with page.expect_navigation():
        page.locator("#confirm-signin").click()


def back_to_the_paper(page: Page, server: Server) -> None:
    reader = "returning-reader@example.org"
    page.goto(f"/paper/{PAPER}")
    with page.expect_navigation():
        page.locator("a.signin-to-act").first.click()
    expect(page).to_have_url(f"{server.base}/signin?next=/paper/{PAPER}")
    sign_in_on_the_form(page, server, reader)
    expect(page).to_have_url(f"{server.base}/paper/{PAPER}")  # where sign-in was asked from
    expect(page.locator("header a.who")).to_have_text(reader)
    expect(page.locator("article.paper.full form[data-kind=save] button")).to_be_visible()
    shoot(page, "signin-back-on-paper")
