"""`backend`: a test that takes it runs on SQLite and on PostgreSQL (tests/store/conftest.py)."""

from tests.store.conftest import backend  # noqa: F401  (the fixture, shared)
