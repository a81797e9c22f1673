"""PostgreSQL: accounts and library, engagement and trending, digests, leases and rate limits
(AccountStore, TrendingStore, DigestStore, LeaseStore)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import orjson

from paperfeed.errors import AlreadyExists
from paperfeed.store.models import (
    Decayed,
    Delivery,
    LibraryItem,
    Preferences,
    Subscriber,
    SubscriberChange,
    TrendingRow,
    TrendingState,
    User,
)
from paperfeed.store.postgres.base import PostgresBase
from paperfeed.store.postgres.papers import LISTED
from paperfeed.store.rows import (
    DELIVERY_COLUMNS,
    SUBSCRIBER_COLUMNS,
    channel_address,
    day_iso,
    parse_day,
    row_delivery,
    row_subscriber,
    row_user,
    rows_by_kind,
    ts,
)

if TYPE_CHECKING:
    from paperfeed.models import Paper

# Decayed sums of one signal, as SQLite's _DECAYED_*: %(now)s, %(half)s (s), %(name)s.
_DECAY = "power(2.0::float8, -GREATEST(%(now)s::float8 - {at}, 0.0::float8) / %(half)s::float8)"
_DECAYED_EVENTS = (
    f"SELECT seq, sum(amount * {_DECAY.format(at='at')}) FROM events"
    " WHERE signal = %(name)s {only} GROUP BY seq ORDER BY seq"
)
_DECAYED_REACTIONS = (
    f"SELECT seq, sum({_DECAY.format(at='at')}) FROM reactions"
    " WHERE kind = %(name)s {only} GROUP BY seq ORDER BY seq"
)
_DECAYED_SIGNALS = (
    f"SELECT seq, sum(GREATEST(value - prev, 0.0::float8) * {_DECAY.format(at='t')}) FROM ("
    " SELECT seq, value, extract(epoch FROM observed_at::timestamptz)::float8 AS t,"
    "  lag(value, 1, {first}) OVER (PARTITION BY seq ORDER BY observed_at) AS prev"
    " FROM signals WHERE name = %(name)s {only}) AS measured GROUP BY seq ORDER BY seq"
)
_ONLY = "AND seq = ANY(%(seqs)s)"


def _decayed_sql(first_counts: bool) -> list[str]:
    signals = _DECAYED_SIGNALS.replace("{first}", "0.0::float8" if first_counts else "value")
    return [_DECAYED_EVENTS, _DECAYED_REACTIONS, signals]


class PeopleMethods(PostgresBase):
    if TYPE_CHECKING:

        def get_papers_by_seq(self, seqs: Sequence[int]) -> dict[int, Paper]: ...

    # -- accounts -------------------------------------------------------------------------

    def get_or_add_user(self, email: str, now: datetime) -> User:
        email = email.strip().lower()
        with self._tx() as conn:
            # an update first: a failed INSERT ... ON CONFLICT would spend an id, SQLite's not
            row = (
                conn.execute(
                    "UPDATE users SET last_signin_at = %s WHERE email = %s"
                    " RETURNING id, email, created_at",
                    (ts(now), email),
                ).fetchone()
                or conn.execute(
                    "INSERT INTO users (email, created_at, last_signin_at) VALUES (%s, %s, %s)"
                    " RETURNING id, email, created_at",
                    (email, ts(now), ts(now)),
                ).fetchone()
            )
        assert row is not None
        return row_user(row)

    def get_user(self, user_id: int) -> User | None:
        with self._conn() as conn:
            row = conn.execute(
                "SELECT id, email, created_at FROM users WHERE id = %s", (user_id,)
            ).fetchone()
        return row_user(row) if row else None

    def get_user_by_email(self, email: str) -> User | None:
        with self._conn() as conn:
            row = conn.execute(
                "SELECT id, email, created_at FROM users WHERE email = %s",
                (email.strip().lower(),),
            ).fetchone()
        return row_user(row) if row else None

    def delete_user(self, user_id: int) -> bool:
        with self._tx() as conn:
            return conn.execute("DELETE FROM users WHERE id = %s", (user_id,)).rowcount > 0

    def add_session(self, token_hash: str, user_id: int, now: datetime, expires: datetime
                    ) -> None:  # fmt: skip
        with self._tx() as conn:
            conn.execute("DELETE FROM sessions WHERE expires_at < %s", (ts(now),))
            conn.execute(
                "INSERT INTO sessions VALUES (%s, %s, %s, %s)",
                (token_hash, user_id, ts(now), ts(expires)),
            )

    def get_session_user(self, token_hash: str, now: datetime) -> User | None:
        with self._conn() as conn:
            row = conn.execute(
                "SELECT u.id, u.email, u.created_at FROM sessions s"
                " JOIN users u ON u.id = s.user_id WHERE s.token_hash = %s AND s.expires_at > %s",
                (token_hash, ts(now)),
            ).fetchone()
        return row_user(row) if row else None

    def delete_session(self, token_hash: str) -> None:
        with self._tx() as conn:
            conn.execute("DELETE FROM sessions WHERE token_hash = %s", (token_hash,))

    def spend_token(self, nonce: str, expires_at: float, now: float) -> bool:
        with self._tx() as conn:
            conn.execute("DELETE FROM spent_tokens WHERE expires_at < %s", (now,))
            cursor = conn.execute(
                "INSERT INTO spent_tokens VALUES (%s, %s) ON CONFLICT DO NOTHING",
                (nonce, expires_at),
            )
            return cursor.rowcount > 0

    # -- library --------------------------------------------------------------------------

    def set_reaction(self, user_id: int, seq: int, kind: str, on: bool, at: float) -> bool:
        with self._tx() as conn:
            if on:
                cursor = conn.execute(
                    "INSERT INTO reactions VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING",
                    (user_id, seq, kind, at),
                )
                return cursor.rowcount > 0
            cursor = conn.execute(
                "DELETE FROM reactions WHERE user_id = %s AND seq = %s AND kind = %s",
                (user_id, seq, kind),
            )
            if kind == "save":
                conn.execute("DELETE FROM tags WHERE user_id = %s AND seq = %s", (user_id, seq))
            return cursor.rowcount > 0

    def set_tags(self, user_id: int, seq: int, tags: Sequence[str]) -> None:
        with self._tx() as conn:
            conn.execute("DELETE FROM tags WHERE user_id = %s AND seq = %s", (user_id, seq))
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO tags VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
                    [(user_id, seq, t) for t in tags],
                )

    def get_reactions(self, user_id: int, seqs: Sequence[int]) -> dict[int, set[str]]:
        return {seq: set(kinds) for seq, kinds in self._per_paper("reactions", "kind", user_id,
                                                                  seqs).items()}  # fmt: skip

    def get_tags(self, user_id: int, seqs: Sequence[int]) -> dict[int, tuple[str, ...]]:
        return {seq: tuple(tags) for seq, tags in self._per_paper("tags", "tag", user_id,
                                                                 seqs).items()}  # fmt: skip

    def _per_paper(self, table: str, column: str, user_id: int, seqs: Sequence[int]
                   ) -> dict[int, list[str]]:  # fmt: skip
        """`column` of the user's rows in `table` (reactions, tags) for each paper, by value."""
        found: dict[int, list[str]] = {}
        with self._conn() as conn:
            rows = conn.execute(
                f"SELECT seq, {column} FROM {table} WHERE user_id = %s AND seq = ANY(%s) "
                f"ORDER BY {column}",
                (user_id, list(seqs)),
            ).fetchall()
        for seq, value in rows:
            found.setdefault(seq, []).append(value)
        return found

    def count_reactions(self, ids: Sequence[str]) -> dict[str, dict[str, int]]:
        found: dict[str, dict[str, int]] = {}
        with self._conn() as conn:
            rows = conn.execute(
                "SELECT p.id, r.kind, count(*) FROM papers p JOIN reactions r ON r.seq = p.seq "
                "WHERE p.id = ANY(%s) AND r.kind IN ('upvote', 'save') GROUP BY p.id, r.kind",
                (list(ids),),
            ).fetchall()
        for ref, kind, n in rows:
            found.setdefault(ref, {})[kind] = int(n)
        return found

    def list_reactions(self, user_id: int, *, tag: str | None = None
                       ) -> dict[int, dict[str, float]]:  # fmt: skip
        tagged = " AND seq IN (SELECT seq FROM tags WHERE user_id = %(user)s AND tag = %(tag)s)"
        with self._conn() as conn:
            rows = conn.execute(
                "SELECT seq, kind, at FROM reactions WHERE user_id = %(user)s"
                + (tagged if tag is not None else ""),
                {"user": user_id, "tag": tag},
            ).fetchall()
        found: dict[int, dict[str, float]] = {}
        for seq, kind, at in rows:
            found.setdefault(seq, {})[kind] = at
        return found

    def list_library(self, user_id: int, *, kind: str = "save", tag: str | None = None
                     ) -> list[LibraryItem]:  # fmt: skip
        tagged = "AND seq IN (SELECT seq FROM tags WHERE user_id = %(user)s AND tag = %(tag)s)"
        with self._conn() as conn:
            rows = conn.execute(
                "SELECT seq FROM reactions WHERE user_id = %(user)s AND kind = %(kind)s"
                f" {tagged if tag is not None else ''} ORDER BY at DESC, seq DESC",
                {"user": user_id, "kind": kind, "tag": tag},
            ).fetchall()
            reactions = conn.execute(
                "SELECT seq, kind, at FROM reactions WHERE user_id = %s", (user_id,)
            ).fetchall()
            tag_rows = conn.execute(
                "SELECT seq, tag FROM tags WHERE user_id = %s ORDER BY tag", (user_id,)
            ).fetchall()
        seqs = [r[0] for r in rows]
        papers = self.get_papers_by_seq(seqs)
        kinds: dict[int, dict[str, float]] = {}
        tags: dict[int, list[str]] = {}
        for seq, k, at in reactions:
            kinds.setdefault(seq, {})[k] = at
        for seq, t in tag_rows:
            tags.setdefault(seq, []).append(t)
        return [LibraryItem(papers[s], kinds.get(s, {}), tuple(tags.get(s, ())), s) for s in seqs]

    def list_user_tags(self, user_id: int) -> list[tuple[str, int]]:
        with self._conn() as conn:
            rows = conn.execute(
                "SELECT tag, count(*) FROM tags WHERE user_id = %s GROUP BY tag ORDER BY tag",
                (user_id,),
            ).fetchall()
        return [(r[0], int(r[1])) for r in rows]

    def set_user_categories(self, user_id: int, categories: Sequence[str]) -> None:
        with self._tx() as conn:
            conn.execute("UPDATE users SET categories = %s WHERE id = %s",
                         (" ".join(categories), user_id))  # fmt: skip

    def get_user_categories(self, user_id: int) -> list[str]:
        with self._conn() as conn:
            row = conn.execute("SELECT categories FROM users WHERE id = %s",
                               (user_id,)).fetchone()  # fmt: skip
        return str(row[0]).split() if row else []

    def set_feed_key(self, user_id: int, key: str | None) -> None:
        with self._tx() as conn:
            conn.execute("UPDATE users SET feed_key = %s WHERE id = %s", (key, user_id))

    def get_feed_key(self, user_id: int) -> str | None:
        with self._conn() as conn:
            row = conn.execute("SELECT feed_key FROM users WHERE id = %s", (user_id,)).fetchone()
        return row[0] if row else None

    def get_user_by_feed_key(self, key: str) -> User | None:
        with self._conn() as conn:
            row = conn.execute(
                "SELECT id, email, created_at FROM users WHERE feed_key = %s", (key,)
            ).fetchone()
        return row_user(row) if row else None

    # -- engagement and trending ------------------------------------------------------------

    def record_event(self, seq: int, signal: str, at: float, *, client: str | None = None,
                     burst_s: float = 0.0) -> bool:  # fmt: skip
        with self._tx() as conn:
            if client is not None:
                conn.execute(
                    "DELETE FROM recent_clients WHERE signal = %s AND at <= %s",
                    (signal, at - burst_s),
                )
                cursor = conn.execute(
                    "INSERT INTO recent_clients VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING",
                    (client, seq, signal, at),
                )
                if cursor.rowcount == 0:
                    return False
            conn.execute(
                "INSERT INTO events (seq, signal, at) VALUES (%s, %s, %s)", (seq, signal, at)
            )
            return True

    def decayed_sums(self, now: float, rules: Mapping[str, Decayed], *,
                     seqs: Sequence[int] | None = None) -> dict[int, dict[str, float]]:  # fmt: skip
        """As SQLite's: the same sums, added up in the same order (rule, table, paper). A few
        papers (a vote, a view) take one statement for every rule and table: a round trip each
        cost 5-7 ms of a vote held under the write lock. Every paper takes a statement each,
        without hash aggregation: over 10M events the planner's hash plan (it misjudges the
        groups) took 5.4 s against 2.2-2.8 s for a group-by over the events_rank index."""
        args: dict[str, Any] = {"now": now, "seqs": None if seqs is None else list(seqs)}
        parts = []
        for i, (name, rule) in enumerate(rules.items()):
            args[f"name{i}"], args[f"half{i}"] = name, rule.half_life_s
            for j, sql in enumerate(_decayed_sql(rule.first_counts)):
                one = sql.format(only="" if seqs is None else _ONLY)
                one = one.replace("%(name)s", f"%(name{i})s").replace("%(half)s", f"%(half{i})s")
                parts.append((i, j, one))
        found: dict[int, dict[str, float]] = {}
        names = list(rules)
        with self._conn() as conn:
            if seqs is not None:
                rows = conn.execute(
                    " UNION ALL ".join(
                        f"SELECT {i} AS r, {j} AS t, d.* FROM ({one}) AS d" for i, j, one in parts
                    )
                    + " ORDER BY r, t, seq",
                    args,
                ).fetchall()
            else:
                rows = []
                with conn.transaction():
                    conn.execute("SET LOCAL enable_hashagg = off")
                    for i, j, one in parts:
                        rows.extend((i, j, *r) for r in conn.execute(one, args).fetchall())
        for i, _, seq, total in rows:
            if total:
                box = found.setdefault(seq, {})
                box[names[i]] = box.get(names[i], 0.0) + total
        return found

    def list_day_of(self, since: date, until: date, *, seqs: Sequence[int] | None = None
                    ) -> dict[int, tuple[date, str | None]]:  # fmt: skip
        only = "" if seqs is None else _ONLY
        with self._conn() as conn:
            rows = conn.execute(
                LISTED.format(only=only) + " SELECT l.seq, l.day, p.published"
                " FROM listed l JOIN papers p USING (seq) ORDER BY l.seq",
                {
                    "since": since.isoformat(),
                    "after": (until + timedelta(days=1)).isoformat(),
                    "seqs": None if seqs is None else list(seqs),
                },
            ).fetchall()
        return {seq: (date.fromisoformat(day), published) for seq, day, published in rows}

    def replace_trending(self, span: str, state: TrendingState, rows: Sequence[TrendingRow]
                         ) -> None:  # fmt: skip
        latest = {r.seq: r for r in rows}  # a paper twice: the last one wins, as in an upsert
        with self._tx() as conn:
            conn.execute("DELETE FROM trending WHERE span = %s", (span,))
            # COPY: a month's 90k rows went in 1.8-2.3 s one INSERT at a time, 0.8-1.2 s so
            with conn.cursor().copy("COPY trending FROM STDIN (FORMAT BINARY)") as copy:
                copy.set_types(["text", "int8", "text", "text", "float8", "text"])
                for r in latest.values():
                    copy.write_row((span, r.seq, day_iso(r.day), r.published, r.score,
                                    orjson.dumps(r.parts).decode()))  # fmt: skip
            conn.execute(
                "INSERT INTO trending_state VALUES (%s, %s, %s, %s, %s) ON CONFLICT (span)"
                " DO UPDATE SET computed_at = excluded.computed_at, as_of = excluded.as_of,"
                " since = excluded.since, until = excluded.until",
                (
                    span,
                    state.computed_at,
                    state.as_of,
                    day_iso(state.since),
                    day_iso(state.until),
                ),
            )

    def upsert_trending(self, span: str, rows: Sequence[TrendingRow]) -> None:
        with self._tx() as conn, conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO trending VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (span, seq)"
                " DO UPDATE SET day = excluded.day, published = excluded.published,"
                " score = excluded.score, parts = excluded.parts",
                [(span, r.seq, day_iso(r.day), r.published, r.score, orjson.dumps(r.parts).decode())
                 for r in rows],
            )  # fmt: skip

    def get_trending_state(self, span: str) -> TrendingState | None:
        with self._conn() as conn:
            row = conn.execute(
                "SELECT computed_at, as_of, since, until FROM trending_state WHERE span = %s",
                (span,),
            ).fetchone()
        if row is None:
            return None
        return TrendingState(row[0], row[1], parse_day(row[2]), parse_day(row[3]))

    def list_trending(self, span: str, *, limit: int = 20, offset: int = 0) -> list[TrendingRow]:
        with self._conn() as conn:
            rows = conn.execute(
                "SELECT seq, day, published, score, parts FROM trending WHERE span = %s"
                " ORDER BY score DESC, day DESC NULLS LAST, published DESC NULLS LAST, seq DESC"
                " LIMIT %s OFFSET %s",
                (span, limit, offset),
            ).fetchall()
        return [TrendingRow(r[0], parse_day(r[1]), r[2], r[3], orjson.loads(r[4])) for r in rows]

    # -- digests ------------------------------------------------------------------------------

    def add_subscriber(self, email: str, now: float, source: str) -> Subscriber:
        address = email.strip().lower()
        with self._tx() as conn:
            # looked up first: a failed INSERT would abort an enclosing transaction (SQLite's
            # goes on) and spend an id
            if conn.execute("SELECT 1 FROM subscribers WHERE email = %s", (address,)).fetchone():
                raise AlreadyExists(f"{email!r} is on the list already.")
            row = conn.execute(
                "INSERT INTO subscribers (email, created_at, requested_at, request_source)"
                f" VALUES (%s, %s, %s, %s) RETURNING {SUBSCRIBER_COLUMNS}",
                (address, now, now, source),
            ).fetchone()
        assert row is not None
        return row_subscriber(row)

    def get_subscriber(self, subscriber_id: int) -> Subscriber | None:
        with self._conn() as conn:
            row = conn.execute(
                f"SELECT {SUBSCRIBER_COLUMNS} FROM subscribers WHERE id = %s", (subscriber_id,)
            ).fetchone()
        return row_subscriber(row) if row else None

    def get_subscriber_by_email(self, email: str) -> Subscriber | None:
        with self._conn() as conn:
            row = conn.execute(
                f"SELECT {SUBSCRIBER_COLUMNS} FROM subscribers WHERE email = %s",
                (email.strip().lower(),),
            ).fetchone()
        return row_subscriber(row) if row else None

    def update_subscriber(self, subscriber_id: int, change: SubscriberChange) -> None:
        changes = change.items()
        if not changes:
            return
        values = [day_iso(v) if isinstance(v, date) else v for v in changes.values()]
        assignments = ", ".join(f"{name} = %s" for name in changes)
        with self._tx() as conn:
            conn.execute(f"UPDATE subscribers SET {assignments} WHERE id = %s",
                         (*values, subscriber_id))  # fmt: skip

    def set_preferences(self, subscriber_id: int, prefs: Preferences) -> None:
        with self._tx() as conn:
            conn.execute(
                "UPDATE subscribers SET frequency = %s, weekday = %s, hour = %s, timezone = %s,"
                " topics = %s, categories = %s, include_trending = %s, max_papers = %s,"
                " empty_notice = %s WHERE id = %s",
                (prefs.frequency, prefs.weekday, prefs.hour, prefs.timezone,
                 orjson.dumps(list(prefs.topics)).decode(),
                 orjson.dumps(list(prefs.categories)).decode(), int(prefs.include_trending),
                 prefs.max_papers, int(prefs.empty_notice), subscriber_id),
            )  # fmt: skip

    def add_channel(self, user_id: int, channel: str, target: str, secret: str | None,
                    prefs: Preferences, now: float) -> Subscriber:  # fmt: skip
        with self._tx() as conn:
            row = conn.execute(
                "INSERT INTO subscribers (email, state, created_at, requested_at, request_source,"
                " consent_at, consent_source, channel, target, user_id, secret)"
                " VALUES (%s, 'confirmed', %s, %s, 'account', %s, 'account', %s, %s, %s, %s)"
                " RETURNING id",
                (channel_address(channel), now, now, now, channel, target, user_id, secret),
            ).fetchone()
            assert row is not None
            self.set_preferences(int(row[0]), prefs)
            found = self.get_subscriber(int(row[0]))
        assert found is not None
        return found

    def list_channels(self, user_id: int | None = None) -> list[Subscriber]:
        with self._conn() as conn:
            rows = conn.execute(
                f"SELECT {SUBSCRIBER_COLUMNS} FROM subscribers WHERE channel <> 'email'"
                " AND (%s::bigint IS NULL OR user_id = %s) ORDER BY id",
                (user_id, user_id),
            ).fetchall()
        return [row_subscriber(row) for row in rows]

    def delete_channel(self, subscriber_id: int) -> bool:
        with self._tx() as conn:
            cursor = conn.execute(
                "DELETE FROM subscribers WHERE id = %s AND channel <> 'email'", (subscriber_id,)
            )
        return cursor.rowcount > 0

    def iter_subscribers(self, state: str = "confirmed", batch_size: int = 5000
                         ) -> Iterator[Subscriber]:  # fmt: skip
        after = 0
        while True:
            with self._conn() as conn:
                rows = conn.execute(
                    f"SELECT {SUBSCRIBER_COLUMNS} FROM subscribers WHERE state = %s AND id > %s"
                    " ORDER BY id LIMIT %s",
                    (state, after, batch_size),
                ).fetchall()
            if not rows:
                return
            for row in rows:
                yield row_subscriber(row)
            after = rows[-1][0]

    def count_subscribers(self) -> dict[str, int]:
        with self._conn() as conn:
            rows = conn.execute(
                "SELECT state, count(*) FROM subscribers WHERE channel = 'email'"
                " GROUP BY state ORDER BY state"
            ).fetchall()
        return {state: n for state, n in rows}

    def count_channels(self) -> dict[str, dict[str, int]]:
        with self._conn() as conn:
            rows = conn.execute(
                "SELECT channel, state, count(*) FROM subscribers WHERE channel != 'email'"
                " GROUP BY channel, state ORDER BY channel, state"
            ).fetchall()
        return rows_by_kind(rows)

    def plan_delivery(
        self,
        subscriber_id: int,
        kind: str,
        period: str,
        *,
        message_id: str,
        plan: Mapping[str, Any],
        now: float,
        send_by: float,
        seqs: Sequence[int] = (),
        last_day: date | None = None,
        last_seq: int | None = None,
    ) -> int | None:
        with self._tx() as conn:
            planned = conn.execute(
                "SELECT 1 FROM deliveries WHERE subscriber_id = %s AND kind = %s AND period = %s",
                (subscriber_id, kind, period),
            ).fetchone()
            if planned:
                return None
            row = conn.execute(
                "INSERT INTO deliveries (subscriber_id, kind, period, message_id, plan,"
                " planned_at, send_by, next_attempt_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
                " RETURNING id",
                (subscriber_id, kind, period, message_id, orjson.dumps(plan).decode(), now,
                 send_by, now),
            ).fetchone()  # fmt: skip
            assert row is not None
            delivery_id = int(row[0])
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO sent_papers VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
                    [(subscriber_id, seq, delivery_id) for seq in seqs],
                )
            if kind == "digest":
                conn.execute(
                    "UPDATE subscribers SET last_period = %s,"
                    " last_day = coalesce(%s, last_day), last_seq = coalesce(%s, last_seq)"
                    " WHERE id = %s",
                    (period, day_iso(last_day), last_seq, subscriber_id),
                )
            return delivery_id

    def claim_delivery(self, now: float) -> Delivery | None:
        with self._tx() as conn:
            row = (
                conn.execute(
                    "SELECT id FROM deliveries WHERE state = 'sending' ORDER BY id LIMIT 1"
                ).fetchone()
                or conn.execute(
                    "SELECT id FROM deliveries WHERE state = 'planned' AND next_attempt_at <= %s"
                    " ORDER BY next_attempt_at, id LIMIT 1",
                    (now,),
                ).fetchone()
            )
            if row is None:
                return None
            claimed = conn.execute(
                "UPDATE deliveries SET state = 'sending', attempts = attempts + 1 WHERE id = %s"
                f" RETURNING {DELIVERY_COLUMNS}",
                (row[0],),
            ).fetchone()
        assert claimed is not None
        return row_delivery(claimed)

    def finish_delivery(
        self,
        delivery_id: int,
        state: str,
        now: float,
        *,
        error: str | None = None,
        retry_at: float | None = None,
    ) -> None:
        if state not in ("sent", "planned", "failed", "expired", "cancelled"):
            raise ValueError(f"a delivery cannot end as {state!r}")
        with self._tx() as conn:
            conn.execute(
                "UPDATE deliveries SET state = %(state)s, last_error = %(error)s,"
                " next_attempt_at = coalesce(%(retry)s::float8, next_attempt_at),"
                " sent_at = CASE WHEN %(sent)s THEN %(now)s::float8 ELSE sent_at END"
                " WHERE id = %(id)s",
                {"state": state, "error": error, "retry": retry_at, "sent": state == "sent",
                 "now": now, "id": delivery_id},
            )  # fmt: skip
            if state in ("failed", "expired", "cancelled"):
                conn.execute("DELETE FROM sent_papers WHERE delivery_id = %s", (delivery_id,))

    def get_delivery(self, delivery_id: int) -> Delivery | None:
        with self._conn() as conn:
            row = conn.execute(
                f"SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE id = %s", (delivery_id,)
            ).fetchone()
        return row_delivery(row) if row else None

    def list_deliveries(self, subscriber_id: int | None = None, *, state: str | None = None,
                        limit: int = 100) -> list[Delivery]:  # fmt: skip
        where = []
        if subscriber_id is not None:
            where.append("subscriber_id = %(subscriber)s")
        if state is not None:
            where.append("state = %(state)s")
        with self._conn() as conn:
            rows = conn.execute(
                f"SELECT {DELIVERY_COLUMNS} FROM deliveries"
                f" WHERE {' AND '.join(where) or 'true'} ORDER BY id DESC LIMIT %(limit)s",
                {"subscriber": subscriber_id, "state": state, "limit": limit},
            ).fetchall()
        return [row_delivery(r) for r in rows]

    def count_deliveries(self) -> dict[str, int]:
        with self._conn() as conn:
            rows = conn.execute(
                "SELECT state, count(*) FROM deliveries GROUP BY state ORDER BY state"
            ).fetchall()
        return {state: n for state, n in rows}

    def sent_seqs(self, subscriber_id: int, seqs: Sequence[int] | None = None) -> set[int]:
        with self._conn() as conn:
            if seqs is None:
                rows = conn.execute(
                    "SELECT seq FROM sent_papers WHERE subscriber_id = %s", (subscriber_id,)
                ).fetchall()
            else:
                rows = conn.execute(
                    "SELECT seq FROM sent_papers WHERE subscriber_id = %s AND seq = ANY(%s)",
                    (subscriber_id, list(seqs)),
                ).fetchall()
        return {r[0] for r in rows}

    # -- leases and rate limits -----------------------------------------------------------------

    def take_lease(self, name: str, owner: str, now: float, until: float,
                   take_from: str | None = None) -> bool:  # fmt: skip
        with self._tx() as conn:
            cursor = conn.execute(
                "INSERT INTO leases VALUES (%(name)s, %(owner)s, %(until)s)"
                " ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, until = excluded.until"
                " WHERE leases.owner = %(owner)s OR leases.until <= %(now)s"
                " OR leases.owner = %(take_from)s",
                {"name": name, "owner": owner, "until": until, "now": now,
                 "take_from": take_from},
            )  # fmt: skip
            return cursor.rowcount > 0

    def drop_lease(self, name: str, owner: str) -> None:
        with self._tx() as conn:
            conn.execute("DELETE FROM leases WHERE name = %s AND owner = %s", (name, owner))

    def lease_owner(self, name: str, now: float) -> str | None:
        with self._conn() as conn:
            row = conn.execute(
                "SELECT owner FROM leases WHERE name = %s AND until > %s", (name, now)
            ).fetchone()
        return str(row[0]) if row else None

    def hit_rate(self, key: str, now: float, window_s: float, limit: int) -> bool:
        with self._tx() as conn:
            conn.execute("DELETE FROM rate_hits WHERE key = %s AND at <= %s", (key, now - window_s))
            row = conn.execute("SELECT count(*) FROM rate_hits WHERE key = %s", (key,)).fetchone()
            if row is not None and row[0] >= limit:
                return False
            conn.execute("INSERT INTO rate_hits VALUES (%s, %s)", (key, now))
            return True
