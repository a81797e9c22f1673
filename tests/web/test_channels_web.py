"""Notification channels on the account page, in process over a real store, signed in through a
real mailed link: add (URL checked, inward ones refused in one sentence), the list with its
delivery log, a test message to a local receiver, enable, remove; every POST needs the form
token, and one reader cannot touch another's channel."""

from __future__ import annotations

import html
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from paperfeed.digest import channels as ch
from paperfeed.digest.mailer import SMTPMailer
from paperfeed.digest.outbound import Outbound
from paperfeed.search.engine import SearchEngine
from paperfeed.store import SubscriberChange, open_store
from paperfeed.web.app import create_app
from tests.digest.test_channels import LOOPBACK, Receiver, receiver
from tests.mail import SMTPCatcher, smtp_server
from tests.web.test_accounts import SENDER, START, TODAY, Clock, Web, sign_in

__all__ = ["receiver", "smtp_server"]


@pytest.fixture
def web(tmp_path: Path, smtp_server: SMTPCatcher) -> Iterator[Web]:
    db = tmp_path / "channels.db"
    store = open_store(str(db))
    clock = Clock(START)
    mailer = SMTPMailer(smtp_server.host, smtp_server.port, "none", "", "", SENDER, timeout_s=5)
    app = create_app(lambda: SearchEngine(store, str(db) + "-index"), mailer=mailer,
                     base_url="http://testserver", clock=clock, today=lambda: TODAY,
                     outbound=Outbound(LOOPBACK))  # fmt: skip
    with TestClient(app) as client:
        yield Web(app, client, clock, smtp_server, store, db)
    store.close()


def test_a_reader_sets_up_tests_and_removes_a_channel(web: Web, receiver: Receiver) -> None:
    c = web.client
    csrf = sign_in(web, c, "ada@example.org")
    url = receiver.url("/services/T1/B2/slack-secret-path")

    refused = c.post("/account/channels", data={"csrf_token": csrf, "kind": "webhook",
                                                "url": "https://10.0.0.1/hook"})  # fmt: skip
    assert refused.status_code == 400
    assert "10.0.0.1 is not a public address" in html.unescape(refused.text)
    no_token = c.post("/account/channels", data={"kind": "slack", "url": url})
    assert no_token.status_code == 403 and web.store.list_channels() == []

    added = c.post("/account/channels", data={"csrf_token": csrf, "kind": "slack", "url": url,
                                              "frequency": "weekly",
                                              "searches": "graph networks"},
                   follow_redirects=False)  # fmt: skip
    assert added.status_code == 303 and added.headers["location"] == "/account#channels"
    (sub,) = web.store.list_channels()
    assert (sub.channel, sub.prefs.frequency) == ("slack", "weekly")
    assert sub.prefs.topics == ("graph networks",)
    page = c.get("/account").text
    assert "slack to 127.0.0.1" in page and "slack-secret-path" not in page
    assert "Nothing delivered yet." in page

    sent = c.post(f"/account/channels/{sub.id}/test", data={"csrf_token": csrf})
    assert sent.status_code == 200 and "Test message sent" in sent.text
    (got,) = receiver.got
    assert got.json()["blocks"] and got.path.endswith("slack-secret-path")

    # another reader sees none of it and cannot touch it
    other = web.new_client("198.51.100.9")
    other_csrf = sign_in(web, other, "bob@example.org")
    assert "slack to" not in other.get("/account").text
    stolen = other.post(f"/account/channels/{sub.id}/remove", data={"csrf_token": other_csrf})
    assert stolen.status_code == 404 and web.store.list_channels() != []

    off = SubscriberChange(state="suppressed", failures=5, disabled_note="Disabled on X.")
    web.store.update_subscriber(sub.id, off)
    assert "Switched off. Disabled on X." in c.get("/account").text
    enabled = c.post(f"/account/channels/{sub.id}/enable", data={"csrf_token": csrf})
    assert enabled.status_code == 200  # (followed to the account page)
    got_back = web.store.get_subscriber(sub.id)
    assert got_back is not None and (got_back.state, got_back.failures) == ("confirmed", 0)

    receiver.always = (404, {})
    failed = c.post(f"/account/channels/{sub.id}/test", data={"csrf_token": csrf})
    assert failed.status_code == 400 and "HTTP 404" in failed.text

    removed = c.post(f"/account/channels/{sub.id}/remove", data={"csrf_token": csrf})
    assert removed.status_code == 200 and web.store.list_channels() == []


def test_a_webhook_shows_its_secret_and_delivery_log(web: Web, receiver: Receiver) -> None:
    c = web.client
    csrf = sign_in(web, c, "ada@example.org")
    c.post("/account/channels", data={"csrf_token": csrf, "kind": "webhook",
                                      "url": receiver.url("/hook")})  # fmt: skip
    (sub,) = web.store.list_channels()
    assert sub.secret and sub.secret in c.get("/account").text
    web.store.plan_delivery(sub.id, "digest", "d2024-10-27", message_id="m", plan={"items": []},
                            now=START, send_by=START + 86400)  # fmt: skip
    (d,) = web.store.list_deliveries(sub.id)
    web.store.finish_delivery(d.id, "failed", START, error="127.0.0.1 answered HTTP 500.")
    page = c.get("/account").text
    assert "127.0.0.1 answered HTTP 500." in page and "failed" in page
    assert ch.describe(sub) in page
