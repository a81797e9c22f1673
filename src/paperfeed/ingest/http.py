"""Polite HTTP for the sources we harvest: one request at a time, spaced, and patient.

arXiv asks for no more than one request every 3 seconds and answers 503 with Retry-After when
it is busy; Hugging Face rate-limits with 429. This client spaces requests (`min_interval_s`),
honours Retry-After (seconds or an HTTP date), retries 5xx, 429, timeouts, resets and cut-off
bodies with exponential backoff, and gives up with a `FetchError` that says whether trying
again later makes sense. Time is injected (`Clock`) so tests check the waits without waiting.
It never parses what it fetches.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Protocol

import httpx

from paperfeed import __version__
from paperfeed.errors import PaperfeedError

log = logging.getLogger(__name__)
USER_AGENT = f"paperfeed/{__version__} (self-hosted paper discovery)"
RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})


class Clock(Protocol):
    def now(self) -> float:
        """Seconds since the epoch."""
        ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def now(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


@dataclass(frozen=True, slots=True)
class FetchPolicy:
    min_interval_s: float = 3.0
    max_attempts: int = 5
    backoff_first_s: float = 5.0
    backoff_max_s: float = 120.0
    max_retry_after_s: float = 600.0  # a longer wait is the scheduler's job, not this call's
    timeout_s: float = 60.0


class FetchError(PaperfeedError):
    """A request that did not succeed. `retry_after_s` says when trying again makes sense
    (None: do not retry as is, e.g. 404); `body` is the server's answer, if any."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        retry_after_s: float | None = None,
        body: bytes = b"",
    ) -> None:
        super().__init__(message)
        self.status, self.retry_after_s, self.body = status, retry_after_s, body


@dataclass(frozen=True, slots=True)
class Retry:
    """A request that failed and is about to be tried again: for progress on a terminal."""

    url: str
    attempt: int  # the attempt that failed, from 1
    max_attempts: int
    error: str
    wait_s: float


OnRetry = Callable[[Retry], None]


@dataclass(frozen=True, slots=True)
class Fetched:
    url: str
    status: int
    headers: Mapping[str, str]
    body: bytes


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        return max(parsedate_to_datetime(text).timestamp() - now, 0.0)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


class PoliteClient:
    def __init__(
        self,
        client: httpx.Client | None = None,
        *,
        policy: FetchPolicy | None = None,
        clock: Clock | None = None,
        on_retry: OnRetry | None = None,
    ) -> None:
        self.policy = policy or FetchPolicy()
        self.clock = clock or SystemClock()
        self.on_retry = on_retry
        self.sent = 0  # HTTP requests sent, retries included
        self.client = client or httpx.Client(
            headers={"User-Agent": USER_AGENT},
            timeout=self.policy.timeout_s,
            follow_redirects=True,
        )
        self._last_request = float("-inf")

    def close(self) -> None:
        self.client.close()

    def _wait_turn(self) -> None:
        wait = self._last_request + self.policy.min_interval_s - self.clock.now()
        if wait > 0:
            self.clock.sleep(wait)
        self._last_request = self.clock.now()

    def _backoff(self, attempt: int) -> float:
        return min(self.policy.backoff_first_s * 2.0 ** (attempt - 1), self.policy.backoff_max_s)

    def get(self, url: str, params: Mapping[str, str] | None = None) -> Fetched:
        """GET with spacing and retries; a 2xx answer, or FetchError."""
        last_error = "no attempt made"
        for attempt in range(1, self.policy.max_attempts + 1):
            self._wait_turn()
            self.sent += 1
            try:
                response = self.client.get(url, params=params)
                body = response.content  # reading it all surfaces cut-off bodies here
            except (httpx.TransportError, httpx.DecodingError) as e:
                last_error = f"{type(e).__name__}: {e}"
                wait = self._backoff(attempt)
            else:
                if response.is_success:
                    return Fetched(str(response.url), response.status_code,
                                   dict(response.headers), body)  # fmt: skip
                last_error = f"HTTP {response.status_code}"
                if response.status_code not in RETRYABLE_STATUS:
                    raise FetchError(f"{url} answered HTTP {response.status_code}.",
                                     status=response.status_code, body=body)  # fmt: skip
                asked = parse_retry_after(response.headers.get("Retry-After"), self.clock.now())
                if asked is not None and asked > self.policy.max_retry_after_s:
                    raise FetchError(
                        f"{url} asks us to come back in {asked:.0f} s (HTTP "
                        f"{response.status_code}).",
                        status=response.status_code, retry_after_s=asked, body=body,
                    )  # fmt: skip
                wait = asked if asked is not None else self._backoff(attempt)
            if attempt < self.policy.max_attempts:
                log.info("retrying url=%s after=%s wait_s=%.1f", url, last_error, wait)
                if self.on_retry is not None:
                    self.on_retry(Retry(url, attempt, self.policy.max_attempts, last_error, wait))
                self.clock.sleep(wait)
        raise FetchError(
            f"{url} failed {self.policy.max_attempts} times (last: {last_error}).",
            retry_after_s=self.policy.backoff_max_s,
        )
