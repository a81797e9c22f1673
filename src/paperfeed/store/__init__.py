"""The only place SQL lives. Everything else talks to a `Store`.

`open_store` picks the backend from the database URL or path; SQLite is the default.
"""

from paperfeed.store.base import (
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
    Store,
    Subscriber,
    TrendingRow,
    TrendingState,
    UpsertResult,
    User,
    VectorChange,
)
from paperfeed.store.sqlite import SQLiteStore, no_room, privacy_warning


def open_store(path: str, *, readonly: bool = False) -> Store:
    """Open the store at `path` (a SQLite file), creating and migrating it unless readonly."""
    return SQLiteStore(path, readonly=readonly)


__all__ = [
    "Announcement",
    "Change",
    "Decayed",
    "Delivery",
    "EmbeddingRow",
    "EmbeddingTodo",
    "LibraryItem",
    "Listed",
    "Preferences",
    "SQLiteStore",
    "Signal",
    "SignalPoint",
    "SourceRow",
    "Store",
    "Subscriber",
    "TrendingRow",
    "TrendingState",
    "UpsertResult",
    "User",
    "VectorChange",
    "no_room",
    "open_store",
    "privacy_warning",
]
