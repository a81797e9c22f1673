"""A background thread that does one pass of work every few seconds, on a store connection of
its own: the source scheduler and the digest sender of `paperfeed serve` both run on one.

`wake()` starts the next pass at once (a subscribe request planned a confirmation mail),
`wake_in(s)` after at most s seconds (another node's lease on work to do runs out then);
`stopping` lets a long pass end early; the loop outlives any error in one pass (it is logged).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from paperfeed.errors import PaperfeedError
from paperfeed.store import Store

log = logging.getLogger(__name__)


class Periodic:
    def __init__(self, name: str, open_store: Callable[[], Store],
                 work: Callable[[Store], None], poll_s: float) -> None:  # fmt: skip
        self.name, self.open_store, self.work, self.poll_s = name, open_store, work, poll_s
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._next_s: float | None = None  # this wait only, when sooner than poll_s

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def wake(self) -> None:
        self._wake.set()

    def wake_in(self, seconds: float) -> None:
        """From a pass: start the next one after `seconds` if that is sooner than poll_s."""
        self._next_s = max(0.0, min(seconds, self._next_s if self._next_s is not None
                                    else self.poll_s))  # fmt: skip

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _loop(self) -> None:
        store = self.open_store()  # a connection of this thread's own
        try:
            while not self._stop.is_set():
                self._wake.clear()
                self._next_s = None
                try:
                    self.work(store)
                except PaperfeedError as e:  # a full disk, say: the sentence says it all
                    log.warning("%s pass stopped: %s", self.name, e)
                except Exception:  # the loop outlives any bug in one pass
                    log.exception("%s pass failed", self.name)
                self._wake.wait(self.poll_s if self._next_s is None else self._next_s)
        finally:
            store.close()
