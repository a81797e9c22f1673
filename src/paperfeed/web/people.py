"""View functions for readers: sign in by mailed link, sign out, the account page and its
deletion, the library (page, JSON, BibTeX, CSV, import) and the actions on a paper (upvote,
save, hide, undo). routes.py says which path each one answers.

Every state change is a POST that passes `Guard.check` (same site, form token) and a per-client
rate limit (`handlers.form_post`); GETs only show pages. Actions answer JSON to the browser's
fetch calls and a redirect back to plain forms, so everything works without JavaScript.
Handlers stay thin: the work is in users/ (accounts, library) and rank/.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from paperfeed.errors import InputError, NotSignedIn, TokenError
from paperfeed.tokens import verify
from paperfeed.users import accounts, library
from paperfeed.users.addresses import normalize_email
from paperfeed.web import channels, digests, foryou
from paperfeed.web.guard import SECURITY_HEADERS, SESSION_COOKIE, Visitor, safe_next
from paperfeed.web.handlers import (
    MAX_UPLOAD_BYTES,
    Endpoint,
    checked_form,
    json_answer,
    require_user,
)
from paperfeed.web.site import Site, site_of, wants_json

MAX_IMPORT_BYTES = MAX_UPLOAD_BYTES
# the import form's body: its 2 MB file or pasted text and the rest of the form (the proxies
# in deploy/ allow 3 MB too)
IMPORT_BODY_BYTES = 3_000_000
BODY_BYTES = {"/library/import": IMPORT_BODY_BYTES}  # the routes that take more (limits.py)


# -- sign in / out ----------------------------------------------------------------------


def signin_form(site: Site, request: Request, visitor: Visitor) -> dict[str, Any]:
    return {"next": safe_next(request.query_params.get("next"), "/library")}


def send_link(site: Site, request: Request, form: dict[str, Any], visitor: Visitor) -> Response:
    email = str(form.get("email", ""))
    if site.mailer is None:
        raise InputError("This server cannot send mail yet; its operator must set "
                         "PAPERFEED_SMTP_HOST or PAPERFEED_OUTBOX.")  # fmt: skip
    mailer = site.mailer
    going = safe_next(str(form.get("next", "")), "")
    site.write(lambda s: accounts.request_link(
        s, mailer, site.guard.secret, email=email, client=visitor.ip,
        base_url=site.base_url, now=site.now(), next_path=going))  # fmt: skip
    view = {"email": normalize_email(email), "mail_stays_local": site.mail_stays_local}
    if wants_json(request):
        return json_answer({"sent": True, "message": "Check your inbox for a sign-in link."})
    return site.page(request, "signin_sent.html", view, visitor)


def link_form(site: Site, request: Request, visitor: Visitor) -> dict[str, Any]:
    return {"token": request.query_params.get("token", "")}


def use_link(site: Site, request: Request, form: dict[str, Any], visitor: Visitor) -> Response:
    token = str(form.get("token", ""))
    session = site.write(lambda s: accounts.complete_sign_in(s, site.guard.secret, token,
                                                             site.now()))  # fmt: skip
    # where the reader was going when they asked for the link: signed into it
    response = RedirectResponse(safe_next(session.next_path, "/library"), 303)
    max_age = int(accounts.SESSION_TTL.total_seconds())
    site.guard.set_cookie(response, request, SESSION_COOKIE, session.token, max_age)
    return response


def signout(site: Site, request: Request, form: dict[str, Any], visitor: Visitor) -> Response:
    site.write(lambda s: accounts.sign_out(s, visitor.session))
    response = RedirectResponse("/", 303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


# -- account ----------------------------------------------------------------------------


def account(site: Site, request: Request, visitor: Visitor) -> dict[str, Any]:
    user = require_user(visitor)
    return {"email": user.email, "since": user.created_at.date().isoformat(),
            "digest": digests.digest_of(site, user.email),
            "channels": channels.channels_of(site.engine().store, user.id)}  # fmt: skip


def delete(site: Site, request: Request, form: dict[str, Any], visitor: Visitor) -> Response:
    user = require_user(visitor)
    if str(form.get("confirm", "")) != "yes":
        raise InputError("Tick the box to confirm that the account should be deleted.")
    site.write(lambda s: accounts.delete_account(s, user))
    gone = site.guard.visitor(request, None)  # the page shows nobody signed in
    view = {"title": "Account deleted",
            "message": "Your account, votes, saves and tags are gone."}  # fmt: skip
    response = site.page(request, "message.html", view, gone)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


# -- library ----------------------------------------------------------------------------


def library_view(site: Site, request: Request, visitor: Visitor) -> dict[str, Any]:
    user = require_user(visitor)
    kind = request.query_params.get("kind", "save") or "save"
    if kind not in library.KINDS:
        raise InputError(f"kind must be one of {', '.join(library.KINDS)}.")
    tag = request.query_params.get("tag") or None
    store = site.engine().store
    items = store.list_library(user.id, kind=kind, tag=tag)
    papers = library.library_json(items)
    for paper, item in zip(papers, items, strict=True):
        paper["mine"] = sorted(item.kinds)
    recommended = foryou.for_tag(site, user, tag) if tag and kind == "save" else []
    return {"kind": kind, "tag": tag or "", "tags": store.list_user_tags(user.id),
            "papers": papers, "recommended": recommended}  # fmt: skip


def export(kind: str) -> Endpoint:
    """The reader's library as a file: BibTeX or CSV."""

    async def endpoint(request: Request) -> Response:
        site = site_of(request)

        def build() -> Response:
            visitor = site.visitor(request)
            user = require_user(visitor)
            items = site.engine().store.list_library(user.id)
            return _export(kind, items)

        return await site.run(build)

    return endpoint


async def do_import(request: Request) -> Response:
    """Read the text outside the write lock, one import at a time and off the pool that
    serves pages (Site.run_alone), then save what it names in one short transaction."""
    site = site_of(request)
    form, visitor = await checked_form(site, request, max_bytes=IMPORT_BODY_BYTES)
    user = require_user(visitor)
    parsed = await site.run_alone(library.read_import, _import_text(form))

    def save() -> Response:
        report = site.write(lambda s: library.save_import(s, user, parsed, site.now()))
        if wants_json(request):
            return json_answer(report.as_json())
        if form.get("next"):  # the For-you page's cold start: back to it, ranked at once
            return RedirectResponse(safe_next(str(form["next"]), "/library"), 303)
        view = {**library_view(site, request, visitor), "report": report.as_json()}
        return site.page(request, "library.html", view, visitor)

    return await site.run(save)


# -- actions on a paper -------------------------------------------------------------------


def act(site: Site, request: Request, form: dict[str, Any], visitor: Visitor) -> Response:
    ref, kind = request.path_params["ref"], request.path_params["action"]
    back = safe_next(str(form.get("next", "")), "/paper/" + quote(ref))
    if visitor.user is None:
        if wants_json(request):
            raise NotSignedIn("Sign in to upvote, save or hide papers.")
        return RedirectResponse("/signin?next=" + quote(back), 303)
    user = visitor.user
    undo = str(form.get("undo", "")).lower() in ("1", "true", "yes")
    tags = _tags_text(form.get("tags"))
    mine = site.write(
        lambda s: library.react(s, user, ref, kind, on=not undo, now=site.now(), tags=tags)
    )
    if wants_json(request):
        return json_answer({"paper": ref, "mine": sorted(mine)})
    return RedirectResponse(back, 303)


async def click(request: Request) -> Response:
    """A link from a digest: count the click (when its token is ours) and go on."""
    site, ref = site_of(request), request.path_params["ref"]

    def count() -> None:
        try:
            fields = _click_fields(site, request.query_params.get("t", ""))
        except TokenError:
            return
        if fields.get("p") == ref:
            # once per recipient; links mailed before they named one, per network client
            recipient = fields.get("s")
            who = (f"recipient:{recipient}" if isinstance(recipient, int)
                   else site.guard.visitor(request, None).who)  # fmt: skip
            site.write_in_passing(lambda s: library.record_view(s, ref, who, site.now(),
                                                                "click"))  # fmt: skip

    await site.run(count)
    return RedirectResponse("/paper/" + quote(ref), 303)


def _click_fields(site: Site, token: str) -> dict[str, Any]:
    return verify(site.guard.secret, "click", token, site.now(), what="link")


def _tags_text(value: Any) -> str | None:
    """Tags as 'a, b' text from a form field or a JSON string or list."""
    if value is None:
        return None
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


def _export(kind: str, items: list[Any]) -> Response:
    if kind == "bib":
        body, media, name = library.library_bibtex(items), "application/x-bibtex", "library.bib"
    else:
        body, media, name = library.library_csv(items), "text/csv", "library.csv"
    headers = {**SECURITY_HEADERS, "Content-Disposition": f'attachment; filename="{name}"'}
    return Response(body.encode(), 200, headers=headers, media_type=media + "; charset=utf-8")


def _import_text(form: dict[str, Any]) -> str:
    upload = form.get("file")
    if isinstance(upload, tuple) and upload[0]:
        data: bytes = upload[1]
        if len(data) > MAX_IMPORT_BYTES:
            raise HTTPException(413, "The file is larger than 2 MB; split it and import the "
                                     "parts.")  # fmt: skip
        return data.decode("utf-8", errors="replace")
    text = str(form.get("ids", ""))
    if len(text.encode("utf-8", errors="replace")) > MAX_IMPORT_BYTES:
        raise HTTPException(413, "The text is larger than 2 MB; split it and import the parts.")
    if not text.strip():
        raise InputError("Paste arXiv ids or BibTeX, or choose a .bib or .txt file to import.")
    return text
