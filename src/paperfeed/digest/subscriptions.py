"""The digest list: subscribe with double opt-in, confirm, preferences, unsubscribe.

An address goes pending -> confirmed -> unsubscribed (or suppressed, after hard bounces). A
subscribe request for a new, unsubscribed or suppressed address makes it pending and plans
exactly one confirmation mail in the delivery ledger (the sender sends it); while that
confirmation can still be used (`CONFIRM_TTL_S`), more requests plan nothing, so 50 requests
for one address queue one mail. A request for a pending or confirmed address changes nothing.
A stranger's request whose inbox had its day's mail from strangers (`inbox_has_room`: sign-in
links and confirmations, `+tag` variants together) changes nothing either. Whatever the case,
the caller answers the same way: nobody learns who is on the list.

Every link we mail is a signed token whose purpose is part of the signature (confirm,
preferences, unsubscribe, click: see `paperfeed.tokens`), so one can never be used for another.
Confirm links expire with their request; preference links after `PREFERENCES_TTL_S`;
unsubscribe links after a year (RFC 8058 links in old mails must keep working; each new
digest carries a fresh one). The consent record (when, from where) stays after unsubscribing.

Nothing here knows about HTTP or SMTP: the web layer and the CLI call these functions, the
sender in `paperfeed.digest.sender` delivers what they plan.
"""

from __future__ import annotations

import logging
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from paperfeed.errors import InputError, NotFound, RateLimited, TokenError
from paperfeed.store import Preferences, Store, Subscriber, SubscriberChange
from paperfeed.tokens import keyed_hash, sign, verify
from paperfeed.users.addresses import inbox_has_room, normalize_email

log = logging.getLogger(__name__)

SOURCES = ("web", "api", "cli")
CONFIRM_TTL_S = 48 * 3600
PREFERENCES_TTL_S = 90 * 86400
UNSUBSCRIBE_TTL_S = 365 * 86400
REQUESTS_PER_CLIENT_HOUR = 20
FREQUENCIES = ("daily", "weekly", "paused")
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MAX_TOPICS = 10
MAX_TOPIC_CHARS = 200
MAX_CATEGORIES = 20
MAX_PAPERS = 50
_CATEGORY_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-")


@dataclass(frozen=True, slots=True)
class Request:
    """What `subscribe` did, for logs and tests only: never show it to the requester."""

    subscriber_id: int | None  # None: a new address whose inbox had its day's mail
    planned_confirmation: bool


def subscribe(store: Store, secret: bytes, email: str, *, source: str, client: str | None,
              now: float, topic: str | None = None) -> Request:  # fmt: skip
    """Ask for digests at `email`. `InputError` for an address that cannot be one,
    `RateLimited` when `client` (an IP; None from the CLI) asked too often; otherwise the
    caller says "check your inbox", whatever happened. A `topic` (a saved search) is added to
    a new or returning subscriber's preferences; it never appears in the confirmation mail."""
    if source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}")
    email = normalize_email(email)
    topics = _topics([topic]) if topic else ()
    if client is not None and not store.hit_rate(
        "subscribe-client:" + keyed_hash(secret, "client", client), now, 3600,
        REQUESTS_PER_CLIENT_HOUR,
    ):  # fmt: skip
        raise RateLimited("Too many subscribe requests from your network; try again in an hour.")
    with store.transaction():
        sub = store.get_subscriber_by_email(email)
        if sub is not None and _is_settled(sub, now):
            return Request(sub.id, planned_confirmation=False)
        if client is not None and not inbox_has_room(store, secret, email, now):
            log.warning("confirmation held back: the inbox's daily limit is reached")
            return Request(sub.id if sub else None, planned_confirmation=False)
        if sub is None:
            sub = store.add_subscriber(email, now, source)
        else:  # unsubscribed, suppressed, or pending with an expired confirmation: a new round
            store.update_subscriber(sub.id, SubscriberChange(state="pending", requested_at=now,
                                                             request_source=source))  # fmt: skip
        if topics:
            prefs = sub.prefs
            merged = tuple(dict.fromkeys((*prefs.topics, *topics)))[:MAX_TOPICS]
            store.set_preferences(sub.id, replace(prefs, topics=merged))
        store.update_subscriber(sub.id, SubscriberChange(confirm_sent_at=now))
        store.plan_delivery(sub.id, "confirm", f"confirm-{int(now)}",
                            message_id=f"confirm.{sub.id}.{int(now)}",
                            plan={"round": int(now)}, now=now,
                            send_by=now + CONFIRM_TTL_S)  # fmt: skip
    log.info("subscribe request subscriber=%d source=%s", sub.id, source)
    return Request(sub.id, planned_confirmation=True)


def _is_settled(sub: Subscriber, now: float) -> bool:
    """Confirmed, or pending with a confirmation that can still be used: a request changes
    nothing."""
    sent_at = sub.confirm_sent_at
    return sub.state == "confirmed" or (
        sub.state == "pending" and sent_at is not None and now < sent_at + CONFIRM_TTL_S
    )


def confirm_token(secret: bytes, sub: Subscriber, round_: int) -> str:
    return sign(secret, "confirm", {"s": sub.id, "r": round_}, round_ + CONFIRM_TTL_S)


def preferences_token(secret: bytes, sub: Subscriber, now: float) -> str:
    return sign(secret, "preferences", {"s": sub.id}, now + PREFERENCES_TTL_S)


def unsubscribe_token(secret: bytes, sub: Subscriber, now: float) -> str:
    return sign(secret, "unsubscribe", {"s": sub.id}, now + UNSUBSCRIBE_TTL_S)


def confirm(store: Store, secret: bytes, token: str, now: float, *, source: str = "web"
            ) -> Subscriber:  # fmt: skip
    """Confirm the address a confirmation link was mailed to (again: harmless). `TokenError`
    for a forged or expired link or one from an older request."""
    fields = verify(secret, "confirm", token, now, what="confirmation link")
    sub = _subscriber(store, fields)
    if sub.state == "confirmed":
        return sub
    if sub.state != "pending" or fields.get("r") != int(sub.confirm_sent_at or -1):
        raise TokenError("This confirmation link is from an older request; subscribe again.")
    store.update_subscriber(sub.id, SubscriberChange(
        state="confirmed", consent_at=now, consent_source=source, bounces=0, unsubscribed_at=None
    ))  # fmt: skip
    log.info("subscriber confirmed subscriber=%d", sub.id)
    return _get(store, sub.id)


def unsubscribe(store: Store, secret: bytes, token: str, now: float) -> Subscriber:
    """Stop every mail to the link's address at once: planned deliveries are cancelled.
    Unsubscribing twice is harmless. `TokenError` for a forged or expired link."""
    fields = verify(secret, "unsubscribe", token, now, what="unsubscribe link")
    sub = _subscriber(store, fields)
    if sub.state in ("unsubscribed", "suppressed"):
        return sub
    stop_mail(store, sub.id, now, SubscriberChange(state="unsubscribed", unsubscribed_at=now))
    log.info("unsubscribed subscriber=%d", sub.id)
    return _get(store, sub.id)


def stop_mail(store: Store, subscriber_id: int, now: float, change: SubscriberChange) -> None:
    """Apply `change` (its state: unsubscribed, suppressed) and cancel every delivery still
    planned for the subscriber, at once."""
    with store.transaction():
        store.update_subscriber(subscriber_id, change)
        for delivery in store.list_deliveries(subscriber_id, state="planned"):
            store.finish_delivery(delivery.id, "cancelled", now, error=str(change.state))


def from_preferences_token(store: Store, secret: bytes, token: str, now: float) -> Subscriber:
    """The subscriber a preferences link belongs to; `TokenError` if forged or expired."""
    fields = verify(secret, "preferences", token, now, what="preferences link")
    return _subscriber(store, fields)


def save_preferences(store: Store, secret: bytes, token: str, form: Mapping[str, Any],
                     now: float) -> Subscriber:  # fmt: skip
    """Check and store the preferences form of a preferences link's subscriber."""
    sub = from_preferences_token(store, secret, token, now)
    if sub.state not in ("pending", "confirmed"):
        raise InputError("This address is unsubscribed; subscribe again to get digests.")
    prefs = parse_preferences(form, sub.prefs)
    store.set_preferences(sub.id, prefs)
    log.info("preferences saved subscriber=%d frequency=%s", sub.id, prefs.frequency)
    return _get(store, sub.id)


def parse_preferences(form: Mapping[str, Any], current: Preferences) -> Preferences:
    """Preferences from form fields (missing ones keep their current value): frequency,
    weekday (0-6 or a name), hour (0-23), timezone (IANA), topics (one per line), categories
    (comma or space separated), include_trending, max_papers (1-50), empty_notice. Check
    boxes: a form that has `frequency` but not the box means "off"."""
    full_form = "frequency" in form

    def text(name: str) -> str | None:
        value = form.get(name)
        if value is None:
            return None
        if isinstance(value, list):
            return "\n".join(str(v) for v in value)
        return str(value).strip()

    def flag(name: str, default: bool) -> bool:
        value = text(name)
        if value is None:
            return False if full_form else default
        return value.lower() in ("1", "true", "yes", "on")

    frequency = (text("frequency") or current.frequency).lower()
    if frequency not in FREQUENCIES:
        raise InputError("Frequency must be daily, weekly or paused.")
    tz = text("timezone") or current.timezone
    if not _is_timezone(tz):
        raise InputError(f"{tz[:60]!r} is not a time zone; use a name like Europe/Berlin or UTC.")
    topics_text = text("topics")
    cats_text = text("categories")
    return Preferences(
        frequency=frequency,
        weekday=_weekday(text("weekday"), current.weekday),
        hour=_int(text("hour"), current.hour, 0, 23, "The hour"),
        timezone=tz,
        topics=current.topics if topics_text is None else _topics(topics_text.splitlines()),
        categories=current.categories if cats_text is None else _categories(cats_text),
        include_trending=flag("include_trending", current.include_trending),
        max_papers=_int(
            text("max_papers"), current.max_papers, 1, MAX_PAPERS, "The number of papers"
        ),
        empty_notice=flag("empty_notice", current.empty_notice),
    )


def _topics(lines: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    topics = []
    for line in lines:
        topic = " ".join(line.split())
        if not topic:
            continue
        if len(topic) > MAX_TOPIC_CHARS:
            raise InputError(f"A saved search may have at most {MAX_TOPIC_CHARS} characters.")
        if not any(c.isalnum() for c in topic):
            raise InputError(f"The saved search {topic[:40]!r} has no words to search for.")
        topics.append(topic)
    unique = tuple(dict.fromkeys(topics))
    if len(unique) > MAX_TOPICS:
        raise InputError(f"At most {MAX_TOPICS} saved searches; remove some.")
    return unique


def _categories(text: str) -> tuple[str, ...]:
    found = tuple(dict.fromkeys(c for c in text.replace(",", " ").split()))
    for c in found:
        if not set(c) <= _CATEGORY_CHARS or not c[0].isalpha() or len(c) > 40:
            raise InputError(f"{c[:40]!r} is not an arXiv category like cs.LG or math.")
    if len(found) > MAX_CATEGORIES:
        raise InputError(f"At most {MAX_CATEGORIES} categories; remove some.")
    return found


def _weekday(text: str | None, default: int) -> int:
    if not text:
        return default
    names = [d.lower() for d in WEEKDAYS]
    if text.lower() in names:
        return names.index(text.lower())
    if text.lower()[:3] in [n[:3] for n in names]:
        return [n[:3] for n in names].index(text.lower()[:3])
    return _int(text, default, 0, 6, "The weekday")


def _int(text: str | None, default: int, low: int, high: int, what: str) -> int:
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        raise InputError(f"{what} must be a whole number, not {text[:20]!r}.") from None
    if not low <= value <= high:
        raise InputError(f"{what} must be between {low} and {high}.")
    return value


def _is_timezone(name: str) -> bool:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True


def _subscriber(store: Store, fields: Mapping[str, Any]) -> Subscriber:
    sub_id = fields.get("s")
    sub = store.get_subscriber(sub_id) if isinstance(sub_id, int) else None
    if sub is None:
        raise NotFound("This link belongs to an address that is no longer on the list.")
    return sub


def _get(store: Store, sub_id: int) -> Subscriber:
    sub = store.get_subscriber(sub_id)
    assert sub is not None
    return sub
