"""The Store protocol, split by concern: what every backend (store/sqlite/, store/postgres/) must
do. `Store` is all of them; code that needs one part may ask for that part alone.

tests/store/ holds the contract tests every backend passes. Keep this surface small and free of
SQL: methods speak in `Paper`s, ids and change numbers (the records are in store/models.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import date, datetime
from typing import Any, Protocol

from paperfeed.models import Paper
from paperfeed.store.models import (
    Announcement,
    Change,
    Decayed,
    Delivery,
    EmbeddingRow,
    EmbeddingTodo,
    LibraryItem,
    Listed,
    Preferences,
    Signal,
    SignalPoint,
    SourceRow,
    Subscriber,
    SubscriberChange,
    TrendingRow,
    TrendingState,
    UpsertResult,
    User,
    VectorChange,
)


class Core(Protocol):
    """The parts every backend has: closing, transactions, backups, identity."""

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

    def store_id(self) -> str:
        """A random id fixed when the database was created: indexes built from another
        database (a restored or replaced file) notice and rebuild."""
        ...

    def get_secret(self, name: str) -> bytes:
        """A random 32-byte key made once per database (signing links and cookies)."""
        ...


class PaperStore(Protocol):
    """Papers and where the indexes stand: upserts, lookups, change numbers."""

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

    def find_seqs(self, refs: Iterable[str]) -> dict[str, int]:
        """`find_seq` of many refs in a few queries; refs of no stored paper are left out."""
        ...

    def count_papers(self) -> int: ...

    def last_change(self) -> int:
        """The highest change number so far (0 for an empty store)."""
        ...

    def iter_changes(self, after: int, batch_size: int = 2000) -> Iterator[Change]:
        """Papers changed after change number `after`, in change order (for index sync)."""
        ...

    def count_changes(self, after: int) -> int:
        """Papers changed after change number `after` (an index's lag behind the store)."""
        ...


class EmbeddingStore(Protocol):
    """Embedding vectors of papers, per model, with their own change numbers."""

    def list_embedding_todo(self, model: str, after_seq: int, limit: int, *,
                            before_seq: int | None = None) -> list[EmbeddingTodo]:  # fmt: skip
        """Papers after row `after_seq`, in row order, that `model` has not seen since their
        last change; with `before_seq`, those below that row instead, newest row first (the
        server's pipeline embeds what was just harvested before an old backlog)."""
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

    def count_vector_changes(self, model: str, after: int) -> int:
        """Vectors of `model` written after change number `after`."""
        ...

    def iter_vector_changes(
        self, model: str, after: int, batch_size: int = 5000
    ) -> Iterator[VectorChange]:
        """Vectors written after change number `after`, in change order."""
        ...

    def get_vector(self, model: str, seq: int) -> bytes | None: ...

    def get_vectors(self, model: str, seqs: Sequence[int]) -> dict[int, bytes]:
        """The stored vectors of these papers for `model` (papers without one left out)."""
        ...

    def iter_embeddings(self, model: str) -> Iterator[tuple[str, str, bytes]]:
        """(paper id, text hash, vector) of every stored vector of `model`, by row."""
        ...


class SourceStore(Protocol):
    """Configured sources, what they announced and measured, and listings by day."""

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


class AccountStore(Protocol):
    """Readers: accounts, sessions, one-time links, and their library (reactions, tags)."""

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

    def set_reaction(self, user_id: int, seq: int, kind: str, on: bool, at: float) -> bool:
        """Add (on) or remove a reaction; True if that changed anything."""
        ...

    def set_tags(self, user_id: int, seq: int, tags: Sequence[str]) -> None: ...

    def get_reactions(self, user_id: int, seqs: Sequence[int]) -> dict[int, set[str]]: ...

    def get_tags(self, user_id: int, seqs: Sequence[int]) -> dict[int, tuple[str, ...]]:
        """The user's tags on each of these papers, by name; papers without tags left out."""
        ...

    def count_reactions(self, ids: Sequence[str]) -> dict[str, dict[str, int]]:
        """How many accounts upvoted and saved each of these papers (by their own `id`), in
        one query a page: {id: {"upvote": n, "save": n}}, papers with neither left out."""
        ...

    def list_reactions(self, user_id: int, *, tag: str | None = None
                       ) -> dict[int, dict[str, float]]:  # fmt: skip
        """Every paper the user reacted to (with `tag`: every paper they tagged so), with when
        they did each kind: {seq: {kind: at}}. Row numbers and times only, no papers: what a
        recommendation reads per reader."""
        ...

    def list_library(self, user_id: int, *, kind: str = "save", tag: str | None = None
                     ) -> list[LibraryItem]:  # fmt: skip
        """Papers the user reacted to with `kind`, most recent first."""
        ...

    def list_user_tags(self, user_id: int) -> list[tuple[str, int]]:
        """The user's tags with how many saved papers carry each, by name."""
        ...

    def set_user_categories(self, user_id: int, categories: Sequence[str]) -> None:
        """The arXiv categories the user follows (replacing any before), in their order."""
        ...

    def get_user_categories(self, user_id: int) -> list[str]:
        """The user's categories as set; none for an unknown user."""
        ...

    def set_feed_key(self, user_id: int, key: str | None) -> None:
        """The key of the user's private feed (None: no feed); the key before stops working."""
        ...

    def get_feed_key(self, user_id: int) -> str | None: ...

    def get_user_by_feed_key(self, key: str) -> User | None:
        """The user whose private feed has this key."""
        ...


class TrendingStore(Protocol):
    """Engagement events and the trending windows ranked from them."""

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


class DigestStore(Protocol):
    """Digest subscribers and the delivery ledger."""

    def add_subscriber(self, email: str, now: float, source: str) -> Subscriber:
        """A new pending subscriber; `AlreadyExists` if the address is known."""
        ...

    def get_subscriber(self, subscriber_id: int) -> Subscriber | None: ...

    def get_subscriber_by_email(self, email: str) -> Subscriber | None: ...

    def update_subscriber(self, subscriber_id: int, change: SubscriberChange) -> None:
        """Set the fields `change` gives."""
        ...

    def set_preferences(self, subscriber_id: int, prefs: Preferences) -> None: ...

    def add_channel(self, user_id: int, channel: str, target: str, secret: str | None,
                    prefs: Preferences, now: float) -> Subscriber:  # fmt: skip
        """A notification channel (webhook, slack, discord) of user `user_id`, confirmed at
        once (its owner is signed in and controls the URL), with a synthetic unique email."""
        ...

    def list_channels(self, user_id: int | None = None) -> list[Subscriber]:
        """The non-email channels of one user (all users' when None), by id."""
        ...

    def delete_channel(self, subscriber_id: int) -> bool:
        """Remove a non-email channel with its deliveries; False if there was none."""
        ...

    def iter_subscribers(self, state: str = "confirmed", batch_size: int = 5000
                         ) -> Iterator[Subscriber]:  # fmt: skip
        """Subscribers in a state, by id."""
        ...

    def count_subscribers(self) -> dict[str, int]:
        """How many mail subscribers (not other channels) are in each state."""
        ...

    def count_channels(self) -> dict[str, dict[str, int]]:
        """How many non-email channels of each kind are in each state."""
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


class LeaseStore(Protocol):
    """Leases (one holder of a job across processes and nodes) and rate limits."""

    def take_lease(self, name: str, owner: str, now: float, until: float,
                   take_from: str | None = None) -> bool:  # fmt: skip
        """Hold lease `name` until `until` unless another owner holds a live one (`take_from`:
        that owner is known to be dead; take it anyway). The holder renews by taking again."""
        ...

    def drop_lease(self, name: str, owner: str) -> None: ...

    def lease_owner(self, name: str, now: float) -> str | None:
        """Who holds a live lease, if anyone."""
        ...

    def hit_rate(self, key: str, now: float, window_s: float, limit: int) -> bool:
        """Count a hit on `key` unless it already had `limit` in the last `window_s` seconds;
        True when the hit was allowed."""
        ...


class TableStore(Protocol):
    """Rows of the tables as they are, for `paperfeed copy-store` (store/copy.py): every backend
    keeps the same tables with the same columns, so a table copies row by row."""

    def table_columns(self, table: str) -> list[str]:
        """The table's columns, in order."""
        ...

    def count_rows(self, table: str) -> int: ...

    def read_rows(self, table: str, key: Sequence[str], after: Sequence[Any] | None,
                  limit: int) -> list[tuple[Any, ...]]:  # fmt: skip
        """Up to `limit` rows (all columns, in order) whose `key` columns come after `after`
        (from the first when None), in key order."""
        ...

    def last_key(self, table: str, key: Sequence[str]) -> tuple[Any, ...] | None:
        """The highest `key` in the table; None when it is empty."""
        ...

    def write_rows(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
                   ) -> None:  # fmt: skip
        """Insert rows as they are, in one transaction (a row whose key exists is replaced)."""
        ...

    def finish_rows(self) -> None:
        """After rows were written with explicit ids: let the next id the store hands out come
        after them."""
        ...


class Store(
    Core,
    PaperStore,
    EmbeddingStore,
    SourceStore,
    AccountStore,
    TrendingStore,
    DigestStore,
    LeaseStore,
    TableStore,
    Protocol,
):
    """Everything a backend does."""
