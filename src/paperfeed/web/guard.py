"""Who is asking, and may they: sessions from cookies, CSRF tokens, same-origin checks.

Every state change is a POST that carries a form token (`csrf_token` field, or the
`X-CSRF-Token` header for the browser's JSON calls). The token is an HMAC of the session
cookie, or of an anonymous `pf_csrf` cookie for visitors without one (the sign-in form), so a
page on another site can neither read nor forge it. A POST whose Origin (or Sec-Fetch-Site)
says it came from another site is refused before the token is even looked at. Cookies are
HttpOnly, SameSite=Lax, and Secure when the site is served over HTTPS.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response

from paperfeed.errors import Forbidden
from paperfeed.store import User
from paperfeed.tokens import keyed_hash

SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}
SESSION_COOKIE = "pf_session"
CSRF_COOKIE = "pf_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"


@dataclass(slots=True)
class Visitor:
    user: User | None
    session: str | None  # the session cookie's token
    csrf_key: str  # what the form token is derived from
    csrf: str  # the form token pages embed
    client: str  # a keyed hash of the client (address and browser), for counting views
    ip: str
    new_csrf_cookie: bool = False


class Guard:
    def __init__(self, secret: bytes, base_url: str) -> None:
        self.secret = secret
        self.base_url = base_url.rstrip("/")
        self.https = base_url.startswith("https://")

    def token_for(self, key: str) -> str:
        return keyed_hash(self.secret, "csrf", key)

    def visitor(self, request: Request, user: User | None) -> Visitor:
        session = request.cookies.get(SESSION_COOKIE) if user else None
        anon = request.cookies.get(CSRF_COOKIE, "")
        new = session is None and len(anon) < 16
        key = session or (secrets.token_urlsafe(18) if new else anon)
        ip = request.client.host if request.client else "unknown"
        client = keyed_hash(self.secret, "client", ip + "|" + request.headers.get("user-agent", ""))
        return Visitor(user, session, key, self.token_for(key), client, ip, new)

    def check(self, request: Request, visitor: Visitor, form_token: str | None) -> None:
        """Refuse a state change that did not come from one of our own pages."""
        if not self.same_site(request):
            raise Forbidden("This form was sent from another site; open paperfeed and retry.")
        sent = form_token or request.headers.get(CSRF_HEADER) or ""
        if not visitor.csrf_key or not hmac.compare_digest(sent, visitor.csrf):
            raise Forbidden("This form has expired or did not come from this site; reload the "
                            "page and try again.")  # fmt: skip

    def same_site(self, request: Request) -> bool:
        if request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
            return False
        origin = request.headers.get("origin")
        if origin is None:  # same-origin GET-style forms in older browsers send none
            return True
        ours = {_origin(str(request.base_url)), _origin(self.base_url)}
        return origin in ours

    def is_secure(self, request: Request) -> bool:
        return self.https or request.url.scheme == "https"

    def set_cookie(self, response: Response, request: Request, name: str, value: str,
                   max_age: int | None) -> None:  # fmt: skip
        response.set_cookie(name, value, max_age=max_age, path="/", httponly=True,
                            samesite="lax", secure=self.is_secure(request))  # fmt: skip

    def finish(self, response: Response, request: Request, visitor: Visitor) -> Response:
        """Give a new visitor the anonymous cookie their form token is bound to."""
        if visitor.new_csrf_cookie:
            self.set_cookie(response, request, CSRF_COOKIE, visitor.csrf_key, None)
        return response


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def safe_next(target: str | None, default: str = "/") -> str:
    """A redirect target only if it is a path on this site (never //host or a scheme)."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return default
    return target
