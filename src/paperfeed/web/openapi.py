"""The OpenAPI 3.1 description of the JSON API, served at /openapi.json.

Written out rather than generated: Starlette routes carry no schemas, and the description is
short enough to keep beside the routes (tests/web check that every JSON route is in it).
"""

from __future__ import annotations

from typing import Any, cast

from paperfeed import __version__
from paperfeed.models import FIRST_DAY, LAST_DAY
from paperfeed.web import browse
from paperfeed.web.views import FLAGS, MAX_QUERY

# Days a request may name (models.FIRST_DAY to LAST_DAY, the years 1700 to 2199): other days
# are a 400.
_YEAR = "(?:1[789][0-9]{2}|2[01][0-9]{2})"
_DAYS = f"from {FIRST_DAY} to {LAST_DAY}"


def _param(name: str, description: str, kind: str = "string", **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": {"type": kind, **extra},
        "allowEmptyValue": True,  # as a browser form sends a field left blank: as if left out
    }


_FILTER_DROPPED = {
    "type": "object",
    "properties": {
        "filter": {"enum": ["category", "author", "since", "until", "has_code"]},
        "value": {"type": ["string", "boolean"]},
        "text": {"type": "string", "description": "The filter in words: 'in cs.LG'."},
        "search_without": {"type": "string", "description": "The same search without it."},
    },
}
SEARCH_RESULTS = {
    "type": "object",
    "properties": {
        "papers": {"type": "array", "items": {"type": "object"}},
        "total": {
            "type": ["integer", "null"],
            "description": "How many results the search has in all (null with has_code, "
            "which is checked page by page). Keyword results are every paper matching a "
            "word; semantic and hybrid results end where relevance ends.",
        },
        "total_exact": {
            "type": "boolean",
            "description": "False when `total` is a lower bound: the search stopped at its "
            "depth with more relevant papers beyond it.",
        },
        "total_text": {"type": "string", "description": "'12 results', '100 or more results'."},
        "empty_reason": {
            "type": ["object", "null"],
            "description": "On an empty first page: why. `filters` names the filters in force "
            "(each with a link to the same search without it); `without_filters` is how many "
            "papers the words alone find on a first page of `limit` (null when there are no "
            "filters or no words; 0: the words match nothing either).",
            "properties": {
                "message": {"type": "string"},
                "filters": {"type": "array", "items": _FILTER_DROPPED},
                "without_filters": {"type": ["integer", "null"]},
                "search_without_filters": {"type": ["string", "null"]},
            },
        },
    },
}


def _ok(description: str, schema: dict[str, Any], kind: str = "application/json") -> dict[str, Any]:
    return {
        "200": {"description": description, "content": {kind: {"schema": schema}}},
        "400": {"$ref": "#/components/responses/Error"},
    }


def _day(name: str, description: str) -> dict[str, Any]:
    return _param(name, f"{description} (YYYY-MM-DD, {_DAYS}).", format="date",
                  pattern=f"^{_YEAR}-[0-9]{{2}}-[0-9]{{2}}$")  # fmt: skip


def _feed(description: str) -> dict[str, Any]:
    return {
        "200": {
            "description": description,
            "content": {"application/atom+xml": {"schema": {"type": "string"}}},
        },
        "400": {"$ref": "#/components/responses/Error"},
    }


SEARCH = [
    _param("q", 'Words, "quoted phrases", or a question in plain language.', maxLength=MAX_QUERY),
    _param("mode", "How to match.", enum=["hybrid", "keyword", "semantic"], default="hybrid"),
    _param("category", "arXiv categories, space separated (cs.LG math.PR)."),
    _param("author", "Part of an author's name."),
    _day("since", "Published on or after"),
    _day("until", "Published on or before; not before `since`"),
    _param("has_code", "Only papers with a code link (1, true or on).", enum=list(FLAGS)),
    _param("page", "Page number.", "integer", minimum=1, maximum=50, default=1),
    _param("limit", "Results per page.", "integer", minimum=1, maximum=100, default=20),
]
WINDOW = [
    _param(
        "window",
        "Days covered, ending on the latest day with papers.",
        enum=["day", "week", "month"],
        default="week",
    ),
    _param("page", "Page number.", "integer", minimum=1, maximum=50, default=1),
]
DAY = [
    _day("date", "The day; the latest day with papers when left out"),
    _param("page", "Page number.", "integer", minimum=1, maximum=50, default=1),
]
PAPER_REF = {
    "name": "id",
    "in": "path",
    "required": True,
    "schema": {"type": "string"},
    "description": "arXiv id (2410.17243, with or without version), DOI, or our id.",
    "example": "2410.17243",
}
LIST = {"type": "array", "items": {"$ref": "#/components/schemas/HfListItem"}}

PAPER = {
    "type": "object",
    "required": ["id", "title", "abstract", "authors", "categories"],
    "properties": {
        "id": {"type": "string"},
        "title": {"type": "string"},
        "abstract": {"type": "string"},
        "authors": {"type": "array", "items": {"type": "string"}},
        "categories": {"type": "array", "items": {"type": "string"}},
        "arxiv_id": {"type": ["string", "null"]},
        "doi": {"type": ["string", "null"]},
        "published": {"type": ["string", "null"], "format": "date-time"},
        "updated": {"type": ["string", "null"], "format": "date-time"},
        "version": {"type": ["integer", "null"]},
        "url": {"type": ["string", "null"]},
        "pdf_url": {"type": ["string", "null"]},
        "code_url": {"type": ["string", "null"]},
        "sources": {"type": "array", "items": {"type": "string"}},
        "extra": {"type": "object"},
    },
}
HF_PAPER = {
    "type": "object",
    "required": ["id", "title", "summary", "authors", "upvotes"],
    "properties": {
        "id": {"type": "string"},
        "title": {"type": "string"},
        "summary": {"type": "string"},
        "authors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"name": {"type": "string"}, "hidden": {"type": "boolean"}},
            },
        },
        "publishedAt": {"type": ["string", "null"], "format": "date-time"},
        "upvotes": {"type": "integer"},
        "githubRepo": {"type": "string"},
        "githubStars": {"type": "integer"},
        "ai_keywords": {"type": "array", "items": {"type": "string"}},
    },
}
HF_ITEM = {
    "type": "object",
    "properties": {
        "paper": {"$ref": "#/components/schemas/HfPaper"},
        "publishedAt": {
            "type": ["string", "null"],
            "format": "date-time",
            "description": "The day the paper was listed.",
        },
        "title": {"type": "string"},
        "summary": {"type": "string"},
        "numComments": {"type": "integer"},
    },
}


def _errors(*statuses: int) -> dict[str, Any]:
    return {str(status): {"$ref": "#/components/responses/Error"} for status in statuses}


def _browse(path: str, name: str, pattern: str, summary: str) -> dict[str, Any]:
    """An author's or a category's page: its JSON twin and its feed."""
    schema = {"type": "string", "pattern": pattern, "maxLength": 200}
    parameters = [
        {"name": name, "in": "path", "required": True, "schema": schema},
        _param("page", "Page number.", "integer", minimum=1, maximum=50, default=1),
    ]
    fields = {
        **cast(dict[str, Any], LISTING["properties"]),
        name: {"type": "string"},
        "total": {"type": "integer"},
        "total_exact": {
            "type": "boolean",
            "description": "An author's page: false when "
            "`total` is a floor (only the newest 1,000 papers found are read).",
        },
    }
    listing: dict[str, Any] = {"type": "object", "properties": fields}
    return {
        f"{path}.json": {"get": {"summary": summary, "parameters": parameters,
                                 "responses": _ok("Papers", listing)}},
        f"{path}.atom": {"get": {"summary": summary + " as an Atom feed (.rss: RSS 2.0)",
                                 "parameters": parameters, "responses": _feed("Atom feed")}},
    }  # fmt: skip


def _page(summary: str, *parameters: dict[str, Any]) -> dict[str, Any]:
    """The HTML page a browser opens at the same address (a link in a mail, a form): a refused
    link answers a page that says why, or the one JSON error shape when JSON is asked for."""
    return {
        "summary": summary,
        "parameters": list(parameters),
        "responses": {
            "200": {
                "description": "The page",
                "content": {"text/html": {"schema": {"type": "string"}}},
            },
            **{
                str(status): {"$ref": "#/components/responses/ErrorOrPage"} for status in (400, 404)
            },
        },
    }


def _form_answers(description: str, schema: dict[str, Any], *errors: int,
                  redirects: bool = False) -> dict[str, Any]:  # fmt: skip
    """What a route that is both a browser form and a JSON call answers: JSON when asked
    (`Accept: application/json` or a JSON body), else a page; a plain form may be sent on."""
    page = {"text/html": {"schema": {"type": "string"}}}
    answers: dict[str, Any] = {
        "200": {
            "description": description,
            "content": {"application/json": {"schema": schema}, **page},
        },
        **{str(status): {"$ref": "#/components/responses/ErrorOrPage"} for status in errors},
    }
    if redirects:
        answers["303"] = {"description": "A plain form is sent on to the next page"}
    return answers


def _body(properties: dict[str, Any], required: list[str], *, form: bool = False
          ) -> dict[str, Any]:  # fmt: skip
    schema = {"type": "object", "required": required, "properties": properties}
    kinds = ["application/json", *(["application/x-www-form-urlencoded"] if form else [])]
    return {"required": True, "content": {kind: {"schema": schema} for kind in kinds}}


SUBSCRIBE_FIELDS = {
    "email": {"type": "string", "format": "email"},
    "topic": {"type": ["string", "null"], "maxLength": 200, "description": "A search to follow."},
}
PENDING = {
    "type": "object",
    "properties": {"subscribed": {"const": "pending"}, "message": {"type": "string"}},
    "description": "The same answer for every possible address, whether it is new, pending, "
    "confirmed or unsubscribed.",
}
TOKEN = {"type": "string", "description": "The signed token of the mailed link."}
PREFERENCE_FIELDS = {
    "token": TOKEN,
    "frequency": {"enum": ["daily", "weekly", "paused"]},
    "weekday": {"type": "integer", "minimum": 0, "maximum": 6, "description": "0 = Monday"},
    "hour": {"type": "integer", "minimum": 0, "maximum": 23},
    "timezone": {"type": "string", "description": "An IANA name (Europe/Berlin)."},
    "topics": {"type": "array", "items": {"type": "string"}, "maxItems": 10},
    "categories": {"type": "string", "description": "arXiv categories, space separated."},
    "include_trending": {"type": "boolean"},
    "max_papers": {"type": "integer", "minimum": 1, "maximum": 50},
    "empty_notice": {"type": "boolean"},
}
REFUSED = (400, 403, 404, 413, 429)  # what a browser form may answer but its 200
UNSUBSCRIBE_TOKEN = {"name": "token", "in": "path", "required": True, "schema": TOKEN}
BROWSER_FORM = (
    " (a browser form: the page's form token in `csrf_token` or `X-CSRF-Token`; answers JSON "
    "with `Accept: application/json`)"
)

LISTING = {
    "type": "object",
    "properties": {
        "papers": {"type": "array", "items": {"$ref": "#/components/schemas/Paper"}},
        "page": {"type": "integer"},
        "next_page": {"type": ["integer", "null"]},
    },
}


def openapi() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "paperfeed",
            "version": __version__,
            "description": "Every page of paperfeed has a JSON twin (the page's path with "
            "`.json`), and feeds (`.atom`, `.rss`) where it lists papers. `/api/...` speaks "
            'the Hugging Face papers API. Every error is `{"error": {"status", '
            '"message"}}`.',
        },
        "paths": {
            "/search.json": {
                "get": {
                    "summary": "Search papers",
                    "parameters": SEARCH,
                    "responses": _ok("Results", SEARCH_RESULTS),
                }
            },
            "/search.atom": {
                "get": {
                    "summary": "A search as an Atom feed (.rss: RSS 2.0)",
                    "parameters": SEARCH,
                    "responses": _feed("Atom feed"),
                }
            },
            "/index.json": {
                "get": {
                    "summary": "Home: today's papers and trending",
                    "parameters": WINDOW,
                    "responses": _ok("Home", {"type": "object"}),
                }
            },
            "/trending.json": {
                "get": {
                    "summary": "Trending papers of a window, each with its score and the part "
                    "each signal contributes (`trending.parts`); `formula` gives the weights "
                    "and half-lives in force",
                    "parameters": WINDOW,
                    "responses": _ok("Papers", LISTING),
                }
            },
            "/trending.atom": {
                "get": {
                    "summary": "Trending as an Atom feed (.rss: RSS 2.0)",
                    "parameters": WINDOW,
                    "responses": _feed("Atom feed"),
                }
            },
            "/today.json": {
                "get": {
                    "summary": "The papers of a day",
                    "parameters": DAY,
                    "responses": _ok("Papers", LISTING),
                }
            },
            "/today.atom": {
                "get": {
                    "summary": "A day's papers as an Atom feed (.rss: RSS 2.0)",
                    "parameters": DAY,
                    "responses": _feed("Atom feed"),
                }
            },
            "/paper/{id}.json": {
                "get": {
                    "summary": "One paper and its related papers",
                    "parameters": [PAPER_REF],
                    "responses": {
                        **_ok(
                            "The paper",
                            {
                                "type": "object",
                                "properties": {
                                    "paper": {"$ref": "#/components/schemas/Paper"},
                                    "related": {"type": "array", "items": {"type": "object"}},
                                },
                            },
                        ),
                        "404": {"$ref": "#/components/responses/Error"},
                    },
                }
            },
            **_browse(
                "/author/{name}",
                "name",
                browse.NAME_PATTERN,
                "An author's papers, newest first (one author's name has every word of `name`), "
                "and `co_authors` with how many papers each wrote with them",
            ),
            **_browse(
                "/category/{category}",
                "category",
                r"^[A-Za-z][A-Za-z0-9.-]{0,39}$",
                "A category's papers (cs.LG, or a whole archive: cs), newest first",
            ),
            "/library.json": {
                "get": {
                    "summary": "The signed-in reader's library (session cookie); .bib and .csv "
                    "export it",
                    "parameters": [
                        _param("kind", "Which part.", enum=["save", "upvote", "hide"]),
                        _param("tag", "Only papers with this tag."),
                    ],
                    "responses": {
                        **_ok("Papers", LISTING),
                        "401": {"$ref": "#/components/responses/Error"},
                    },
                }
            },
            "/for-you.json": {
                "get": {
                    "summary": "For you (session cookie): the newest day's and the week's new "
                    "papers ranked by the reader's library, each with `why` and `because` (the "
                    "library paper, tag, saved search or followed category it is like); "
                    "`feed` is the reader's private Atom feed",
                    "responses": {
                        **_ok("Sections of papers", {"type": "object"}),
                        "401": {"$ref": "#/components/responses/Error"},
                    },
                }
            },
            "/feeds/for-you/{key}.atom": {
                "get": {
                    "summary": "A reader's For-you papers as an Atom feed, at the secret address "
                    "their For-you page shows (no session needed; rotating it there ends this "
                    "one)",
                    "parameters": [
                        {
                            "name": "key",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string"},
                        }
                    ],
                    "responses": {
                        **_feed("Atom feed"),
                        "404": {"$ref": "#/components/responses/Error"},
                    },
                }
            },
            "/paper/{id}/{action}": {
                "post": {
                    "summary": "Upvote, save or hide a paper, or undo it (session cookie; the "
                    "page's form token in `X-CSRF-Token`); answers the reader's reactions",
                    "parameters": [
                        PAPER_REF,
                        {
                            "name": "action",
                            "in": "path",
                            "required": True,
                            "schema": {"enum": ["upvote", "save", "hide"]},
                        },
                    ],
                    "requestBody": {
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        "undo": {"type": "boolean"},
                                        "tags": {
                                            "type": "string",
                                            "description": "comma separated",
                                        },
                                    },
                                }
                            }
                        }
                    },
                    "responses": _form_answers(
                        "The reader's reactions to the paper",
                        {"type": "object"},
                        401,
                        *REFUSED,
                        redirects=True,
                    ),
                }
            },
            "/api/subscribe": {
                "post": {
                    "summary": "Ask for the email digest for an address: a mail with a link to "
                    "confirm it goes out unless it is on the list already. Needs no form token: "
                    "the body must be JSON, which no other site can make a browser send; a "
                    "request from another site's page (its Origin) is refused",
                    "requestBody": _body(SUBSCRIBE_FIELDS, ["email"]),
                    "responses": {**_ok("Asked", PENDING), **_errors(403, 413, 415, 429)},
                }
            },
            "/subscribe": {
                "get": _page("The subscribe form (HTML)", _param("q", "A search to follow.")),
                "post": {
                    "summary": "The subscribe form" + BROWSER_FORM,
                    "requestBody": _body(SUBSCRIBE_FIELDS, ["email"], form=True),
                    "responses": _form_answers("Asked", PENDING, 400, 403, 413, 429),
                },
            },
            "/confirm": {
                "get": _page(
                    "The page of a confirmation link (HTML): its button confirms",
                    _param("token", "The link's signed token."),
                ),
                "post": {
                    "summary": "Confirm an address with the token of its confirmation link"
                    + BROWSER_FORM,
                    "requestBody": _body({"token": TOKEN}, ["token"], form=True),
                    "responses": _form_answers(
                        "Confirmed; `preferences` is the link to the digest's preferences",
                        {"type": "object"},
                        *REFUSED,
                        redirects=True,
                    ),
                },
            },
            "/preferences": {
                "get": _page(
                    "The digest's preferences (HTML), from the mailed link",
                    _param("token", "The link's signed token."),
                ),
                "post": {
                    "summary": "Save the digest's preferences (missing fields keep their value)"
                    + BROWSER_FORM,
                    "requestBody": _body(PREFERENCE_FIELDS, ["token"], form=True),
                    "responses": _form_answers(
                        "Saved; answers the preferences",
                        {"type": "object"},
                        *REFUSED,
                    ),
                },
            },
            "/u/{token}": {
                "get": _page(
                    "The page of an unsubscribe link (HTML): its button unsubscribes",
                    UNSUBSCRIBE_TOKEN,
                ),
                "post": {
                    "summary": "One-click unsubscribe (RFC 8058): no cookie, no form token; the "
                    "body `List-Unsubscribe=One-Click` is what mail clients send. Idempotent",
                    "parameters": [UNSUBSCRIBE_TOKEN],
                    "responses": _form_answers("Unsubscribed", {"type": "object"}, 400, 413),
                },
            },
            "/api/papers/search": {
                "get": {
                    "summary": "Hugging Face API: search papers",
                    "parameters": [
                        _param("q", "The query.", maxLength=MAX_QUERY),
                        _param(
                            "limit",
                            "At most this many.",
                            "integer",
                            minimum=1,
                            maximum=100,
                            default=20,
                        ),
                    ],
                    "responses": _ok("Matching papers", LIST),
                }
            },
            "/api/papers/{id}": {
                "get": {
                    "summary": "Hugging Face API: one paper",
                    "parameters": [PAPER_REF],
                    "responses": {
                        **_ok("The paper", {"$ref": "#/components/schemas/HfPaper"}),
                        "404": {"$ref": "#/components/responses/Error"},
                    },
                }
            },
            "/api/daily_papers": {
                "get": {
                    "summary": "Hugging Face API: the papers of a day, week or month",
                    "parameters": [
                        _day("date", "A day; the latest when no period is given"),
                        _param(
                            "week",
                            "An ISO week (2025-W09) of the years 1700 to 2199; W53 as well in "
                            "the years that have one. `date` goes first.",
                            pattern=f"^{_YEAR}-W(?:0[1-9]|[1-4][0-9]|5[0-2])$",
                        ),
                        _param(
                            "month",
                            "A month (2025-02) of the years 1700 to 2199. `date` and `week` go "
                            "first.",
                            pattern=f"^{_YEAR}-(?:0[1-9]|1[0-2])$",
                        ),
                        _param(
                            "sort",
                            "Order.",
                            enum=["publishedAt", "trending"],
                            default="publishedAt",
                        ),
                        _param(
                            "p", "Page, from 0.", "integer", minimum=0, maximum=10_000, default=0
                        ),
                        _param(
                            "limit", "Page size.", "integer", minimum=1, maximum=100, default=50
                        ),
                    ],
                    "responses": _ok("Listed papers", LIST),
                }
            },
            "/healthz": {
                "get": {
                    "summary": "Liveness and paper count",
                    "responses": _ok("ok", {"type": "object"}),
                }
            },
        },
        "components": {
            "schemas": {
                "Paper": PAPER,
                "HfPaper": HF_PAPER,
                "HfListItem": HF_ITEM,
                "Error": {
                    "type": "object",
                    "properties": {
                        "error": {
                            "type": "object",
                            "properties": {
                                "status": {"type": "integer"},
                                "message": {"type": "string"},
                            },
                        }
                    },
                },
            },
            "responses": {
                "Error": {
                    "description": "An error, in one shape",
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}
                    },
                },
                "ErrorOrPage": {
                    "description": "An error: in the one JSON shape when JSON was asked for, "
                    "else a page that says it",
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/Error"}},
                        "text/html": {"schema": {"type": "string"}},
                    },
                },
            },
        },
    }
