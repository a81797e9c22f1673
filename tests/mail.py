"""A real SMTP server on 127.0.0.1 that catches what our mailers send, and can fail on demand.

`SMTPCatcher` runs aiosmtpd's threaded `Controller` on a free port; every accepted message is
parsed back with the modern email policy and kept with its envelope. `fail_next(code, times)`
makes the server answer an SMTP error code (to AUTH, at RCPT or at DATA) for the next messages,
for the delivery and retry tests; a reply to AUTH can echo what the client sent (`ECHOES`), the
way some servers do, for the tests that keep SMTP credentials out of what readers see. Test
modules get it with `from tests.mail import smtp_server`.
Nothing here imports paperfeed: it tests our code from the outside, as a mail server would.

aiosmtpd 1.4 emits no Python warnings in this set-up (threaded Controller, the current hook
signatures and `authenticator` API, AUTH offered but never required without TLS: requiring it
is what warns); `filterwarnings = error` would turn any future one into a test failure, which
is what we want, so nothing is silenced here. (After a successful AUTH aiosmtpd itself *logs*
"Session.login_data is deprecated": a log line from its own code, not a warning; harmless.)
"""

from __future__ import annotations

import base64
import email
import email.policy
import socket
import threading
import time
import weakref
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from types import TracebackType
from typing import Any, Literal

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

Stage = Literal["auth", "rcpt", "data"]
_REPLY_TEXT = {
    421: "4.3.2 Service not available, closing channel",
    450: "4.2.1 Mailbox busy, try again later",
    454: "4.7.0 Temporary authentication failure",
    451: "4.3.0 Requested action aborted: local error, try again later",
    452: "4.3.1 Insufficient system storage",
    550: "5.1.1 Mailbox unavailable",
    552: "5.3.4 Message too big for system",
    535: "5.7.8 Authentication credentials invalid",
    553: "5.1.3 Mailbox name not allowed",
    554: "5.7.1 Transaction failed",
}


# Placeholders a reply to AUTH may hold, filled with what the client sent: the AUTH command
# itself (PLAIN: one line with base64("\0user\0password"); LOGIN: base64 of the user, then of
# the password), and the login in the clear and in its base64 forms.
ECHOES = ("{auth}", "{plain}", "{user_password64}", "{user64}", "{password64}", "{user}",
          "{password}")  # fmt: skip


def _echo(text: str, mechanism: str, auth_data: Any) -> str:
    if not isinstance(auth_data, LoginPassword):
        return text
    user, password = auth_data.login, auth_data.password

    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode()

    plain = b64(b"\0" + user + b"\0" + password)
    sent = f"AUTH PLAIN {plain}" if mechanism == "PLAIN" else (
        f"AUTH {mechanism} {b64(user)} {b64(password)}")  # fmt: skip
    values = (sent, plain, b64(user + b"\0" + password), b64(user), b64(password),
              user.decode(), password.decode())  # fmt: skip
    for name, value in zip(ECHOES, values, strict=True):
        text = text.replace(name, value)
    return text


def login_forms(user: str, password: str) -> tuple[str, ...]:
    """What a leak of this login could look like: user and password in the clear and in
    base64, and the AUTH PLAIN payloads, base64 padding left off (so a cut one matches too)."""
    parts = (f"\0{user}\0{password}", f"{user}\0{password}", user, password)
    encoded = (base64.b64encode(p.encode()).decode().rstrip("=") for p in parts)
    return (user, password, *encoded)


@dataclass(frozen=True)
class Received:
    """One accepted message: parsed (with "\n" line ends), raw (as on the wire, CRLF), and
    its envelope."""

    message: EmailMessage
    raw: bytes
    mail_from: str
    rcpt_tos: tuple[str, ...]
    login: str | None = None  # the user name the client authenticated as, if it did


@dataclass(frozen=True)
class _Failure:
    code: int
    stage: Stage
    text: str

    @property
    def reply(self) -> str:
        return f"{self.code} {self.text}"


class _Handler:
    """aiosmtpd hooks; they run on the controller's thread, hence the lock."""

    def __init__(self, logins: Mapping[str, str]) -> None:
        self.lock = threading.Lock()
        self.received: list[Received] = []
        self.failures: deque[_Failure] = deque()
        self.logins = dict(logins)
        self.failed_sessions: weakref.WeakKeyDictionary[Any, _Failure] = weakref.WeakKeyDictionary()
        self.refused: dict[str, _Failure] = {}  # address -> the RCPT reply it always gets

    def _take_failure(self, stage: Stage) -> _Failure | None:
        with self.lock:
            if self.failures and self.failures[0].stage == stage:
                return self.failures.popleft()
        return None

    def authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        # smtplib tries each offered mechanism in turn: a failure lasts the whole session.
        failure = self.failed_sessions.get(session) or self._take_failure("auth")
        if failure is not None:
            self.failed_sessions[session] = failure
            reply = _echo(failure.reply, mechanism, auth_data)
            return AuthResult(success=False, handled=False, message=reply)
        is_known = isinstance(auth_data, LoginPassword) and (
            self.logins.get(auth_data.login.decode()) == auth_data.password.decode()
        )
        # handled=False: aiosmtpd then answers 535 itself (handled=True would answer nothing).
        return AuthResult(success=is_known, handled=False, auth_data=auth_data)

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        failure = self._take_failure("rcpt")
        if failure is not None:
            return failure.reply
        with self.lock:
            refused = self.refused.get(address.lower())
        if refused is not None:
            return refused.reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        failure = self._take_failure("data")
        if failure is not None:
            return failure.reply
        raw = bytes(envelope.original_content or envelope.content)
        # Stored the way a local MTA stores mail: Unix line ends, so text parts read back as
        # the "\n"-separated strings our code built (`raw` keeps the wire form).
        unix = raw.replace(b"\r\n", b"\n")
        parsed = email.message_from_bytes(unix, policy=email.policy.default)
        auth = session.auth_data
        login = auth.login.decode() if isinstance(auth, LoginPassword) else None
        item = Received(parsed, raw, str(envelope.mail_from), tuple(envelope.rcpt_tos), login)
        with self.lock:
            self.received.append(item)
        return "250 Message accepted for delivery"


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on right now (nor, most likely, a moment later)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class SMTPCatcher:
    """Use as `with SMTPCatcher() as smtp:`; send to `smtp.host`, `smtp.port`, no TLS.

    With `logins` ({user: password}) it offers AUTH PLAIN/LOGIN over the plain connection
    (never *requires* it: aiosmtpd warns about that set-up) and accepts only those logins."""

    def __init__(self, host: str = "127.0.0.1", *, logins: Mapping[str, str] | None = None) -> None:
        self.host = host
        self.port = free_port(host)
        self._handler = _Handler(logins or {})
        auth: dict[str, Any] = {}
        if logins:
            auth = {"authenticator": self._handler.authenticate, "auth_require_tls": False}
        self._controller = Controller(self._handler, hostname=host, port=self.port, **auth)

    def __enter__(self) -> SMTPCatcher:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        self._controller.start()

    def stop(self) -> None:
        self._controller.stop()

    @property
    def received(self) -> list[Received]:
        """Every accepted message with its envelope, oldest first (a copy)."""
        with self._handler.lock:
            return list(self._handler.received)

    @property
    def messages(self) -> list[EmailMessage]:
        """Every accepted message, parsed, oldest first (a copy)."""
        return [item.message for item in self.received]

    def wait_for(self, count: int, timeout_s: float = 10) -> list[EmailMessage]:
        """Poll until at least `count` messages arrived; fail the test after `timeout_s`."""
        deadline = time.monotonic() + timeout_s
        while len(messages := self.messages) < count:
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"expected {count} messages within {timeout_s:g} s, got {len(messages)}"
                )
            time.sleep(0.01)
        return messages

    def clear(self) -> None:
        """Forget received messages and pending failures."""
        with self._handler.lock:
            self._handler.received.clear()
            self._handler.failures.clear()
            self._handler.refused.clear()

    def refuse(self, address: str, code: int = 550) -> None:
        """Answer `code` to every RCPT TO for `address` from now on (a hard bounce)."""
        failure = _Failure(code, "rcpt", _REPLY_TEXT.get(code, "Failure injected"))
        with self._handler.lock:
            self._handler.refused[address.lower()] = failure

    def fail_next(
        self, code: int = 451, times: int = 1, *, stage: Stage = "data", text: str = ""
    ) -> None:
        """Answer `code` instead of accepting, for the next `times` messages (one reply per
        message: to AUTH, to RCPT, or at the end of DATA). Queued after earlier calls'
        failures; a queued failure waits for its stage. A reply to AUTH fills in the
        placeholders of `ECHOES` with what the client sent."""
        if not 400 <= code < 600:
            raise ValueError(f"an SMTP error code is 4xx or 5xx, not {code}")
        failure = _Failure(code, stage, text or _REPLY_TEXT.get(code, "Failure injected"))
        with self._handler.lock:
            self._handler.failures.extend([failure] * times)


@pytest.fixture
def smtp_server() -> Iterator[SMTPCatcher]:
    """A started SMTPCatcher, stopped after the test."""
    with SMTPCatcher() as catcher:
        yield catcher
