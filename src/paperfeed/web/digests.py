"""View functions of the email digest: subscribe (a form and a JSON API), confirm, preferences and
unsubscribe. The work is in `paperfeed.digest.subscriptions`; these handlers read the request,
call it and answer a page or JSON. What they must keep:

- No enumeration: a subscribe request for a new, pending, confirmed or unsubscribed address
  gets the same answer ("check your inbox"); only an impossible address gets another (400).
- GET never changes anything, because mail scanners open every link: the confirm and
  unsubscribe links show a page whose button POSTs.
- Nothing about a subscriber is shown without a valid link made for that page: tokens are
  signed for one purpose, so a preferences link cannot unsubscribe, nor an unsubscribe link
  open the preferences. Links are signed with the site's key (`Guard.secret`).
- POST /u/{token} is RFC 8058 one-click unsubscribe. Mail providers post
  `List-Unsubscribe=One-Click` from their own servers, with none of our cookies and no form
  token, and want a 2xx, not a redirect: the signed token in the path is the whole authority.
  It has no rate limit: a forged token is refused by its HMAC before the store is touched, a
  genuine one acts once, and a provider posts for many recipients from few addresses, so a
  per-client limit would drop genuine unsubscribes.
- POST /api/subscribe takes only a JSON body, so it needs no form token: a page on another
  site cannot make a browser send `Content-Type: application/json` without a CORS preflight,
  which we never answer. A request whose Origin (or Sec-Fetch-Site) says another site is
  refused all the same.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import suppress
from dataclasses import asdict
from typing import Any
from urllib.parse import quote

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from paperfeed.digest import subscriptions
from paperfeed.errors import InputError, NotFound, TokenError
from paperfeed.search.query import FILTER_WORDS
from paperfeed.store import Preferences, Subscriber
from paperfeed.tokens import verify
from paperfeed.users.addresses import normalize_email
from paperfeed.web.guard import Visitor
from paperfeed.web.handlers import Act, Endpoint, form_post, json_answer
from paperfeed.web.site import Site, site_of, wants_json

CHECK_INBOX = (
    "Check your inbox: unless the address is on the list already, a link to confirm it is on "
    "its way."
)
ACTIVE = ("pending", "confirmed")
# Offered in the time zone field; any IANA name is accepted.
ZONES = (
    "UTC", "Europe/London", "Europe/Dublin", "Europe/Lisbon", "Europe/Paris", "Europe/Berlin",
    "Europe/Amsterdam", "Europe/Zurich", "Europe/Madrid", "Europe/Rome", "Europe/Stockholm",
    "Europe/Warsaw", "Europe/Athens", "Europe/Kyiv", "Europe/Istanbul", "Europe/Moscow",
    "Africa/Lagos", "Africa/Cairo", "Africa/Nairobi", "Africa/Johannesburg", "Asia/Dubai",
    "Asia/Tehran", "Asia/Karachi", "Asia/Kolkata", "Asia/Bangkok", "Asia/Singapore",
    "Asia/Shanghai", "Asia/Hong_Kong", "Asia/Taipei", "Asia/Seoul", "Asia/Tokyo",
    "Australia/Perth", "Australia/Sydney", "Pacific/Auckland", "America/Sao_Paulo",
    "America/Argentina/Buenos_Aires", "America/Bogota", "America/Mexico_City",
    "America/New_York", "America/Toronto", "America/Chicago", "America/Denver",
    "America/Phoenix", "America/Los_Angeles", "America/Anchorage", "Pacific/Honolulu",
)  # fmt: skip
_AGAIN = (("/subscribe", "Subscribe"), ("/account", "Your account"))
_TEXTS = ("frequency", "weekday", "hour", "timezone", "topics", "categories", "max_papers")
_BOXES = ("include_trending", "empty_notice")


def _filters_not_kept(params: Mapping[str, str]) -> list[str]:
    """The filters of the search a subscription comes from: a digest follows a search's words
    only (its papers are the new ones, so dates do not apply either), and the form says so."""
    return [words.format(value) for name, words in FILTER_WORDS.items()
            if (value := params.get(name, "").strip())]  # fmt: skip


# -- subscribe ------------------------------------------------------------------------


def subscribe_form(site: Site, request: Request, visitor: Visitor) -> dict[str, Any]:
    params = request.query_params
    topic = params.get("q", "").strip()[: subscriptions.MAX_TOPIC_CHARS]
    return {"email": visitor.user.email if visitor.user else "", "topic": topic,
            "not_kept": _filters_not_kept(params) if topic else []}  # fmt: skip


def ask(source: str) -> Act:
    """A subscribe request from the form ("web") or the JSON API ("api")."""

    def act(site: Site, request: Request, form: dict[str, Any], visitor: Visitor) -> Response:
        email, topic, now = _text(form, "email"), _text(form, "topic") or None, site.now()
        secret = site.guard.secret
        asked = site.write(lambda s: subscriptions.subscribe(s, secret, email, source=source,
                                                             client=visitor.ip, now=now,
                                                             topic=topic))  # fmt: skip
        if asked.planned_confirmation and site.wake_sender is not None:
            site.wake_sender()
        if source == "api" or wants_json(request):
            return json_answer({"subscribed": "pending", "message": CHECK_INBOX})
        view = {"email": normalize_email(email), "mail_stays_local": site.mail_stays_local}
        return site.page(request, "subscribe_sent.html", view, visitor)

    return act


# -- confirm ------------------------------------------------------------------------------


def confirm_page(site: Site, request: Request, visitor: Visitor) -> dict[str, Any]:
    token = request.query_params.get("token", "")
    verify(site.guard.secret, "confirm", token, site.now(), what="confirmation link")
    return {"token": token}


def confirm(site: Site, request: Request, form: dict[str, Any], visitor: Visitor) -> Response:
    token, now = _text(form, "token"), site.now()
    sub = site.write(
        lambda s: subscriptions.confirm(s, site.guard.secret, token, now, source="web")
    )
    link = _preferences_link(site.guard.secret, sub, now)
    if wants_json(request):
        return json_answer({"subscribed": "confirmed", "preferences": site.base_url + link})
    return RedirectResponse(link + "&confirmed=1", 303)  # the page says so, once


# -- preferences ----------------------------------------------------------------------------


def preferences_view(site: Site, sub: Subscriber, token: str) -> dict[str, Any]:
    unsubscribe = subscriptions.unsubscribe_token(site.guard.secret, sub, site.now())
    return {"token": token, "email": sub.email, "state": sub.state,
            "is_active": sub.state in ACTIVE, "fields": _fields(sub.prefs),
            "unsubscribe": "/u/" + unsubscribe, "saved": False, "error": None,
            "frequencies": subscriptions.FREQUENCIES, "weekdays": subscriptions.WEEKDAYS,
            "zones": ZONES, "max_papers": subscriptions.MAX_PAPERS,
            "schedule": _schedule(sub.prefs), "just_confirmed": False}  # fmt: skip


def preferences_page(site: Site, request: Request, visitor: Visitor) -> dict[str, Any]:
    token = request.query_params.get("token", "")
    store = site.engine().store
    sub = subscriptions.from_preferences_token(store, site.guard.secret, token, site.now())
    # Straight from the confirm button: say so, and (preferences.js) offer the browser's
    # time zone in place of the default UTC, since nobody has chosen one yet.
    just_confirmed = request.query_params.get("confirmed") == "1" and sub.state == "confirmed"
    return {**preferences_view(site, sub, token), "just_confirmed": just_confirmed}


def save(site: Site, request: Request, form: dict[str, Any], visitor: Visitor) -> Response:
    token, now = _text(form, "token"), site.now()
    try:
        secret = site.guard.secret
        sub = site.write(lambda s: subscriptions.save_preferences(s, secret, token, form, now))
    except InputError as error:
        if wants_json(request):
            raise
        # the form again, as it was sent, with the sentence: nothing was saved
        store = site.engine().store
        sub = subscriptions.from_preferences_token(store, site.guard.secret, token, now)
        view = {**preferences_view(site, sub, token), "fields": _sent_fields(form),
                "error": str(error)}  # fmt: skip
        return site.page(request, "preferences.html", view, visitor, 400)
    if wants_json(request):
        return json_answer({"saved": True, "state": sub.state, "preferences": asdict(sub.prefs)})
    view = {**preferences_view(site, sub, token), "saved": True}
    return site.page(request, "preferences.html", view, visitor)


# -- unsubscribe ----------------------------------------------------------------------------


def unsubscribe_page(site: Site, request: Request, visitor: Visitor) -> dict[str, Any]:
    token = request.path_params["token"]
    verify(site.guard.secret, "unsubscribe", token, site.now(), what="unsubscribe link")
    return {"token": token, "done": False}


async def one_click(request: Request) -> Response:
    """RFC 8058: no cookie, no form token, no redirect (see the module's docstring)."""
    site = site_of(request)
    token, now = request.path_params["token"], site.now()

    def act() -> Response:
        # NotFound: a genuine link of an address no longer on the list; nothing goes there
        with suppress(NotFound):
            site.write(lambda s: subscriptions.unsubscribe(s, site.guard.secret, token, now))
        if wants_json(request):
            return json_answer({"unsubscribed": True})
        view = {"token": token, "done": True}
        return site.page(request, "unsubscribe.html", view, site.visitor(request))

    return await site.run(act)


# -- answers to links that cannot be used -----------------------------------------------------


def link(endpoint: Endpoint) -> Endpoint:
    """A forged, expired or wrong link: its sentence, on a page that offers a way on."""

    async def checked(request: Request) -> Response:
        site = site_of(request)
        try:
            return await endpoint(request)
        except (TokenError, NotFound) as error:
            if wants_json(request):
                raise  # the one JSON error shape, from the app's handler
            status = 404 if isinstance(error, NotFound) else 400
            view = {"status": status, "message": str(error), "links": _AGAIN}
            visitor = await site.run(site.visitor, request)
            return site.page(request, "error.html", view, visitor, status)

    return checked


def digest_of(site: Site, email: str) -> dict[str, Any]:
    """The account page's view of the reader's own digest: its state and, while it is active,
    a link to its preferences (signing in proved the address). State None: not subscribed."""
    sub = site.engine().store.get_subscriber_by_email(email)
    if sub is None:
        return {"state": None, "preferences": None}
    is_active = sub.state in ACTIVE
    link = _preferences_link(site.guard.secret, sub, site.now()) if is_active else None
    return {"state": sub.state, "frequency": sub.prefs.frequency, "preferences": link}


def _json_only(endpoint: Endpoint) -> Endpoint:
    """Refuse any body but JSON: what makes the endpoint safe without a form token."""

    async def checked(request: Request) -> Response:
        media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media_type != "application/json":
            raise HTTPException(415, 'Send a JSON body, {"email": "..."}, with the header '
                                "Content-Type: application/json.")  # fmt: skip
        return await endpoint(request)

    return checked


def _preferences_link(secret: bytes, sub: Subscriber, now: float) -> str:
    return "/preferences?token=" + quote(subscriptions.preferences_token(secret, sub, now))


def _text(form: Mapping[str, Any], name: str) -> str:
    """A text field, "" when left out; a JSON body's number, list or object there is refused."""
    value = form.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InputError(f"{name} must be text.")
    return value.strip()


def _schedule(prefs: Preferences) -> str:
    """When the digest goes out, as the page says it: "Daily at 07:00 (Europe/Paris)"."""
    when = f"at {prefs.hour:02d}:00 ({prefs.timezone})"
    if prefs.frequency == "daily":
        return f"Daily {when}"
    if prefs.frequency == "weekly":
        return f"Weekly on {subscriptions.WEEKDAYS[prefs.weekday]} {when}"
    return "Paused: nothing is sent for now"


def _fields(prefs: Preferences) -> dict[str, Any]:
    """The preferences as the form shows them."""
    return {"frequency": prefs.frequency, "weekday": str(prefs.weekday), "hour": str(prefs.hour),
            "timezone": prefs.timezone, "topics": "\n".join(prefs.topics),
            "categories": " ".join(prefs.categories), "max_papers": str(prefs.max_papers),
            "include_trending": prefs.include_trending,
            "empty_notice": prefs.empty_notice}  # fmt: skip


def _sent_fields(form: Mapping[str, Any]) -> dict[str, Any]:
    """A refused form's fields as they were sent, to show them again."""
    return {**{name: _text(form, name) for name in _TEXTS},
            **{name: name in form for name in _BOXES}}  # fmt: skip


# POST /api/subscribe: JSON only, so no form token (see the module's docstring)
api_subscribe = _json_only(form_post(ask("api"), needs_token=False))
