"""Channels beyond email against a real receiver: a threaded HTTP server on 127.0.0.1 (allowed by
the outbound setting, the way an operator would) that records what it gets and answers what a
test asks. The sender runs its real passes on a real store, with the SMTP catcher for the
owner's note; signatures are checked here independently of our code."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import shutil
import ssl
import subprocess
import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from paperfeed.digest import channels as ch
from paperfeed.digest.mailer import SMTPMailer
from paperfeed.digest.outbound import Outbound, OutboundFailed, OutboundRefused, parse_allow
from paperfeed.digest.sender import DigestSender
from paperfeed.errors import InputError
from paperfeed.search.engine import SearchEngine
from paperfeed.store import Preferences, Store, Subscriber, open_store
from tests.digest.test_sender import SECRET, START, TOPICS, Clock, add_day
from tests.mail import SMTPCatcher, smtp_server

__all__ = ["smtp_server"]

BASE = "http://127.0.0.1:8000"
LOOPBACK = parse_allow(["127.0.0.0/8", "::1"])


@dataclass
class Got:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict[str, object]:
        data = json.loads(self.body)
        assert isinstance(data, dict)
        return data


@dataclass
class Receiver:
    """Records every POST; answers the queued (status, headers) first, then 200."""

    got: list[Got] = field(default_factory=list)
    answers: deque[tuple[int, dict[str, str]]] = field(default_factory=deque)
    always: tuple[int, dict[str, str]] | None = None
    port: int = 0

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def on(self, path: str) -> list[Got]:
        return [g for g in self.got if g.path == path]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            state.got.append(Got(self.path, {k.lower(): v for k, v in self.headers.items()},
                                 body))  # fmt: skip
            status, headers = state.answers.popleft() if state.answers else (
                state.always or (200, {}))  # fmt: skip
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Store]:
    store = open_store(str(tmp_path / "channels.db"))
    yield store
    store.close()


def make_sender(store: Store, smtp: SMTPCatcher, clock: Clock, tmp: Path, *,
                allow: Outbound | None = None, **options: object) -> DigestSender:  # fmt: skip
    mailer = SMTPMailer(smtp.host, smtp.port, "none", "", "", "paperfeed <digest@example.org>",
                        timeout_s=5)  # fmt: skip
    engine = SearchEngine(store, tmp / "index")
    outbound = allow or Outbound(LOOPBACK)
    return DigestSender(store, mailer, secret=SECRET, base_url=BASE,
                        open_engine=lambda s: engine, clock=clock, rate_per_s=0,
                        channels=ch.webhook_channels(outbound, clock),
                        **options)  # type: ignore[arg-type]  # fmt: skip


def owner(store: Store) -> int:
    from datetime import UTC, datetime

    return store.get_or_add_user("ada@example.org", datetime.fromtimestamp(START.timestamp(),
                                                                           UTC)).id  # fmt: skip


def channel(store: Store, kind: str, url: str, *, topic: str = TOPICS["graph"]) -> Subscriber:
    return ch.add_channel(store, Outbound(LOOPBACK), owner(store), kind, url,
                          Preferences(topics=(topic,), include_trending=False),
                          START.timestamp())  # fmt: skip


def independent_check(secret: str, header: str, body: bytes) -> bool:
    """The receiver's side of the signature, written from the documented format only."""
    parts = dict(p.split("=", 1) for p in header.split(","))
    mac = hmac.new(secret.encode(), parts["t"].encode() + b"." + body, hashlib.sha256)
    return hmac.compare_digest(mac.hexdigest(), parts["v1"])


def test_a_harvest_reaches_webhook_slack_and_discord_once(
    backend: Store, receiver: Receiver, smtp_server: SMTPCatcher, tmp_path: Path
) -> None:
    clock = Clock()
    hook = channel(backend, "webhook", receiver.url("/hook"))
    channel(backend, "slack", receiver.url("/slack"))
    channel(backend, "discord", receiver.url("/discord"))
    sender = make_sender(backend, smtp_server, clock, tmp_path)
    assert sender.run_pass().sent == 0  # nothing harvested yet: nothing matches
    assert receiver.got == []
    clock.advance(86400)
    add_day(backend, START + timedelta(days=1))  # the harvest brings matching papers
    report = sender.run_pass()
    assert (report.planned, report.sent, report.errors) == (3, 3, [])

    (got,) = receiver.on("/hook")
    assert hook.secret and independent_check(hook.secret, got.headers["x-paperfeed-signature"],
                                             got.body)  # fmt: skip
    assert not independent_check(
        hook.secret, got.headers["x-paperfeed-signature"], got.body.replace(b"Graph", b"Grapf")
    )  # tampered: refused
    assert ch.verify_signature(hook.secret, got.headers["x-paperfeed-signature"], got.body,
                               clock())  # fmt: skip
    assert not ch.verify_signature(
        hook.secret, got.headers["x-paperfeed-signature"], got.body, clock() + 3600
    )  # a replay an hour later: too old
    assert got.headers["user-agent"].startswith("paperfeed/")
    payload = got.json()
    assert got.headers["x-paperfeed-delivery"] == payload["delivery"]
    items = payload["items"]
    assert isinstance(items, list) and len(items) == 2
    assert {i["id"] for i in items} == {"2611.25gr0", "2611.25gr1"}
    assert all(i["section"] == "topics" and i["why"] and i["url"].startswith(BASE + "/r/")
               for i in items)  # fmt: skip

    (slack,) = receiver.on("/slack")
    message = slack.json()
    assert isinstance(message["text"], str) and "2 new papers" in message["text"]
    blocks = message["blocks"]
    assert isinstance(blocks, list) and all(b["text"]["type"] == "mrkdwn" for b in blocks)
    paper_lines = [b["text"]["text"] for b in blocks[1:]]
    assert len(paper_lines) == 2
    for line in paper_lines:  # a title with <b>&</b> arrives escaped inside its link
        assert line.startswith(f"<{BASE}/r/") and "|Graph Neural Networks" in line
        assert "&lt;b&gt;&amp;&lt;/b&gt;" in line and "<b>" not in line
        assert "\n" in line and line.split("\n", 1)[1].startswith("matches your search")

    (discord,) = receiver.on("/discord")
    message = discord.json()
    assert message["allowed_mentions"] == {"parse": []}
    embeds = message["embeds"]
    assert isinstance(embeds, list) and len(embeds) == 2
    assert all(e["url"].startswith(BASE + "/r/") and len(e["title"]) <= 256 and e["description"]
               for e in embeds)  # fmt: skip

    receiver.got.clear()
    clock.advance(600)
    again = sender.run_pass()
    assert (again.planned, again.sent) == (0, 0) and receiver.got == []


def test_discord_splits_by_ten_and_cannot_ping(db: Store) -> None:
    sub = channel(db, "discord", "http://127.0.0.1:9/d")
    content = ch.sample_content(sub, BASE, START.timestamp())
    assert content.plan is not None and content.papers is not None
    from paperfeed.digest.compose import DigestPlan, Item
    from paperfeed.models import Paper

    papers = {i: Paper(id=f"p{i}", title="@everyone " + "x" * 400, abstract="")
              for i in range(23)}  # fmt: skip
    plan = DigestPlan(tuple(Item(i, "@here why *bold*", "topics") for i in range(23)), None,
                      None)  # fmt: skip
    big = ch.Content(content.delivery, plan, papers, content.links, None)
    messages = ch.DiscordChannel(Outbound(LOOPBACK)).payloads(big)
    assert [len(m["embeds"]) for m in messages] == [10, 10, 3]
    assert all(m["allowed_mentions"] == {"parse": []} for m in messages)
    assert "content" in messages[0] and "content" not in messages[1]
    assert all(len(e["title"]) <= 256 for m in messages for e in m["embeds"])
    assert messages[0]["embeds"][0]["description"].startswith("@here why \\*bold\\*")


def test_a_failing_receiver_disables_the_channel_and_tells_its_owner(
    backend: Store, receiver: Receiver, smtp_server: SMTPCatcher, tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    caplog.set_level(logging.DEBUG)
    clock = Clock()
    hook = channel(backend, "webhook", receiver.url("/hook?token=sekrit-path"))
    receiver.always = (500, {})
    sender = make_sender(backend, smtp_server, clock, tmp_path, failure_limit=2)
    for day in range(3):
        add_day(backend, START + timedelta(days=day))
        for _ in range(24):
            sender.run_pass()
            clock.advance(3600)
    got = backend.get_subscriber(hook.id)
    assert got is not None and got.state == "suppressed" and got.failures == 2
    assert got.disabled_note and "2 failed deliveries in a row" in got.disabled_note
    assert "HTTP 500" in got.disabled_note and "Disabled on 2026-11-2" in got.disabled_note
    states = [d.state for d in backend.list_deliveries(hook.id)]
    assert states.count("expired") == 2 and "sent" not in states
    assert len(receiver.got) > 10  # retried with backoff, hourly at most
    attempts = len(receiver.got)
    sender.run_pass()
    assert len(receiver.got) == attempts  # disabled: nothing more
    (note,) = smtp_server.wait_for(1)
    assert note["To"] == "ada@example.org" and "switched off" in note["Subject"]
    assert "2 failed deliveries" in note.get_content()
    assert "sekrit" not in note.get_content()
    # secrets never logged: the signing secret, the URL's path and query
    assert hook.secret and hook.secret not in caplog.text and "sekrit" not in caplog.text
    # enabling it again resets the count; a success keeps it at 0
    ch.enable(backend, got)
    receiver.always = None
    add_day(backend, START + timedelta(days=3))
    clock.advance(86400)
    assert sender.run_pass().sent == 1
    again = backend.get_subscriber(hook.id)
    assert again is not None and (again.state, again.failures, again.disabled_note) == (
        "confirmed", 0, None)  # fmt: skip


def test_gone_is_permanent_and_retry_after_is_honoured(
    db: Store, receiver: Receiver, smtp_server: SMTPCatcher, tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    caplog.set_level(logging.DEBUG)
    clock = Clock()
    add_day(db, START)
    gone = channel(db, "slack", receiver.url("/services/T0/B0/slacksecretpath"))
    busy = channel(db, "discord", receiver.url("/api/webhooks/1/discordsecretpath"))
    receiver.answers.extend([(410, {}), (429, {"Retry-After": "7200"})])
    sender = make_sender(db, smtp_server, clock, tmp_path)
    report = sender.run_pass()
    assert (report.failed, report.retried) == (1, 1)
    (failed,) = db.list_deliveries(gone.id)
    assert failed.state == "failed" and "HTTP 410" in (failed.last_error or "")
    got = db.get_subscriber(gone.id)
    assert got is not None and (got.state, got.failures) == ("confirmed", 1)
    (waiting,) = db.list_deliveries(busy.id)
    assert waiting.state == "planned" and waiting.next_attempt_at == clock() + 7200
    clock.advance(3600)
    assert sender.run_pass().sent == 0  # not before the receiver said
    clock.advance(3601)
    assert sender.run_pass().sent == 1
    assert "secretpath" not in caplog.text
    assert all("secretpath" not in (d.last_error or "") for d in db.list_deliveries())


REFUSED = [
    "https://127.0.0.1/hook",
    "https://10.0.0.1/hook",
    "http://169.254.169.254/latest/meta-data/",
    "https://[::1]/hook",
    "https://localhost/hook",
    "https://[::ffff:10.0.0.1]/hook",
    "https://100.64.0.1/hook",
    "https://[fe80::1]/hook",
    "https://[64:ff9b::a9fe:a9fe]/latest",  # NAT64 of 169.254.169.254
    "https://0.0.0.0/hook",
    "https://224.0.0.1/hook",
    "ftp://example.org/hook",
]


@pytest.mark.parametrize("url", REFUSED)
def test_inward_urls_are_refused_unless_allowed(db: Store, url: str) -> None:
    with pytest.raises(InputError) as refused:
        ch.add_channel(db, Outbound(), owner(db), "webhook", url, Preferences(), 0.0)
    sentence = str(refused.value)
    assert sentence.endswith(".") and sentence.count(". ") == 0 and "\n" not in sentence
    assert db.list_channels() == []
    if url.startswith("ftp"):
        return
    allowed = Outbound(parse_allow(["127.0.0.0/8", "::1", "10.0.0.0/8", "169.254.0.0/16",
                                    "100.64.0.0/10", "fe80::/10", "64:ff9b::/96",
                                    "0.0.0.0/32", "224.0.0.0/4"]))  # fmt: skip
    assert allowed.check(url).address is not None


def test_the_address_checked_is_the_address_used(receiver: Receiver) -> None:
    """One lookup, then a connection to that address with the name in the Host header: a
    second answer (DNS rebinding) is never asked for."""
    lookups: list[str] = []

    def resolve(host: str, port: int) -> list[str]:
        lookups.append(host)
        return ["127.0.0.1"] if len(lookups) == 1 else ["10.0.0.1"]

    outbound = Outbound(LOOPBACK, resolve=resolve)
    url = f"http://hooks.example.test:{receiver.port}/in"
    answer = outbound.post(url, b"{}", {})
    assert answer.status == 200 and lookups == ["hooks.example.test"]
    assert receiver.got[0].headers["host"] == f"hooks.example.test:{receiver.port}"
    with pytest.raises(OutboundRefused, match=r"10\.0\.0\.1, which is not a public address"):
        outbound.post(url, b"{}", {})  # the next send checks again: now it points inward


def test_an_internationalised_name_is_looked_up_as_dns_knows_it() -> None:
    asked: list[str] = []
    outbound = Outbound(resolve=lambda host, port: asked.append(host) or ["93.184.215.14"])
    assert outbound.check("https://bücher.example/hook").host == "xn--bcher-kva.example"
    assert asked == ["xn--bcher-kva.example"]


def test_a_redirect_is_not_followed(receiver: Receiver) -> None:
    receiver.answers.append((302, {"Location": "http://169.254.169.254/"}))
    answer = Outbound(LOOPBACK).post(receiver.url("/r"), b"{}", {})
    assert answer.status == 302 and len(receiver.got) == 1


def test_send_time_check_refuses_what_became_inward(
    db: Store, receiver: Receiver, smtp_server: SMTPCatcher, tmp_path: Path
) -> None:
    clock = Clock()
    add_day(db, START)
    hook = channel(db, "webhook", receiver.url("/hook"))  # allowed when it was set up
    sender = make_sender(db, smtp_server, clock, tmp_path, allow=Outbound())
    assert sender.run_pass().failed == 1 and receiver.got == []
    (d,) = db.list_deliveries(hook.id)
    assert "not a public address" in (d.last_error or "")


@pytest.fixture
def tls_receiver(tmp_path: Path) -> Iterator[tuple[int, list[str | None], ssl.SSLContext]]:
    """An HTTPS server on 127.0.0.1 with a self-signed certificate for hooks.example.test; it
    records the TLS server name each client asked for. Yields (port, names, client context)."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=hooks.example.test", "-addext",
                    "subjectAltName=DNS:hooks.example.test", "-keyout", str(key), "-out",
                    str(cert)], check=True, capture_output=True)  # fmt: skip
    names: list[str | None] = []
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(cert, key)
    server_context.sni_callback = lambda sock, name, ctx: names.append(name)  # type: ignore[assignment,misc,return-value]

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = server_context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    client_context = ssl.create_default_context(cafile=str(cert))
    yield server.server_address[1], names, client_context
    server.shutdown()
    server.server_close()


def test_https_to_the_pinned_address_checks_the_name(
    tls_receiver: tuple[int, list[str | None], ssl.SSLContext],
) -> None:
    """Connected by address, TLS still sends the host name (SNI) and checks the certificate
    against it: a certificate for another name is refused."""
    port, names, context = tls_receiver
    outbound = Outbound(LOOPBACK, resolve=lambda host, p: ["127.0.0.1"], ssl_context=context)
    answer = outbound.post(f"https://hooks.example.test:{port}/in", b"{}", {})
    assert answer.status == 204 and names == ["hooks.example.test"]
    with pytest.raises(OutboundFailed, match="could not be reached"):
        outbound.post(f"https://other.example.test:{port}/in", b"{}", {})
