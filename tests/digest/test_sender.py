"""The digest sender against a real SMTP server (aiosmtpd on 127.0.0.1) and a real store:
confirmation mails, digests and their headers and links, the ledger's never-twice rules,
retries on 4xx, suppression on 5xx, expiry, cancelling, the lease and the send rate."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from paperfeed.digest import subscriptions
from paperfeed.digest.mailer import SMTPMailer
from paperfeed.digest.sender import DigestSender
from paperfeed.models import Paper
from paperfeed.search.embed import HashingEmbedder, embed_missing
from paperfeed.search.engine import SearchEngine
from paperfeed.store import Delivery, Store, SubscriberChange, open_store
from paperfeed.tokens import verify
from tests.mail import SMTPCatcher, smtp_server

__all__ = ["smtp_server"]

SECRET = b"k" * 32
BASE = "http://127.0.0.1:8000"
START = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)  # after the default 07:00 UTC send hour
TOPICS = {
    "graph": "graph neural networks for molecules",
    "diffusion": "diffusion models for image synthesis",
    "bandits": "contextual bandits with delayed feedback",
}


class Clock:
    def __init__(self, start: datetime = START) -> None:
        self.now = start.timestamp()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def confirmed_subscribers(store: Store, secret: bytes, n: int, now: float) -> None:
    """`n` confirmed subscribers (p00@example.org, ...) following the TOPICS in turn, with a
    digest due at `now` and their confirmations dealt with."""
    topics = list(TOPICS.values())
    for i in range(n):
        request = subscriptions.subscribe(store, secret, f"p{i:02d}@example.org",
                                          source="cli", client=None, now=now,
                                          topic=topics[i % 3])  # fmt: skip
        sub = store.get_subscriber(request.subscriber_id)
        assert sub is not None
        token = subscriptions.confirm_token(secret, sub, int(now))
        subscriptions.confirm(store, secret, token, now)
        for d in store.list_deliveries(sub.id, state="planned"):
            store.finish_delivery(d.id, "cancelled", now)


def add_day(store: Store, day: datetime, n: int = 2) -> None:
    """`n` papers per topic, first published on `day`."""
    papers = []
    for topic, words in TOPICS.items():
        for i in range(n):
            papers.append(Paper(
                id=f"{day:%y%m}.{day.day:02d}{topic[:2]}{i}",
                title=f"{words.title()} <b>&</b> $x^2$ part {i} of {day:%b %d}",
                abstract=f"We study {words} in setting {i}.",
                categories=("cs.LG",), published=day - timedelta(hours=2),
            ))  # fmt: skip
    store.upsert_papers(papers)


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Store]:
    store = open_store(str(tmp_path / "digest.db"))
    add_day(store, START)
    yield store
    store.close()


def make_sender(store: Store, smtp: SMTPCatcher, clock: Clock, tmp: Path, **options: object
                ) -> DigestSender:  # fmt: skip
    mailer = SMTPMailer(smtp.host, smtp.port, "none", "", "", "paperfeed <digest@example.org>",
                        timeout_s=5)  # fmt: skip
    engine = SearchEngine(store, tmp / "index")
    settings: dict[str, object] = {"rate_per_s": 0, "backoff_s": 60.0, **options}
    return DigestSender(store, mailer, secret=SECRET, base_url=BASE,
                        open_engine=lambda s: engine, clock=clock, **settings)  # type: ignore[arg-type]  # fmt: skip


def confirmed(store: Store, email: str, topic: str, clock: Clock) -> int:
    """A confirmed subscriber, through the real subscribe and confirm functions."""
    request = subscriptions.subscribe(store, SECRET, email, source="cli", client=None,
                                      now=clock(), topic=topic)  # fmt: skip
    sub = store.get_subscriber(request.subscriber_id)
    assert sub is not None and sub.confirm_sent_at is not None
    token = subscriptions.confirm_token(SECRET, sub, int(sub.confirm_sent_at))
    subscriptions.confirm(store, SECRET, token, clock())
    for d in store.list_deliveries(sub.id, state="planned"):  # its confirmation: not needed
        store.finish_delivery(d.id, "cancelled", clock())
    return sub.id


def digests(store: Store, sub_id: int) -> list[Delivery]:
    return [d for d in store.list_deliveries(sub_id) if d.kind == "digest"]


def links(message: EmailMessage) -> list[str]:
    body = message.get_body(("plain",))
    assert body is not None
    return re.findall(r"https?://\S+", body.get_content())


def test_one_confirmation_mail_that_echoes_nothing(db: Store, smtp_server: SMTPCatcher,
                                                    tmp_path: Path) -> None:  # fmt: skip
    clock = Clock()
    for _ in range(50):
        subscriptions.subscribe(db, SECRET, "ann@example.org", source="web", client=None,
                                now=clock(), topic="<script>alert(1)</script> evil")  # fmt: skip
        clock.advance(1)
    sender = make_sender(db, smtp_server, clock, tmp_path)
    report = sender.run_pass()
    assert report.sent == 1 and sender.run_pass().sent == 0
    [mail] = smtp_server.messages
    assert mail["To"] == "ann@example.org" and "Confirm" in mail["Subject"]
    raw = smtp_server.received[0].raw.decode()
    assert "<script" not in raw and "alert" not in raw and "evil" not in raw
    [link] = links(mail)
    assert link.startswith(BASE + "/confirm?token=")
    token = parse_qs(urlsplit(link).query)["token"][0]
    assert verify(SECRET, "confirm", token, clock())["s"] == report.sent  # subscriber 1
    assert mail["Message-ID"].startswith("<confirm.1.") and mail["Message-ID"].endswith(
        "@127.0.0.1>"
    )


def test_digest_headers_parts_links_and_never_twice(db: Store, smtp_server: SMTPCatcher,
                                                    tmp_path: Path) -> None:  # fmt: skip
    clock = Clock()
    sub_id = confirmed(db, "ann@example.org", TOPICS["graph"], clock)
    sender = make_sender(db, smtp_server, clock, tmp_path)
    report = sender.run_pass()
    assert (report.planned, report.sent) == (1, 1)
    assert sender.run_pass().sent == 0  # same period: nothing more
    [mail] = smtp_server.messages
    assert mail["Message-ID"] == f"<digest.{sub_id}.d2026-11-24@127.0.0.1>"
    # as a mail provider reads the bytes: one plain line each, nothing encoded or folded
    raw = smtp_server.received[0].raw.decode("ascii")
    head = raw.split("\r\n\r\n", 1)[0].split("\r\n")
    assert f"List-Unsubscribe: {mail['List-Unsubscribe']}" in head
    assert f"Message-ID: {mail['Message-ID']}" in head
    assert "List-Unsubscribe-Post: List-Unsubscribe=One-Click" in head
    assert "List-Id: paperfeed digest <digest.127.0.0.1>" in head
    unsubscribe = mail["List-Unsubscribe"]
    assert unsubscribe.startswith(f"<{BASE}/u/") and unsubscribe.endswith(">")
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    token = unsubscribe[1:-1].rsplit("/", 1)[1]
    assert verify(SECRET, "unsubscribe", token, clock())["s"] == sub_id
    with pytest.raises(Exception, match="not valid"):
        verify(SECRET, "preferences", token, clock())
    text = mail.get_body(("plain",))
    html = mail.get_body(("html",))
    assert text is not None and html is not None
    html_text = html.get_content()
    assert "<b>&</b>" not in html_text and "&lt;b&gt;&amp;&lt;/b&gt;" in html_text
    assert "matches your search" in text.get_content()
    clicks = [u for u in links(mail) if "/r/" in u]
    assert clicks
    for url in clicks:
        parts = urlsplit(url)
        ref = unquote(parts.path.split("/r/", 1)[1])
        fields = verify(SECRET, "click", parse_qs(parts.query)["t"][0], clock())
        assert fields["p"] == ref and fields["s"] == sub_id  # the recipient: counted once
    first = db.sent_seqs(sub_id)
    # the next day brings new papers: a new digest, none of yesterday's papers again
    clock.advance(86400)
    add_day(db, START + timedelta(days=1))
    assert sender.run_pass().sent == 1
    assert len(smtp_server.messages) == 2
    second = db.sent_seqs(sub_id) - first
    assert second and not second & first
    assert smtp_server.messages[1]["Message-ID"] == f"<digest.{sub_id}.d2026-11-25@127.0.0.1>"


def test_temporary_failures_are_retried_and_sent_once(db: Store, smtp_server: SMTPCatcher,
                                                      tmp_path: Path) -> None:  # fmt: skip
    clock = Clock()
    people = [f"p{i}@example.org" for i in range(4)]
    for email, topic in zip(people, [*TOPICS.values(), TOPICS["graph"]], strict=True):
        confirmed(db, email, topic, clock)
    smtp_server.fail_next(421, times=2, stage="data")
    smtp_server.fail_next(454, times=2, stage="rcpt")
    smtp_server.fail_next(451, times=2, stage="data")
    sender = make_sender(db, smtp_server, clock, tmp_path)
    report = sender.run_pass()
    assert report.planned == 4 and report.retried >= 1
    for _ in range(12):  # passes a minute apart, as `serve` runs them
        clock.advance(60)
        sender.run_pass()
    got = Counter(m["To"] for m in smtp_server.messages)
    assert got == dict.fromkeys(people, 1)
    assert db.count_deliveries() == {"sent": 4, "cancelled": 4}  # (their confirmations)


def test_hard_bounces_suppress_only_that_address(db: Store, smtp_server: SMTPCatcher,
                                                 tmp_path: Path) -> None:  # fmt: skip
    clock = Clock()
    good = confirmed(db, "good@example.org", TOPICS["graph"], clock)
    bad = confirmed(db, "bad@example.org", TOPICS["graph"], clock)
    smtp_server.refuse("bad@example.org", 550)
    sender = make_sender(db, smtp_server, clock, tmp_path, bounce_limit=2)
    for day in range(3):
        if day:
            clock.advance(86400)
            add_day(db, START + timedelta(days=day))
        sender.run_pass()
    state = db.get_subscriber(bad)
    assert state is not None and (state.state, state.bounces) == ("suppressed", 2)
    assert [d.state for d in digests(db, bad)] == ["failed", "failed"]  # none on day 3
    assert db.sent_seqs(bad) == set()  # failed digests gave their papers back
    assert [m["To"] for m in smtp_server.messages] == ["good@example.org"] * 3
    ok = db.get_subscriber(good)
    assert ok is not None and (ok.state, ok.bounces) == ("confirmed", 0)


def test_a_period_that_passed_is_not_sent_late(db: Store, smtp_server: SMTPCatcher,
                                               tmp_path: Path) -> None:  # fmt: skip
    clock = Clock()
    sub_id = confirmed(db, "ann@example.org", TOPICS["graph"], clock)
    sender = make_sender(db, smtp_server, clock, tmp_path)
    assert sender.run_pass(send=False).planned == 1  # planned, then the server went down
    clock.advance(86400)  # back a day later (a restored backup looks the same)
    report = sender.run_pass()
    assert report.expired == 1
    assert [m["Message-ID"] for m in smtp_server.messages] == [
        f"<digest.{sub_id}.d2026-11-25@127.0.0.1>"  # today's digest only, yesterday's not
    ]
    [today, yesterday] = digests(db, sub_id)
    assert (today.state, yesterday.state) == ("sent", "expired")


def test_unsubscribing_cancels_what_was_planned(db: Store, smtp_server: SMTPCatcher,
                                                tmp_path: Path) -> None:  # fmt: skip
    clock = Clock()
    sub_id = confirmed(db, "ann@example.org", TOPICS["graph"], clock)
    sender = make_sender(db, smtp_server, clock, tmp_path)
    sender.run_pass(send=False)
    sub = db.get_subscriber(sub_id)
    assert sub is not None
    subscriptions.unsubscribe(db, SECRET, subscriptions.unsubscribe_token(SECRET, sub, clock()),
                              clock())  # fmt: skip
    assert sender.run_pass().sent == 0
    assert smtp_server.messages == []
    assert [d.state for d in digests(db, sub_id)] == ["cancelled"]


def test_only_one_sender_at_a_time(db: Store, smtp_server: SMTPCatcher, tmp_path: Path) -> None:
    clock = Clock()
    confirmed(db, "ann@example.org", TOPICS["graph"], clock)
    assert db.take_lease("digest-sender", "otherhost:1", clock(), clock() + 120)
    sender = make_sender(db, smtp_server, clock, tmp_path)
    assert sender.run_pass().busy and smtp_server.messages == []
    clock.advance(121)  # the other sender's lease ran out: it died elsewhere
    assert sender.run_pass().sent == 1


def test_our_own_misconfiguration_bounces_nobody(db: Store, tmp_path: Path) -> None:
    clock = Clock()
    sub_id = confirmed(db, "ann@example.org", TOPICS["graph"], clock)
    with SMTPCatcher(logins={"paperfeed": "right"}) as smtp:
        mailer = SMTPMailer(smtp.host, smtp.port, "none", "paperfeed", "wrong",
                            "digest@example.org", timeout_s=5)  # fmt: skip
        sender = DigestSender(db, mailer, secret=SECRET, base_url=BASE, clock=clock,
                              rate_per_s=0, bounce_limit=1)  # fmt: skip
        report = sender.run_pass()
    assert report.sent == 0 and report.failed == 0 and len(report.errors) == 1
    assert "PAPERFEED_SMTP_USER" in report.errors[0] and "wrong" not in report.errors[0]
    sub = db.get_subscriber(sub_id)
    assert sub is not None and (sub.state, sub.bounces) == ("confirmed", 0)
    [delivery] = digests(db, sub_id)
    assert delivery.state == "planned"  # waits for the operator's fix, then goes


def test_an_address_kept_by_a_laxer_version_is_never_mailed(db: Store, smtp_server: SMTPCatcher,
                                                             tmp_path: Path) -> None:  # fmt: skip
    """`g0:victim@…` (a group: its mail would reach the victim) passed older checks: its
    digest fails as a bounce, and the others still go out."""
    clock = Clock()
    confirmed(db, "ann@example.org", TOPICS["graph"], clock)
    old = db.add_subscriber("g0:victim@example.org", clock(), "web")
    db.update_subscriber(old.id, SubscriberChange(state="confirmed"))
    db.set_preferences(old.id, replace(old.prefs, topics=(TOPICS["graph"],)))
    report = make_sender(db, smtp_server, clock, tmp_path, bounce_limit=1).run_pass()
    assert (report.sent, report.failed, report.suppressed, report.errors) == (1, 1, 1, [])
    assert [r.rcpt_tos for r in smtp_server.received] == [("ann@example.org",)]


def test_the_send_rate_is_kept(db: Store, smtp_server: SMTPCatcher, tmp_path: Path) -> None:
    clock = Clock()
    for i in range(5):
        confirmed(db, f"p{i}@example.org", TOPICS["graph"], clock)
    waits: list[float] = []
    sender = make_sender(db, smtp_server, clock, tmp_path, rate_per_s=4.0, sleep=waits.append)
    assert sender.run_pass().sent == 5
    # 5 messages at 4 per second: 4 gaps of >= 0.25 s (the sends themselves count toward them)
    assert len(waits) == 4 and all(0 < w <= 0.25 for w in waits)


def test_a_digest_waits_for_its_papers_to_be_embedded(db: Store, smtp_server: SMTPCatcher,
                                                      tmp_path: Path) -> None:  # fmt: skip
    """The server's embedder is still at the day's papers: the digest waits for them (so its
    saved search can match by meaning), at most `embed_wait_s` after its period started."""
    clock = Clock()  # an hour after the period started
    embedder = HashingEmbedder()
    engine = SearchEngine(db, tmp_path / "index", embedder)
    sender = make_sender(db, smtp_server, clock, tmp_path, embed_wait_s=7200)
    sender.open_engine = lambda s: engine
    sub_id = confirmed(db, "a@example.org", TOPICS["graph"], clock)
    report = sender.run_pass()
    assert (report.waiting, report.planned, digests(db, sub_id)) == (1, 0, [])
    embed_missing(db, embedder)
    clock.advance(60)
    report = sender.run_pass()
    assert (report.waiting, report.planned, report.sent) == (0, 1, 1)
    assert "unembedded" not in digests(db, sub_id)[0].plan


def test_a_digest_waits_no_longer_than_its_bound(db: Store, smtp_server: SMTPCatcher,
                                                 tmp_path: Path) -> None:  # fmt: skip
    clock = Clock()
    engine = SearchEngine(db, tmp_path / "index", HashingEmbedder())
    sender = make_sender(db, smtp_server, clock, tmp_path, embed_wait_s=5400)
    sender.open_engine = lambda s: engine
    sub_id = confirmed(db, "a@example.org", TOPICS["graph"], clock)
    assert sender.run_pass().waiting == 1
    clock.advance(1800)  # 90 minutes after the period started: waited long enough
    report = sender.run_pass()
    assert (report.waiting, report.planned) == (0, 1)
    plan = digests(db, sub_id)[0].plan
    assert plan["unembedded"] == 6  # said in the ledger: matched by their words only
    assert [i["why"] for i in plan["items"]][:1] == [f"matches your search '{TOPICS['graph']}'"]
