"""Author and category pages: every paper of one author (with their co-authors) or of one
category, newest first. View functions like those in views.py (parameters in, one dict out,
the HTML page, its JSON twin and its feeds rendered from it).

Both are searches without words, through the engine's filters (the keyword index orders
them by date, newest first): no SQL here. The index's author filter asks for every word of a
name somewhere in a paper's author list, so a paper by "Ann Lee" and "Bo Chen" would match
"Ann Chen"; the author page keeps only papers where one author's name has every word.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from typing import Any

from paperfeed.errors import QueryError
from paperfeed.models import paper_json
from paperfeed.search.engine import MAX_LIMIT, SearchEngine
from paperfeed.search.query import Filters, SearchRequest
from paperfeed.web.views import MAX_PAGE, PAGE_SIZE, _next_page, int_param

MAX_NAME = 200
CO_AUTHORS_SHOWN = 30
_CATEGORY = re.compile(r"[A-Za-z][A-Za-z0-9.-]{0,39}")
_WORD = re.compile(r"\w+")


# What an author's name in a link may be, the same rule for the server and its OpenAPI schema
# (an ECMA and a Python regex alike): up to MAX_NAME characters, no control character, one
# that is not a space. A name with no letter or digit is a valid name of nobody: an empty page.
NAME_PATTERN = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\ufeff\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"


def _words(name: str) -> list[str]:
    return _WORD.findall(name.casefold())


def is_same_author(wanted: str, name: str) -> bool:
    """`name` (one author of a paper) has every word of `wanted`, in any case."""
    have = set(_words(name))
    words = _words(wanted)
    return bool(words) and all(w in have for w in words)


def author_view(engine: SearchEngine, name: str, params: Mapping[str, str]) -> dict[str, Any]:
    """One author's papers, newest first, a page at a time, and the co-authors of all of them
    with how many papers each wrote with this author. Only the newest MAX_LIMIT papers the
    index finds are read: past that, `total` is a floor (`total_exact` false) and the
    co-authors are those of the papers read."""
    if len(name) > MAX_NAME or not re.fullmatch(NAME_PATTERN, name):
        raise QueryError(f"An author's name must have a character other than spaces, no control "
                         f"character and at most {MAX_NAME} characters.")  # fmt: skip
    name = name.strip()
    page = int_param(params, "page", 1, 1, MAX_PAGE)
    request = SearchRequest(text="", filters=Filters(author=name), limit=MAX_LIMIT, mode="keyword")
    papers = [h.paper for h in engine.results(request).hits] if _words(name) else []
    theirs = [p for p in papers if any(is_same_author(name, a) for a in p.authors)]
    together: Counter[str] = Counter()
    for p in theirs:
        together.update({a for a in p.authors if not is_same_author(name, a)})
    shown = theirs[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
    return {
        "author": name,
        "page": page,
        "total": len(theirs),
        "total_exact": len(papers) < MAX_LIMIT,
        "next_page": _next_page(page, len(shown), PAGE_SIZE, len(theirs)),
        "co_authors": [{"name": n, "papers": c} for n, c in together.most_common(CO_AUTHORS_SHOWN)],
        "papers": [paper_json(p) for p in shown],
    }


def category_view(engine: SearchEngine, category: str, params: Mapping[str, str]
                  ) -> dict[str, Any]:  # fmt: skip
    """One category's papers (cs.LG, or a whole archive: cs), newest first."""
    category = category.strip()
    if not _CATEGORY.fullmatch(category):
        raise QueryError(f"A category is a name like cs.LG or math, not {category[:50]!r}.")
    page = int_param(params, "page", 1, 1, MAX_PAGE)
    request = SearchRequest(text="", filters=Filters(categories=(category,)), limit=PAGE_SIZE,
                            offset=(page - 1) * PAGE_SIZE, mode="keyword")  # fmt: skip
    results = engine.results(request)
    return {
        "category": category,
        "page": page,
        "total": results.total,
        "next_page": _next_page(page, len(results.hits), PAGE_SIZE, results.total),
        "papers": [paper_json(h.paper) for h in results.hits],
    }


def author_title(view: dict[str, Any]) -> str:
    return f"paperfeed: papers by {view['author']}"


def category_title(view: dict[str, Any]) -> str:
    return f"paperfeed: papers in {view['category']}"
