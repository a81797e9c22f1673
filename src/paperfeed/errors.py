"""Named errors that carry one sentence a user can act on.

The CLI and the web layer translate these into a message and an exit code or an HTTP status;
nothing else in the package prints or exits. Imports nothing from the package.
"""


class PaperfeedError(Exception):
    """Base class: str(error) is the sentence shown to the user."""


class StoreError(PaperfeedError):
    """The database cannot be opened, read or migrated."""


class DiskFull(StoreError):
    """The disk holding the database (or an index) has no room left: nothing more is written
    until there is, and what was written before is intact. str() names the disk for the
    operator; `public` is the sentence for a site's readers, who need not learn where files
    live."""

    public = ("The server's disk is full, so nothing can be saved right now (reading still "
              "works); try again later.")  # fmt: skip


class SchemaTooNew(StoreError):
    """The database was migrated by a newer paperfeed than this one: it is never used."""


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


class TokenError(PaperfeedError):
    """A signed link or form token that is forged, damaged, expired or already used."""


class Forbidden(PaperfeedError):
    """A request that must not be carried out: a cross-site form, a missing form token."""


class NotSignedIn(PaperfeedError):
    """An action that needs an account, asked without a session."""


class RateLimited(PaperfeedError):
    """Too many requests of one kind from one client or for one address."""
