"""The Store protocol: what every backend (SQLite now, PostgreSQL later) must do.

tests/store/test_contract.py holds the tests every backend passes. Keep this surface small and
free of SQL: methods speak in `Paper`s, ids and change numbers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Protocol

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
    confirmed, unsubscribed or suppressed (hard bounces). Times are seconds since 1970."""

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


class Store(Protocol):
    readonly: bool  # opened for reading only: nothing may be written

    def close(self) -> None: ...

    def backup(
        self,
        path: str,
        *,
        overwrite: bool = False,
        pages_per_step: int = 4096,
        on_step: Callable[[int, int], None] | None = None,
    ) -> int:
        """Copy one consistent snapshot of the database to the file `path` (owner-only) while
        others go on writing, `pages_per_step` pages at a time, calling `on_step(pages left,
        pages in all)` after each step; the copy is checked before it takes `path`'s name.
        Returns its size in bytes. `AlreadyExists` if `path` exists, unless `overwrite`."""
        ...

    def transaction(self) -> AbstractContextManager[None]:
        """Group writes atomically: all of them happen or none does."""
        ...

    def upsert_papers(self, papers: Sequence[Paper]) -> UpsertResult:
        """Insert new papers, merge ones we already have (arXiv id, then DOI, then normalized
        title), keep the newer version. Idempotent: the same batch twice changes nothing."""
        ...

    def get_paper(self, ref: str) -> Paper | None:
        """A paper by its id or any id it was known by (arXiv id with or without version, DOI)."""
        ...

    def get_papers_by_seq(self, seqs: Sequence[int]) -> dict[int, Paper]: ...

    def find_seq(self, ref: str) -> int | None:
        """The row number of the paper `get_paper(ref)` returns."""
        ...

    def store_id(self) -> str:
        """A random id fixed when the database was created: indexes built from another
        database (a restored or replaced file) notice and rebuild."""
        ...

    def count_papers(self) -> int: ...

    def last_change(self) -> int:
        """The highest change number so far (0 for an empty store)."""
        ...

    def iter_changes(self, after: int, batch_size: int = 2000) -> Iterator[Change]:
        """Papers changed after change number `after`, in change order (for index sync)."""
        ...

    # -- embeddings ---------------------------------------------------------------------

    def list_embedding_todo(self, model: str, after_seq: int, limit: int, *,
                            before_seq: int | None = None) -> list[EmbeddingTodo]:  # fmt: skip
        """Papers after row `after_seq`, in row order, that `model` has not seen since their
        last change; with `before_seq`, those below that row instead, newest row first (the
        server's pipeline embeds what was just harvested before an old backlog)."""
        ...

    def count_changes(self, after: int) -> int:
        """Papers changed after change number `after` (an index's lag behind the store)."""
        ...

    def count_vector_changes(self, model: str, after: int) -> int:
        """Vectors of `model` written after change number `after`."""
        ...

    def count_embedding_todo(self, model: str) -> int:
        """How many papers `model` has not seen since their last change (the backlog)."""
        ...

    def put_embeddings(self, model: str, rows: Sequence[EmbeddingRow]) -> None:
        """Store vectors (or just record that an unchanged text was checked), atomically."""
        ...

    def count_embeddings(self, model: str) -> int: ...

    def list_embedding_models(self) -> list[tuple[str, int]]:
        """(model name, vector dimension) for each model with stored vectors."""
        ...

    def last_vector_change(self, model: str) -> int: ...

    def iter_vector_changes(
        self, model: str, after: int, batch_size: int = 5000
    ) -> Iterator[VectorChange]:
        """Vectors written after change number `after`, in change order."""
        ...

    def get_vector(self, model: str, seq: int) -> bytes | None: ...

    def iter_embeddings(self, model: str) -> Iterator[tuple[str, str, bytes]]:
        """(paper id, text hash, vector) of every stored vector of `model`, by row."""
        ...

    # -- sources --------------------------------------------------------------------------

    def add_source(self, source: SourceRow) -> None:
        """Add a source; `AlreadyExists` if the name is taken."""
        ...

    def get_source(self, name: str) -> SourceRow | None: ...

    def list_sources(self) -> list[SourceRow]: ...

    def remove_source(self, name: str) -> bool:
        """Forget a source (not the papers it brought). False if there was none."""
        ...

    def due_sources(self, now: datetime) -> list[str]:
        """Names of enabled sources whose next run is due, most overdue first."""
        ...

    def claim_source(
        self, name: str, owner: str, now: datetime, until: datetime, take_from: str | None = None
    ) -> bool:
        """Take the lease on a source until `until` unless another owner holds a live one
        (`take_from`: that owner is known to be dead, take its lease anyway)."""
        ...

    def save_cursor(self, name: str, cursor: Mapping[str, Any]) -> None:
        """Record harvest progress; call it in the transaction that writes the papers."""
        ...

    def finish_source_run(
        self,
        name: str,
        *,
        ran_at: datetime,
        next_run_at: datetime,
        added: int,
        error: str | None,
    ) -> None:
        """Record a finished run (error None: it succeeded) and release the lease."""
        ...

    # -- announcements and signals ----------------------------------------------------------

    def add_announcements(self, items: Sequence[Announcement]) -> int:
        """Record list appearances of stored papers; returns how many were new. Unknown
        papers are ignored."""
        ...

    def record_signals(self, items: Sequence[Signal], observed_at: datetime, source: str) -> int:
        """Record measurements that differ from the latest known value; returns how many."""
        ...

    def get_announcements(self, ref: str) -> list[Announcement]: ...

    def get_signals(self, ref: str) -> list[SignalPoint]:
        """Every recorded measurement of a paper, oldest first."""
        ...

    def latest_signals(self, refs: Sequence[str]) -> dict[str, dict[str, float]]:
        """The latest value of each signal of each paper, keyed by the refs given; papers
        without signals are left out."""
        ...

    def latest_signals_by_seq(self, seqs: Sequence[int]) -> dict[int, dict[str, float]]:
        """`latest_signals` keyed by row number."""
        ...

    # -- listings by day --------------------------------------------------------------------

    def latest_day(self, until: date) -> date | None:
        """The most recent day, not after `until`, on which some paper was announced or first
        published; None for a store of undated papers."""
        ...

    def list_days(
        self,
        since: date,
        until: date,
        *,
        by_signal: str | None = None,
        limit: int = 20,
        offset: int = 0,
    ) -> list[Listed]:
        """The papers of the days `since`..`until` (inclusive), newest day first; with
        `by_signal`, highest latest value of that signal first (papers without it last). Ties
        go to the later day, then the later published date, then the later stored paper."""
        ...

    def list_newest(self, *, limit: int = 20, offset: int = 0, unranked_in: str | None = None
                    ) -> list[Listed]:  # fmt: skip
        """Papers newest stored first (for stores whose papers carry no dates); with
        `unranked_in`, only those not in that trending window."""
        ...

    # -- accounts -------------------------------------------------------------------------

    def get_secret(self, name: str) -> bytes:
        """A random 32-byte key made once per database (signing links and cookies)."""
        ...

    def get_or_add_user(self, email: str, now: datetime) -> User:
        """The user with this address, made on first sign-in; records the sign-in time."""
        ...

    def get_user(self, user_id: int) -> User | None: ...

    def get_user_by_email(self, email: str) -> User | None: ...

    def delete_user(self, user_id: int) -> bool:
        """Forget a user and everything that is theirs: sessions, reactions, tags."""
        ...

    def add_session(self, token_hash: str, user_id: int, now: datetime, expires: datetime
                    ) -> None: ...  # fmt: skip

    def get_session_user(self, token_hash: str, now: datetime) -> User | None:
        """The user of an unexpired session."""
        ...

    def delete_session(self, token_hash: str) -> None: ...

    def spend_token(self, nonce: str, expires_at: float, now: float) -> bool:
        """Mark a one-time link as used; False if it was used before."""
        ...

    def hit_rate(self, key: str, now: float, window_s: float, limit: int) -> bool:
        """Count a hit on `key` unless it already had `limit` in the last `window_s` seconds;
        True when the hit was allowed."""
        ...

    # -- library --------------------------------------------------------------------------

    def set_reaction(self, user_id: int, seq: int, kind: str, on: bool, at: float) -> bool:
        """Add (on) or remove a reaction; True if that changed anything."""
        ...

    def set_tags(self, user_id: int, seq: int, tags: Sequence[str]) -> None: ...

    def get_reactions(self, user_id: int, seqs: Sequence[int]) -> dict[int, set[str]]: ...

    def list_library(self, user_id: int, *, kind: str = "save", tag: str | None = None
                     ) -> list[LibraryItem]:  # fmt: skip
        """Papers the user reacted to with `kind`, most recent first."""
        ...

    def list_user_tags(self, user_id: int) -> list[tuple[str, int]]:
        """The user's tags with how many saved papers carry each, by name."""
        ...

    # -- engagement and trending ------------------------------------------------------------

    def record_event(self, seq: int, signal: str, at: float, *, client: str | None = None,
                     burst_s: float = 0.0) -> bool:  # fmt: skip
        """Count an anonymous event (a view, a digest click); a `client` counted for the same
        paper and signal less than `burst_s` ago is not counted again (each signal keeps its
        own `burst_s`: pass the same one every time). True when counted."""
        ...

    def decayed_sums(self, now: float, rules: Mapping[str, Decayed], *,
                     seqs: Sequence[int] | None = None) -> dict[int, dict[str, float]]:  # fmt: skip
        """For each paper (all, or `seqs`), each signal's decayed sum (see `Decayed`) over
        events, reactions (upvote, save) and measured signals, for the signals in `rules`;
        papers without any are left out."""
        ...

    def list_day_of(self, since: date, until: date, *, seqs: Sequence[int] | None = None
                    ) -> dict[int, tuple[date, str | None]]:  # fmt: skip
        """(day, published) of the papers listed in `since`..`until` (all or `seqs`); `day` as
        in `list_days`."""
        ...

    def replace_trending(self, span: str, state: TrendingState, rows: Sequence[TrendingRow]
                         ) -> None:  # fmt: skip
        """Replace a window's ranking at once."""
        ...

    def upsert_trending(self, span: str, rows: Sequence[TrendingRow]) -> None: ...

    def get_trending_state(self, span: str) -> TrendingState | None: ...

    def list_trending(self, span: str, *, limit: int = 20, offset: int = 0) -> list[TrendingRow]:
        """Ranked papers of a window: highest score first, then later day, later published,
        later stored."""
        ...

    # -- digests ------------------------------------------------------------------------------

    def add_subscriber(self, email: str, now: float, source: str) -> Subscriber:
        """A new pending subscriber; `AlreadyExists` if the address is known."""
        ...

    def get_subscriber(self, subscriber_id: int) -> Subscriber | None: ...

    def get_subscriber_by_email(self, email: str) -> Subscriber | None: ...

    def update_subscriber(self, subscriber_id: int, **changes: Any) -> None:
        """Set some of: state, requested_at, request_source, confirm_sent_at, consent_at,
        consent_source, unsubscribed_at, bounces, last_period, last_day, last_seq."""
        ...

    def set_preferences(self, subscriber_id: int, prefs: Preferences) -> None: ...

    def iter_subscribers(self, state: str = "confirmed", batch_size: int = 5000
                         ) -> Iterator[Subscriber]:  # fmt: skip
        """Subscribers in a state, by id."""
        ...

    def count_subscribers(self) -> dict[str, int]:
        """How many subscribers are in each state."""
        ...

    def plan_delivery(
        self,
        subscriber_id: int,
        kind: str,
        period: str,
        *,
        message_id: str,
        plan: Mapping[str, Any],
        now: float,
        send_by: float,
        seqs: Sequence[int] = (),
        last_day: date | None = None,
        last_seq: int | None = None,
    ) -> int | None:
        """Write a planned delivery with the papers it holds (`seqs`, marked sent to that
        subscriber) and, for a digest, move the subscriber's last period (and `last_day`,
        `last_seq`) on,
        atomically. None (and nothing written) if that (subscriber, kind, period) exists."""
        ...

    def claim_delivery(self, now: float) -> Delivery | None:
        """The next delivery to send: the oldest due planned one, or one left `sending` by a
        sender that died; it becomes `sending` with one more attempt. Only the holder of the
        sender lease calls this."""
        ...

    def finish_delivery(
        self,
        delivery_id: int,
        state: str,
        now: float,
        *,
        error: str | None = None,
        retry_at: float | None = None,
    ) -> None:
        """Record how an attempt ended: `sent`; `planned` again with `retry_at`; or `failed`,
        `expired`, `cancelled`, which give the delivery's papers back."""
        ...

    def get_delivery(self, delivery_id: int) -> Delivery | None: ...

    def list_deliveries(self, subscriber_id: int | None = None, *, state: str | None = None,
                        limit: int = 100) -> list[Delivery]:  # fmt: skip
        """Deliveries newest first, of one subscriber or all, in one state or any."""
        ...

    def count_deliveries(self) -> dict[str, int]:
        """How many deliveries are in each state."""
        ...

    def sent_seqs(self, subscriber_id: int, seqs: Sequence[int] | None = None) -> set[int]:
        """Which of `seqs` (all, when None) a subscriber's digests already hold."""
        ...

    def get_vectors(self, model: str, seqs: Sequence[int]) -> dict[int, bytes]:
        """The stored vectors of these papers for `model` (papers without one left out)."""
        ...

    def take_lease(self, name: str, owner: str, now: float, until: float,
                   take_from: str | None = None) -> bool:  # fmt: skip
        """Hold lease `name` until `until` unless another owner holds a live one (`take_from`:
        that owner is known to be dead; take it anyway). The holder renews by taking again."""
        ...

    def drop_lease(self, name: str, owner: str) -> None: ...

    def lease_owner(self, name: str, now: float) -> str | None:
        """Who holds a live lease, if anyone."""
        ...
