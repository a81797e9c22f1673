"""PostgreSQL: papers, embeddings, sources, announcements, signals, listings (PaperStore,
EmbeddingStore, SourceStore), and the store's identity (store_id, get_secret, backup)."""

from __future__ import annotations

from paperfeed.store.postgres.base import PostgresBase


class PaperMethods(PostgresBase):
    pass
