"""Signed, expiring tokens for links we mail (sign-in, digest clicks, unsubscribe) and keyed
hashes for things we must recognise without keeping them (clients, addresses in rate limits).

A token is `base64url(JSON payload) . base64url(HMAC-SHA256(secret, purpose . payload))`: the
purpose is part of what is signed, so a token made for one use is refused for any other. The
payload is signed, not encrypted: put nothing secret in it. Single use is the caller's job (a
nonce spent in the store). Imports nothing from the package but errors.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping
from typing import Any

import orjson

from paperfeed.errors import TokenError


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: bytes, purpose: str, body: str) -> str:
    return _b64(hmac.new(secret, f"{purpose}.{body}".encode(), hashlib.sha256).digest())


def sign(secret: bytes, purpose: str, fields: Mapping[str, Any], expires_at: float) -> str:
    body = _b64(orjson.dumps({**fields, "exp": int(expires_at)}))
    return f"{body}.{_mac(secret, purpose, body)}"


def verify(secret: bytes, purpose: str, token: str, now: float, what: str = "link"
           ) -> dict[str, Any]:  # fmt: skip
    """The fields of a genuine, unexpired token; `TokenError` with a sentence otherwise."""
    body, _, mac = token.strip().partition(".")
    if not body or not hmac.compare_digest(mac.encode(), _mac(secret, purpose, body).encode()):
        raise TokenError(f"This {what} is not valid: it may be damaged or cut short.")
    try:
        fields = orjson.loads(_unb64(body))
    except (ValueError, binascii.Error):
        raise TokenError(f"This {what} is not valid: it may be damaged.") from None
    if not isinstance(fields, dict) or not isinstance(fields.get("exp"), int):
        raise TokenError(f"This {what} is not valid.")
    if fields["exp"] < now:
        raise TokenError(f"This {what} has expired.")
    return fields


def keyed_hash(secret: bytes, purpose: str, text: str) -> str:
    """A stable pseudonym for `text` that cannot be reversed without the secret."""
    return _b64(hmac.new(secret, f"{purpose}:{text}".encode(), hashlib.sha256).digest()[:16])


def hash_token(token: str) -> str:
    """What the store keeps of a session token."""
    return hashlib.sha256(token.encode()).hexdigest()
