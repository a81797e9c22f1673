"""View functions of "For you": the page of today's and this week's new papers ranked for the
signed-in reader (and its JSON twin, built by the same function), the cold-start form
(categories), the private Atom feed at a secret URL and the POST that rotates it, and the
per-tag recommendations the library page shows.

The work is in users/foryou.py (the one recommender). "More like this" and "Not interested"
are the existing upvote and hide actions (`POST /paper/{ref}/upvote|hide`, people.py), posted
with `next=/for-you`: the reloaded page is the next ranking. The feed needs no session (feed
readers have none): its key is the secret, any unknown or malformed key answers the same 404,
and a GET changes nothing.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from paperfeed.errors import NotFound
from paperfeed.models import paper_json
from paperfeed.rank.recommend import Background
from paperfeed.store import Store, User
from paperfeed.users import foryou
from paperfeed.web import feeds
from paperfeed.web.guard import SECURITY_HEADERS, Visitor
from paperfeed.web.handlers import json_answer, require_user
from paperfeed.web.site import Site, site_of, wants_json

TODAY_LIMIT = 20
WEEK_LIMIT = 30
HOME_LIMIT = 3
TAG_LIMIT = 10
UNDATED_MAX = 1000  # a store of undated papers: the newest stored papers ranked
WEEK_DAYS = 7


def candidate_days(store: Store, today: date) -> list[tuple[str, str, list[int]]]:
    """(key, heading, row numbers) of the papers a page ranks: the newest listing day's, then
    the other days of that week; in a store of undated papers, the newest stored."""
    newest = store.latest_day(today)
    if newest is None:
        seqs = [item.seq for item in store.list_newest(limit=UNDATED_MAX)]
        return [("newest", "Newest papers", seqs)]
    days = store.list_day_of(newest - timedelta(days=WEEK_DAYS - 1), newest)
    first = sorted(s for s, (day, _) in days.items() if day == newest)
    rest = sorted(s for s, (day, _) in days.items() if day != newest)
    return [("today", f"New on {newest.isoformat()}", first),
            ("week", f"Earlier this week (since {(newest - timedelta(days=WEEK_DAYS - 1))})",
             rest)]  # fmt: skip


def background(site: Site, model: str, dim: int) -> Background:
    """The recommender's background (users/foryou.py), kept by the site and made again when
    the stored vectors change."""
    store = site.engine().store
    version = (model, store.last_vector_change(model))
    return site.kept("foryou.background", version,
                     lambda: foryou.load_background(store, model, dim))  # fmt: skip


def papers(site: Site, user: User, seqs: list[int], limit: int, tag: str | None = None
           ) -> list[dict[str, Any]]:  # fmt: skip
    """The recommended papers among `seqs`, as paper dicts with `why` and `because`."""
    engine = site.engine()
    if not seqs:
        return []
    # without an embedding model only the cold start's category picks are possible
    model, dim = (engine.embedder.name, engine.embedder.dim) if engine.embedder else ("", 0)
    known = background(site, model, dim) if engine.embedder else None
    recs = foryou.recommend(engine.store, model, dim, user, seqs, now=site.now(), limit=limit,
                            tag=tag, background=known)  # fmt: skip
    found = engine.store.get_papers_by_seq([r.seq for r in recs])
    return [{**paper_json(found[r.seq]), **r.as_json()} for r in recs if r.seq in found]


def view(site: Site, user: User, *, limits: tuple[int, int] = (TODAY_LIMIT, WEEK_LIMIT)
         ) -> dict[str, Any]:  # fmt: skip
    """The For-you page and its JSON twin."""
    store = site.engine().store
    sections = []
    parts = candidate_days(store, site.today())
    for (key, heading, seqs), limit in zip(parts, (*limits, limits[-1]), strict=False):
        sections.append({"key": key, "title": heading,
                         "papers": papers(site, user, seqs, limit)})  # fmt: skip
    feed_key = store.get_feed_key(user.id)
    return {
        "sections": sections,
        "has_library": foryou.has_library(store, user),
        "categories": store.get_user_categories(user.id),
        "searches": list(foryou.saved_searches(store, user)),
        "can_rank": site.engine().embedder is not None,
        "feed": feed_url(site, feed_key) if feed_key else None,
    }


def home(site: Site, user: User) -> list[dict[str, Any]]:
    """The first few For-you papers of the newest day (or week) for the home page."""
    for _, _, seqs in candidate_days(site.engine().store, site.today()):
        if picked := papers(site, user, seqs, HOME_LIMIT):
            return picked
    return []


def for_tag(site: Site, user: User, tag: str) -> list[dict[str, Any]]:
    """Recommendations from the papers the reader tagged `tag`, among the week's."""
    days = candidate_days(site.engine().store, site.today())
    seqs = sorted({s for _, _, part in days for s in part})
    return papers(site, user, seqs, TAG_LIMIT, tag=tag)


def feed_url(site: Site, key: str) -> str:
    return f"{site.base_url}/feeds/for-you/{key}.atom"


# -- routes' view functions -----------------------------------------------------------------


def page_view(site: Site, request: Request, visitor: Visitor) -> dict[str, Any]:
    return view(site, require_user(visitor))


def follow(site: Site, request: Request, form: dict[str, Any], visitor: Visitor) -> Response:
    user = require_user(visitor)
    text = str(form.get("categories", ""))
    chosen = site.write(lambda s: foryou.follow_categories(s, user, text))
    if wants_json(request):
        return json_answer({"categories": chosen})
    return RedirectResponse("/for-you", 303)


def rotate(site: Site, request: Request, form: dict[str, Any], visitor: Visitor) -> Response:
    user = require_user(visitor)
    key = site.write(lambda s: foryou.rotate_feed_key(s, user))
    if wants_json(request):
        return json_answer({"feed": feed_url(site, key)})
    return RedirectResponse("/for-you#feed", 303)


async def feed(request: Request) -> Response:
    """The private Atom feed of the reader with this key: NotFound for any other key."""
    site = site_of(request)
    body = await site.run(_feed, site, request.path_params["key"])
    headers = {**SECURITY_HEADERS, "Cache-Control": "private, no-cache",
               "X-Robots-Tag": "noindex"}  # fmt: skip
    return Response(body, media_type=feeds.FORMATS["atom"], headers=headers)


def _feed(site: Site, key: str) -> bytes:
    store = site.engine().store
    user = store.get_user_by_feed_key(key) if foryou.is_feed_key(key) else None
    if user is None:
        raise NotFound("No such feed.")
    listed = [p for section in view(site, user)["sections"] for p in section["papers"]]
    shown = [{**p, "abstract": f"{p['why']}.\n\n{p['abstract']}"} for p in listed]
    base = site.base_url
    fallback = datetime.fromtimestamp(site.now(), UTC).replace(microsecond=0)
    made = feeds.Feed("paperfeed: for you", feed_url(site, key), base + "/for-you", base,
                      shown, fallback)  # fmt: skip
    return feeds.atom(made)
