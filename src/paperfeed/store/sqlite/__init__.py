"""The SQLite backend, the default: one file beside the indexes, for one machine."""

from paperfeed.store.sqlite.store import (
    SQLiteStore,
    list_migrations,
    no_room,
    privacy_warning,
)

__all__ = ["SQLiteStore", "list_migrations", "no_room", "privacy_warning"]
