"""Fixtures of the source tests: a local replay server and an injected clock."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.replay import FakeClock, Replay, replay_server


@pytest.fixture
def replay() -> Iterator[Replay]:
    with replay_server() as r:
        yield r


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()
