"""Finding papers: query parsing, the keyword index (tantivy, BM25), and later the vector
index and fusion. Search indexes are derived data: they catch up from the store's change
numbers and can always be rebuilt from it."""

from pathlib import Path


def owner_only_dir(path: Path) -> None:
    """Make the folder `path`, and each missing folder above it, its owner's alone (0700): the
    indexes hold what the database holds, and a folder deleted under a running server comes
    back as it was made."""
    for folder in reversed([p for p in (path, *path.parents) if not p.is_dir()]):
        folder.mkdir(mode=0o700, exist_ok=True)
