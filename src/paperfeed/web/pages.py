"""The public pages (home, trending, a day, search, a paper, an author, a category), the
Hugging Face-compatible API and the operator's endpoints, as view functions of the Site. The
views themselves are in views.py, browse.py and hf_api.py (engine and parameters in, a dict
out); these add what the Site knows: the date, the reader, the trending refresh. routes.py
says which path each one answers."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from paperfeed.errors import NotFound
from paperfeed.users import library
from paperfeed.web import browse, foryou, hf_api, views
from paperfeed.web.guard import SECURITY_HEADERS, Visitor
from paperfeed.web.handlers import json_answer
from paperfeed.web.observe import CONTENT_TYPE
from paperfeed.web.openapi import openapi
from paperfeed.web.site import Site, site_of

_BOTS = ("bot", "crawl", "spider", "slurp", "preview", "fetch", "curl", "wget", "python")

# -- pages (each with its JSON twin; lists with their feeds) ----------------------------------


def home(site: Site, request: Request, visitor: Visitor) -> dict[str, Any]:
    site.fresh_trending()
    view = views.home_view(site.engine(), request.query_params, site.today())
    if visitor.user is not None:  # (the page and its twin vary by cookie)
        view["for_you"] = foryou.home(site, visitor.user)
    return view


def trending(site: Site, request: Request, visitor: Visitor) -> dict[str, Any]:
    site.fresh_trending()
    return views.trending_view(site.engine(), request.query_params, site.today())


def day(site: Site, request: Request, visitor: Visitor) -> dict[str, Any]:
    return views.day_view(site.engine(), request.query_params, site.today())


def search(site: Site, request: Request, visitor: Visitor) -> dict[str, Any]:
    return views.search_view(site.engine(), request.query_params)


def paper(site: Site, request: Request, visitor: Visitor) -> dict[str, Any]:
    return views.paper_view(site.engine(), request.path_params["ref"])


def author(site: Site, request: Request, visitor: Visitor) -> dict[str, Any]:
    return browse.author_view(site.engine(), request.path_params["name"], request.query_params)


def category(site: Site, request: Request, visitor: Visitor) -> dict[str, Any]:
    return browse.category_view(site.engine(), request.path_params["category"],
                                request.query_params)  # fmt: skip


def is_human_view(request: Request) -> bool:
    """Count a page view unless it is a HEAD, a prefetch or a known robot."""
    if request.method != "GET":
        return False
    purpose = request.headers.get("sec-purpose", "") + request.headers.get("purpose", "")
    agent = request.headers.get("user-agent", "").lower()
    return "prefetch" not in purpose and bool(agent) and not any(b in agent for b in _BOTS)


def count_view(site: Site, request: Request, view: dict[str, Any], visitor: Visitor) -> None:
    """After a paper page: one view, for trending (views.py's paper page)."""
    if is_human_view(request) and not site.engine().store.readonly:
        site.write_in_passing(lambda s: library.record_view(
            s, view["paper"]["id"], visitor.who, site.now()))  # fmt: skip


async def paper_bib(request: Request) -> Response:
    """One paper's BibTeX as text (the library's export format: users/bibtex.py)."""
    site = site_of(request)
    text = await site.run(views.paper_bibtex, site.engine(), request.path_params["ref"])
    return Response(text, media_type="text/plain; charset=utf-8", headers=SECURITY_HEADERS)


# -- the Hugging Face-compatible API ------------------------------------------------------------


async def search_api(request: Request) -> Response:
    site = site_of(request)
    answer, cached = await site.run(hf_api.search_answer, site.engine(), request.query_params)
    return json_answer(answer, headers={"X-Search-Cache": "hit" if cached else "miss"})


def paper_info(site: Site, request: Request) -> Any:
    return hf_api.paper_info(site.engine(), request.path_params["ref"])


def daily_papers(site: Site, request: Request) -> Any:
    return hf_api.daily_papers(site.engine(), request.query_params, site.today())


def openapi_json(site: Site, request: Request) -> Any:
    return openapi()


# -- for the operator -----------------------------------------------------------------------------


async def health(request: Request) -> Response:
    site = site_of(request)
    papers = await site.run(site.engine().store.count_papers)
    return json_answer({"status": "ok", "papers": papers})


async def metrics(request: Request) -> Response:
    """Prometheus' text, when the operator switched metrics on (else there is no such page)."""
    site = site_of(request)
    if site.metrics is None:
        raise NotFound("Not found.")
    body = await site.run(site.metrics.render)
    return Response(body, media_type=CONTENT_TYPE, headers={"Cache-Control": "no-store"})
