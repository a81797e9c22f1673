"""Finding papers: query parsing, the keyword index (tantivy, BM25), and later the vector
index and fusion. Search indexes are derived data: they catch up from the store's change
numbers and can always be rebuilt from it."""

from pathlib import Path

from paperfeed.errors import DiskFull
from paperfeed.store import no_room


def owner_only_dir(path: Path) -> None:
    """Make the folder `path`, and each missing folder above it, its owner's alone (0700): the
    indexes hold what the database holds, and a folder deleted under a running server comes
    back as it was made."""
    for folder in reversed([p for p in (path, *path.parents) if not p.is_dir()]):
        folder.mkdir(mode=0o700, exist_ok=True)


def index_disk_full(error: BaseException, path: Path) -> DiskFull | None:
    """`error` as DiskFull when the disk holding the index at `path` has no room left. faiss
    and the OS say "No space left on device"; tantivy often says only that a writer thread
    died, so the disk itself is asked too."""
    if "No space left on device" not in str(error) and not no_room(path):
        return None
    return DiskFull(f"The disk holding the search index {path} is full; free space on it.")
