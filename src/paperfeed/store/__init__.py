"""The only place SQL lives. Everything else talks to a `Store`.

`open_store` picks the backend from the database URL: a path or `sqlite:///path` opens SQLite
(the default), `postgresql://...` opens PostgreSQL (store/postgres/, psycopg 3).
"""

from urllib.parse import unquote, urlsplit

from paperfeed.errors import StoreError
from paperfeed.store.base import (
    AccountStore,
    DigestStore,
    EmbeddingStore,
    LeaseStore,
    PaperStore,
    SourceStore,
    Store,
    TableStore,
    TrendingStore,
)
from paperfeed.store.models import (
    UNSET,
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
from paperfeed.store.sqlite import SQLiteStore, no_room, privacy_warning

POSTGRES_SCHEMES = ("postgresql", "postgres")


def is_postgres(url: str) -> bool:
    return urlsplit(url).scheme in POSTGRES_SCHEMES


def sqlite_path(url: str) -> str | None:
    """The file a SQLite URL or plain path names; None for another backend's URL."""
    if "://" not in url:
        return url
    parts = urlsplit(url)
    if parts.scheme != "sqlite":
        return None
    # sqlite:///relative/or/absolute as SQLAlchemy writes it: three slashes, then the path
    path = unquote(url[len("sqlite:///") :]) if url.startswith("sqlite:///") else ""
    return path or None


def open_store(url: str, *, readonly: bool = False) -> Store:
    """Open the store at `url`, creating and migrating it unless readonly: a path or
    `sqlite:///path` (SQLite), or `postgresql://user:password@host:port/dbname` (PostgreSQL)."""
    if is_postgres(url):
        from paperfeed.store.postgres import PostgresStore  # psycopg loads only when used

        return PostgresStore(url, readonly=readonly)
    path = sqlite_path(url)
    if path is None:
        scheme = urlsplit(url).scheme
        raise StoreError(
            f"Unknown database URL scheme {scheme!r} in --db: use a file path, "
            "sqlite:///path/to/paperfeed.db or postgresql://user:password@host/dbname."
        )
    return SQLiteStore(path, readonly=readonly)


__all__ = [
    "POSTGRES_SCHEMES",
    "UNSET",
    "AccountStore",
    "Announcement",
    "Change",
    "Decayed",
    "Delivery",
    "DigestStore",
    "EmbeddingRow",
    "EmbeddingStore",
    "EmbeddingTodo",
    "LeaseStore",
    "LibraryItem",
    "Listed",
    "PaperStore",
    "Preferences",
    "SQLiteStore",
    "Signal",
    "SignalPoint",
    "SourceRow",
    "SourceStore",
    "Store",
    "Subscriber",
    "SubscriberChange",
    "TableStore",
    "TrendingRow",
    "TrendingState",
    "TrendingStore",
    "UpsertResult",
    "User",
    "VectorChange",
    "is_postgres",
    "no_room",
    "open_store",
    "privacy_warning",
    "sqlite_path",
]
