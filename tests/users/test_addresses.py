"""Email addresses typed by strangers: strict validation, the mailbox that receives the mail,
and the limits on what one inbox can be sent, over a real SQLite store and a real Maildir."""

from __future__ import annotations

import email.policy
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from paperfeed.digest import subscriptions
from paperfeed.digest.mailer import OutboxMailer
from paperfeed.errors import InputError
from paperfeed.store import Store
from paperfeed.users import accounts
from paperfeed.users.addresses import MAILS_PER_INBOX_DAY, mailbox_key, normalize_email

SECRET = b"s" * 32
BASE = "https://papers.example.org"
NOW = 1_795_000_000.0
SENTENCE = "That does not look like an email address; check it and try again."

BAD = [
    "g0:victim@example.com",  # a group: the mail goes to its member
    "g0: victim@example.com;",
    "Victim <victim@example.com>",  # a display name
    "<victim@example.com>",
    "victim@example.com (Victim)",  # a comment
    "victim@example.com, other@example.com",
    "victim@example.com other@example.com",
    "victim@example.com.",  # a trailing dot: the same mailbox, a new key
    "victim@localhost",  # no dot: not a public host name
    "victim@[127.0.0.1]",
    "victim@127.0.0.1",
    "vic\x01tim@example.com",  # control characters
    "vic\ttim@example.com",
    "victim\x7f@example.com",
    "vic\u200btim@example.com",
    "vïctim@example.com",  # a local part we could not send to without SMTPUTF8
    "vic tim@example.com",
    '"victim"@example.com',
    '"vic tim"@example.com',
    ".victim@example.com",
    "victim.@example.com",
    "vic..tim@example.com",
    "victim@example..com",
    "victim@-example.com",
    "victim@example-.com",
    "victim@exa_mple.com",
    "victim@example.c0m.",
    "victim@example.123",
    "a" * 65 + "@example.com",  # a local part over 64
    "victim@" + "a" * 64 + ".com",  # a label over 63
    "v@" + ".".join(["a" * 60] * 5) + ".com",  # over 254
    "@example.com",
    "victim@",
    "victim",
    "a@b@example.com",
    "",
]


@pytest.mark.parametrize("text", BAD)
def test_anything_but_one_plain_address_is_refused(text: str) -> None:
    with pytest.raises(InputError) as caught:
        normalize_email(text)
    assert str(caught.value) == SENTENCE


@pytest.mark.parametrize(
    ("typed", "kept"),
    [
        (" Ann.Reader+Papers@Example.ORG ", "ann.reader+papers@example.org"),
        ("o'neil@example.co.uk", "o'neil@example.co.uk"),
        ("ann@bücher.example", "ann@xn--bcher-kva.example"),  # IDNA: sent as its ASCII form
        ("ann@XN--BCHER-KVA.example", "ann@xn--bcher-kva.example"),
        ("a" * 64 + "@example.com", "a" * 64 + "@example.com"),
    ],
)
def test_an_address_is_kept_as_typed_lower_cased(typed: str, kept: str) -> None:
    assert normalize_email(typed) == kept


def test_the_mailbox_key_is_the_inbox_that_receives_the_mail() -> None:
    variants = ["ann@example.org", "Ann+papers@Example.ORG", "ANN+x+y@example.org",
                "ann+@EXAMPLE.org"]  # fmt: skip
    assert {mailbox_key(normalize_email(v)) for v in variants} == {"ann@example.org"}
    assert mailbox_key(normalize_email("ann+x@Bücher.example")) == "ann@xn--bcher-kva.example"
    assert mailbox_key("anna@example.org") != mailbox_key("ann@example.org")


@given(st.text(max_size=80) | st.emails())
def test_what_passes_is_one_address_to_one_mailbox(text: str) -> None:
    try:
        address = normalize_email(text)
    except InputError:
        return
    assert address.isascii() and address.isprintable() and " " not in address
    header = email.policy.default.header_factory("To", address)
    [group] = header.groups  # type: ignore[attr-defined]
    assert group.display_name is None and len(group.addresses) == 1
    assert group.addresses[0].addr_spec == address and not header.defects
    assert normalize_email(address) == address
    assert len(address) <= 254 and len(address.split("@")[0]) <= 64


# -- what one inbox can be sent ------------------------------------------------------------


def outbox_count(folder: Path) -> int:
    return len(list((folder / "new").iterdir())) if folder.exists() else 0


def ask_link(store: Store, mailer: OutboxMailer, address: str, now: float, n: int = 0) -> bool:
    return accounts.request_link(store, mailer, SECRET, email=address, client=f"192.0.2.{n}",
                                 base_url=BASE, now=now)  # fmt: skip


def test_tag_and_case_variants_share_one_hourly_limit(store: Store, tmp_path: Path) -> None:
    mailer = OutboxMailer(tmp_path / "outbox")
    variants = ["ann@example.org", "Ann+1@example.org", "ann+2@EXAMPLE.ORG", "ann+3@example.org",
                "ANN+4@Example.Org", "ann+5@example.org"]  # fmt: skip
    sent = [ask_link(store, mailer, v, NOW + n, n) for n, v in enumerate(variants)]
    assert sent == [True] * 5 + [False]
    assert outbox_count(tmp_path / "outbox") == 5
    assert ask_link(store, mailer, "bob@example.org", NOW + 10, 10)  # another inbox


def test_one_inbox_gets_at_most_10_mails_a_day_from_strangers(store: Store, tmp_path: Path
                                                              ) -> None:  # fmt: skip
    """Sign-in links and confirmations together, whatever the spelling; silently (the caller
    answers as if sent); the operator's CLI (no client) is no stranger."""
    mailer = OutboxMailer(tmp_path / "outbox")
    assert MAILS_PER_INBOX_DAY == 10
    hour = 3600.0
    links = [ask_link(store, mailer, f"ann+l{n}@example.org", NOW + n, n) for n in range(5)]
    asks = [subscriptions.subscribe(store, SECRET, f"Ann+d{n}@example.org", source="web",
                                    client=f"198.51.100.{n}", now=NOW + hour + n)
            for n in range(5)]  # fmt: skip
    assert links == [True] * 5 and all(a.planned_confirmation for a in asks)
    later = NOW + 2 * hour
    assert not ask_link(store, mailer, "ann+late@example.org", later, 20)
    held = subscriptions.subscribe(store, SECRET, "ann+d9@example.org", source="api",
                                   client="203.0.113.9", now=later)  # fmt: skip
    assert not held.planned_confirmation
    assert store.get_subscriber_by_email("ann+d9@example.org") is None  # nothing kept either
    assert outbox_count(tmp_path / "outbox") == 5
    assert sum(store.count_subscribers().values()) == 5
    assert ask_link(store, mailer, "bob@example.org", later, 21)  # other inboxes are not held
    by_operator = subscriptions.subscribe(store, SECRET, "ann+cli@example.org", source="cli",
                                          client=None, now=later)  # fmt: skip
    assert by_operator.planned_confirmation
    # a day after the first five links, their place is free again
    assert ask_link(store, mailer, "ann@example.org", NOW + 86400 + 10, 22)
