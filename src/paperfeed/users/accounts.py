"""Accounts without passwords: a signed one-time link by email, then a session.

Asking for a link looks the same whether or not the address has an account: the link signs an
existing reader in or makes the account on first use, so there is nothing to tell apart. Links
expire in 15 minutes and work once (their nonce is spent in the store). Sessions are random
tokens of which the store keeps only a hash. Limits: 5 links an hour per inbox (its `+tag` and
upper-case variants count as one, see `paperfeed.users.addresses`) and 10 mails a day to one
inbox from strangers, digest confirmations included (more are silently not sent, so a stranger
cannot flood an inbox, and the answer still looks the same); 20 links an hour per client
address (those get `RateLimited`).

Nothing here knows about HTTP or cookies: the web layer passes the client and sets the cookie.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from paperfeed.digest.mailer import Mailer, Message
from paperfeed.errors import RateLimited, TokenError
from paperfeed.rank import trending
from paperfeed.store import Store, User
from paperfeed.tokens import hash_token, keyed_hash, sign, verify
from paperfeed.users.addresses import inbox_has_room, mailbox_key, normalize_email

log = logging.getLogger(__name__)

LINK_TTL_S = 15 * 60
SESSION_TTL = timedelta(days=30)
LINKS_PER_ADDRESS_HOUR = 5
LINKS_PER_CLIENT_HOUR = 20


@dataclass(frozen=True, slots=True)
class Session:
    user: User
    token: str  # goes in the cookie; the store has only its hash
    expires: datetime
    next_path: str = ""  # where the link was asked from, as signed into it ("" if nowhere)


def request_link(
    store: Store,
    mailer: Mailer,
    secret: bytes,
    *,
    email: str,
    client: str,
    base_url: str,
    now: float,
    next_path: str = "",
) -> bool:
    """Mail a sign-in link to `email`; False when a limit of its inbox held it back (the
    caller must answer exactly as when it was sent). `next_path` (where the reader was going;
    the web layer checks it is a path of ours) is signed into the link, so using the link
    leads there."""
    email = normalize_email(email)
    if not store.hit_rate("signin-client:" + keyed_hash(secret, "client", client), now,
                          3600, LINKS_PER_CLIENT_HOUR):  # fmt: skip
        raise RateLimited("Too many sign-in requests from your network; try again in an hour.")
    inbox = "signin-address:" + keyed_hash(secret, "email", mailbox_key(email))
    if not store.hit_rate(inbox, now, 3600, LINKS_PER_ADDRESS_HOUR) or not inbox_has_room(
        store, secret, email, now
    ):
        log.warning("sign-in link held back: the inbox's limit is reached")
        return False
    fields = {"m": email, "n": secrets.token_urlsafe(12)} | ({"x": next_path} if next_path else {})
    token = sign(secret, "signin", fields, now + LINK_TTL_S)
    mailer.send(_link_message(email, f"{base_url.rstrip('/')}/signin/link?token={token}"))
    return True


def _link_message(email: str, link: str) -> Message:
    text = (
        "Hello,\n\nSomeone (we hope you) asked to sign in to paperfeed with this address.\n"
        f"Open this link within {LINK_TTL_S // 60} minutes to sign in:\n\n{link}\n\n"
        "It works once. If you did not ask for it, ignore this mail: nothing happens.\n"
    )
    return Message(to=email, subject="Your paperfeed sign-in link", text=text)


def complete_sign_in(store: Store, secret: bytes, token: str, now: float) -> Session:
    """Spend a sign-in link and open a session; `TokenError` if forged, expired or used."""
    fields = verify(secret, "signin", token, now, what="sign-in link")
    email, nonce = fields.get("m"), fields.get("n")
    if not isinstance(email, str) or not isinstance(nonce, str):
        raise TokenError("This sign-in link is not valid.")
    if not store.spend_token(nonce, float(fields["exp"]), now):
        raise TokenError("This sign-in link was used already; ask for a new one.")
    moment = datetime.fromtimestamp(now, UTC)
    user = store.get_or_add_user(email, moment)
    session = secrets.token_urlsafe(32)
    expires = moment + SESSION_TTL
    store.add_session(hash_token(session), user.id, moment, expires)
    log.info("signed in user=%d", user.id)
    next_path = fields.get("x")
    return Session(user, session, expires, next_path if isinstance(next_path, str) else "")


def session_user(store: Store, token: str | None, now: float) -> User | None:
    if not token:
        return None
    return store.get_session_user(hash_token(token), datetime.fromtimestamp(now, UTC))


def sign_out(store: Store, token: str | None) -> None:
    if token:
        store.delete_session(hash_token(token))


def delete_account(store: Store, user: User) -> None:
    """Forget the reader: account, sessions, votes, saves, tags; their votes and saves leave
    the trending scores at once. Anonymous counts (views, clicks) stay."""
    with store.transaction():
        lists = [store.list_library(user.id, kind=kind) for kind in ("upvote", "save")]
        touched = [item.seq for items in lists for item in items]
        store.delete_user(user.id)
        trending.refresh(store, touched)
    log.info("deleted user=%d", user.id)
