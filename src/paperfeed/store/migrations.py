"""What both backends do with their migrations folders: list the files in order, and refuse a
database migrated by a newer paperfeed (it may hold what this code would misread or overwrite)
before anything is read or migrated."""

from __future__ import annotations

from importlib import resources

from paperfeed.errors import SchemaTooNew


def list_migrations(package: str) -> list[tuple[int, str, str]]:
    """(version, name, sql) for each file in `package`'s migrations/ folder, in order."""
    folder = resources.files(package) / "migrations"
    found = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            found.append((int(entry.name.split("_", 1)[0]), entry.name, entry.read_text()))
    return sorted(found)


def refuse_newer(where: str, newest: int | None, package: str) -> None:
    """SchemaTooNew when the database at `where` has migration `newest` beyond the code's."""
    known = max(version for version, _, _ in list_migrations(package))
    if newest is not None and newest > known:
        raise SchemaTooNew(
            f"{where} was written by a newer paperfeed (schema {newest}; this version knows up "
            f"to {known}): upgrade paperfeed, or restore a backup made by this version."
        )
