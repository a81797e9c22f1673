"""Who is asking, and may they: sessions from cookies, CSRF tokens, same-origin checks; and
what every response and every request goes through (`SiteAddress`, `SecurityHeaders`).

Every state change is a POST that carries a form token (`csrf_token` field, or the
`X-CSRF-Token` header for the browser's JSON calls). The token is an HMAC of the session
cookie, or of an anonymous `pf_csrf` cookie for visitors without one (the sign-in form), so a
page on another site can neither read nor forge it. A POST whose Origin (or Sec-Fetch-Site)
says it came from another site is refused before the token is even looked at. Cookies are
HttpOnly, SameSite=Lax, and Secure when the site is served over HTTPS.

The site's address is the configured base URL, never the request's Host header: a DNS
rebinding page (a name of the attacker's that resolves to this server) sends its own Host and
a matching Origin, so trusting the Host would let it post, and would put its name in links.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from urllib.parse import urlsplit

from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

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
_LOOPBACK = ("127.0.0.1", "localhost", "::1")


@dataclass(slots=True)
class Visitor:
    user: User | None
    session: str | None  # the session cookie's token
    csrf_key: str  # what the form token is derived from
    csrf: str  # the form token pages embed
    client: str  # a keyed hash of the network client (its address, whatever the browser)
    ip: str
    new_csrf_cookie: bool = False

    @property
    def who(self) -> str:
        """Whom rate limits and view counts go by: the reader when signed in, else the client."""
        return f"user:{self.user.id}" if self.user else f"client:{self.client}"


class Guard:
    def __init__(self, secret: bytes, base_url: str) -> None:
        self.secret = secret
        self.base_url = base_url.rstrip("/")
        self.https = base_url.startswith("https://")
        self.origins = _our_origins(base_url)

    def token_for(self, key: str) -> str:
        return keyed_hash(self.secret, "csrf", key)

    def visitor(self, request: Request, user: User | None) -> Visitor:
        session = request.cookies.get(SESSION_COOKIE) if user else None
        anon = request.cookies.get(CSRF_COOKIE, "")
        new = session is None and len(anon) < 16
        key = session or (secrets.token_urlsafe(18) if new else anon)
        ip = request.client.host if request.client else "unknown"
        # the address alone: a new User-Agent per request must not make a new client
        client = keyed_hash(self.secret, "client", ip)
        return Visitor(user, session, key, self.token_for(key), client, ip, new)

    def check(self, request: Request, visitor: Visitor, form_token: str | None) -> None:
        """Refuse a state change that did not come from one of our own pages."""
        if not self.same_site(request):
            raise Forbidden(f"This form was sent from another site; open paperfeed at "
                            f"{self.base_url} and retry.")  # fmt: skip
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
        return _origin(origin) in self.origins

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


def _origin(url: str) -> str | None:
    """scheme://host[:port] of `url`, lower-cased, without a default port; None if malformed."""
    try:
        parts = urlsplit(url.strip().lower())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return _format_origin(parts.scheme, parts.hostname, port)


def _format_origin(scheme: str, hostname: str, port: int | None) -> str:
    host = f"[{hostname}]" if ":" in hostname else hostname
    default = 443 if scheme == "https" else 80
    return f"{scheme}://{host}" + (f":{port}" if port and port != default else "")


def _our_origins(base_url: str) -> frozenset[str]:
    """The base URL's origin; for a loopback address also its other loopback names (a browser
    on this machine may use any; no other site can post with them as its origin)."""
    parts = urlsplit(base_url.lower())
    if parts.hostname in _LOOPBACK:
        return frozenset(_format_origin(parts.scheme, name, parts.port) for name in _LOOPBACK)
    ours = _origin(base_url)
    return frozenset({ours} if ours else ())


class SiteAddress:
    """ASGI middleware: every request is answered as the site at the base URL. Its Host header
    is replaced by the base URL's host (and port) before anything reads it, so nothing (links,
    feeds, Starlette's trailing-slash redirect) can use a Host an attacker sent."""

    def __init__(self, app: ASGIApp, base_url: str) -> None:
        self.app = app
        self.host = urlsplit(base_url).netloc.encode("idna")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = [(k, v) for k, v in scope["headers"] if k != b"host"]
            scope = {**scope, "headers": [(b"host", self.host), *headers]}
        await self.app(scope, receive, send)


class SecurityHeaders:
    """ASGI middleware: `SECURITY_HEADERS` on every response (static files, health checks,
    redirects, errors), where the response did not set its own."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)


MAX_NEXT_CHARS = 1000


def safe_next(target: str | None, default: str = "/") -> str:
    """A redirect target only if it is a path on this site: never //host, /\\host or a
    scheme, and no control characters (browsers drop tabs and newlines from URLs, so a slash,
    a tab and "/host" would become "//host"); `default` otherwise."""
    if (
        not target
        or len(target) > MAX_NEXT_CHARS
        or not target.startswith("/")
        or target.startswith(("//", "/\\"))
        or any(ch < " " or ch == "\x7f" for ch in target)
    ):
        return default
    return target
