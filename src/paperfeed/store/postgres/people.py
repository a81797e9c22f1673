"""PostgreSQL: accounts and library, engagement and trending, digests, leases and rate limits
(AccountStore, TrendingStore, DigestStore, LeaseStore)."""

from __future__ import annotations

from paperfeed.store.postgres.base import PostgresBase


class PeopleMethods(PostgresBase):
    pass
