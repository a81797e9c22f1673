"""The mail transport: turns a `Message` into a MIME email and hands it to an SMTP server or to
a local Maildir (the demo's "local mailbox").

Sign-in links and email digests use it. Callers depend only on the `Mailer` protocol;
`paperfeed.services` builds the real one with `mailer_from_settings(settings.mail)`, the
`MailSettings` that `config.load_settings` read (`mail_settings_from_env`) from:

- PAPERFEED_SMTP_HOST: the SMTP server; empty means "write to the outbox instead"
- PAPERFEED_SMTP_PORT: default 587 for starttls, 465 for tls, 25 for none
- PAPERFEED_SMTP_SECURITY: starttls (default), tls (implicit TLS) or none
- PAPERFEED_SMTP_USER, PAPERFEED_SMTP_PASSWORD: login, both or neither
- PAPERFEED_MAIL_FROM: the sender (default "paperfeed <paperfeed@localhost>")
- PAPERFEED_OUTBOX: the Maildir folder used when no SMTP host is set (config.py resolves its
  default from the database)

Failures become `MailError`s with one sentence the operator can act on: `TemporaryMailError`
(4xx replies, refused, timed-out or dropped connections) is worth retrying later;
`PermanentMailError` (5xx replies, TLS or login misconfiguration) and a plain `MailError` (a
message that cannot be built) are not. The sentence names the server and quotes its reply,
with the SMTP login taken out (`redact_login`: user, password, their base64 forms, whatever
follows `AUTH`), so it may go to logs and the CLI; readers of the site get `MailError.public`.

Headers go out as RFC 5322 wants them read: folded at 78 characters, non-ASCII text RFC 2047
encoded, but an ASCII header with a word too long to fold (a List-Unsubscribe URL, a long
Message-ID) as it is, on one line of at most 998 (`WIRE`); a recipient is exactly one plain
mailbox, never a group. This module must not retry, queue, log message bodies, compose
digests, put the SMTP password into any repr, or any part of the login into a sentence or an
exception chain.
"""

from __future__ import annotations

import base64
import binascii
import logging
import mailbox
import os
import re
import smtplib
import socket
import ssl
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.errors import HeaderParseError
from email.message import EmailMessage
from email.policy import EmailPolicy
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any, Literal, Protocol
from urllib.parse import quote

from paperfeed.errors import InputError, PaperfeedError

log = logging.getLogger(__name__)

Security = Literal["none", "starttls", "tls"]
SECURITIES: tuple[Security, ...] = ("none", "starttls", "tls")
DEFAULT_PORTS: Mapping[Security, int] = {"none": 25, "starttls": 587, "tls": 465}
DEFAULT_SENDER = "paperfeed <paperfeed@localhost>"
# Headers build_email sets itself; letting `headers` override them would duplicate them.
RESERVED_HEADERS = frozenset(
    {"from", "to", "subject", "date", "message-id", "mime-version", "content-type"}
    | {"content-transfer-encoding", "cc", "bcc"}
)
# Characters that end a line for some mail software (str.splitlines's set) or that no header
# value should carry: refusing them is what makes header injection impossible.
_FORBIDDEN = frozenset(chr(c) for c in range(32) if c != 9) | {"\x7f", "\x85", "\u2028", "\u2029"}
_MAX_REPLY_CHARS = 200
_LONGEST_LINE = 998  # RFC 5322's hard limit, CRLF excluded
_AUTH_TAIL = re.compile(r"(\bAUTH\s+[\w-]+).*", re.IGNORECASE | re.DOTALL)
_BASE64_WORD = re.compile(r"[A-Za-z0-9+/_-]{4,}={0,2}")
HIDDEN = "***"


class _WirePolicy(EmailPolicy):
    """The email package's policy, except for an ASCII header that holds a word too long for
    a folded line: the package would RFC 2047-encode that word to split it, and mail
    providers would no longer read it (List-Unsubscribe is then ignored). Such a header goes
    out as it is, folded only where a line would pass 998 characters."""

    def fold(self, name: str, value: str) -> str:
        return str(EmailPolicy.fold(self._for(name, value), name, value))

    def fold_binary(self, name: str, value: str) -> bytes:
        return EmailPolicy.fold_binary(self._for(name, value), name, value)

    def _for(self, name: str, value: str) -> EmailPolicy:
        text, room = str(value), (self.max_line_length or _LONGEST_LINE) - len(name) - 2
        if text.isascii() and any(len(word) > room for word in text.split()):
            return self.clone(max_line_length=_LONGEST_LINE)
        return self


WIRE = _WirePolicy(linesep="\r\n")


class MailError(PaperfeedError):
    """A message that could not be built or delivered; str(error) says what the operator can
    do (it names the server, never the login); `public` is all a reader may be told."""

    public = "We could not send mail just now; try again later."

    def __init__(self, sentence: str, *, smtp_code: int | None = None, bounce: bool = False
                 ) -> None:  # fmt: skip
        super().__init__(sentence)
        self.smtp_code = smtp_code
        # The server refused this recipient or this message (RCPT or DATA reply), as opposed
        # to our session (login, TLS, sender): only a bounce counts against the address.
        self.bounce = bounce


class TemporaryMailError(MailError):
    """Delivery failed for now (4xx reply, connection refused, timed out or dropped): retry."""


class PermanentMailError(MailError):
    """Delivery will not succeed as configured or addressed (5xx reply, TLS, login): no retry."""


@dataclass(frozen=True, slots=True)
class Message:
    to: str
    subject: str
    text: str
    html: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    message_id: str | None = None


class Mailer(Protocol):
    def send(self, msg: Message) -> str:
        """Deliver `msg`; return its Message-ID (with angle brackets). Raises MailError."""
        ...


def build_email(msg: Message, sender: str, *, now: datetime) -> EmailMessage:
    """The MIME form of `msg`: text/plain, or multipart/alternative (plain, then html)."""
    _check_message(msg, sender)
    email = EmailMessage(policy=WIRE)
    email["From"] = sender
    email["To"] = msg.to
    email["Subject"] = msg.subject
    email["Date"] = format_datetime(now)
    email["Message-ID"] = _message_id(msg.message_id, sender)
    for name, value in msg.headers.items():
        email[name] = value
    email.set_content(msg.text)
    if msg.html is not None:
        email.add_alternative(msg.html, subtype="html")
    return email


def envelope_address(header_value: str) -> str:
    """The bare address (`a@b`) of a single-address header value like `Ann <a@b>`; "" when
    the value is not exactly one mailbox."""
    return _single_address(header_value) or ""


def _single_address(value: str) -> str | None:
    """The addr-spec of a header value naming exactly one mailbox (`a@b`, `Ann <a@b>`), else
    None: a list, a group (`g0:victim@b`, mailed to its member) or what the parser had to
    repair is not one."""
    try:
        header: Any = WIRE.header_factory("To", value)
        groups = header.groups
    except (HeaderParseError, ValueError, IndexError, TypeError):
        return None
    if header.defects or len(groups) != 1 or groups[0].display_name is not None:
        return None
    addresses = groups[0].addresses
    if len(addresses) != 1 or not addresses[0].username or not addresses[0].domain:
        return None
    return str(addresses[0].addr_spec)


def _check_message(msg: Message, sender: str) -> None:
    _check_header("From", sender)
    _check_header("Subject", msg.subject)
    _check_single_address("the sender", sender)
    try:
        _check_header("To", msg.to)
        _check_single_address("the recipient", msg.to)
    except MailError as exc:  # the address's fault (one stored by an older, laxer version)
        raise PermanentMailError(str(exc), bounce=True) from None
    if msg.message_id is not None:
        _check_header("Message-ID", msg.message_id)
    for name, value in msg.headers.items():
        if not name.isascii() or not name.isprintable() or not name or set(name) & {":", " "}:
            raise MailError(f"{name!r} is not a valid email header name.")
        if name.lower() in RESERVED_HEADERS:
            raise MailError(f"The {name} header is set by the mailer; pass it in the Message.")
        _check_header(name, value)


def _check_header(name: str, value: str) -> None:
    if set(value) & _FORBIDDEN:
        raise MailError(
            f"The {name} header contains a line break or control character; "
            "remove it (header values must be a single line)."
        )


def _check_single_address(role: str, value: str) -> None:
    if _single_address(value) is None:
        raise MailError(f"{value!r} is not a single email address, so {role} cannot be used.")


def _message_id(given: str | None, sender: str) -> str:
    if given:
        return given if given.startswith("<") else f"<{given}>"
    domain = envelope_address(sender).rpartition("@")[2] or "localhost"
    return make_msgid(domain=domain)


def _utc_now() -> datetime:
    return datetime.now(UTC)


class SMTPMailer:
    """Delivers each message over its own SMTP connection, with smtplib."""

    def __init__(
        self,
        host: str,
        port: int,
        security: Security,
        username: str,
        password: str,
        sender: str,
        timeout_s: float = 30,
        *,
        ssl_context: ssl.SSLContext | None = None,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        if security not in SECURITIES:
            raise ValueError(f"security must be one of {SECURITIES}, not {security!r}")
        self.host, self.port, self.security = host, port, security
        self.username, self._password, self.sender = username, password, sender
        self.timeout_s = timeout_s
        self._ssl_context = ssl_context
        self._clock = clock

    def __repr__(self) -> str:
        return (
            f"SMTPMailer({self.host}:{self.port}, security={self.security}, user={self.username!r})"
        )

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"

    def send(self, msg: Message) -> str:
        email = build_email(msg, self.sender, now=self._clock())
        try:
            self._deliver(email, envelope_address(msg.to))
        except (smtplib.SMTPResponseException, smtplib.SMTPRecipientsRefused) as exc:
            # The server's reply is in the sentence, login taken out; a printed chain would
            # repeat it raw (a hostile server may echo what AUTH sent).
            raise self._reply_error(exc) from None
        except smtplib.SMTPException as exc:
            raise self._protocol_error(exc) from exc
        except OSError as exc:
            raise self._network_error(exc) from exc
        return str(email["Message-ID"])

    def _deliver(self, email: EmailMessage, recipient: str) -> None:
        with self._connect() as smtp:
            if self.security == "starttls":
                smtp.starttls(context=self._context())
            if self.username:
                smtp.login(self.username, self._password)
            smtp.send_message(email, envelope_address(self.sender), [recipient])

    def _connect(self) -> smtplib.SMTP:
        if self.security == "tls":
            return smtplib.SMTP_SSL(
                self.host, self.port, timeout=self.timeout_s, context=self._context()
            )
        return smtplib.SMTP(self.host, self.port, timeout=self.timeout_s)

    def _context(self) -> ssl.SSLContext:
        return self._ssl_context or ssl.create_default_context()

    def _error(self, kind: type[MailError], sentence: str, *, smtp_code: int | None = None,
               bounce: bool = False) -> MailError:  # fmt: skip
        """Every error of ours is made here: its sentence goes to logs, so no login in it."""
        return kind(redact_login(sentence, self.username, self._password), smtp_code=smtp_code,
                    bounce=bounce)  # fmt: skip

    def _reply_error(
        self, exc: smtplib.SMTPResponseException | smtplib.SMTPRecipientsRefused
    ) -> MailError:
        text: bytes | str
        bounce = isinstance(exc, smtplib.SMTPRecipientsRefused | smtplib.SMTPDataError)
        if isinstance(exc, smtplib.SMTPRecipientsRefused):
            recipient, (code, text) = next(iter(exc.recipients.items()))
            what, fix = f"refused the recipient {recipient!r}", "check the address"
        else:
            code, text = exc.smtp_code, exc.smtp_error
            what, fix = self._what_failed(exc)
        is_temporary = 400 <= code < 500
        sentence = f"The mail server at {self.where} {what} ({self._reply(code, text)}); " + (
            "try again later." if is_temporary else f"{fix}."
        )
        kind = TemporaryMailError if is_temporary else PermanentMailError
        return self._error(kind, sentence, smtp_code=code, bounce=bounce)

    def _what_failed(self, exc: smtplib.SMTPResponseException) -> tuple[str, str]:
        if isinstance(exc, smtplib.SMTPAuthenticationError):
            return (
                "did not accept the login",
                "check PAPERFEED_SMTP_USER and PAPERFEED_SMTP_PASSWORD",
            )
        if isinstance(exc, smtplib.SMTPSenderRefused):
            return f"refused the sender {exc.sender!r}", "check PAPERFEED_MAIL_FROM"
        if isinstance(exc, smtplib.SMTPConnectError | smtplib.SMTPHeloError):
            return "refused the session", "check PAPERFEED_SMTP_HOST and PAPERFEED_SMTP_PORT"
        return (
            "rejected the message",
            "check the recipient, PAPERFEED_MAIL_FROM and the server's sending policy",
        )

    def _protocol_error(self, exc: smtplib.SMTPException) -> MailError:
        if isinstance(exc.__context__, OSError):  # smtplib wraps a read that timed out
            return self._network_error(exc.__context__)
        if isinstance(exc, smtplib.SMTPServerDisconnected):
            return self._error(TemporaryMailError,
                               f"The mail server at {self.where} closed the connection "
                               "unexpectedly; try again later.")  # fmt: skip
        return self._error(PermanentMailError,
                           f"The mail server at {self.where} cannot be used as configured "
                           f"({exc}); check PAPERFEED_SMTP_SECURITY, PAPERFEED_SMTP_USER and "
                           "PAPERFEED_SMTP_PASSWORD.")  # fmt: skip

    def _network_error(self, exc: OSError) -> MailError:
        return self._error(*self._network_failure(exc))

    def _network_failure(self, exc: OSError) -> tuple[type[MailError], str]:
        where = self.where
        if isinstance(exc, ssl.SSLError):
            return PermanentMailError, (
                f"TLS with the mail server at {where} failed ({exc.reason or exc}); "
                "check PAPERFEED_SMTP_SECURITY (tls for port 465, starttls for 587)."
            )
        if isinstance(exc, socket.gaierror):
            return TemporaryMailError, (
                f"The mail server name {self.host!r} could not be looked up; "
                "check PAPERFEED_SMTP_HOST and the network."
            )
        if isinstance(exc, ConnectionRefusedError):
            return TemporaryMailError, (
                f"The mail server at {where} refused the connection; "
                "check PAPERFEED_SMTP_HOST and PAPERFEED_SMTP_PORT."
            )
        if isinstance(exc, TimeoutError):
            return TemporaryMailError, (
                f"The mail server at {where} did not answer within {self.timeout_s:g} s; "
                "check PAPERFEED_SMTP_HOST and PAPERFEED_SMTP_PORT, or try again later."
            )
        return TemporaryMailError, (
            f"The connection to the mail server at {where} failed ({exc.strerror or exc}); "
            "try again later."
        )

    def _reply(self, code: int, text: bytes | str) -> str:
        """The server's reply, printable and short, the login taken out before it is cut:
        whatever follows `AUTH <mechanism>` (a server echoing the command) too."""
        raw = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
        reply = _AUTH_TAIL.sub(rf"\1 {HIDDEN}", f"{code} {raw}")
        reply = redact_login(reply, self.username, self._password)
        return " ".join(reply.split())[:_MAX_REPLY_CHARS]


def redact_login(text: str, user: str, password: str) -> str:
    """`text` without any part of an SMTP login: any base64 word that decodes to something
    holding the user or the password (AUTH PLAIN and LOGIN send them so), then the password,
    the user and their encodings (base64, hex, URL quoting) wherever they are; the user in
    the clear only where it is a word of its own ("ann" stays in "cannot")."""
    secrets = [secret.encode() for secret in (user, password) if secret]
    if not secrets:
        return text

    def hide(word: re.Match[str]) -> str:
        found = word.group(0)
        decoded = [_base64_decoded(found[skip:]) for skip in range(4)]  # cut at any offset
        return HIDDEN if any(s in d for s in secrets for d in decoded) else found

    text = _BASE64_WORD.sub(hide, text)
    for form in sorted(set(_login_forms(user, password)), key=len, reverse=True):
        text = text.replace(form, HIDDEN)
    for form in dict.fromkeys((user, quote(user, safe=""))) if user else ():
        text = re.sub(rf"(?<![\w-]){re.escape(form)}(?![\w-])", HIDDEN, text)
    return text


def _base64_decoded(word: str) -> bytes:
    padded = word.rstrip("=").replace("-", "+").replace("_", "/")
    try:
        return base64.b64decode(padded + "=" * (-len(padded) % 4), validate=True)
    except (binascii.Error, ValueError):
        return b""


def _login_forms(user: str, password: str) -> Iterator[str]:
    """The encoded forms of a login, and the password in the clear."""
    whole = [f"\0{user}\0{password}", f"{user}\0{password}"] if user and password else []
    if password:
        yield from (password, quote(password, safe=""))
    for secret in (*whole, user, password):
        if secret:
            data = secret.encode()
            yield from (data.hex(), data.hex().upper())
            yield base64.b64encode(data).decode().rstrip("=")
            yield base64.urlsafe_b64encode(data).decode().rstrip("=")


class OutboxMailer:
    """Writes each message into a Maildir (`folder/new/`), where any mail reader can open it."""

    def __init__(
        self,
        folder: str | Path,
        *,
        sender: str = DEFAULT_SENDER,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self.folder = Path(folder)
        self.sender = sender
        self._clock = clock

    def __repr__(self) -> str:
        return f"OutboxMailer({str(self.folder)!r})"

    def send(self, msg: Message) -> str:
        email = build_email(msg, self.sender, now=self._clock())
        try:
            box = mailbox.Maildir(self.folder, create=True)  # its folders are made 0700
            key = box.add(email.as_bytes(policy=WIRE.clone(linesep="\n")))  # Maildir: "\n"
            os.chmod(self.folder / "new" / key, 0o600)  # sign-in links: its owner's alone
        except OSError as exc:
            raise MailError(
                f"Cannot write the message to the outbox {str(self.folder)!r} "
                f"({exc.strerror or exc}); check PAPERFEED_OUTBOX and the folder's permissions."
            ) from exc
        # No SMTP server is set (the demo): say where the mail is, or nobody would find it.
        log.warning("no SMTP server set: mail to %s saved as %s", msg.to,
                    self.folder / "new" / key)  # fmt: skip
        return str(email["Message-ID"])


@dataclass(frozen=True, slots=True)
class MailSettings:
    host: str = ""
    port: int = DEFAULT_PORTS["starttls"]
    security: Security = "starttls"
    username: str = ""
    password: str = field(default="", repr=False)
    sender: str = DEFAULT_SENDER
    outbox: str = "outbox"


def mailer_from_settings(s: MailSettings) -> Mailer:
    """SMTP when a host is set, else the local Maildir outbox."""
    if s.host:
        return SMTPMailer(s.host, s.port, s.security, s.username, s.password, s.sender)
    return OutboxMailer(s.outbox, sender=s.sender)


def mail_settings_from_env(env: Mapping[str, str], default_outbox: str) -> MailSettings:
    """MailSettings from PAPERFEED_SMTP_* / PAPERFEED_MAIL_FROM / PAPERFEED_OUTBOX; empty
    values count as unset. Raises InputError naming the variable that is wrong."""
    security = _security(env.get("PAPERFEED_SMTP_SECURITY") or "starttls")
    username = env.get("PAPERFEED_SMTP_USER", "")
    password = env.get("PAPERFEED_SMTP_PASSWORD", "")
    if bool(username) != bool(password):
        missing = "PAPERFEED_SMTP_PASSWORD" if username else "PAPERFEED_SMTP_USER"
        raise InputError(f"{missing} is empty; set both SMTP user and password, or neither.")
    return MailSettings(
        host=_host(env.get("PAPERFEED_SMTP_HOST", "")),
        port=_port(env.get("PAPERFEED_SMTP_PORT") or str(DEFAULT_PORTS[security])),
        security=security,
        username=username,
        password=password,
        sender=_sender(env.get("PAPERFEED_MAIL_FROM") or DEFAULT_SENDER),
        outbox=env.get("PAPERFEED_OUTBOX") or default_outbox,
    )


def _security(text: str) -> Security:
    value = text.strip().lower()
    if value not in SECURITIES:
        raise InputError(f"PAPERFEED_SMTP_SECURITY={text!r} is not one of starttls, tls or none.")
    return value


def _host(text: str) -> str:
    host = text.strip()
    if any(c.isspace() or c in _FORBIDDEN or c in "/@" for c in host):
        raise InputError(f"PAPERFEED_SMTP_HOST={text!r} is not a host name or IP address.")
    if host.count(":") == 1:  # "smtp.example.org:587"; IPv6 addresses have several colons
        raise InputError(
            f"PAPERFEED_SMTP_HOST={text!r} includes a port; put the port in PAPERFEED_SMTP_PORT."
        )
    return host


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise InputError(f"PAPERFEED_SMTP_PORT={text!r} is not a port number.") from None
    if not 0 < port < 65536:
        raise InputError(f"PAPERFEED_SMTP_PORT={text!r} is not between 1 and 65535.")
    return port


def _sender(text: str) -> str:
    try:
        _check_header("From", text)
        _check_single_address("the sender", text)
    except MailError:
        raise InputError(
            f"PAPERFEED_MAIL_FROM={text!r} is not one email address like "
            "'paperfeed <paperfeed@example.org>'."
        ) from None
    return text
