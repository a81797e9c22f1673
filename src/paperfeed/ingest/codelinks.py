"""Find code-repository links in free text (abstracts, comments) and normalize them.

A paper's code link is a strong signal for readers and for ranking, and arXiv has no field
for it: authors write it into the abstract or the comments. This module only reads text it is
given; it must not fetch anything, check that a repository exists, or guess links that are not
written down. Pages (github.io), gists and user profiles are not repositories and are ignored.
"""

from __future__ import annotations

import re

_HOSTS = {
    "github.com": "github.com",
    "gitlab.com": "gitlab.com",
    "codeberg.org": "codeberg.org",
    "bitbucket.org": "bitbucket.org",
}
# Not preceded by a host character, so gist.github.com and foo.github.io never match.
_REPO_URL = re.compile(
    r"(?<![\w.@-])(?:https?://)?(?:www\.)?"
    r"(github\.com|gitlab\.com|codeberg\.org|bitbucket\.org)"
    r"/([A-Za-z0-9](?:[A-Za-z0-9_.-]*[A-Za-z0-9_-])?)"
    r"/([A-Za-z0-9_.-]+)",
    re.IGNORECASE,
)
# First path segments that are site pages, not owners.
_NOT_OWNERS = frozenset(
    {
        "about", "apps", "collections", "enterprise", "explore", "features", "issues", "login",
        "marketplace", "orgs", "pricing", "pulls", "search", "settings", "site", "sponsors",
        "topics", "trending", "users",
    }
)  # fmt: skip


def _normalize(host: str, owner: str, repo: str) -> str | None:
    repo = repo.rstrip(".")
    while repo.lower().endswith(".git"):
        repo = repo[:-4].rstrip(".")
    if not repo or owner.lower() in _NOT_OWNERS or repo in {".", ".."}:
        return None
    return f"https://{_HOSTS[host.lower()]}/{owner}/{repo}"


def find_code_links(*texts: str) -> list[str]:
    """Repository URLs (`https://host/owner/repo`) in the order first written, each once
    (compared without case, as the hosts do)."""
    found: dict[str, str] = {}
    for text in texts:
        for m in _REPO_URL.finditer(text or ""):
            url = _normalize(m.group(1), m.group(2), m.group(3))
            if url is not None:
                found.setdefault(url.lower(), url)
    return list(found.values())


def is_normalized_code_link(url: str) -> bool:
    """Whether `url` has the exact shape `find_code_links` returns."""
    return find_code_links(url) == [url]
