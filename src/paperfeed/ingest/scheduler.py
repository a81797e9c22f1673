"""The source scheduler: a plain component that runs each source when it is due.

`paperfeed serve` starts one in a background thread; `run_due()` is one pass, for tests and
for anyone who wants to drive it themselves. Several processes may each run a scheduler: a
source's lease in the store makes sure only one of them harvests it at a time. A failing
source is retried with backoff (see harvest.retry_delay_s) and never delays the others beyond
its own turn.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime

from paperfeed.ingest.harvest import (
    Endpoints,
    Fetchers,
    HarvestReport,
    harvest_source,
)
from paperfeed.ingest.http import Clock, SystemClock
from paperfeed.owners import default_owner
from paperfeed.store import Store

log = logging.getLogger(__name__)


class SourceScheduler:
    def __init__(
        self,
        open_store: Callable[[], Store],
        endpoints: Endpoints,
        *,
        clock: Clock | None = None,
        poll_s: float = 30.0,
        owner: str | None = None,
        on_harvest: Callable[[HarvestReport], None] | None = None,
        after_pass: Callable[[Store], None] | None = None,
    ) -> None:
        self.open_store = open_store
        self.fetchers = Fetchers(endpoints, clock or SystemClock())
        self.poll_s = poll_s
        self.owner = owner or default_owner()
        self.on_harvest = on_harvest
        self.after_pass = after_pass  # other periodic upkeep (the trending recompute)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_due(self, store: Store) -> list[HarvestReport]:
        """Harvest every source that is due now, one after the other."""
        reports = []
        now = datetime.fromtimestamp(self.fetchers.clock.now(), UTC)
        for name in store.due_sources(now):
            if self._stop.is_set():
                break
            report = harvest_source(store, self.fetchers, name, owner=self.owner)
            if report.busy:
                continue
            if report.error:
                log.warning("harvest failed source=%s error=%s retry_at=%s", name, report.error,
                            report.next_run_at)  # fmt: skip
            else:
                log.info("harvested source=%s added=%d updated=%d", name, report.added,
                         report.updated)  # fmt: skip
            reports.append(report)
            if self.on_harvest is not None:
                self.on_harvest(report)
        return reports

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="source-scheduler", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self.fetchers.close()

    def _loop(self) -> None:
        store = self.open_store()  # a connection of this thread's own
        try:
            while not self._stop.is_set():
                try:
                    self.run_due(store)
                    if self.after_pass is not None:
                        self.after_pass(store)
                except Exception:  # the loop outlives any bug in one pass
                    log.exception("source scheduler pass failed")
                self._stop.wait(self.poll_s)
        finally:
            store.close()
