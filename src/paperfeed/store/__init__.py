"""The only place SQL lives. Everything else talks to a `Store`.

`open_store` picks the backend from the database URL or path; SQLite is the default.
"""

from paperfeed.store.base import (
    Announcement,
    Change,
    EmbeddingRow,
    EmbeddingTodo,
    Listed,
    Signal,
    SignalPoint,
    SourceRow,
    Store,
    UpsertResult,
    VectorChange,
)
from paperfeed.store.sqlite import SQLiteStore


def open_store(path: str, *, readonly: bool = False) -> Store:
    """Open the store at `path` (a SQLite file), creating and migrating it unless readonly."""
    return SQLiteStore(path, readonly=readonly)


__all__ = [
    "Announcement",
    "Change",
    "EmbeddingRow",
    "EmbeddingTodo",
    "Listed",
    "SQLiteStore",
    "Signal",
    "SignalPoint",
    "SourceRow",
    "Store",
    "UpsertResult",
    "VectorChange",
    "open_store",
]
