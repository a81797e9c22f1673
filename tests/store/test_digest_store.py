"""The store's digest surface: subscribers, the delivery ledger, sent papers, leases."""

from __future__ import annotations

from datetime import date

import pytest

from paperfeed.errors import AlreadyExists
from paperfeed.models import Paper
from paperfeed.store import Preferences, Store, SubscriberChange

NOW = 1_790_000_000.0


def _papers(store: Store, n: int = 3) -> list[int]:
    store.upsert_papers([Paper(id=f"2401.0000{i}", title=f"Paper {i}", abstract="a")
                         for i in range(1, n + 1)])  # fmt: skip
    seqs = [store.find_seq(f"2401.0000{i}") for i in range(1, n + 1)]
    return [s for s in seqs if s is not None]


def test_subscriber_round_trip(store: Store) -> None:
    sub = store.add_subscriber(" Ann@Example.org ", NOW, "web")
    assert (sub.email, sub.state, sub.request_source) == ("ann@example.org", "pending", "web")
    assert sub.prefs == Preferences()
    with pytest.raises(AlreadyExists):
        store.add_subscriber("ann@example.org", NOW, "api")
    prefs = Preferences("weekly", 4, 18, "Europe/Berlin", ("dataset distillation",), ("cs.LG",),
                        False, 5, True)  # fmt: skip
    store.set_preferences(sub.id, prefs)
    store.update_subscriber(sub.id, SubscriberChange(state="confirmed", consent_at=NOW + 1,
                            consent_source="web", last_day=date(2026, 1, 2)))  # fmt: skip
    got = store.get_subscriber_by_email("ANN@example.org")
    assert got is not None and got.prefs == prefs
    assert (got.state, got.consent_at, got.last_day) == ("confirmed", NOW + 1, date(2026, 1, 2))
    assert [s.id for s in store.iter_subscribers("confirmed", batch_size=1)] == [sub.id]
    assert store.count_subscribers() == {"confirmed": 1}
    store.update_subscriber(sub.id, SubscriberChange())  # nothing to set: nothing changes
    assert store.get_subscriber(sub.id) == got


def test_plan_once_per_period_and_papers_once_per_person(store: Store) -> None:
    a, b, c = _papers(store)
    sub = store.add_subscriber("ann@example.org", NOW, "web")
    first = store.plan_delivery(sub.id, "digest", "d2026-01-02", message_id="m1",
                                plan={"items": [a, b]}, now=NOW, send_by=NOW + 86400,
                                seqs=[a, b], last_day=date(2026, 1, 2), last_seq=b)  # fmt: skip
    assert first is not None
    again = store.plan_delivery(sub.id, "digest", "d2026-01-02", message_id="m1",
                                plan={}, now=NOW, send_by=NOW + 86400, seqs=[c])  # fmt: skip
    assert again is None
    assert store.sent_seqs(sub.id, [a, b, c]) == {a, b}
    got = store.get_subscriber(sub.id)
    assert got is not None
    assert (got.last_period, got.last_day, got.last_seq) == ("d2026-01-02", date(2026, 1, 2), b)


def test_claim_retry_finish(store: Store) -> None:
    a, b, _ = _papers(store)
    sub = store.add_subscriber("ann@example.org", NOW, "web")
    one = store.plan_delivery(sub.id, "digest", "d1", message_id="m1", plan={}, now=NOW,
                              send_by=NOW + 100, seqs=[a])  # fmt: skip
    two = store.plan_delivery(sub.id, "digest", "d2", message_id="m2", plan={}, now=NOW + 1,
                              send_by=NOW + 100, seqs=[b])  # fmt: skip
    assert store.claim_delivery(NOW - 1) is None  # nothing due yet
    got = store.claim_delivery(NOW + 5)
    assert got is not None and (got.id, got.state, got.attempts) == (one, "sending", 1)
    store.finish_delivery(one, "planned", NOW + 5, error="451 later", retry_at=NOW + 60)
    got = store.claim_delivery(NOW + 6)
    assert got is not None and got.id == two
    # a delivery left `sending` (its sender died) comes first, whatever is due
    again = store.claim_delivery(NOW + 7)
    assert again is not None and (again.id, again.attempts) == (two, 2)
    store.finish_delivery(two, "failed", NOW + 8, error="550 no such user")
    assert store.sent_seqs(sub.id) == {a}  # the failed one gave its paper back
    retry = store.claim_delivery(NOW + 61)
    assert retry is not None and (retry.id, retry.attempts, retry.last_error) == (
        one, 2, "451 later")  # fmt: skip
    store.finish_delivery(one, "sent", NOW + 62)
    done = store.get_delivery(one)
    assert done is not None and (done.state, done.sent_at) == ("sent", NOW + 62)
    assert store.count_deliveries() == {"sent": 1, "failed": 1}
    assert [d.id for d in store.list_deliveries(sub.id)] == [two, one]
    with pytest.raises(ValueError):
        store.finish_delivery(one, "sending", NOW)


def test_leases(store: Store) -> None:
    assert store.take_lease("sender", "a", NOW, NOW + 60)
    assert not store.take_lease("sender", "b", NOW + 1, NOW + 61)
    assert store.take_lease("sender", "a", NOW + 2, NOW + 62)  # renewal
    assert store.lease_owner("sender", NOW + 3) == "a"
    assert store.take_lease("sender", "b", NOW + 3, NOW + 63, take_from="a")  # a is dead
    assert not store.take_lease("sender", "a", NOW + 4, NOW + 64)
    assert store.take_lease("sender", "a", NOW + 64, NOW + 124)  # b's ran out
    store.drop_lease("sender", "b")  # not b's any more: nothing happens
    assert store.lease_owner("sender", NOW + 65) == "a"
    store.drop_lease("sender", "a")
    assert store.lease_owner("sender", NOW + 65) is None


def test_vectors_by_seq(store: Store) -> None:
    from paperfeed.store import EmbeddingRow

    a, b, _ = _papers(store)
    store.put_embeddings("m", [EmbeddingRow(a, 1, "h", b"\x00" * 8)])
    assert store.get_vectors("m", [a, b]) == {a: b"\x00" * 8}


def test_channels_are_subscribers_of_their_owner(store: Store) -> None:
    from datetime import UTC, datetime

    ada = store.get_or_add_user("ada@example.org", datetime.fromtimestamp(NOW, UTC))
    bob = store.get_or_add_user("bob@example.org", datetime.fromtimestamp(NOW, UTC))
    prefs = Preferences("weekly", topics=("graph neural networks",))
    hook = store.add_channel(ada.id, "webhook", "https://hooks.example.org/a", "s3cret", prefs,
                             NOW)  # fmt: skip
    slack = store.add_channel(ada.id, "slack", "https://hooks.slack.com/services/T/B/x", None,
                              Preferences(), NOW)  # fmt: skip
    store.add_channel(bob.id, "discord", "https://discord.com/api/webhooks/1/x", None,
                      Preferences(), NOW)  # fmt: skip
    assert (hook.channel, hook.state, hook.user_id, hook.secret, hook.prefs) == (
        "webhook", "confirmed", ada.id, "s3cret", prefs)  # fmt: skip
    assert hook.target == "https://hooks.example.org/a" and hook.consent_at == NOW
    assert hook.email.endswith("@channels.invalid") and hook.email != slack.email
    assert [c.id for c in store.list_channels(ada.id)] == [hook.id, slack.id]
    assert len(store.list_channels()) == 3
    # the email list is as it was: channels are confirmed subscribers, email lookups work
    ann = store.add_subscriber("ann@example.org", NOW, "web")
    assert store.get_subscriber_by_email("ann@example.org") == ann and ann.channel == "email"
    assert {s.id for s in store.iter_subscribers("confirmed")} == {
        c.id for c in store.list_channels()
    }
    store.update_subscriber(hook.id, SubscriberChange(state="suppressed", failures=5,
                                                      disabled_note="off"))  # fmt: skip
    got = store.get_subscriber(hook.id)
    assert got is not None and (got.state, got.failures, got.disabled_note) == (
        "suppressed", 5, "off")  # fmt: skip
    # counts: mail addresses apart from channels, channels by kind and state
    assert store.count_subscribers() == {"pending": 1}
    assert store.count_channels() == {"webhook": {"suppressed": 1}, "slack": {"confirmed": 1},
                                      "discord": {"confirmed": 1}}  # fmt: skip
    assert not store.delete_channel(ann.id)  # an address is not removed this way
    assert store.delete_channel(slack.id) and not store.delete_channel(slack.id)
    assert [c.id for c in store.list_channels(ada.id)] == [hook.id]
    store.delete_user(ada.id)  # a user's channels go with them
    assert store.list_channels(ada.id) == [] and store.get_subscriber(hook.id) is None
