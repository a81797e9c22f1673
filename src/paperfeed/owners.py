"""Who holds a lease: `node:pid` names, and telling a dead holder of this node from a live one.

Leases in the store (a source's harvest, the embedder, the digest sender) name their holder
this way: the node is PAPERFEED_NODE (the host name unless set), so an operator can tell the
nodes sharing a PostgreSQL database apart. A process that finds a lease held by a process of
its own node that no longer runs (killed mid-work) takes it over at once instead of waiting
for it to run out; a lease of another node runs out after its TTL, since from here nothing
can tell whether that node's process is alive (two nodes on one machine behave as two
machines).
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from paperfeed.store import Store


def default_owner(node: str | None = None) -> str:
    """This process's name in the leases it takes: `node` (default the host name) and pid."""
    return f"{node or socket.gethostname()}:{os.getpid()}"


def node_of(owner: str) -> str:
    return owner.rpartition(":")[0]


def dead_local_owner(owner: str | None, node: str | None = None) -> str | None:
    """`owner` if it names a process of this node (`node`, default the host name) that no
    longer runs, else None."""
    holder, _, pid = (owner or "").rpartition(":")
    if holder != (node or socket.gethostname()) or not pid.isdigit():
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
    while it works: taken when free, run out, or held by a dead process of this node; renewed
    as the work goes on (False: another holder took it over, stop); dropped at the end."""

    def __init__(self, name: str, ttl_s: float, owner: str | None = None,
                 clock: Callable[[], float] = time.time) -> None:  # fmt: skip
        self.name, self.ttl_s, self.clock = name, ttl_s, clock
        self.owner = owner or default_owner()
        self.renewed_at = -float("inf")

    def take(self, store: Store) -> bool:
        now = self.clock()
        dead = dead_local_owner(store.lease_owner(self.name, now), node_of(self.owner))
        taken = store.take_lease(self.name, self.owner, now, now + self.ttl_s, take_from=dead)
        if taken:
            self.renewed_at = now
        return taken

    def renew(self, store: Store) -> bool:
        now = self.clock()
        if not store.take_lease(self.name, self.owner, now, now + self.ttl_s):
            return False
        self.renewed_at = now
        return True

    def keep(self, store: Store) -> bool:
        """Renew once a third of the TTL has passed since the last renewal (work of many short
        steps need not write a renewal per step); False when another holder took it over."""
        if self.clock() - self.renewed_at < self.ttl_s / 3:
            return True
        return self.renew(store)

    def drop(self, store: Store) -> None:
        store.drop_lease(self.name, self.owner)
