"""The polite client against a real local HTTP server, with an injected clock."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from email.utils import format_datetime

import pytest

from paperfeed.ingest.http import FetchError, FetchPolicy, PoliteClient, parse_retry_after
from tests.replay import CUT, RESET, FakeClock, Replay, Reply

_open: list[PoliteClient] = []


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    yield
    while _open:
        _open.pop().close()


def client(clock: FakeClock, **policy: float) -> PoliteClient:
    made = PoliteClient(policy=FetchPolicy(**policy), clock=clock)  # type: ignore[arg-type]
    _open.append(made)
    return made


def test_requests_are_spaced_by_the_interval(replay: Replay, clock: FakeClock) -> None:
    replay.add("/a", sticky=Reply(200, b"ok"))
    c = client(clock, min_interval_s=3.0)
    assert c.get(replay.base_url + "/a").body == b"ok"
    clock.t += 1.0  # work between requests counts towards the interval
    c.get(replay.base_url + "/a")
    c.get(replay.base_url + "/a")
    assert clock.sleeps == [2.0, 3.0]


def test_503_retry_after_is_honoured(replay: Replay, clock: FakeClock) -> None:
    replay.add("/a", Reply(503, b"busy", {"Retry-After": "17"}), Reply(200, b"ok"))
    assert client(clock, min_interval_s=0).get(replay.base_url + "/a").body == b"ok"
    assert clock.sleeps == [17.0]
    assert replay.requests == ["/a", "/a"]


def test_retry_after_as_a_date(replay: Replay, clock: FakeClock) -> None:
    later = format_datetime(datetime.fromtimestamp(clock.t + 42, UTC), usegmt=True)
    replay.add("/a", Reply(429, b"", {"Retry-After": later}), Reply(200, b"ok"))
    client(clock, min_interval_s=0).get(replay.base_url + "/a")
    assert clock.sleeps == [42.0]


def test_a_retry_after_too_long_is_reported_not_slept(replay: Replay, clock: FakeClock) -> None:
    replay.add("/a", Reply(503, b"", {"Retry-After": "3600"}))
    with pytest.raises(FetchError, match="come back in 3600 s") as e:
        client(clock, min_interval_s=0).get(replay.base_url + "/a")
    assert e.value.retry_after_s == 3600 and clock.sleeps == []


@pytest.mark.parametrize("fault", [Reply(fault=RESET), Reply(200, b"x" * 1000, fault=CUT),
                                   Reply(500, b"oops"), Reply(429)])  # fmt: skip
def test_transient_faults_back_off_and_retry(
    replay: Replay, clock: FakeClock, fault: Reply
) -> None:
    replay.add("/a", fault, fault, Reply(200, b"whole"))
    got = client(clock, min_interval_s=0, backoff_first_s=5).get(replay.base_url + "/a")
    assert got.body == b"whole"
    assert clock.sleeps == [5.0, 10.0]


def test_giving_up_says_so_and_when_to_retry(replay: Replay, clock: FakeClock) -> None:
    replay.add("/a", sticky=Reply(502, b"bad gateway"))
    with pytest.raises(FetchError, match="failed 3 times") as e:
        client(clock, min_interval_s=0, max_attempts=3).get(replay.base_url + "/a")
    assert len(replay.requests) == 3 and e.value.retry_after_s is not None


def test_client_errors_are_not_retried_and_keep_the_body(replay: Replay, clock: FakeClock) -> None:
    replay.add("/a", Reply(400, b"<feed>error</feed>"))
    with pytest.raises(FetchError) as e:
        client(clock, min_interval_s=0).get(replay.base_url + "/a")
    assert e.value.status == 400 and e.value.body == b"<feed>error</feed>"
    assert e.value.retry_after_s is None and len(replay.requests) == 1


def test_a_dead_host_is_a_fetch_error(clock: FakeClock) -> None:
    with pytest.raises(FetchError, match="failed 2 times"):
        client(clock, min_interval_s=0, max_attempts=2).get("http://127.0.0.1:9/nothing")


def test_parse_retry_after() -> None:
    assert parse_retry_after("120", 0) == 120
    assert parse_retry_after("garbage", 0) is None
    assert parse_retry_after(None, 0) is None
