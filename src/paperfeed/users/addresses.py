"""Email addresses that strangers type, and the inbox each one reaches, so that the limits on
what we mail hold however an address is spelled.

`normalize_email` takes exactly one address in its plain form, `local@domain`: a local part of
ASCII dot-atom text (at most 64 characters), a domain that is a host name with a dot (IDNA
allowed, kept in its ASCII `xn--` form so that any mail server takes it), 254 characters in
all. It refuses what a mail library would still parse into something else: display names,
groups (`g0:victim@example.com` is delivered to the victim), comments, quoted local parts,
address literals, control characters, a trailing dot. What it returns is lower-cased and is
what we store and send to, `+tag` included.

`mailbox_key` is the inbox that receives the mail: the local part without its `+tag`. Limits
count against it, so that variants of one address share them; `inbox_has_room` is the daily
cap on what strangers' requests (sign-in links, digest confirmations, together) may send one
inbox. Held-back mail is silent: the caller answers as if it were sent, so nobody learns
anything about an address. Nothing here sends mail or knows HTTP.
"""

from __future__ import annotations

import re

from paperfeed.errors import InputError
from paperfeed.store import Store
from paperfeed.tokens import keyed_hash

MAX_LOCAL_CHARS = 64
MAX_ADDRESS_CHARS = 254
MAILS_PER_INBOX_DAY = 10
_DAY_S = 86400.0
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"  # RFC 5322 atext: ASCII, no controls, no spaces
_LOCAL = re.compile(rf"{_ATOM}(?:\.{_ATOM})*")
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_BAD = "That does not look like an email address; check it and try again."


def normalize_email(text: str) -> str:
    """The address to store and send to, or `InputError` with one sentence."""
    local, at, domain = text.strip().rpartition("@")
    host = _host(domain)
    if not at or host is None or len(local) > MAX_LOCAL_CHARS or not _LOCAL.fullmatch(local):
        raise InputError(_BAD)
    address = f"{local.lower()}@{host}"
    # "=?" opens an RFC 2047 word: a mail reader would show the To header as another address
    if len(address) > MAX_ADDRESS_CHARS or "=?" in local:
        raise InputError(_BAD)
    return address


def _host(domain: str) -> str | None:
    """The domain in lower-case ASCII if it is a host name with at least one dot, else None."""
    if not domain.isascii():
        try:
            domain = domain.encode("idna").decode("ascii")
        except UnicodeError:
            return None
    labels = domain.lower().split(".")
    if len(labels) < 2 or labels[-1].isdigit():  # "localhost", an IPv4 address
        return None
    if not all(_LABEL.fullmatch(label) for label in labels):  # empty: "a..b", a trailing dot
        return None
    return ".".join(labels)


def mailbox_key(address: str) -> str:
    """The inbox a normalized address reaches: `ann+papers@example.org` -> `ann@example.org`."""
    local, _, domain = address.rpartition("@")
    return f"{local.partition('+')[0]}@{domain}"


def inbox_has_room(store: Store, secret: bytes, address: str, now: float) -> bool:
    """Count one mail that a stranger's request sends to `address`'s inbox; False, counting
    nothing, when that inbox got `MAILS_PER_INBOX_DAY` of them in the last day (send nothing,
    answer as usual). The key is a keyed hash: the table never holds the address."""
    key = "inbox-day:" + keyed_hash(secret, "mailbox", mailbox_key(address))
    return store.hit_rate(key, now, _DAY_S, MAILS_PER_INBOX_DAY)
