"""The digest's web routes in process (Starlette's TestClient) over a real SQLite store: the
subscribe form and JSON API, confirming, the preferences form, one-click unsubscribe, and the
boxes on the home, search and account pages; at the end, a confirmation mailed by the real
sender over SMTP (aiosmtpd) and followed back to the site.

What must hold: one confirmation mail however often an address is asked for, one answer for
every address (nobody learns who is on the list), GET never changes anything, each link works
only for its own page, and an unsubscribe from a mail client (RFC 8058: a POST with no cookie
and no form token) works and is not redirected.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from dataclasses import replace
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from markupsafe import escape
from starlette.testclient import TestClient

from paperfeed.digest import subscriptions
from paperfeed.digest.mailer import SMTPMailer
from paperfeed.digest.sender import DigestSender
from paperfeed.ingest.files import import_file
from paperfeed.search.engine import SearchEngine
from paperfeed.store import Preferences, Subscriber, open_store
from paperfeed.tokens import sign
from paperfeed.web.app import create_app
from paperfeed.web.digests import CHECK_INBOX
from tests.conftest import SEED
from tests.mail import SMTPCatcher, smtp_server
from tests.web.test_accounts import (
    EVIL,
    SENDER,
    START,
    TODAY,
    Clock,
    Web,
    assert_error_json,
    cookie,
    csrf_in,
    sign_in,
    text_of,
)

__all__ = ["smtp_server"]  # the fixture, imported for pytest

ANN = "ann@example.org"
ONE_CLICK = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture
def web(tmp_path: Path, smtp_server: SMTPCatcher) -> Iterator[Web]:
    """The app over a store of the seed papers; `web.app.state.wakes` counts sender wakes."""
    db = tmp_path / "digests.db"
    store = open_store(str(db))
    import_file(store, SEED)
    clock = Clock(START)
    wakes: list[float] = []
    mailer = SMTPMailer(smtp_server.host, smtp_server.port, "none", "", "", SENDER, timeout_s=5)
    app = create_app(lambda: SearchEngine(store, str(db) + "-index"), mailer=mailer,
                     base_url="http://testserver", clock=clock, today=lambda: TODAY,
                     wake_sender=lambda: wakes.append(clock()))  # fmt: skip
    app.state.wakes = wakes
    with TestClient(app) as client:
        yield Web(app, client, clock, smtp_server, store, db)
    store.close()


# -- helpers ------------------------------------------------------------------------------------


def secret_of(web: Web) -> bytes:
    return web.store.get_secret("web")


def subscribe(c: TestClient, email: str, *, as_json: bool = False, **form: str
              ) -> httpx.Response:  # fmt: skip
    """What the subscribe form does: open it, then post the address with the form's token."""
    token = csrf_in(c.get("/subscribe").text)
    headers = {"Accept": "application/json"} if as_json else {}
    return c.post("/subscribe", data={"email": email, "csrf_token": token, **form},
                  headers=headers)  # fmt: skip


def subscriber(web: Web, email: str = ANN) -> Subscriber:
    sub = web.store.get_subscriber_by_email(email)
    assert sub is not None, email
    return sub


def confirm_token(web: Web, email: str = ANN) -> str:
    """The token the confirmation mail for `email`'s latest request carries."""
    sub = subscriber(web, email)
    assert sub.confirm_sent_at is not None
    return subscriptions.confirm_token(secret_of(web), sub, int(sub.confirm_sent_at))


def press_confirm(c: TestClient, token: str) -> httpx.Response:
    """What a reader does with the mailed link: open the page, press the button."""
    page = c.get("/confirm", params={"token": token})
    assert page.status_code == 200, page.text
    form = {"token": token, "csrf_token": csrf_in(page.text)}
    return c.post("/confirm", data=form, follow_redirects=False)


def confirmed(web: Web, email: str = ANN) -> Subscriber:
    """A subscriber who asked through the form and pressed the confirmation button."""
    assert subscribe(web.client, email).status_code == 200
    assert press_confirm(web.client, confirm_token(web, email)).status_code == 303
    sub = subscriber(web, email)
    assert sub.state == "confirmed"
    return sub


def preferences_token(web: Web, sub: Subscriber) -> str:
    return subscriptions.preferences_token(secret_of(web), sub, web.clock())


def unsubscribe_token(web: Web, sub: Subscriber) -> str:
    return subscriptions.unsubscribe_token(secret_of(web), sub, web.clock())


def planned(web: Web, sub: Subscriber) -> list[str]:
    return [d.kind for d in web.store.list_deliveries(sub.id, state="planned")]


def without_csrf(text: str) -> str:
    return re.sub(r'name="csrf_token" value="[^"]+"', 'name="csrf_token" value=""', text)


def prefs_form(web: Web, c: TestClient, token: str, **changes: str) -> dict[str, str]:
    """The preferences form as the page fills it in, with some fields changed."""
    page = c.get("/preferences", params={"token": token})
    assert page.status_code == 200, page.text
    form = {"token": token, "csrf_token": csrf_in(page.text), "frequency": "daily",
            "weekday": "0", "hour": "7", "timezone": "UTC", "topics": "", "categories": "",
            "include_trending": "1", "max_papers": "10"}  # fmt: skip
    return {**form, **changes}


# -- subscribe ----------------------------------------------------------------------------------


def test_the_subscribe_form_makes_a_pending_subscriber_and_plans_one_confirmation(web: Web) -> None:
    page = web.client.get("/subscribe")
    assert page.status_code == 200 and 'action="/subscribe"' in page.text
    assert page.headers["content-security-policy"].startswith("default-src 'self'")
    answer = subscribe(web.client, " Ann@Example.ORG ")
    assert answer.status_code == 200 and "Check your inbox" in answer.text
    assert "Unless ann@example.org is on the list already" in answer.text
    sub = subscriber(web)
    assert (sub.state, sub.request_source, sub.requested_at) == ("pending", "web", START)
    [delivery] = web.store.list_deliveries(sub.id)
    assert (delivery.kind, delivery.state, delivery.plan) == ("confirm", "planned",
                                                              {"round": int(START)})  # fmt: skip
    assert web.app.state.wakes == [START]  # the sender was told at once
    assert web.smtp.messages == []  # the web mails nothing itself: the sender does


def test_fifty_requests_for_one_address_plan_one_mail_and_get_one_answer(web: Web) -> None:
    spellings = [ANN, "ANN@example.org", " ann@EXAMPLE.org "]
    answers = []
    for n in range(50):  # from 50 networks, so that no per-client limit hides anything
        c = web.new_client(f"198.51.100.{n + 10}")
        answers.append(subscribe(c, spellings[n % 3]))
        web.clock.advance(60)
    assert {a.status_code for a in answers} == {200}
    assert len({without_csrf(a.text) for a in answers}) == 1
    sub = subscriber(web)
    deliveries = web.store.list_deliveries(sub.id)
    assert [(d.kind, d.state) for d in deliveries] == [("confirm", "planned")]
    assert web.app.state.wakes == [START]


def test_every_address_gets_the_same_answer(web: Web) -> None:
    """Unknown, pending, confirmed and unsubscribed addresses: the same status, page, headers
    and JSON, so that nobody can learn who is on the list."""
    confirmed(web, "confirmed@example.org")
    gone = confirmed(web, "gone@example.org")
    web.client.post(f"/u/{unsubscribe_token(web, gone)}", headers=ONE_CLICK)
    assert subscriber(web, "gone@example.org").state == "unsubscribed"
    subscribe(web.client, "pending@example.org")
    states = {e: subscriber(web, e).state for e in ("pending@example.org",
              "confirmed@example.org", "gone@example.org")}  # fmt: skip
    assert sorted(states.values()) == ["confirmed", "pending", "unsubscribed"]
    fresh = web.new_client("203.0.113.5")
    fresh.get("/subscribe")  # its anonymous cookie first, so that all answers start alike
    addresses = ["unknown@example.org", *states]
    answers = [subscribe(fresh, e) for e in addresses]
    assert {a.status_code for a in answers} == {200}
    pages = {a.text.replace(e, "ADDRESS") for a, e in zip(answers, addresses, strict=True)}
    assert len(pages) == 1
    assert len({tuple(sorted(a.headers.keys())) for a in answers}) == 1
    assert all(cookie(a, "pf_csrf") is None for a in answers)
    as_json = [subscribe(fresh, e, as_json=True).json() for e in addresses]
    assert all(j == {"subscribed": "pending", "message": CHECK_INBOX} for j in as_json)


def test_a_bad_address_gets_a_sentence_and_nothing_is_stored(web: Web) -> None:
    for bad in ("not-an-address", "a@b@c", "ann@example..org", "<x>@example.org", "",
                "g0:victim@example.org", "Victim <victim@example.org>", "victim@example.org.",
                "vic\x01tim@example.org"):  # fmt: skip
        answer = subscribe(web.client, bad)
        assert answer.status_code == 400, bad
        assert "That does not look like an email address" in answer.text
        assert "text/html" in answer.headers["content-type"]
    assert_error_json(subscribe(web.client, "nope", as_json=True), 400, "That does not look like")
    assert sum(web.store.count_subscribers().values()) == 0
    assert web.app.state.wakes == []


@pytest.mark.parametrize(
    "headers",
    [{"Origin": EVIL}, {"Origin": "null"}, {"Sec-Fetch-Site": "cross-site"},
     {"Origin": EVIL, "Sec-Fetch-Site": "cross-site"}],
)  # fmt: skip
def test_a_subscribe_request_from_another_site_is_refused(web: Web, headers: dict[str, str]
                                                          ) -> None:  # fmt: skip
    token = csrf_in(web.client.get("/subscribe").text)
    answer = web.client.post("/subscribe", data={"email": ANN, "csrf_token": token},
                             headers=headers)  # fmt: skip
    assert answer.status_code == 403 and "This form was sent from another site" in answer.text
    answer = web.client.post("/api/subscribe", json={"email": ANN}, headers=headers)
    assert_error_json(answer, 403, "This request came from another site")
    assert web.store.get_subscriber_by_email(ANN) is None


def test_a_subscribe_form_without_its_token_is_refused(web: Web) -> None:
    answer = web.client.post("/subscribe", data={"email": ANN})
    assert answer.status_code == 403 and "did not come from this site" in answer.text
    other = web.new_client()
    stolen = csrf_in(other.get("/subscribe").text)  # another visitor's token
    answer = web.client.post("/subscribe", data={"email": ANN, "csrf_token": stolen})
    assert answer.status_code == 403
    assert web.store.get_subscriber_by_email(ANN) is None


def test_the_json_api_subscribes_with_source_api(web: Web) -> None:
    script = web.new_client("192.0.2.7")  # no cookie, no form token: a script
    answer = script.post("/api/subscribe", json={"email": ANN, "topic": "graph neural networks"})
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"subscribed": "pending", "message": CHECK_INBOX}
    sub = subscriber(web)
    assert (sub.state, sub.request_source) == ("pending", "api")
    assert sub.prefs.topics == ("graph neural networks",)
    assert planned(web, sub) == ["confirm"]
    again = script.post("/api/subscribe", json={"email": ANN.upper()})
    assert again.json() == answer.json() and planned(web, sub) == ["confirm"]
    ours = script.post("/api/subscribe", json={"email": "bob@example.org"},
                       headers={"Origin": "http://testserver"})  # fmt: skip
    assert ours.status_code == 200
    assert_error_json(script.post("/api/subscribe", json={"email": "x"}), 400, "That does not")
    assert_error_json(script.post("/api/subscribe", json=["x"]), 400, "That does not")
    odd = script.post("/api/subscribe", json={"email": "carol@example.org", "topic": {}})
    assert_error_json(odd, 400, "topic must be text.")
    assert web.store.get_subscriber_by_email("carol@example.org") is None
    broken = script.post("/api/subscribe", content=b"{",
                         headers={"Content-Type": "application/json"})  # fmt: skip
    assert_error_json(broken, 400, "The request body is not valid JSON.")
    # bodies a page on another site could make a browser send without a preflight
    for content_type in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data"):
        answer = script.post("/api/subscribe", content=b'{"email": "eve@example.org"}',
                             headers={"Content-Type": content_type})  # fmt: skip
        assert_error_json(answer, 415, "Send a JSON body")
    assert web.store.get_subscriber_by_email("eve@example.org") is None
    assert script.get("/api/subscribe").status_code == 405


def test_more_than_20_subscribe_requests_an_hour_from_one_network_get_429(web: Web) -> None:
    for n in range(20):
        assert subscribe(web.client, f"reader{n}@example.org").status_code == 200, n
    answer = subscribe(web.client, "reader20@example.org")
    assert answer.status_code == 429 and "Too many subscribe requests" in answer.text
    assert web.store.get_subscriber_by_email("reader20@example.org") is None


def test_a_search_can_be_followed_by_email(web: Web) -> None:
    query = 'dropout <script>alert(1)</script> "exact"'
    search = web.client.get("/search", params={"q": query})
    found = re.search(
        r'<a href="([^"]+)" id="search-by-email">Get this search by email', search.text
    )
    assert found, search.text[-600:]
    link = html.unescape(found.group(1))  # keeps all of the search: tests/web/test_search_links
    assert link.startswith("/subscribe?") and parse_qs(urlsplit(link).query)["q"] == [query]
    page = web.client.get(link)
    assert "<script>alert" not in page.text
    assert 'value="dropout &lt;script&gt;alert(1)&lt;/script&gt; &#34;exact&#34;"' in page.text
    assert subscribe(web.client, ANN, topic=query).status_code == 200
    assert subscriber(web).prefs.topics == (query,)


def test_the_home_page_subscribe_box_works(web: Web) -> None:
    home = web.client.get("/")
    box = home.text[home.text.index('<aside class="subscribe"') :]
    box = box[: box.index("</aside>")]
    assert 'action="/subscribe" method="post"' in box and "disabled" not in box
    token = csrf_in(box)
    answer = web.client.post("/subscribe", data={"email": ANN, "csrf_token": token})
    assert answer.status_code == 200 and "Check your inbox" in answer.text
    assert subscriber(web).state == "pending"


# -- confirm ------------------------------------------------------------------------------------


def test_opening_the_confirmation_link_changes_nothing_only_the_button_confirms(web: Web) -> None:
    subscribe(web.client, ANN)
    token = confirm_token(web)
    scanner = web.new_client()  # a mail scanner that follows every link
    for _ in range(2):
        page = scanner.get("/confirm", params={"token": token})
        assert page.status_code == 200 and 'id="confirm-subscription"' in page.text
        assert ANN not in page.text
    assert subscriber(web).state == "pending" and subscriber(web).consent_at is None
    web.clock.advance(3600)
    answer = press_confirm(web.client, token)
    assert answer.status_code == 303
    location = answer.headers["location"]
    assert location.startswith("/preferences?token=")
    sub = subscriber(web)
    assert (sub.state, sub.consent_source, sub.consent_at) == ("confirmed", "web", START + 3600)
    prefs = web.client.get(location)
    assert prefs.status_code == 200 and ANN in prefs.text and 'name="frequency"' in prefs.text
    # pressing it again is harmless
    assert press_confirm(web.new_client(), token).status_code == 303
    assert subscriber(web).consent_at == START + 3600
    as_json = web.client.post("/confirm", json={"token": token},
                              headers={"X-CSRF-Token": csrf_in(prefs.text)})  # fmt: skip
    assert as_json.status_code == 200 and as_json.json()["subscribed"] == "confirmed"
    assert as_json.json()["preferences"].startswith("http://testserver/preferences?token=")


def test_get_on_the_post_only_digest_urls_changes_nothing(web: Web) -> None:
    sub = confirmed(web)
    before = subscriber(web)
    assert web.client.get("/api/subscribe").status_code == 405
    assert web.client.get(f"/u/{unsubscribe_token(web, sub)}").status_code == 200
    assert web.client.get("/preferences", params={"token": preferences_token(web, sub),
                                                  "hour": "3"}).status_code == 200  # fmt: skip
    assert subscriber(web) == before


def _tampered(token: str) -> str:
    body, _, mac = token.partition(".")
    return f"{body}.{'A' if mac[0] != 'A' else 'B'}{mac[1:]}"


def assert_refused(answer: httpx.Response, sentence: str, status: int = 400) -> None:
    assert answer.status_code == status, (answer.status_code, answer.text[-500:])
    assert "text/html" in answer.headers["content-type"]
    assert sentence in answer.text, answer.text[-800:]
    assert 'href="/subscribe"' in answer.text  # a way on
    assert ANN not in answer.text


def test_forged_expired_and_wrong_purpose_links_are_refused(web: Web) -> None:
    sub = confirmed(web)
    secret = secret_of(web)
    prefs, unsub = preferences_token(web, sub), unsubscribe_token(web, sub)
    other_key = subscriptions.preferences_token(b"k" * 32, sub, web.clock())
    click = sign(secret, "click", {"s": sub.id, "p": "x"}, web.clock() + 600)
    expired_unsub = sign(secret, "unsubscribe", {"s": sub.id}, web.clock() - 1)
    expired_prefs = sign(secret, "preferences", {"s": sub.id}, web.clock() - 1)
    c = web.client
    csrf = csrf_in(c.get("/subscribe").text)

    def confirm_post(token: str) -> httpx.Response:
        return c.post("/confirm", data={"token": token, "csrf_token": csrf})

    def prefs_post(token: str) -> httpx.Response:
        return c.post("/preferences", data={"token": token, "csrf_token": csrf, "hour": "3",
                                            "frequency": "weekly"})  # fmt: skip

    confirm_bad = [prefs, unsub, click, _tampered(confirm_token(web)), "", "x.y"]
    for token in confirm_bad:
        sentence = "This confirmation link is not valid"
        assert_refused(c.get("/confirm", params={"token": token}), sentence)
        assert_refused(confirm_post(token), sentence)
    for token in (unsub, click, other_key, _tampered(prefs), ""):
        assert_refused(c.get("/preferences", params={"token": token}),
                       "This preferences link is not valid")  # fmt: skip
        assert_refused(prefs_post(token), "This preferences link is not valid")
    assert_refused(c.get("/preferences", params={"token": expired_prefs}),
                   "This preferences link has expired.")  # fmt: skip
    for token in (prefs, click, confirm_token(web), _tampered(unsub)):
        assert_refused(c.get(f"/u/{token}"), "This unsubscribe link is not valid")
        assert_refused(c.post(f"/u/{token}", content=b"List-Unsubscribe=One-Click",
                              headers=ONE_CLICK), "This unsubscribe link is not valid")  # fmt: skip
    assert_refused(c.post(f"/u/{expired_unsub}", headers=ONE_CLICK),
                   "This unsubscribe link has expired.")  # fmt: skip
    # JSON callers get the one error shape
    assert_error_json(c.post(f"/u/{prefs}", headers={"Accept": "application/json"}), 400,
                      "This unsubscribe link is not valid")  # fmt: skip
    after = subscriber(web)
    assert after.state == "confirmed" and after.prefs == Preferences()


def test_an_expired_confirmation_link_is_refused_and_a_new_request_works(web: Web) -> None:
    subscribe(web.client, ANN)
    old = confirm_token(web)
    web.clock.advance(subscriptions.CONFIRM_TTL_S + 1)
    assert_refused(web.client.get("/confirm", params={"token": old}),
                   "This confirmation link has expired.")  # fmt: skip
    csrf = csrf_in(web.client.get("/subscribe").text)
    assert_refused(web.client.post("/confirm", data={"token": old, "csrf_token": csrf}),
                   "This confirmation link has expired.")  # fmt: skip
    assert subscriber(web).state == "pending"
    assert subscribe(web.client, ANN).status_code == 200  # a new round, a new mail planned
    assert len(web.store.list_deliveries(subscriber(web).id)) == 2
    assert press_confirm(web.client, confirm_token(web)).status_code == 303
    assert subscriber(web).state == "confirmed"


def test_a_link_of_an_address_that_is_gone_says_so(web: Web) -> None:
    sub = confirmed(web)
    ghost = replace(sub, id=sub.id + 99)
    answer = web.client.get("/preferences", params={"token": preferences_token(web, ghost)})
    assert_refused(answer, "no longer on the list", 404)
    # an unsubscribe link of an address that is gone has nothing left to stop
    answer = web.client.post(f"/u/{unsubscribe_token(web, ghost)}", headers=ONE_CLICK)
    assert answer.status_code == 200 and "You are unsubscribed" in answer.text


# -- preferences -------------------------------------------------------------------------------


def test_the_preferences_form_saves_what_it_shows(web: Web) -> None:
    sub = confirmed(web)
    token = preferences_token(web, sub)
    form = prefs_form(web, web.client, token, frequency="weekly", weekday="4", hour="18",
                      timezone="Europe/Berlin",
                      topics="graph neural networks\n\n<script>alert(1)</script> attacks\n",
                      categories="cs.LG, stat.ML", max_papers="25",
                      empty_notice="1")  # fmt: skip
    del form["include_trending"]  # unticked
    answer = web.client.post("/preferences", data=form)
    assert answer.status_code == 200 and 'class="saved">Saved.' in answer.text
    assert subscriber(web).prefs == Preferences(
        frequency="weekly", weekday=4, hour=18, timezone="Europe/Berlin",
        topics=("graph neural networks", "<script>alert(1)</script> attacks"),
        categories=("cs.LG", "stat.ML"), include_trending=False, max_papers=25,
        empty_notice=True,
    )  # fmt: skip
    page = web.client.get("/preferences", params={"token": token}).text
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)&lt;/script&gt; attacks" in page
    assert '<option value="weekly" selected>' in page and '<option value="4" selected>' in page
    assert 'name="hour" min="0" max="23" step="1" value="18"' in page
    assert 'value="Europe/Berlin" list="zones"' in page and '<option value="Asia/Tokyo">' in page
    assert 'name="include_trending" value="1" >' in page
    assert 'name="empty_notice" value="1" checked>' in page
    assert f'action="/u/{unsubscribe_token(web, sub)}"' in page
    as_json = web.client.post("/preferences", json={"token": token, "frequency": "paused"},
                              headers={"X-CSRF-Token": form["csrf_token"]})  # fmt: skip
    assert as_json.status_code == 200, as_json.text
    saved = as_json.json()
    assert saved["saved"] is True and saved["state"] == "confirmed"
    assert saved["preferences"]["frequency"] == "paused" and saved["preferences"]["hour"] == 18


def test_confirming_lands_on_a_page_that_says_so_and_offers_the_browsers_time_zone(
    web: Web,
) -> None:
    assert subscribe(web.client, ANN).status_code == 200
    answer = press_confirm(web.client, confirm_token(web))
    assert answer.status_code == 303 and answer.headers["location"].endswith("&confirmed=1")
    page = web.client.get(answer.headers["location"]).text
    said = re.search(r'id="confirmed">(.*?)</p>', page)
    assert said and html.unescape(said.group(1)).startswith(f"You're confirmed: the digest will "
                                                            f"come to {ANN}.")  # fmt: skip
    assert '<span id="schedule">Daily at 07:00 (UTC)</span>' in page
    assert "Weekly on" not in page and "(weekly digests only)" in page
    # the field says UTC (what the page does without JavaScript); the script may fill it in
    assert 'name="timezone" value="UTC"' in page and "data-browser-zone" in page
    assert '<script src="/static/preferences.js" defer></script>' in page
    assert web.client.get("/static/preferences.js").status_code == 200
    # later visits: no message, and the time zone is what was saved
    token = preferences_token(web, subscriber(web))
    later = web.client.get("/preferences", params={"token": token}).text
    assert 'id="confirmed"' not in later and "data-browser-zone" not in later
    # a forged "confirmed=1" on a pending address's page says nothing
    assert subscribe(web.client, "bob@example.org").status_code == 200
    bob = preferences_token(web, subscriber(web, "bob@example.org"))
    pending = web.client.get("/preferences", params={"token": bob, "confirmed": "1"}).text
    assert 'id="confirmed"' not in pending and "data-browser-zone" not in pending


@pytest.mark.parametrize(
    ("prefs", "said"),
    [({"frequency": "daily", "hour": "6", "timezone": "Asia/Tokyo"}, "Daily at 06:00 (Asia/Tokyo)"),
     ({"frequency": "weekly", "weekday": "2", "hour": "18", "timezone": "UTC"},
      "Weekly on Wednesday at 18:00 (UTC)"),
     ({"frequency": "paused"}, "Paused: nothing is sent for now")],
)  # fmt: skip
def test_the_page_says_when_the_digest_goes_out(web: Web, prefs: dict[str, str], said: str) -> None:
    token = preferences_token(web, confirmed(web))
    answer = web.client.post("/preferences", data=prefs_form(web, web.client, token, **prefs))
    assert answer.status_code == 200 and f'<span id="schedule">{said}</span>' in answer.text
    assert (
        f'<span id="schedule">{said}</span>'
        in web.client.get("/preferences", params={"token": token, "confirmed": "1"}).text
    )
    if prefs["frequency"] == "daily":
        assert "Weekly on" not in answer.text


@pytest.mark.parametrize(
    ("changes", "sentence"),
    [({"hour": "25"}, "The hour must be between 0 and 23."),
     ({"hour": "seven"}, "The hour must be a whole number, not 'seven'."),
     ({"timezone": "Mars/Olympus_Mons"}, "'Mars/Olympus_Mons' is not a time zone"),
     ({"frequency": "hourly"}, "Frequency must be daily, weekly or paused."),
     ({"max_papers": "0"}, "The number of papers must be between 1 and 50."),
     ({"categories": "cs.LG <b>"}, "'<b>' is not an arXiv category"),
     ({"topics": "\n".join(f"topic {n}" for n in range(11))}, "At most 10 saved searches")],
)  # fmt: skip
def test_bad_preferences_get_a_sentence_and_nothing_is_saved(
    web: Web, changes: dict[str, str], sentence: str
) -> None:
    sub = confirmed(web)
    token = preferences_token(web, sub)
    form = prefs_form(web, web.client, token, **{"hour": "9", **changes})
    answer = web.client.post("/preferences", data=form)
    assert answer.status_code == 400 and escape(sentence) in answer.text, answer.text[-1500:]
    assert 'role="alert"' in answer.text and "Saved." not in answer.text
    assert 'name="frequency"' in answer.text  # the form again, as it was sent
    shown = changes.get("hour", "9")
    assert f'step="1" value="{shown}"' in answer.text
    assert subscriber(web).prefs == Preferences()
    json_answer = web.client.post("/preferences", json={**form, "csrf_token": ""},
                                  headers={"X-CSRF-Token": form["csrf_token"]})  # fmt: skip
    assert_error_json(json_answer, 400, sentence[:20])
    assert subscriber(web).prefs == Preferences()


def test_preferences_need_a_valid_link_and_a_form_token(web: Web) -> None:
    sub = confirmed(web)
    token = preferences_token(web, sub)
    nothing = web.new_client().get("/preferences")
    assert_refused(nothing, "This preferences link is not valid")
    form = prefs_form(web, web.client, token, hour="3")
    stranger = web.new_client()
    stranger.get("/subscribe")
    answer = stranger.post("/preferences", data=form)  # the token of another visitor's form
    assert answer.status_code == 403
    answer = web.client.post("/preferences", data=form, headers={"Origin": EVIL})
    assert answer.status_code == 403
    assert subscriber(web).prefs.hour == 7


def test_an_unsubscribed_address_has_no_preferences_form(web: Web) -> None:
    sub = confirmed(web)
    token = preferences_token(web, sub)
    web.client.post(f"/u/{unsubscribe_token(web, sub)}", headers=ONE_CLICK)
    page = web.client.get("/preferences", params={"token": token})
    assert page.status_code == 200 and "is unsubscribed" in page.text
    assert 'name="frequency"' not in page.text and 'href="/subscribe"' in page.text
    csrf = csrf_in(web.client.get("/subscribe").text)
    form = {"token": token, "csrf_token": csrf, "frequency": "weekly", "hour": "3"}
    answer = web.client.post("/preferences", data=form)
    assert answer.status_code == 400 and "This address is unsubscribed" in answer.text


# -- unsubscribe --------------------------------------------------------------------------------


def test_opening_the_unsubscribe_link_changes_nothing(web: Web) -> None:
    sub = confirmed(web)
    token = unsubscribe_token(web, sub)
    scanner = web.new_client()
    for _ in range(2):
        page = scanner.get(f"/u/{token}")
        assert page.status_code == 200 and 'id="unsubscribe"' in page.text
        assert f'action="/u/{token}" method="post"' in page.text
        assert ANN not in page.text  # nothing personal on the page
    assert subscriber(web).state == "confirmed"


def test_one_click_unsubscribe_without_cookie_or_form_token(web: Web) -> None:
    """RFC 8058: the mail provider's server posts `List-Unsubscribe=One-Click`, urlencoded or
    as multipart, with none of our cookies; it wants a 2xx, not a redirect."""
    sub = confirmed(web)
    web.store.plan_delivery(sub.id, "digest", "d2024-10-27", message_id="digest.1.d2024-10-27",
                            plan={}, now=web.clock(), send_by=web.clock() + 86400)  # fmt: skip
    subscribe(web.client, "bob@example.org")
    bob = subscriber(web, "bob@example.org")
    # (the confirmation stays planned until the sender drops it as no longer wanted)
    assert planned(web, sub) == ["digest", "confirm"] and planned(web, bob) == ["confirm"]
    provider = web.new_client("192.0.2.25")  # no cookies at all
    token = unsubscribe_token(web, sub)
    answer = provider.post(f"/u/{token}", content=b"List-Unsubscribe=One-Click",
                           headers=ONE_CLICK, follow_redirects=False)  # fmt: skip
    assert answer.status_code == 200, answer.text
    assert "text/html" in answer.headers["content-type"] and "You are unsubscribed" in answer.text
    assert "location" not in answer.headers and ANN not in answer.text
    assert answer.request.headers.get("cookie") is None
    after = subscriber(web)
    assert (after.state, after.unsubscribed_at) == ("unsubscribed", web.clock())
    assert planned(web, sub) == []
    assert {d.state for d in web.store.list_deliveries(sub.id)} == {"cancelled"}
    assert after.consent_at is not None  # the consent record stays
    # the same link again, as multipart and from another site: still done, still 200
    web.clock.advance(60)
    again = web.new_client("192.0.2.26").post(
        f"/u/{token}", files={"List-Unsubscribe": (None, "One-Click")},
        headers={"Origin": "https://mail.example.com"}, follow_redirects=False,
    )  # fmt: skip
    assert again.status_code == 200 and "You are unsubscribed" in again.text
    assert subscriber(web).unsubscribed_at == after.unsubscribed_at
    # a pending address can unsubscribe too: its confirmation is not sent
    answer = provider.post(f"/u/{unsubscribe_token(web, bob)}", headers=ONE_CLICK,
                           data={"List-Unsubscribe": "One-Click"})  # fmt: skip
    assert answer.status_code == 200 and subscriber(web, "bob@example.org").state == "unsubscribed"
    assert planned(web, bob) == []
    as_json = provider.post(f"/u/{token}", headers={"Accept": "application/json"})
    assert as_json.json() == {"unsubscribed": True}


def test_a_mail_provider_posting_many_unsubscribes_is_not_rate_limited(web: Web) -> None:
    sub = confirmed(web)
    token = unsubscribe_token(web, sub)
    provider = web.new_client("192.0.2.25")
    answers = [provider.post(f"/u/{token}", headers=ONE_CLICK) for _ in range(80)]
    assert {a.status_code for a in answers} == {200}
    assert subscriber(web).state == "unsubscribed"


def test_the_preferences_page_unsubscribe_button(web: Web) -> None:
    sub = confirmed(web)
    page = web.client.get("/preferences", params={"token": preferences_token(web, sub)}).text
    action = re.search(r'action="(/u/[^"]+)" method="post"', page)
    assert action is not None
    answer = web.client.post(action.group(1), data={"List-Unsubscribe": "One-Click"})
    assert answer.status_code == 200 and subscriber(web).state == "unsubscribed"


# -- the account page -----------------------------------------------------------------------------


def test_the_account_page_shows_the_readers_digest(web: Web) -> None:
    csrf = sign_in(web, web.client, ANN)
    page = web.client.get("/account").text
    assert 'id="digest-subscribe"' in page and 'id="digest-preferences"' not in page
    answer = web.client.post("/subscribe", data={"email": ANN, "csrf_token": csrf})
    assert answer.status_code == 200 and subscriber(web).state == "pending"
    page = web.client.get("/account").text
    assert "Waiting for you to confirm" in page
    press_confirm(web.client, confirm_token(web))
    page = web.client.get("/account").text
    assert "Your digest is on (daily)" in page
    link = re.search(r'href="(/preferences\?token=[^"]+)" id="digest-preferences"', page)
    assert link is not None
    prefs = web.client.get(link.group(1).replace("&amp;", "&"))
    assert prefs.status_code == 200 and ANN in prefs.text
    # someone else's account shows only their own
    bob = web.new_client()
    sign_in(web, bob, "bob@example.org")
    assert 'id="digest-subscribe"' in bob.get("/account").text


def test_the_openapi_description_has_the_digest_routes(web: Web) -> None:
    paths = web.client.get("/openapi.json").json()["paths"]
    for path in ("/api/subscribe", "/subscribe", "/confirm", "/preferences", "/u/{token}"):
        assert "post" in paths[path], path
    body = paths["/api/subscribe"]["post"]["requestBody"]["content"]
    assert list(body) == ["application/json"]


# -- end to end: the sender mails the confirmation ----------------------------------------------


def link_in(message: EmailMessage) -> str:
    found = re.search(r"https?://\S+/confirm\?token=\S+", text_of(message))
    assert found, text_of(message)
    return found.group(0)


def test_subscribe_then_confirm_through_the_mailed_link(web: Web, tmp_path: Path) -> None:
    assert subscribe(web.client, ANN).status_code == 200
    sender_store = open_store(str(web.db))  # the sender's own connection, as in `serve`
    try:
        mailer = SMTPMailer(web.smtp.host, web.smtp.port, "none", "", "", SENDER, timeout_s=5)
        sender = DigestSender(sender_store, mailer, secret=secret_of(web),
                              base_url="http://testserver", clock=web.clock,
                              rate_per_s=0)  # fmt: skip
        report = sender.run_pass()
        assert report.sent == 1, report
        assert sender.run_pass().sent == 0
    finally:
        sender_store.close()
    [message] = web.smtp.wait_for(1)
    assert message["To"] == ANN and "Confirm" in message["Subject"]
    link = link_in(message)
    assert link.startswith("http://testserver/confirm?token=")
    token = parse_qs(urlsplit(link).query)["token"][0]
    reader = web.new_client("203.0.113.9")
    page = reader.get(link)
    assert page.status_code == 200 and 'id="confirm-subscription"' in page.text
    assert subscriber(web).state == "pending"
    web.clock.advance(600)
    answer = reader.post("/confirm", data={"token": token, "csrf_token": csrf_in(page.text)},
                         follow_redirects=True)  # fmt: skip
    assert answer.status_code == 200 and "The digest goes to" in answer.text
    assert str(answer.url).startswith("http://testserver/preferences?token=")
    sub = subscriber(web)
    assert (sub.state, sub.consent_source) == ("confirmed", "web")
    assert [d.state for d in web.store.list_deliveries(sub.id)] == ["sent"]
