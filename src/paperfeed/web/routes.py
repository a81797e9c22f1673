"""Every route of the site, in one table. Adding a page is one view function (in pages.py,
people.py, digests.py, channels.py or foryou.py) and one line here.

The shapes (handlers.py): `twin` is a page with its JSON twin (and its Atom and RSS feeds when
it lists papers); `page` a page only; `form_post` a state change (form token, same site, rate
limit); `api` a JSON answer. GETs never change anything. Starlette tries the routes in order
and takes the first whose path and method match; a page's GET and its form's POST are two
lines.
"""

from __future__ import annotations

from pathlib import Path

from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from paperfeed.web import browse, channels, digests, foryou, pages, people, views
from paperfeed.web.handlers import api, form_post, page, twin

GET, POST = ["GET"], ["POST"]
STATIC = Path(__file__).parent / "static"

ROUTES: list[BaseRoute] = [
    # -- readers: sign in, account, library, actions on a paper ---------------------------------
    Route("/signin", page("signin.html", people.signin_form), methods=GET),
    Route("/signin", form_post(people.send_link), methods=POST),
    Route("/signin/link", page("signin_link.html", people.link_form), methods=GET),
    Route("/signin/link", form_post(people.use_link), methods=POST),
    Route("/signout", form_post(people.signout), methods=POST),
    Route("/account", page("account.html", people.account, needs_user=True), methods=GET),
    Route("/account/delete", form_post(people.delete), methods=POST),
    Route("/library.bib", people.export("bib"), methods=GET),
    Route("/library.csv", people.export("csv"), methods=GET),
    *twin("/library", "library.html", people.library_view, needs_user=True),
    Route("/library/import", people.do_import, methods=POST),
    Route("/paper/{ref:path}/{action}", form_post(people.act), methods=POST),
    Route("/r/{ref:path}", people.click, methods=GET),
    # -- the digest: subscribe, confirm, preferences, unsubscribe (links checked by `link`) ----
    Route("/subscribe", page("subscribe.html", digests.subscribe_form), methods=GET),
    Route("/subscribe", form_post(digests.ask("web")), methods=POST),
    Route("/api/subscribe", digests.api_subscribe, methods=POST),
    Route("/confirm", digests.link(page("confirm.html", digests.confirm_page)), methods=GET),
    Route("/confirm", digests.link(form_post(digests.confirm)), methods=POST),
    Route(
        "/preferences",
        digests.link(page("preferences.html", digests.preferences_page)),
        methods=GET,
    ),
    Route("/preferences", digests.link(form_post(digests.save)), methods=POST),
    Route(
        "/u/{token}", digests.link(page("unsubscribe.html", digests.unsubscribe_page)), methods=GET
    ),
    Route("/u/{token}", digests.link(digests.one_click), methods=POST),
    # -- a reader's channels (listed on the account page) ---------------------------------------
    Route("/account/channels", form_post(channels.add), methods=POST),
    Route("/account/channels/{id:int}/remove", form_post(channels.remove), methods=POST),
    Route("/account/channels/{id:int}/enable", form_post(channels.enable), methods=POST),
    Route("/account/channels/{id:int}/test", form_post(channels.test), methods=POST),
    # -- For you ---------------------------------------------------------------------------------
    *twin("/for-you", "foryou.html", foryou.page_view, needs_user=True),
    Route("/for-you/categories", form_post(foryou.follow), methods=POST),
    Route("/for-you/feed", form_post(foryou.rotate), methods=POST),
    Route("/feeds/for-you/{key}.atom", foryou.feed, methods=GET),
    # -- the public pages, each with its JSON twin; lists with their feeds -----------------------
    *twin("/", "home.html", pages.home),
    *twin("/trending", "trending.html", pages.trending, feed=views.trending_title),
    *twin("/today", "day.html", pages.day, feed=views.day_title),
    *twin("/search", "search.html", pages.search, feed=views.search_title),
    Route("/paper/{ref:path}.bib", pages.paper_bib, methods=GET),
    *twin("/paper/{ref:path}", "paper.html", pages.paper, after=pages.count_view),
    *twin("/author/{name:path}", "author.html", pages.author, feed=browse.author_title),
    *twin("/category/{category:path}", "category.html", pages.category, feed=browse.category_title),
    # -- the Hugging Face-compatible API ---------------------------------------------------------
    Route("/api/papers/search", pages.search_api, methods=GET),
    Route("/api/papers/{ref:path}", api(pages.paper_info), methods=GET),
    Route("/api/daily_papers", api(pages.daily_papers), methods=GET),
    Route("/openapi.json", api(pages.openapi_json), methods=GET),
    # -- for the operator ------------------------------------------------------------------------
    Route("/healthz", pages.health, methods=GET),
    Route("/metrics", pages.metrics, methods=GET),
    Mount("/static", StaticFiles(directory=STATIC), name="static"),
]
