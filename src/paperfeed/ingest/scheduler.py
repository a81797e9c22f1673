"""The source scheduler: a plain component that runs each source when it is due.

`paperfeed serve` starts one in a background thread; `run_due()` is one pass, for tests and
for anyone who wants to drive it themselves. Several processes (and nodes) may each run a
scheduler: a source's lease in the store makes sure only one of them harvests it at a time, and
a scheduler that found a source leased looks again when that lease runs out, so that when its
holder died the run is taken over then, not a poll later. A failing
source is retried with backoff (see harvest.retry_delay_s) and never delays the others beyond
its own turn.
"""

from __future__ import annotations

import logging
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
from paperfeed.periodic import Periodic
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
        lease_s: float | None = None,
        on_harvest: Callable[[HarvestReport], None] | None = None,
        after_pass: Callable[[Store], None] | None = None,
    ) -> None:
        self.fetchers = Fetchers(endpoints, clock or SystemClock())
        self.owner = owner or default_owner()
        self.lease_s = lease_s
        self.on_harvest = on_harvest
        self.after_pass = after_pass  # other periodic upkeep (the trending recompute)
        self._thread = Periodic("source-scheduler", open_store, self._pass, poll_s)

    def run_due(self, store: Store) -> list[HarvestReport]:
        """Harvest every source that is due now, one after the other."""
        reports = []
        now = datetime.fromtimestamp(self.fetchers.clock.now(), UTC)
        for name in store.due_sources(now):
            if self._thread.stopping:
                break
            report = harvest_source(store, self.fetchers, name, owner=self.owner,
                                    lease_s=self.lease_s)  # fmt: skip
            if report.busy:
                if report.busy_until is not None:  # a little after it runs out
                    left = report.busy_until.timestamp() - self.fetchers.clock.now()
                    self._thread.wake_in(left + 0.5)
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
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._thread.stop(timeout)
        self.fetchers.close()

    def _pass(self, store: Store) -> None:
        self.run_due(store)
        if self.after_pass is not None:
            self.after_pass(store)
