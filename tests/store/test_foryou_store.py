"""Contract tests of the "For you" parts of a user: followed categories and the private feed's
key. Like test_accounts_contract.py they run against every backend."""

from __future__ import annotations

from datetime import UTC, datetime

from paperfeed.store import Store

T0 = datetime(2024, 10, 25, 12, tzinfo=UTC)


def test_categories_are_kept_in_order_and_replaced(backend: Store) -> None:
    ada = backend.get_or_add_user("ada@example.org", T0)
    bob = backend.get_or_add_user("bob@example.org", T0)
    assert backend.get_user_categories(ada.id) == []
    backend.set_user_categories(ada.id, ["cs.LG", "cs.CL"])
    assert backend.get_user_categories(ada.id) == ["cs.LG", "cs.CL"]
    assert backend.get_user_categories(bob.id) == []
    backend.set_user_categories(ada.id, ["stat.ML"])
    assert backend.get_user_categories(ada.id) == ["stat.ML"]
    backend.set_user_categories(ada.id, [])
    assert backend.get_user_categories(ada.id) == []
    assert backend.get_user_categories(max(ada.id, bob.id) + 1000) == []


def test_a_feed_key_finds_its_user_until_it_is_replaced(backend: Store) -> None:
    ada = backend.get_or_add_user("ada@example.org", T0)
    bob = backend.get_or_add_user("bob@example.org", T0)
    assert backend.get_feed_key(ada.id) is None
    backend.set_feed_key(ada.id, "key-one")
    backend.set_feed_key(bob.id, "key-bob")
    assert backend.get_feed_key(ada.id) == "key-one"
    assert backend.get_user_by_feed_key("key-one") == ada
    assert backend.get_user_by_feed_key("key-bob") == bob
    backend.set_feed_key(ada.id, "key-two")
    assert backend.get_user_by_feed_key("key-one") is None
    assert backend.get_user_by_feed_key("key-two") == ada
    assert backend.get_user_by_feed_key("") is None
    backend.set_feed_key(ada.id, None)
    assert backend.get_user_by_feed_key("key-two") is None
    assert backend.get_feed_key(ada.id) is None


def test_deleting_a_user_drops_their_feed_key(backend: Store) -> None:
    ada = backend.get_or_add_user("ada@example.org", T0)
    backend.set_feed_key(ada.id, "key-one")
    backend.delete_user(ada.id)
    assert backend.get_user_by_feed_key("key-one") is None
