"""Named errors that carry one sentence a user can act on.

The CLI and the web layer translate these into a message and an exit code or an HTTP status;
nothing else in the package prints or exits. Imports nothing from the package.
"""


class PaperfeedError(Exception):
    """Base class: str(error) is the sentence shown to the user."""


class StoreError(PaperfeedError):
    """The database cannot be opened, read or migrated."""


class NotFound(PaperfeedError):
    """A paper (or other record) the user named does not exist."""


class AlreadyExists(PaperfeedError):
    """A record the user wants to create (a source, say) exists already."""


class InputError(PaperfeedError):
    """A file or a record the user gave us cannot be read."""


class QueryError(PaperfeedError):
    """A search request that cannot be answered as given (bad filter, bad limit)."""


class IndexBusy(PaperfeedError):
    """Another process holds the search index writer; the caller may read what is committed."""
