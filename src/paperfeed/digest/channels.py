"""Where a delivery goes: email, a generic webhook, a Slack or a Discord incoming webhook.

The sender plans and records deliveries without knowing which channel it talks to: it builds
a delivery's `Content` (the plan, its papers, the signed links) and hands it to the channel of
the subscriber's kind, which sends it or raises a `DeliveryError` saying whether trying again
makes sense (`temporary`, with the receiver's Retry-After), and whether the failure is of our
own set-up (`ours`: it counts against nobody and stops the pass).

- `EmailChannel`: the digest and confirmation mails (render.py) through the Mailer.
- `WebhookChannel`: a JSON POST of the digest's items, signed like Stripe's webhooks:
  `X-Paperfeed-Signature: t=<unix time>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`; the
  receiver recomputes it and refuses a stale `t` (replays). `X-Paperfeed-Delivery` is the same
  on every retry of one delivery, for the receiver to drop duplicates.
- `SlackChannel`: incoming-webhook JSON: `text` (the fallback) and mrkdwn `blocks`, each paper
  a `<url|title>` link with &, < and > escaped as Slack requires, its why-line under it.
- `DiscordChannel`: incoming-webhook JSON: `content` and up to 10 `embeds` (title, url,
  description = why) per message, within Discord's limits, and `allowed_mentions` empty so
  no paper title can ping @everyone. More than 10 papers go in several messages.

Answers: 2xx sent; 429, 5xx, timeouts and connection failures temporary; a redirect or any
other 4xx (404 or 410: the webhook was deleted) permanent. Webhook URLs are checked against
the outbound policy (outbound.py) at set-up and again at every send.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any, Protocol
from urllib.parse import quote, urlsplit

import orjson

from paperfeed.digest import subscriptions
from paperfeed.digest.compose import DigestPlan
from paperfeed.digest.mailer import Mailer, MailError, Message, TemporaryMailError
from paperfeed.digest.outbound import Outbound, OutboundFailed, OutboundRefused
from paperfeed.digest.render import Links, clean, render_digest, subject
from paperfeed.errors import InputError, NotFound, PaperfeedError
from paperfeed.ingest.http import parse_retry_after
from paperfeed.models import Paper, shorten
from paperfeed.store import Delivery, Preferences, Store, Subscriber, SubscriberChange
from paperfeed.tokens import sign

KINDS = ("webhook", "slack", "discord")  # the channels beyond email
CLICK_TTL_S = 90 * 86400  # (users/library.py COUNT_ONCE_S["click"] counts a click once as long)
SIGNATURE_HEADER = "X-Paperfeed-Signature"
DELIVERY_HEADER = "X-Paperfeed-Delivery"
SLACK_BLOCKS = 50  # Slack's most blocks per message
SLACK_TITLE_CHARS = 300
DISCORD_EMBEDS = 10  # Discord's most embeds per message
DISCORD_TITLE_CHARS = 256
DISCORD_DESCRIPTION_CHARS = 300  # (Discord allows 4096, but 6000 for all embeds together)
DISCORD_CONTENT_CHARS = 2000


class DeliveryError(PaperfeedError):
    """A delivery that did not go out. `temporary`: try again later (not before
    `retry_after_s` when the receiver said so); `ours`: our own set-up failed (mail login,
    TLS), which counts against nobody and stops the pass."""

    def __init__(self, sentence: str, *, temporary: bool, retry_after_s: float | None = None,
                 ours: bool = False) -> None:  # fmt: skip
        super().__init__(sentence)
        self.temporary, self.retry_after_s, self.ours = temporary, retry_after_s, ours


@dataclass(frozen=True, slots=True)
class Content:
    """What a delivery holds, ready for any channel: the digest's plan and papers and the
    links (signed as of the planning time, so a resent message is the same message); for a
    confirmation, only `delivery`."""

    delivery: Delivery
    plan: DigestPlan | None = None
    papers: Mapping[int, Paper] | None = None
    links: Links | None = None
    day: date | None = None

    def items(self) -> list[dict[str, str]]:
        """The digest's papers as plain data, in the plan's order (by section): id, title, url,
        why, section; every text clean (no control or bidi characters, one line)."""
        if self.plan is None or self.papers is None or self.links is None:
            return []
        return [
            {"id": paper.id, "title": clean(paper.title) or "(untitled)",
             "url": clean(self.links.paper(paper)), "why": clean(item.why),
             "section": item.section}
            for item in self.plan.items if (paper := self.papers.get(item.seq)) is not None
        ]  # fmt: skip

    @property
    def subject(self) -> str:
        return subject(len(self.items()), self.day)


class Channel(Protocol):
    def deliver(self, sub: Subscriber, delivery: Delivery, content: Content) -> None:
        """Send `content` to `sub`; raises DeliveryError."""
        ...


class Contents:
    """Builds each delivery's `Content`: reads its papers, signs its links."""

    def __init__(self, store: Store, secret: bytes, base_url: str) -> None:
        self.store, self.secret, self.base_url = store, secret, base_url.rstrip("/")

    def build(self, sub: Subscriber, delivery: Delivery) -> Content:
        if delivery.kind == "confirm":
            return Content(delivery)
        plan = DigestPlan.from_json(delivery.plan)
        papers = self.store.get_papers_by_seq([item.seq for item in plan.items])
        at = delivery.planned_at
        links = Links(
            paper=lambda paper: self.paper_link(paper, sub, at),
            preferences=self.preferences_url(sub, at),
            unsubscribe=self.unsubscribe_url(sub, at),
            site=self.base_url,
        )
        day = delivery.plan.get("day")
        return Content(delivery, plan, papers, links, date.fromisoformat(str(day)) if day else None)

    def preferences_url(self, sub: Subscriber, at: float) -> str:
        token = subscriptions.preferences_token(self.secret, sub, at)
        return f"{self.base_url}/preferences?token={token}"

    def unsubscribe_url(self, sub: Subscriber, at: float) -> str:
        return f"{self.base_url}/u/{subscriptions.unsubscribe_token(self.secret, sub, at)}"

    def paper_link(self, paper: Paper, sub: Subscriber, at: float) -> str:
        """A paper's link in a digest: it counts a click once per paper and recipient."""
        token = sign(self.secret, "click", {"p": paper.id, "s": sub.id}, at + CLICK_TTL_S)
        return f"{self.base_url}/r/{quote(paper.id)}?t={token}"


# -- email --------------------------------------------------------------------------------------


class EmailChannel:
    def __init__(self, mailer: Mailer, *, secret: bytes, base_url: str) -> None:
        self.mailer, self.secret = mailer, secret
        self.base_url = base_url.rstrip("/")
        self.domain = urlsplit(self.base_url).hostname or "localhost"

    def deliver(self, sub: Subscriber, delivery: Delivery, content: Content) -> None:
        message = self.message(sub, content)
        try:
            self.mailer.send(message)
        except MailError as exc:
            temporary = isinstance(exc, TemporaryMailError)
            raise DeliveryError(str(exc), temporary=temporary or not exc.bounce,
                                ours=not temporary and not exc.bounce) from None  # fmt: skip

    def message(self, sub: Subscriber, content: Content) -> Message:
        """The mail of a delivery; the same every time for the same ledger row."""
        delivery = content.delivery
        message_id = f"<{delivery.message_id}@{self.domain}>"
        if content.plan is None or content.papers is None or content.links is None:
            return self._confirmation(sub, delivery, message_id)
        links = content.links
        subject_, text, html = render_digest(sub, content.plan, content.papers, links,
                                             title_day=content.day)  # fmt: skip
        headers = {
            "List-Unsubscribe": f"<{links.unsubscribe}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            "List-Id": f"paperfeed digest <digest.{self.domain}>",
            "Precedence": "bulk",
            "Auto-Submitted": "auto-generated",
        }
        return Message(sub.email, subject_, text, html, headers, message_id)

    def _confirmation(self, sub: Subscriber, delivery: Delivery, message_id: str) -> Message:
        round_ = int(delivery.plan.get("round", 0))
        token = subscriptions.confirm_token(self.secret, sub, round_)
        link = f"{self.base_url}/confirm?token={token}"
        hours = subscriptions.CONFIRM_TTL_S // 3600
        text = (
            "Hello,\n\nSomeone (we hope you) asked for paperfeed's paper digests at this "
            "address.\nTo start getting them, open this link and press Confirm within "
            f"{hours} hours:\n\n{link}\n\nIf you did not ask, ignore this mail: you will get "
            "nothing more from us.\n"
        )
        subject_ = "Confirm your paperfeed digest subscription"
        headers = {"Auto-Submitted": "auto-generated"}
        return Message(sub.email, subject_, text, message_id=message_id, headers=headers)


# -- webhooks -----------------------------------------------------------------------------------


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The X-Paperfeed-Signature value of `body` sent at `timestamp`."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify_signature(secret: str, header: str, body: bytes, now: float,
                     tolerance_s: float = 300.0) -> bool:  # fmt: skip
    """What a receiver does (and the tests): the signature matches and is recent."""
    fields = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    try:
        timestamp = int(fields["t"])
    except (KeyError, ValueError):
        return False
    expected = signature(secret, timestamp, body).split("v1=", 1)[1]
    return abs(now - timestamp) <= tolerance_s and hmac.compare_digest(
        expected, fields.get("v1", "")
    )


class _Poster:
    """What the three webhook channels share: the checked POST and what its answer means."""

    def __init__(self, outbound: Outbound) -> None:
        self.outbound = outbound

    def post(self, sub: Subscriber, body: Mapping[str, Any] | bytes,
             headers: Mapping[str, str] | None = None) -> None:  # fmt: skip
        if not sub.target:
            raise DeliveryError("The channel has no URL.", temporary=False)
        data = body if isinstance(body, bytes) else orjson.dumps(body)
        sent = {"Content-Type": "application/json", **(headers or {})}
        try:
            answer = self.outbound.post(sub.target, data, sent)
        except OutboundRefused as exc:
            raise DeliveryError(str(exc), temporary=False) from None
        except OutboundFailed as exc:
            raise DeliveryError(str(exc), temporary=True) from None
        host = urlsplit(sub.target).hostname or "the receiver"
        if 200 <= answer.status < 300:
            return
        if answer.status == 429 or answer.status >= 500:
            retry = parse_retry_after(answer.headers.get("retry-after"), time.time())
            raise DeliveryError(f"{host} answered HTTP {answer.status}.", temporary=True,
                                retry_after_s=retry)  # fmt: skip
        if 300 <= answer.status < 400:
            raise DeliveryError(f"{host} answered with a redirect (HTTP {answer.status}), "
                                "which webhooks do not follow.", temporary=False)  # fmt: skip
        raise DeliveryError(f"{host} refused the message (HTTP {answer.status}).",
                            temporary=False)  # fmt: skip


class WebhookChannel(_Poster):
    def __init__(self, outbound: Outbound, clock: Callable[[], float] = time.time) -> None:
        super().__init__(outbound)
        self.clock = clock

    def payload(self, sub: Subscriber, content: Content) -> dict[str, Any]:
        delivery = content.delivery
        return {
            "type": "digest",
            "delivery": delivery.message_id,
            "channel": sub.id,
            "period": delivery.period,
            "day": content.day.isoformat() if content.day else None,
            "summary": content.subject,
            "items": content.items(),
        }

    def deliver(self, sub: Subscriber, delivery: Delivery, content: Content) -> None:
        if not sub.secret:
            raise DeliveryError("The webhook has no signing secret.", temporary=False)
        body = orjson.dumps(self.payload(sub, content))
        headers = {SIGNATURE_HEADER: signature(sub.secret, int(self.clock()), body),
                   DELIVERY_HEADER: delivery.message_id}  # fmt: skip
        self.post(sub, body, headers)


def slack_escape(text: str) -> str:
    """Slack's three control characters, escaped as its message formatting requires."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class SlackChannel(_Poster):
    def payload(self, content: Content) -> dict[str, Any]:
        items = content.items()
        heading = content.subject
        blocks: list[dict[str, Any]] = [
            {"type": "section", "text": {"type": "mrkdwn", "text": f"*{slack_escape(heading)}*"}}
        ]
        room = SLACK_BLOCKS - 2  # the heading, and a "more" line if needed
        for item in items[:room]:
            title = slack_escape(shorten(item["title"], SLACK_TITLE_CHARS))
            line = f"<{slack_escape(item['url'])}|{title}>\n{slack_escape(item['why'])}"
            blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": line}})
        if len(items) > room:
            more = f"…and {len(items) - room} more."
            blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": more}]})
        return {"text": heading, "blocks": blocks}

    def deliver(self, sub: Subscriber, delivery: Delivery, content: Content) -> None:
        self.post(sub, self.payload(content))


def discord_escape(text: str) -> str:
    """Markdown characters shown as themselves in an embed's description."""
    for char in "\\*_~`|>#[]()":
        text = text.replace(char, "\\" + char)
    return text


class DiscordChannel(_Poster):
    def payloads(self, content: Content) -> list[dict[str, Any]]:
        """One message per 10 papers (Discord's embed limit); the first says what it is."""
        items = content.items()
        heading = shorten(content.subject, DISCORD_CONTENT_CHARS)
        messages: list[dict[str, Any]] = []
        for start in range(0, max(len(items), 1), DISCORD_EMBEDS):
            embeds = [
                {"title": shorten(item["title"], DISCORD_TITLE_CHARS), "url": item["url"],
                 "description": shorten(discord_escape(item["why"]), DISCORD_DESCRIPTION_CHARS)}
                for item in items[start : start + DISCORD_EMBEDS]
            ]  # fmt: skip
            message: dict[str, Any] = {"allowed_mentions": {"parse": []}, "embeds": embeds}
            if start == 0:
                message["content"] = heading
            messages.append(message)
        return messages

    def deliver(self, sub: Subscriber, delivery: Delivery, content: Content) -> None:
        for message in self.payloads(content):
            self.post(sub, message)


def webhook_channels(outbound: Outbound, clock: Callable[[], float] = time.time
                     ) -> dict[str, Channel]:  # fmt: skip
    return {"webhook": WebhookChannel(outbound, clock), "slack": SlackChannel(outbound),
            "discord": DiscordChannel(outbound)}  # fmt: skip


def sample_content(sub: Subscriber, base_url: str, now: float) -> Content:
    """A test message's content: one made-up item, planned nowhere."""
    delivery = Delivery(0, sub.id, "test", "test", "planned", f"test.{sub.id}.{int(now)}",
                        {}, now, now)  # fmt: skip
    paper = Paper(id="test", title="A test message from paperfeed", abstract="")
    plan = DigestPlan.from_json({"items": [{"seq": 0, "why": "You asked for a test message.",
                                             "section": "topics"}]})  # fmt: skip
    site = base_url.rstrip("/")
    links = Links(lambda p: site + "/", site + "/account", site + "/account", site)
    return Content(delivery, plan, {0: paper}, links, None)


def describe(sub: Subscriber) -> str:
    """A channel as its owner sees it: kind and host, never the URL's path (a credential)."""
    host = urlsplit(sub.target or "").hostname or "?"
    return f"{sub.channel} to {host}"


# -- set-up (the account page and `paperfeed channels`) -----------------------------------------

MAX_CHANNELS = 10  # per user
MAX_URL_CHARS = 2000


def add_channel(store: Store, outbound: Outbound, user_id: int, kind: str, url: str,
                prefs: Preferences, now: float, *,
                checked: bool = False) -> Subscriber:  # fmt: skip
    """A new channel of `user_id`, its URL checked against the outbound policy (unless the
    caller just did: `checked`); a generic webhook gets a random signing secret. `InputError`
    (one sentence) for bad input."""
    kind = kind.strip().lower()
    if kind not in KINDS:
        raise InputError("The kind must be webhook, slack or discord.")
    url = url.strip()
    if not url or len(url) > MAX_URL_CHARS:
        raise InputError(f"Give the receiver's URL (at most {MAX_URL_CHARS} characters).")
    try:
        if not checked:
            outbound.check(url)
    except OutboundRefused as exc:
        raise InputError(str(exc)) from None
    if len(store.list_channels(user_id)) >= MAX_CHANNELS:
        raise InputError(f"At most {MAX_CHANNELS} channels per account; remove one first.")
    secret = secrets.token_hex(32) if kind == "webhook" else None
    return store.add_channel(user_id, kind, url, secret, prefs, now)


def owned_channel(store: Store, user_id: int | None, channel_id: int) -> Subscriber:
    """Channel `channel_id` (of `user_id`, unless None: the operator); `NotFound` otherwise."""
    sub = store.get_subscriber(channel_id)
    if sub is None or sub.channel == "email" or (user_id is not None and sub.user_id != user_id):
        raise NotFound(f"There is no channel {channel_id}.")
    return sub


def send_test(channels: Mapping[str, Channel], sub: Subscriber, base_url: str, now: float
              ) -> None:  # fmt: skip
    """A test message to `sub` now, outside the ledger; DeliveryError when it did not go."""
    channel = channels.get(sub.channel)
    if channel is None:
        raise DeliveryError(f"No {sub.channel} channel is set up here.", temporary=False)
    content = sample_content(sub, base_url, now)
    channel.deliver(sub, content.delivery, content)


def enable(store: Store, sub: Subscriber) -> None:
    """Switch a disabled channel on again, its failure count back to 0."""
    store.update_subscriber(sub.id, SubscriberChange(state="confirmed", failures=0,
                                                     disabled_note=None))  # fmt: skip
