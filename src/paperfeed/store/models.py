"""The records a store speaks in, shared by every backend: plain frozen dataclasses, no SQL."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import date, datetime
from typing import Any

from paperfeed.models import Paper


@dataclass(frozen=True, slots=True)
class UpsertResult:
    added: int = 0
    updated: int = 0
    unchanged: int = 0

    def __add__(self, other: UpsertResult) -> UpsertResult:
        return UpsertResult(
            self.added + other.added,
            self.updated + other.updated,
            self.unchanged + other.unchanged,
        )


@dataclass(frozen=True, slots=True)
class Change:
    """A paper row as it is after change number `changed`; `seq` is its stable row number."""

    changed: int
    seq: int
    paper: Paper


@dataclass(frozen=True, slots=True)
class EmbeddingTodo:
    """A paper whose embedding for a model is missing or older than its last change;
    `text_hash` is that of the text embedded last time (None if never)."""

    seq: int
    changed: int
    paper: Paper
    text_hash: str | None


@dataclass(frozen=True, slots=True)
class EmbeddingRow:
    seq: int
    paper_changed: int
    text_hash: str
    vector: bytes | None  # None: text unchanged, keep the stored vector


@dataclass(frozen=True, slots=True)
class VectorChange:
    changed: int
    seq: int
    vector: bytes


@dataclass(frozen=True, slots=True)
class SourceRow:
    """A configured source and where its harvest stands. `cursor` is the harvester's own
    bookmark (resumption token, dates), opaque to the store."""

    name: str
    kind: str
    config: Mapping[str, Any]
    interval_s: int
    next_run_at: datetime
    enabled: bool = True
    created_at: datetime | None = None
    cursor: Mapping[str, Any] = field(default_factory=dict)
    last_run_at: datetime | None = None
    last_ok_at: datetime | None = None
    last_error: str | None = None
    failures: int = 0
    last_added: int = 0
    papers_added: int = 0
    lease_owner: str | None = None
    lease_until: datetime | None = None


@dataclass(frozen=True, slots=True)
class Announcement:
    """Paper `ref` (any id it is known by) appeared in `list` on `day` as `kind`."""

    ref: str
    list: str
    day: date
    kind: str


@dataclass(frozen=True, slots=True)
class Signal:
    """An outside measurement of attention (Hugging Face upvotes, GitHub stars) of `ref`."""

    ref: str
    name: str
    value: float


@dataclass(frozen=True, slots=True)
class SignalPoint:
    name: str
    observed_at: datetime
    value: float
    source: str


@dataclass(frozen=True, slots=True)
class Listed:
    """A paper in a listing of days: `day` is the latest day of the range on which it was
    announced (new, cross-listed or featured; not replaced) or first published; `signals` holds
    the latest value of each of its signals."""

    paper: Paper
    day: date | None
    signals: Mapping[str, float] = field(default_factory=dict)
    seq: int = 0


@dataclass(frozen=True, slots=True)
class User:
    id: int
    email: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class LibraryItem:
    """A paper a user reacted to: `kinds` of reaction (upvote, save, hide), when each was made
    (seconds since 1970), and the user's tags on it."""

    paper: Paper
    kinds: Mapping[str, float]
    tags: tuple[str, ...] = ()
    seq: int = 0


@dataclass(frozen=True, slots=True)
class Decayed:
    """How a trending sum is taken: each event's amount counts 2^(-age / half_life) at `now`
    (events after `now` count fully). For a signal measured as a running total (Hugging Face
    upvotes, GitHub stars) the events are its increases (a drop counts as none); `first_counts`
    says whether the first measurement counts as an increase from zero."""

    half_life_s: float
    first_counts: bool = True


@dataclass(frozen=True, slots=True)
class TrendingRow:
    """A ranked paper of a trending window: its score and each signal's part of it."""

    seq: int
    day: date | None
    published: str | None
    score: float
    parts: Mapping[str, float]


@dataclass(frozen=True, slots=True)
class TrendingState:
    """When a window was ranked (`computed_at`), the time its scores are as of (`as_of`), and
    the days it covers (None for a store of undated papers)."""

    computed_at: float
    as_of: float
    since: date | None
    until: date | None


@dataclass(frozen=True, slots=True)
class Preferences:
    """What a subscriber wants: how often (daily, weekly on `weekday` (0 = Monday), or paused),
    at which local `hour` in `timezone` (an IANA name), which saved searches (`topics`) and
    arXiv `categories`, whether trending papers come too, how many papers at most, and whether
    a day with nothing new still sends a short notice."""

    frequency: str = "daily"
    weekday: int = 0
    hour: int = 7
    timezone: str = "UTC"
    topics: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    include_trending: bool = True
    max_papers: int = 10
    empty_notice: bool = False


@dataclass(frozen=True, slots=True)
class Subscriber:
    """An address on the digest list and where it stands: pending (asked, not confirmed),
    confirmed, unsubscribed or suppressed (hard bounces). Times are seconds since 1970.

    A notification channel is a subscriber of another kind (`channel`: webhook, slack or
    discord) owned by user `user_id`, posting to `target` (signed with `secret` for a generic
    webhook); its `email` is a synthetic unique address nobody reads. `failures` counts its
    failed deliveries in a row; `disabled_note` says why and when it was switched off
    (state suppressed)."""

    id: int
    email: str
    state: str
    prefs: Preferences
    created_at: float
    requested_at: float
    request_source: str
    confirm_sent_at: float | None = None
    consent_at: float | None = None
    consent_source: str | None = None
    unsubscribed_at: float | None = None
    bounces: int = 0
    last_period: str | None = None
    last_day: date | None = None
    last_seq: int | None = None  # for a store of undated papers: the newest one covered
    channel: str = "email"
    target: str | None = field(default=None, repr=False)  # a Slack/Discord URL is a credential
    user_id: int | None = None
    secret: str | None = field(default=None, repr=False)
    failures: int = 0
    disabled_note: str | None = None


@dataclass(frozen=True, slots=True)
class Delivery:
    """A row of the delivery ledger: one message (a confirmation or the digest of a period) to
    one subscriber, planned before it is sent. `plan` is what the message holds (JSON-able),
    rendered at send time; it is not sent after `send_by`."""

    id: int
    subscriber_id: int
    kind: str
    period: str
    state: str
    message_id: str
    plan: Mapping[str, Any]
    planned_at: float
    send_by: float
    attempts: int = 0
    next_attempt_at: float = 0.0
    last_error: str | None = None
    sent_at: float | None = None


class Unset(enum.Enum):
    """The value of a field an update leaves as it is."""

    UNSET = "unset"


UNSET = Unset.UNSET


@dataclass(frozen=True, slots=True)
class SubscriberChange:
    """What `update_subscriber` sets: the fields given; the others (UNSET) stay as they are."""

    state: str | Unset = UNSET
    requested_at: float | Unset = UNSET
    request_source: str | Unset = UNSET
    confirm_sent_at: float | Unset | None = UNSET
    consent_at: float | Unset | None = UNSET
    consent_source: str | Unset | None = UNSET
    unsubscribed_at: float | Unset | None = UNSET
    bounces: int | Unset = UNSET
    last_period: str | Unset | None = UNSET
    last_day: date | Unset | None = UNSET
    last_seq: int | Unset | None = UNSET
    failures: int | Unset = UNSET
    disabled_note: str | Unset | None = UNSET

    def items(self) -> dict[str, Any]:
        """The fields to set, by column name."""
        return {f.name: v for f in fields(self) if (v := getattr(self, f.name)) is not UNSET}
