"""A channel without saved searches is its owner's digest: the composer finds the owner's library
by the channel's `user_id` (its email is synthetic), on the embedded seed papers."""

from __future__ import annotations

from paperfeed.digest.compose import Composer
from paperfeed.search.engine import SearchEngine
from paperfeed.store import Preferences, Store
from tests.digest.test_compose import (
    ESIMCSE,
    NOW,
    SIMCSE,
    TODAY,
    embedder,
    engine,
    seed_store,
    seq_of,
)

__all__ = ["embedder", "engine", "seed_store"]


def test_a_channel_without_searches_brings_its_owners_library(
    seed_store: Store, engine: SearchEngine
) -> None:
    owner = seed_store.get_or_add_user("owner@example.org", NOW)
    saved, similar = seq_of(seed_store, SIMCSE), seq_of(seed_store, ESIMCSE)
    seed_store.set_reaction(owner.id, saved, "save", True, NOW.timestamp())
    sub = seed_store.add_channel(owner.id, "slack", "https://hooks.slack.com/services/x", None,
                                 Preferences(include_trending=False), NOW.timestamp())  # fmt: skip
    plan = Composer(seed_store, engine, TODAY).compose(sub)
    library = [i for i in plan.items if i.section == "library"]
    assert library and library[0].seq == similar and saved not in plan.seqs
    assert library[0].why == f"similar to '{SIMCSE}' in your library"
    other = seed_store.get_or_add_user("nobody@example.org", NOW)  # no saves: nothing
    url = "https://discord.com/api/webhooks/1/x"
    prefs = Preferences(include_trending=False)
    empty = seed_store.add_channel(other.id, "discord", url, None, prefs, NOW.timestamp())
    assert Composer(seed_store, engine, TODAY).compose(empty).items == ()
