"""Who holds a lease: `host:pid` names, and telling a dead local holder from a live one.

Leases in the store (a source's harvest, the digest sender) name their holder this way, so a
process that finds a lease held by a process of its own host that no longer runs (killed
mid-work) can take it over at once instead of waiting for it to run out.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from paperfeed.store import Store


def default_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def dead_local_owner(owner: str | None) -> str | None:
    """`owner` if it names a process of this host that no longer runs, else None."""
    host, _, pid = (owner or "").rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return None
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return owner
    except PermissionError:  # alive, someone else's
        return None
    return None


class Lease:
    """A named lease in the store (the digest sender's, the embedder's), held by this process
    while it works: taken when free, run out, or held by a dead process of this host; renewed
    as the work goes on (False: another holder took it over, stop); dropped at the end."""

    def __init__(self, name: str, ttl_s: float, owner: str | None = None,
                 clock: Callable[[], float] = time.time) -> None:  # fmt: skip
        self.name, self.ttl_s, self.clock = name, ttl_s, clock
        self.owner = owner or default_owner()

    def take(self, store: Store) -> bool:
        now = self.clock()
        dead = dead_local_owner(store.lease_owner(self.name, now))
        return store.take_lease(self.name, self.owner, now, now + self.ttl_s, take_from=dead)

    def renew(self, store: Store) -> bool:
        now = self.clock()
        return store.take_lease(self.name, self.owner, now, now + self.ttl_s)

    def drop(self, store: Store) -> None:
        store.drop_lease(self.name, self.owner)
