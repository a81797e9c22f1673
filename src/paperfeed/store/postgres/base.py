"""The PostgreSQL backend's connection handling: a psycopg 3 pool, transactions, migrations.

Semantics match the SQLite backend exactly because writes are serialized the same way: every
write transaction first takes one advisory lock (`WRITE_LOCK`), so write transactions run one
at a time across all processes and nodes, as SQLite's BEGIN IMMEDIATE makes them run on one
machine. Change numbers are therefore handed out in commit order, which is what lets each
node's indexes catch up by "changed > N". Reads never wait on it.

A store may be used from several threads at once: each call borrows a connection from the pool;
inside `transaction()` the thread keeps one connection until the transaction ends.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from paperfeed.errors import StoreError
from paperfeed.store import migrations

WRITE_LOCK = 0x70617065  # "pape": the one advisory lock every write transaction takes
MIGRATE_LOCK = 0x70617066  # held while a node migrates, so two nodes starting at once don't both
MIGRATIONS_TABLE = "paperfeed_migrations"  # not "schema_migrations": Rails and others use that
CONNECT_TIMEOUT_S = 10

Connection = psycopg.Connection[tuple[Any, ...]]


def redact(url: str) -> str:
    """`url` without its password, fit for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(":" + parts.password + "@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def list_migrations() -> list[tuple[int, str, str]]:
    return migrations.list_migrations("paperfeed.store.postgres")


def _connect_error(url: str, error: Exception) -> StoreError:
    """One sentence a user can act on for a server that cannot be reached or refuses us."""
    where = redact(url)
    text = str(error).strip().splitlines()[-1] if str(error).strip() else type(error).__name__
    text = text.removeprefix("FATAL:").strip()
    lowered = text.lower()
    if "password authentication failed" in lowered or "no password supplied" in lowered:
        hint = "check the user name and password in the URL"
    elif "does not exist" in lowered and "database" in lowered:
        hint = "create it first (createdb NAME) or name an existing database"
    elif "role" in lowered and "does not exist" in lowered:
        hint = "create that role first or name an existing one"
    elif "invalid" in lowered or "missing" in lowered or "syntax" in lowered:
        hint = "write it as postgresql://user:password@host:5432/dbname"
    else:
        hint = "check that the server runs and that the host and port in the URL are right"
    return StoreError(f"Cannot open the PostgreSQL database {where} ({text}): {hint}.")


class PostgresBase:
    """Pool, transactions, migrations and identity; the store's methods live in the mixins."""

    def __init__(self, url: str, *, readonly: bool = False, pool_size: int = 8) -> None:
        self.url = url
        self.path = redact(url)  # what messages call the database, as SQLite names its file
        self.readonly = readonly
        self._local = threading.local()
        self._table_shapes: dict[str, tuple[set[str], list[str]]] = {}  # tables.py's cache
        options = "-c default_transaction_read_only=on" if readonly else ""
        kwargs: dict[str, Any] = {"autocommit": True, "connect_timeout": CONNECT_TIMEOUT_S}
        if options:
            kwargs["options"] = options
        try:  # one plain connection first: its error names what is wrong (the pool's would not)
            psycopg.connect(url, **kwargs).close()
        except (psycopg.Error, ValueError) as e:
            raise _connect_error(url, e) from None
        # check: a connection the server dropped (a restart, a failover) is replaced when it
        # is next lent, instead of failing the request that borrowed it
        self.pool = ConnectionPool(url, min_size=1, max_size=pool_size, kwargs=kwargs,
                                   open=False, name="paperfeed",
                                   check=ConnectionPool.check_connection)  # fmt: skip
        try:
            self.pool.open(wait=True, timeout=CONNECT_TIMEOUT_S)
        except PoolTimeout as e:
            self.pool.close()
            raise _connect_error(url, e) from None
        try:
            self._refuse_foreign_or_newer()
            if not readonly:
                self._migrate()
        except BaseException:
            self.pool.close()
            raise

    # -- connections and transactions ---------------------------------------------------

    @contextmanager
    def _conn(self) -> Iterator[Connection]:
        """A connection for a read: the transaction's own inside `transaction()`."""
        pinned = getattr(self._local, "conn", None)
        if pinned is not None:
            yield pinned
            return
        with self.pool.connection() as conn:
            yield conn

    @contextmanager
    def _tx(self) -> Iterator[Connection]:
        """A write transaction (joined, when this thread is in one already): all of it happens
        or none does, and no other writer runs meanwhile."""
        pinned = getattr(self._local, "conn", None)
        if pinned is not None:
            yield pinned
            return
        if self.readonly:
            raise StoreError(f"The database {self.path} was opened read-only.")
        with self.pool.connection() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))
            self._local.conn = conn
            try:
                yield conn
            finally:
                self._local.conn = None

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with self._tx():
            yield

    def close(self) -> None:
        self.pool.close()

    # -- schema ---------------------------------------------------------------------------

    def _tables(self, conn: Connection) -> set[str]:
        rows = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
        )
        return {str(r[0]) for r in rows}

    def _refuse_foreign_or_newer(self) -> None:
        """A database that holds another application's tables, or one migrated by a newer
        paperfeed, is refused before anything is read or written."""
        with self._conn() as conn:
            tables = self._tables(conn)
            if tables and MIGRATIONS_TABLE not in tables:
                shown = ", ".join(sorted(tables)[:5]) + (", ..." if len(tables) > 5 else "")
                raise StoreError(
                    f"The PostgreSQL database {self.path} holds another application's tables "
                    f"({shown}): give paperfeed a database of its own (createdb paperfeed)."
                )
            if MIGRATIONS_TABLE not in tables:
                if self.readonly:
                    raise StoreError(
                        f"The PostgreSQL database {self.path} has no paperfeed data yet: "
                        "import papers first (paperfeed ingest FILE)."
                    )
                return
            (newest,) = conn.execute(f"SELECT max(version) FROM {MIGRATIONS_TABLE}").fetchone()  # type: ignore[misc]
        migrations.refuse_newer(self.path, newest, "paperfeed.store.postgres")

    def _migrate(self) -> None:
        with self.pool.connection() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATE_LOCK,))
            conn.execute(
                f"CREATE TABLE IF NOT EXISTS {MIGRATIONS_TABLE} (version INTEGER PRIMARY KEY,"
                " name TEXT NOT NULL, applied_at TEXT NOT NULL)"
            )
            done = {r[0] for r in conn.execute(f"SELECT version FROM {MIGRATIONS_TABLE}")}
            for version, name, sql in list_migrations():
                if version in done:
                    continue
                conn.execute(sql.encode())  # no parameters: the whole file in one go
                conn.execute(
                    f"INSERT INTO {MIGRATIONS_TABLE} VALUES (%s, %s, %s)",
                    (version, name, datetime.now(UTC).isoformat()),
                )

    def applied_migrations(self) -> list[str]:
        with self._conn() as conn:
            rows = conn.execute(f"SELECT name FROM {MIGRATIONS_TABLE} ORDER BY 1")
            return [str(r[0]) for r in rows]
