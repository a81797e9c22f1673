"""Who holds a lease: `host:pid` names, and telling a dead local holder from a live one.

Leases in the store (a source's harvest, the digest sender) name their holder this way, so a
process that finds a lease held by a process of its own host that no longer runs (killed
mid-work) can take it over at once instead of waiting for it to run out. Standard library only.
"""

from __future__ import annotations

import os
import socket


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
