"""View functions for a reader's notification channels on the account page: add (a generic
webhook, a Slack or a Discord incoming webhook, with its schedule and saved searches, or none
for "my digest"), remove, send a test message, enable again after failures. Every one is a POST
with the form token (`form_post`); the account page (people.py) lists them with the delivery
log.

The URL is checked against the outbound policy (digest.outbound: public addresses only, unless
the operator allows a range) before anything is stored, outside the write lock (it resolves the
host). Pages never show a channel's full URL, which is a credential for Slack and Discord: only
its host; a generic webhook's signing secret is shown to its owner, folded away.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from paperfeed.digest import channels, subscriptions
from paperfeed.digest.outbound import OutboundRefused
from paperfeed.errors import InputError
from paperfeed.store import Preferences, Store
from paperfeed.web.guard import Visitor
from paperfeed.web.handlers import json_answer, require_user
from paperfeed.web.site import Site, wants_json

LOG_ROWS = 5  # deliveries shown per channel


def channels_of(store: Store, user_id: int) -> list[dict[str, Any]]:
    """The account page's view of a user's channels, newest deliveries first."""
    shown = []
    for sub in store.list_channels(user_id):
        log = [
            {"at": _when(d.sent_at or (d.next_attempt_at if d.state == "planned" else
                                        d.planned_at)),
             "state": d.state, "attempts": d.attempts, "error": d.last_error or ""}
            for d in store.list_deliveries(sub.id, limit=LOG_ROWS)
        ]  # fmt: skip
        shown.append({
            "id": sub.id, "kind": sub.channel, "where": channels.describe(sub),
            "active": sub.state == "confirmed", "note": sub.disabled_note or "",
            "failures": sub.failures, "frequency": sub.prefs.frequency,
            "searches": list(sub.prefs.topics), "secret": sub.secret or "", "log": log,
        })  # fmt: skip
    return shown


def _when(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M UTC")


NOT_YOURS = "Sign in first: channels belong to your account."


def back(request: Request, answer: dict[str, Any]) -> Response:
    if wants_json(request):
        return json_answer(answer)
    return RedirectResponse("/account#channels", 303)


def add(site: Site, request: Request, form: dict[str, Any], visitor: Visitor) -> Response:
    user = require_user(visitor, NOT_YOURS)
    url = str(form.get("url", "")).strip()
    try:
        site.outbound.check(url)  # resolves the host: before, not inside, the write lock
    except OutboundRefused as exc:
        raise InputError(str(exc)) from None
    fields = {"frequency": str(form.get("frequency", "daily")),
              "topics": str(form.get("searches", "")),
              "include_trending": "on" if form.get("include_trending") else ""}  # fmt: skip
    prefs = subscriptions.parse_preferences(fields, Preferences())
    sub = site.write(lambda s: channels.add_channel(
        s, site.outbound, user.id, str(form.get("kind", "")), url, prefs, site.now(),
        checked=True))  # fmt: skip
    return back(request, {"id": sub.id, "channel": sub.channel})


def remove(site: Site, request: Request, form: dict[str, Any], visitor: Visitor) -> Response:
    user = require_user(visitor, NOT_YOURS)
    channel_id = int(request.path_params["id"])
    site.write(lambda s: s.delete_channel(channels.owned_channel(s, user.id, channel_id).id))
    return back(request, {"id": channel_id, "removed": True})


def enable(site: Site, request: Request, form: dict[str, Any], visitor: Visitor) -> Response:
    user = require_user(visitor, NOT_YOURS)
    channel_id = int(request.path_params["id"])
    site.write(lambda s: channels.enable(s, channels.owned_channel(s, user.id, channel_id)))
    return back(request, {"id": channel_id, "enabled": True})


def test(site: Site, request: Request, form: dict[str, Any], visitor: Visitor) -> Response:
    user = require_user(visitor, NOT_YOURS)
    channel_id = int(request.path_params["id"])
    sub = channels.owned_channel(site.engine().store, user.id, channel_id)
    try:  # (in the thread pool, outside the write lock: it waits for the receiver)
        channels.send_test(channels.webhook_channels(site.outbound), sub, site.base_url,
                           site.now())  # fmt: skip
    except channels.DeliveryError as exc:
        raise InputError(f"The test message did not go: {exc}") from None
    if wants_json(request):
        return json_answer({"id": channel_id, "sent": True})
    view = {"title": "Test message sent",
            "message": f"A test message went to your {channels.describe(sub)}."}  # fmt: skip
    return site.page(request, "message.html", view, visitor)
