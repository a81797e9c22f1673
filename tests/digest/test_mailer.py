"""The mail transport against a real SMTP server (aiosmtpd on 127.0.0.1) and a real Maildir."""

from __future__ import annotations

import email
import email.header
import email.policy
import mailbox
import re
import socket
import threading
import traceback
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from paperfeed.digest.mailer import (
    Mailer,
    MailError,
    MailSettings,
    Message,
    OutboxMailer,
    PermanentMailError,
    SMTPMailer,
    TemporaryMailError,
    build_email,
    envelope_address,
    mail_settings_from_env,
    mailer_from_settings,
)
from paperfeed.errors import InputError
from tests.mail import SMTPCatcher, free_port, login_forms, smtp_server

__all__ = ["smtp_server"]  # the fixture, imported for pytest

NOW = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)
SENDER = "paperfeed <digest@paperfeed.example>"
PASSWORD = "s3cret-Pa55"
LOGIN = "mailer-7f3k@relay.example.net"
HOSTILE_SUBJECT = (
    "<script>alert('x')</script> Ünïcødé 論文 — "
    + "a very long subject that must be folded " * 12
    + "x" * 300
)
# a List-Unsubscribe and a Message-ID as long as the sender's (over 78 characters a line)
UNSUBSCRIBE = (
    "<https://papers.example.org/u/eyJzIjo0MiwiZXhwIjoxODI2NzA1NjAwfQ." + "Zm9v" * 20 + ">"
)
LIST_ID = "paperfeed digest <digest.a-rather-long-host-name-for-lists.papers.example.org>"
LONG_ID = "<digest.123456.d2026-11-24@a-rather-long-host-name-for-messages.papers.example.org>"
LIST_HEADERS = {
    "List-Unsubscribe": UNSUBSCRIBE,
    "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    "List-Id": LIST_ID,
}
TITLE = "Ünïcødé 論文 — " + "graph neural networks for molecules " * 4 + "(survey)"
LONG_ASCII = " and ".join(["graph neural networks for molecules"] * 30)  # over 998 characters
HTML = '<p>Hello <a href="https://paperfeed.example/s?t=1&amp;u=2">sign in</a> ✓</p>'


def smtp_mailer(catcher: SMTPCatcher, **overrides: object) -> SMTPMailer:
    options: dict[str, object] = {
        "host": catcher.host,
        "port": catcher.port,
        "security": "none",
        "username": "",
        "password": "",
        "sender": SENDER,
        "timeout_s": 5,
    }
    options.update(overrides)
    return SMTPMailer(**options, clock=lambda: NOW)  # type: ignore[arg-type]


def message(**overrides: object) -> Message:
    fields: dict[str, object] = {
        "to": "Ann Reader <ann@example.org>",
        "subject": "Your sign-in link",
        "text": "Open https://paperfeed.example/s?t=1 to sign in.\n",
    }
    fields.update(overrides)
    return Message(**fields)  # type: ignore[arg-type]


def parse(raw: bytes) -> EmailMessage:
    return email.message_from_bytes(raw, policy=email.policy.default)


def parts(received: EmailMessage) -> tuple[str, str | None]:
    plain = received.get_body(("plain",))
    html = received.get_body(("html",))
    assert plain is not None
    return plain.get_content(), None if html is None else html.get_content()


def header_lines(raw: bytes) -> list[str]:
    """The header section as a plain reader sees it (no decoding, folds kept), ASCII only."""
    head = raw.replace(b"\r\n", b"\n").split(b"\n\n", 1)[0]
    return head.decode("ascii").split("\n")


def raw_value(lines: list[str], name: str) -> str:
    """Header `name`'s value unfolded (RFC 5322 2.2.3), not decoded."""
    found = re.search(rf"^{name}: ?(.*(?:\n[ \t].*)*)", "\n".join(lines), re.M | re.I)
    assert found, name
    return re.sub(r"\n(?=[ \t])", "", found.group(1))


# --- SMTP round trips ------------------------------------------------------------------


def test_plain_and_html_round_trip(smtp_server: SMTPCatcher) -> None:
    msg = message(html=HTML, headers={"List-Unsubscribe": "<https://paperfeed.example/u>"})
    message_id = smtp_mailer(smtp_server).send(msg)

    [got] = smtp_server.wait_for(1)
    assert got.get_content_type() == "multipart/alternative"
    assert parts(got) == (msg.text, HTML + "\n")
    assert got["Message-ID"] == message_id
    assert message_id.startswith("<") and message_id.endswith("@paperfeed.example>")
    assert got["From"] == SENDER
    assert got["To"] == "Ann Reader <ann@example.org>"
    assert got["List-Unsubscribe"] == "<https://paperfeed.example/u>"
    assert parsedate_to_datetime(got["Date"]) == NOW
    [envelope] = smtp_server.received
    assert envelope.mail_from == "digest@paperfeed.example"
    assert envelope.rcpt_tos == ("ann@example.org",)


def test_text_only_message_is_not_multipart(smtp_server: SMTPCatcher) -> None:
    smtp_mailer(smtp_server).send(message())
    [got] = smtp_server.messages
    assert got.get_content_type() == "text/plain"
    assert parts(got) == (message().text, None)


def test_given_message_id_is_kept(smtp_server: SMTPCatcher) -> None:
    mailer = smtp_mailer(smtp_server)
    assert mailer.send(message(message_id="<digest-42@paperfeed.example>")) == (
        "<digest-42@paperfeed.example>"
    )
    assert mailer.send(message(message_id="bare-7@paperfeed.example")) == (
        "<bare-7@paperfeed.example>"
    )
    ids = [m["Message-ID"] for m in smtp_server.wait_for(2)]
    assert ids == ["<digest-42@paperfeed.example>", "<bare-7@paperfeed.example>"]


def test_generated_message_ids_differ(smtp_server: SMTPCatcher) -> None:
    mailer = smtp_mailer(smtp_server)
    assert mailer.send(message()) != mailer.send(message())


def test_hostile_subject_and_body_survive_encoding(smtp_server: SMTPCatcher) -> None:
    body = "Ünïcødé 論文 <script>alert(1)</script>\n.\n.leading dot\n" + "y" * 2000 + "\n"
    smtp_mailer(smtp_server).send(message(subject=HOSTILE_SUBJECT, text=body, html=body))

    [got] = smtp_server.wait_for(1)
    assert got["Subject"] == HOSTILE_SUBJECT
    assert parts(got) == (body, body)
    raw_lines = smtp_server.received[0].raw.splitlines()
    assert max(len(line) for line in raw_lines) <= 998  # RFC 5322's hard limit
    assert all(line.isascii() for line in raw_lines)


# --- headers as they are on the wire (read without decoding, as a mail provider does) ----


@pytest.fixture(params=["smtp", "outbox"])
def wire(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[Message], bytes]:
    """Sends with the SMTP mailer (the bytes aiosmtpd received) or the outbox (the file)."""
    if request.param == "outbox":
        folder = tmp_path / "outbox"

        def to_outbox(msg: Message) -> bytes:
            OutboxMailer(folder, sender=SENDER, clock=lambda: NOW).send(msg)
            [written] = (folder / "new").iterdir()
            data = written.read_bytes()
            written.unlink()
            return data

        return to_outbox
    catcher: SMTPCatcher = request.getfixturevalue("smtp_server")

    def to_smtp(msg: Message) -> bytes:
        smtp_mailer(catcher).send(msg)
        raw = catcher.received[-1].raw
        catcher.clear()
        return raw

    return to_smtp


def test_ascii_headers_go_out_as_they_are(wire: Callable[[Message], bytes]) -> None:
    """RFC 8058 one-click unsubscribe works only if providers can read List-Unsubscribe as
    it is: never RFC 2047-encoded, never folded inside its URL."""
    lines = header_lines(wire(message(headers=LIST_HEADERS, message_id=LONG_ID)))
    assert f"List-Unsubscribe: {UNSUBSCRIBE}" in lines
    assert [line for line in lines if re.match(r"List-Unsubscribe: <http", line)]
    assert "List-Unsubscribe-Post: List-Unsubscribe=One-Click" in lines
    assert raw_value(lines, "List-Id") == LIST_ID  # folded at its space, as RFC 5322 allows
    assert f"Message-ID: {LONG_ID}" in lines
    assert f"From: {SENDER}" in lines
    assert "To: Ann Reader <ann@example.org>" in lines
    assert "Subject: Your sign-in link" in lines
    assert all(len(line) <= 998 for line in lines)
    assert not [line for line in lines if "=?" in line]


def test_a_non_ascii_subject_is_encoded_in_short_words(wire: Callable[[Message], bytes]) -> None:
    lines = header_lines(wire(message(subject=TITLE, headers=LIST_HEADERS)))
    value = raw_value(lines, "Subject")
    words = re.findall(r"=\?utf-8\?[bq]\?[^?]*\?=", value, re.I)
    assert words and all(len(word) <= 75 for word in words)  # RFC 2047's limit
    start = next(i for i, line in enumerate(lines) if line.startswith("Subject:"))
    folded = [lines[start], *(line for line in lines[start + 1 :] if line[:1] in " \t")]
    assert all(len(line) <= 78 for line in folded)
    assert str(email.header.make_header(email.header.decode_header(value))) == TITLE
    assert f"List-Unsubscribe: {UNSUBSCRIBE}" in lines


def test_a_long_ascii_subject_is_folded_not_encoded(wire: Callable[[Message], bytes]) -> None:
    lines = header_lines(wire(message(subject=LONG_ASCII)))
    value = raw_value(lines, "Subject")
    assert value == LONG_ASCII and "=?" not in value
    start = next(i for i, line in enumerate(lines) if line.startswith("Subject:"))
    assert lines[start + 1].startswith(" ")  # folded ...
    assert all(len(line) <= 78 for line in lines)  # ... where RFC 5322 says it should be


def test_451_is_temporary(smtp_server: SMTPCatcher) -> None:
    smtp_server.fail_next(code=451, times=1)
    mailer = smtp_mailer(smtp_server)
    with pytest.raises(TemporaryMailError) as caught:
        mailer.send(message())
    assert caught.value.smtp_code == 451
    assert f"{smtp_server.host}:{smtp_server.port}" in str(caught.value)
    assert "try again later" in str(caught.value)
    mailer.send(message())  # the next attempt goes through
    assert len(smtp_server.wait_for(1)) == 1


def test_550_is_permanent(smtp_server: SMTPCatcher) -> None:
    smtp_server.fail_next(code=550, times=1)
    with pytest.raises(PermanentMailError) as caught:
        smtp_mailer(smtp_server).send(message())
    assert caught.value.smtp_code == 550
    assert "550" in str(caught.value)
    assert smtp_server.messages == []


@pytest.mark.parametrize(("code", "error"), [(450, TemporaryMailError), (550, PermanentMailError)])
def test_refused_recipient_names_it(
    smtp_server: SMTPCatcher, code: int, error: type[MailError]
) -> None:
    smtp_server.fail_next(code=code, stage="rcpt")
    with pytest.raises(error, match=r"refused the recipient 'ann@example\.org'") as caught:
        smtp_mailer(smtp_server).send(message())
    assert caught.value.smtp_code == code


def test_connection_refused_is_temporary_and_names_host_port() -> None:
    port = free_port()
    mailer = SMTPMailer("127.0.0.1", port, "none", "", "", SENDER, timeout_s=5)
    with pytest.raises(TemporaryMailError) as caught:
        mailer.send(message())
    assert str(caught.value) == (
        f"The mail server at 127.0.0.1:{port} refused the connection; "
        "check PAPERFEED_SMTP_HOST and PAPERFEED_SMTP_PORT."
    )


def test_silent_server_times_out_as_temporary() -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:  # accepts, never says hello
        port = listener.getsockname()[1]
        mailer = SMTPMailer("127.0.0.1", port, "none", "", "", SENDER, timeout_s=0.2)
        with pytest.raises(TemporaryMailError, match=r"did not answer within 0\.2 s"):
            mailer.send(message())


def test_dropped_connection_is_temporary() -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        closer = threading.Thread(target=lambda: listener.accept()[0].close())
        closer.start()
        mailer = SMTPMailer("127.0.0.1", port, "none", "", "", SENDER, timeout_s=5)
        with pytest.raises(TemporaryMailError, match=f"127.0.0.1:{port}"):
            mailer.send(message())
        closer.join()


def test_implicit_tls_against_a_plain_server_is_permanent(smtp_server: SMTPCatcher) -> None:
    with pytest.raises(PermanentMailError, match="check PAPERFEED_SMTP_SECURITY"):
        smtp_mailer(smtp_server, security="tls").send(message())


def test_starttls_against_a_server_without_it_is_permanent(smtp_server: SMTPCatcher) -> None:
    with pytest.raises(PermanentMailError, match="PAPERFEED_SMTP_SECURITY"):
        smtp_mailer(smtp_server, security="starttls").send(message())


@pytest.fixture
def auth_server() -> Iterator[SMTPCatcher]:
    with SMTPCatcher(logins={"ann": PASSWORD}) as catcher:
        yield catcher


def shown(error: BaseException) -> str:
    """All a log line with the traceback would show."""
    return "".join(traceback.format_exception(error)) + repr(error)


def test_login_then_delivery(auth_server: SMTPCatcher) -> None:
    smtp_mailer(auth_server, username="ann", password=PASSWORD).send(message())
    [received] = auth_server.received
    assert received.login == "ann"


def test_wrong_password_is_permanent_and_never_shown(auth_server: SMTPCatcher) -> None:
    mailer = smtp_mailer(auth_server, username="ann", password="wrong-" + PASSWORD)
    with pytest.raises(PermanentMailError, match="PAPERFEED_SMTP_PASSWORD") as caught:
        mailer.send(message())
    assert caught.value.smtp_code == 535
    assert "ann" not in str(caught.value)  # logs get this sentence: no part of the login
    assert PASSWORD not in shown(caught.value) + repr(mailer)
    assert auth_server.messages == []


def test_temporary_login_failure_is_temporary(auth_server: SMTPCatcher) -> None:
    auth_server.fail_next(454, stage="auth")
    mailer = smtp_mailer(auth_server, username="ann", password=PASSWORD)
    with pytest.raises(TemporaryMailError, match="try again later"):
        mailer.send(message())
    mailer.send(message())
    assert len(auth_server.messages) == 1


def test_a_server_echoing_the_password_does_not_leak_it(auth_server: SMTPCatcher) -> None:
    auth_server.fail_next(535, stage="auth", text=f"5.7.8 {PASSWORD} is not ann's password")
    mailer = smtp_mailer(auth_server, username="ann", password=PASSWORD)
    with pytest.raises(PermanentMailError, match=r"\*\*\* is not \*\*\*'s password") as caught:
        mailer.send(message())
    assert PASSWORD not in shown(caught.value)


def test_login_without_auth_offered_is_permanent(smtp_server: SMTPCatcher) -> None:
    mailer = smtp_mailer(smtp_server, username="ann", password=PASSWORD)
    with pytest.raises(PermanentMailError, match="PAPERFEED_SMTP_USER") as caught:
        mailer.send(message())  # this catcher offers no AUTH
    assert PASSWORD not in shown(caught.value) + repr(mailer)
    assert PASSWORD not in repr(MailSettings(username="ann", password=PASSWORD))


@pytest.fixture
def echo_server() -> Iterator[SMTPCatcher]:
    with SMTPCatcher(logins={LOGIN: PASSWORD}) as catcher:
        yield catcher


@pytest.mark.parametrize(
    "reply",
    [
        "5.7.8 {auth} was refused",
        "5.7.8 AUTH PLAIN {plain} was refused",
        "5.7.8 the credentials {plain} are invalid",
        "5.7.8 {user_password64} is not a login",
        "5.7.8 {user64}:{password64} is not a login",
        "5.7.8 {user} / {password} is not a login",
        "5.7.8 {password64}" + " padding" * 40,  # a reply too long to show whole
    ],
)
def test_a_server_echoing_the_login_leaks_no_part_of_it(echo_server: SMTPCatcher, reply: str
                                                        ) -> None:  # fmt: skip
    echo_server.fail_next(535, stage="auth", text=reply)
    mailer = smtp_mailer(echo_server, username=LOGIN, password=PASSWORD)
    with pytest.raises(PermanentMailError, match="PAPERFEED_SMTP_PASSWORD") as caught:
        mailer.send(message())
    assert caught.value.smtp_code == 535
    assert f"{echo_server.host}:{echo_server.port}" in str(caught.value)  # the operator's clue
    assert [form for form in login_forms(LOGIN, PASSWORD) if form in shown(caught.value)] == []


# --- the local outbox --------------------------------------------------------------------


def test_outbox_writes_a_maildir(tmp_path: Path) -> None:
    folder = tmp_path / "outbox"
    mailer = OutboxMailer(folder, sender=SENDER, clock=lambda: NOW)
    first = mailer.send(message(html=HTML))
    second = mailer.send(message(subject=HOSTILE_SUBJECT, to="bob@example.org"))

    assert {p.name for p in folder.iterdir()} == {"new", "cur", "tmp"}
    assert len(list((folder / "new").iterdir())) == 2
    box = mailbox.Maildir(folder, create=False)
    got = {m["Message-ID"]: m for m in map(parse, (box.get_bytes(key) for key in box.iterkeys()))}
    assert set(got) == {first, second}
    assert got[first].get_content_type() == "multipart/alternative"
    assert parts(got[first]) == (message().text, HTML + "\n")
    assert got[second]["To"] == "bob@example.org"
    assert got[second]["Subject"] == HOSTILE_SUBJECT


def test_outbox_that_cannot_be_written_says_so(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(MailError, match="PAPERFEED_OUTBOX"):
        OutboxMailer(blocker / "outbox").send(message())


# --- building messages -------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad",
    [
        {"to": "ann@example.org\r\nBcc: victim@example.org"},
        {"to": "ann@example.org\nBcc: victim@example.org"},
        {"subject": "Hi\r\nBcc: victim@example.org"},
        {"subject": "Hi\u2028there"},
        {"subject": "Hi\x00"},
        {"headers": {"X-Tag": "a\r\nBcc: victim@example.org"}},
        {"headers": {"X-Tag\r\nBcc": "victim@example.org"}},
        {"headers": {"Bcc": "victim@example.org"}},
        {"headers": {"Subject": "second subject"}},
        {"message_id": "<a@b>\r\nBcc: victim@example.org"},
        {"to": "ann@example.org, bob@example.org"},
        {"to": "not an address"},
        # group syntax: the header names a group, the envelope would go to its member
        {"to": "g0:victim@example.org"},
        {"to": "g0: victim@example.org;"},
        {"to": "Ann <ann@example.org>, g0: victim@example.org;"},
        {"to": "ann@example.org (Ann) victim@example.org"},
        {"to": "<ann@example.org> victim@example.org"},
    ],
)
def test_header_injection_and_bad_addresses_are_rejected(bad: dict[str, object]) -> None:
    with pytest.raises(MailError):
        build_email(message(**bad), SENDER, now=NOW)


@given(st.text(max_size=60) | st.emails())
def test_a_recipient_is_one_mailbox_or_refused(to: str) -> None:
    try:
        built = build_email(message(to=to), SENDER, now=NOW)
    except MailError:
        return
    [address] = built["To"].addresses
    assert envelope_address(to) == address.addr_spec and "@" in address.addr_spec
    assert len(built["To"].groups) == 1 and built["To"].groups[0].display_name is None


def test_injection_is_rejected_before_anything_is_sent(smtp_server: SMTPCatcher) -> None:
    with pytest.raises(MailError, match="line break"):
        smtp_mailer(smtp_server).send(message(subject="x\r\nBcc: victim@example.org"))
    assert smtp_server.messages == []


# --- settings ------------------------------------------------------------------------------


def test_settings_defaults() -> None:
    s = mail_settings_from_env({}, "/var/paperfeed/outbox")
    assert s == MailSettings(
        host="",
        port=587,
        security="starttls",
        username="",
        password="",
        sender="paperfeed <paperfeed@localhost>",
        outbox="/var/paperfeed/outbox",
    )
    assert isinstance(mailer_from_settings(s), OutboxMailer)


@pytest.mark.parametrize(("security", "port"), [("starttls", 587), ("tls", 465), ("none", 25)])
def test_default_port_follows_security(security: str, port: int) -> None:
    s = mail_settings_from_env({"PAPERFEED_SMTP_SECURITY": security}, "outbox")
    assert (s.security, s.port) == (security, port)


def test_settings_from_env_build_an_smtp_mailer() -> None:
    env = {
        "PAPERFEED_SMTP_HOST": "smtp.example.org",
        "PAPERFEED_SMTP_PORT": "2525",
        "PAPERFEED_SMTP_SECURITY": "TLS",
        "PAPERFEED_SMTP_USER": "ann",
        "PAPERFEED_SMTP_PASSWORD": PASSWORD,
        "PAPERFEED_MAIL_FROM": SENDER,
        "PAPERFEED_OUTBOX": "/tmp/box",
    }
    s = mail_settings_from_env(env, "outbox")
    assert (s.host, s.port, s.security, s.sender, s.outbox) == (
        "smtp.example.org",
        2525,
        "tls",
        SENDER,
        "/tmp/box",
    )
    mailer: Mailer = mailer_from_settings(s)
    assert isinstance(mailer, SMTPMailer)
    assert (mailer.host, mailer.port, mailer.security, mailer.username) == (
        "smtp.example.org",
        2525,
        "tls",
        "ann",
    )
    assert PASSWORD not in repr(mailer) + repr(s)


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"PAPERFEED_SMTP_PORT": "smtp"}, "PAPERFEED_SMTP_PORT"),
        ({"PAPERFEED_SMTP_PORT": "70000"}, "PAPERFEED_SMTP_PORT"),
        ({"PAPERFEED_SMTP_PORT": "0"}, "PAPERFEED_SMTP_PORT"),
        ({"PAPERFEED_SMTP_SECURITY": "ssl"}, "PAPERFEED_SMTP_SECURITY"),
        ({"PAPERFEED_SMTP_HOST": "smtp.example.org:587"}, "PAPERFEED_SMTP_PORT"),
        ({"PAPERFEED_SMTP_HOST": "smtp example.org"}, "PAPERFEED_SMTP_HOST"),
        ({"PAPERFEED_SMTP_USER": "ann"}, "PAPERFEED_SMTP_PASSWORD"),
        ({"PAPERFEED_SMTP_PASSWORD": PASSWORD}, "PAPERFEED_SMTP_USER"),
        ({"PAPERFEED_MAIL_FROM": "paperfeed"}, "PAPERFEED_MAIL_FROM"),
        ({"PAPERFEED_MAIL_FROM": "a@b\r\nBcc: c@d"}, "PAPERFEED_MAIL_FROM"),
    ],
)
def test_bad_settings_name_the_variable(env: dict[str, str], variable: str) -> None:
    with pytest.raises(InputError, match=variable) as caught:
        mail_settings_from_env(env, "outbox")
    assert PASSWORD not in str(caught.value)
