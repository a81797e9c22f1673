"""The PostgreSQL backend: one database shared by many `paperfeed serve` nodes (psycopg 3)."""

from paperfeed.store.postgres.base import list_migrations, redact
from paperfeed.store.postgres.papers import PaperMethods
from paperfeed.store.postgres.people import PeopleMethods
from paperfeed.store.postgres.tables import TableMethods


class PostgresStore(PaperMethods, PeopleMethods, TableMethods):
    """Every Store method on PostgreSQL; see base.py for how writes are serialized."""


__all__ = ["PostgresStore", "list_migrations", "redact"]
