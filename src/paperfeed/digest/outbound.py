"""Outgoing requests to addresses readers give us (webhooks), kept off our own network.

Server-side request forgery: a reader who sets a webhook to http://169.254.169.254/ or
http://10.0.0.5:8080/admin must not make this server talk to its cloud metadata or its
neighbours. `check` resolves the host once (getaddrinfo) and refuses the URL when ANY address
it resolves to is not public: loopback, private (RFC 1918, fc00::/7), link-local (169.254/16
with the metadata address, fe80::/10), multicast, reserved, unspecified, shared (CGNAT
100.64/10), documentation ranges, and the IPv4-mapped and NAT64 IPv6 forms of all of those;
unless the operator allows the range (PAPERFEED_OUTBOUND_ALLOW, which the tests set to
loopback). Only http and https; plain http only to an allowed range.

`post` then connects to the address it checked, not to the name again (a second lookup could
answer differently: DNS rebinding), with the URL's host in the Host header and, for https, as
the TLS server name (SNI and certificate check) through httpcore's `sni_hostname` extension.
Redirects are not followed: a webhook has no business redirecting, and a redirect could point
inward; a 3xx is a permanent failure. Timeouts are short and the answer's body is read only up
to a cap. Nothing here logs or raises with the URL's path or query (a Slack or Discord webhook
URL is itself a credential): only the host.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpcore

from paperfeed import __version__
from paperfeed.errors import PaperfeedError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
USER_AGENT = f"paperfeed/{__version__} (webhook notifications)"
TIMEOUT_S = 10.0
MAX_ANSWER_BYTES = 64 * 1024
Resolve = Callable[[str, int], Sequence[str]]
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


class OutboundRefused(PaperfeedError):
    """A URL this server will not send to; the message is one sentence for the reader."""


class OutboundFailed(PaperfeedError):
    """A request that went out and did not get an answer (timeout, connection refused or
    reset, TLS failure): worth trying again later."""


@dataclass(frozen=True, slots=True)
class Target:
    """A checked URL: where to connect (`address`, pinned) and what to call it (`host`)."""

    url: str = field(repr=False)  # a Slack or Discord URL is a credential
    scheme: str
    host: str
    port: int
    address: IPAddress


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    headers: Mapping[str, str]
    body: bytes  # at most MAX_ANSWER_BYTES


def system_resolve(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def parse_allow(items: Sequence[str]) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(item, strict=False) for item in items)


@dataclass(frozen=True, slots=True)
class Outbound:
    """The outbound policy: which non-public networks are allowed anyway, and the limits."""

    allow: tuple[IPNetwork, ...] = ()
    timeout_s: float = TIMEOUT_S
    resolve: Resolve = system_resolve
    ssl_context: ssl.SSLContext | None = None  # None: the system's CAs (tests give their own)

    @classmethod
    def from_settings(cls, allow: Sequence[str]) -> Outbound:
        return cls(parse_allow(allow))

    def allowed(self, address: IPAddress) -> bool:
        return any(address in net for net in self.allow if net.version == address.version)

    def check(self, url: str) -> Target:
        """The URL resolved and checked; `OutboundRefused` (one sentence) when it may not be
        used."""
        try:
            parts = urlsplit(url.strip())
            port = parts.port
        except ValueError:
            raise OutboundRefused("That is not a valid URL.") from None
        scheme, host = parts.scheme.lower(), parts.hostname
        if scheme not in ("http", "https"):
            raise OutboundRefused("Only https:// URLs can receive notifications.")
        if not host:
            raise OutboundRefused("The URL has no host name.")
        try:  # an internationalised name as DNS knows it (and as the Host header carries it)
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            raise OutboundRefused("The URL's host name is not valid.") from None
        if parts.username is not None or parts.password is not None:
            raise OutboundRefused("The URL must not hold a user name or password.")
        port = port or (443 if scheme == "https" else 80)
        try:
            found = self.resolve(host, port)
        except (OSError, UnicodeError):
            found = []
        if not found:
            raise OutboundRefused(f"The host {host} cannot be resolved.")
        addresses = [_address(a) for a in found]
        for address in addresses:
            if not _public(address) and not self.allowed(address):
                named = (
                    host
                    if host == str(address)
                    else f"The host {host} resolves to {address}, which"
                )
                raise OutboundRefused(f"{named} is not a public address; notifications go to "
                                      "public hosts only.")  # fmt: skip
        if scheme == "http" and not all(self.allowed(a) for a in addresses):
            raise OutboundRefused("Only https:// URLs can receive notifications.")
        return Target(url.strip(), scheme, host, port, addresses[0])

    def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> Answer:
        """POST `body` to the checked, pinned address of `url`; the answer whatever its status
        (redirects not followed). `OutboundRefused`: the URL may not be used (any longer: its
        name now resolves inward); `OutboundFailed`: no answer came."""
        target = self.check(url)
        parts = urlsplit(target.url)
        ip = str(target.address)
        netloc = f"[{ip}]:{target.port}" if target.address.version == 6 else f"{ip}:{target.port}"
        pinned = urlunsplit((target.scheme, netloc, parts.path or "/", parts.query, ""))
        default_port = 443 if target.scheme == "https" else 80
        host_header = _host_header(target.host, target.port, default_port)
        sent = {"User-Agent": USER_AGENT, **headers, "Host": host_header}
        timeout = {"connect": self.timeout_s, "read": self.timeout_s,
                   "write": self.timeout_s, "pool": self.timeout_s}  # fmt: skip
        extensions: dict[str, Any] = {"timeout": timeout}
        if target.scheme == "https":
            extensions["sni_hostname"] = target.host
        # httpcore, not httpx: httpx logs every request's full URL at INFO, and a webhook URL
        # is a credential. httpcore follows no redirects and reads no proxy settings.
        try:
            with (
                httpcore.ConnectionPool(ssl_context=self.ssl_context) as pool,
                pool.stream(
                    "POST", pinned, headers=list(sent.items()), content=body, extensions=extensions
                ) as response,
            ):
                data = bytearray()
                for chunk in response.iter_stream():
                    data += chunk
                    if len(data) >= MAX_ANSWER_BYTES:
                        break
                status = response.status
                headers_in = {k.decode("latin-1").lower(): v.decode("latin-1")
                              for k, v in response.headers}  # fmt: skip
        except httpcore.TimeoutException:
            raise OutboundFailed(f"{target.host} did not answer in time.") from None
        except (httpcore.NetworkError, httpcore.ProtocolError, httpcore.UnsupportedProtocol,
                OSError) as exc:  # fmt: skip
            raise OutboundFailed(f"{target.host} could not be reached "
                                 f"({type(exc).__name__}).") from None  # fmt: skip
        return Answer(status, headers_in, bytes(data[:MAX_ANSWER_BYTES]))


def _host_header(host: str, port: int, default_port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return shown if port == default_port else f"{shown}:{port}"


def _address(text: str) -> IPAddress:
    address = ipaddress.ip_address(text.split("%", 1)[0])  # fe80::1%eth0: the scope is not ours
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
    return address


def _public(address: IPAddress) -> bool:
    """Globally reachable unicast: not loopback, private, link-local, shared (100.64/10),
    reserved, documentation, unspecified or multicast; a NAT64 address (64:ff9b::/96) only
    when the IPv4 address it carries is."""
    if isinstance(address, ipaddress.IPv6Address) and address in _NAT64:
        return _public(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    if address.is_multicast or address.is_unspecified or address.is_loopback:
        return False
    if address.is_link_local or address.is_private or address.is_reserved:
        return False
    if isinstance(address, ipaddress.IPv6Address) and (
        address.sixtofour is not None or address.teredo is not None
    ):
        return False  # tunnels that carry an IPv4 address we would have to check again
    return address.is_global
